//! What must never come out silently wrong: caches read under another model, scores of a
//! model whose tokenizer settings were not read, panics on empty input. Each test here
//! reproduces a finding of a hostile run against the CLI.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::support::relex;

fn ok(out: &Output) -> String {
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{err}");
    err
}

fn write(path: &Path, text: &str) -> String {
    std::fs::write(path, text).unwrap();
    path.to_str().unwrap().to_string()
}

const ITEMS: &str = r#"{"id": "d0", "title": "t0", "text": "a cross-encoder scores a query and a document jointly"}
{"id": "d1", "title": "t1", "text": "sourdough bread needs a starter"}
{"id": "d2", "title": "t2", "text": "the river bank was muddy"}
{"id": "d3", "title": "t3", "text": "a bank lends money"}
{"id": "d4", "title": "t4", "text": "rockets launch into orbit"}
{"id": "d5", "title": "t5", "text": "the quick brown fox"}
"#;

/// tiny-ce with one weight changed: another model, with another fingerprint and scores.
fn other_model(dir: &Path) -> PathBuf {
    let src = Path::new("tests/data/tiny-ce");
    let dst = dir.join("tiny-ce-other");
    std::fs::create_dir_all(&dst).unwrap();
    for f in ["config.json", "vocab.txt", "tokenizer_config.json"] {
        std::fs::copy(src.join(f), dst.join(f)).unwrap();
    }
    let mut weights = std::fs::read(src.join("model.safetensors")).unwrap();
    // The last bytes are tensor data (f16): flip the sign bits of the last few values.
    let n = weights.len();
    for i in (n - 64..n).step_by(2) {
        weights[i + 1] ^= 0x80;
    }
    std::fs::write(dst.join("model.safetensors"), weights).unwrap();
    dst
}

fn cache_files(index: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(index)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("exact_") && n.ends_with(".npy"))
        })
        .collect();
    v.sort();
    v
}

fn build(model: &str, items: &str, index: &str) {
    ok(&relex(&[
        "index", "build", "-m", model, "-i", items, "--kq", "3", "--out", index,
    ]));
}

fn eval(model: &str, index: &str, queries: &str) -> String {
    ok(&relex(&[
        "eval",
        "-m",
        model,
        "--index",
        index,
        "--test-queries",
        queries,
        "--method",
        "anncur",
        "--budget",
        "4",
        "--k",
        "1",
        "--anchors",
        "2",
        "--seeds",
        "1",
    ]))
}

/// `relex eval`'s exact-score cache is keyed by the model (and items, template and
/// queries): after the index folder is rebuilt with another model, the old model's
/// scores are not reused; a damaged cache is discarded with a warning, and a folder that
/// cannot take the cache costs a warning, not the results.
#[test]
fn eval_cache_is_keyed_by_the_model_and_survives_damage() {
    let dir = tempfile::tempdir().unwrap();
    let items = write(&dir.path().join("items.jsonl"), ITEMS);
    let queries = write(
        &dir.path().join("q.jsonl"),
        "{\"id\": \"q0\", \"text\": \"bank of a river\"}\n{\"id\": \"q1\", \"text\": \"bread\"}\n",
    );
    let index = dir.path().join("idx");
    let idx = index.to_str().unwrap();
    build("tests/data/tiny-ce", &items, idx);
    let first = eval("tests/data/tiny-ce", idx, &queries);
    assert!(!first.contains("using cached"), "{first}");
    assert_eq!(cache_files(&index).len(), 1);
    let again = eval("tests/data/tiny-ce", idx, &queries);
    assert!(again.contains("using cached"), "{again}");

    // The index is rebuilt in the same folder with another model; the cache stays.
    for entry in std::fs::read_dir(&index).unwrap() {
        let p = entry.unwrap().path();
        if !cache_files(&index).contains(&p) {
            std::fs::remove_file(&p).unwrap();
        }
    }
    let other = other_model(dir.path());
    let other = other.to_str().unwrap();
    build(other, &items, idx);
    let under_other = eval(other, idx, &queries);
    assert!(!under_other.contains("using cached"), "{under_other}");
    assert_eq!(cache_files(&index).len(), 2, "one cache per model");

    // A truncated cache: a warning, and the scores are computed again.
    for p in cache_files(&index) {
        let bytes = std::fs::read(&p).unwrap();
        std::fs::write(&p, &bytes[..bytes.len() / 2]).unwrap();
    }
    let damaged = eval(other, idx, &queries);
    assert!(
        damaged.contains("warning") && damaged.contains("exact_"),
        "{damaged}"
    );
    assert!(!damaged.contains("using cached"), "{damaged}");
}

/// `relex bench` with an empty case is refused by name (it once panicked dividing by zero).
#[test]
fn bench_refuses_an_empty_case_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let pairs = write(
        &dir.path().join("pairs.json"),
        r#"{"short": [["a query", "an item"]], "nothing": []}"#,
    );
    let out = relex(&["bench", "-m", "tests/data/tiny-ce", "--pairs", &pairs]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("`nothing` has no pairs") && err.contains("pairs.json"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
}

/// The default model (w_embeds pooling: it reads the item marker of every pair) scores
/// items without titles in every format, writing them as `[unused2] text`.
#[test]
fn the_default_model_scores_titleless_items_in_every_format() {
    let dir = tempfile::tempdir().unwrap();
    let files = [
        ("items.txt", "a bank for money\na river bank\na bench in the park\n"),
        ("items.csv", "text\na bank for money\na river bank\na bench in the park\n"),
        (
            "items.json",
            r#"["a bank for money", "a river bank", "a bench in the park"]"#,
        ),
        (
            "items.jsonl",
            "{\"id\": \"a\", \"text\": \"a bank for money\"}\n{\"id\": \"b\", \"text\": \"a river bank\"}\n{\"id\": \"c\", \"text\": \"a bench in the park\"}\n",
        ),
    ];
    for (name, text) in files {
        let path = write(&dir.path().join(name), text);
        let out = relex(&[
            "score",
            "-i",
            &path,
            "-q",
            "he keeps his savings in the [bank]",
            "--format",
            "json",
        ]);
        let err = ok(&out);
        let rows: Vec<serde_json::Value> =
            serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{name}: {e} {err}"));
        assert_eq!(rows.len(), 3, "{name}");
        assert!(
            rows.iter()
                .all(|r| r["score"].as_f64().is_some_and(f64::is_finite)),
            "{name}: {rows:?}"
        );
    }
}

/// `--item-template` is honoured by every command and is part of the model's
/// fingerprint: an index built under one template is refused under another.
#[test]
fn item_template_is_honoured_and_keys_the_index() {
    let dir = tempfile::tempdir().unwrap();
    let items = write(&dir.path().join("items.jsonl"), ITEMS);
    let index = dir.path().join("idx");
    let idx = index.to_str().unwrap();
    ok(&relex(&[
        "index",
        "build",
        "-m",
        "tests/data/tiny-ce",
        "-i",
        &items,
        "--kq",
        "3",
        "--out",
        idx,
        "--item-template",
        "{text} ({title})",
    ]));
    let search = |template: Option<&str>| {
        let mut args = vec![
            "search",
            "-m",
            "tests/data/tiny-ce",
            "-i",
            &items,
            "--index",
            idx,
            "-q",
            "bank",
            "--method",
            "anncur",
            "--anchors",
            "2",
            "--budget",
            "4",
        ];
        if let Some(t) = template {
            args.extend(["--item-template", t]);
        }
        relex(&args)
    };
    ok(&search(Some("{text} ({title})")));
    let other = search(None);
    assert!(!other.status.success());
    let err = String::from_utf8_lossy(&other.stderr);
    assert!(err.contains("built with model"), "{err}");
    // And the template reaches the scores: `score` differs with and without it.
    let score = |template: Option<&str>| {
        let mut args = vec![
            "score",
            "-m",
            "tests/data/tiny-ce",
            "-i",
            &items,
            "-q",
            "bank",
            "--format",
            "json",
        ];
        if let Some(t) = template {
            args.extend(["--item-template", t]);
        }
        let out = relex(&args);
        ok(&out);
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert_ne!(score(Some("{text} ({title})")), score(None));
}

fn anchors_file(dir: &Path, name: &str, texts: &[&str]) -> String {
    let mut text = String::new();
    for (i, t) in texts.iter().enumerate() {
        text.push_str(&format!("{{\"id\": \"a{i}\", \"text\": \"{t}\"}}\n"));
    }
    write(&dir.join(name), &text)
}

fn npy(
    dir: &Path,
    name: &str,
    rows: usize,
    cols: usize,
    f: impl Fn(usize, usize) -> f32,
) -> String {
    let m = relex::approx::Matrix::from_fn(rows, cols, f);
    let path = dir.join(name);
    relex::approx::write_npy(&path, &m, relex::approx::NpyDtype::F32).unwrap();
    path.to_str().unwrap().to_string()
}

fn import(
    items: &str,
    anchors: &str,
    scores: &str,
    out: &str,
    extra: &[&str],
    kill: Option<&str>,
) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_relex"));
    cmd.args([
        "index",
        "import",
        "-m",
        "tests/data/tiny-ce",
        "-i",
        items,
        "--anchor-queries",
        anchors,
        "--scores",
        scores,
        "--out",
        out,
    ])
    .args(extra)
    .env_remove("RELEX_TEST_KILL_AT");
    if let Some(step) = kill {
        cmd.env("RELEX_TEST_KILL_AT", step);
    }
    cmd.output().expect("relex runs")
}

/// The ranking `relex search` gives with the index in `out` (exact re-scores excluded:
/// the approximate scores show which R the search read).
fn search_scores(items: &str, out: &str) -> Result<String, String> {
    let res = relex(&[
        "search",
        "-m",
        "tests/data/tiny-ce",
        "-i",
        items,
        "--index",
        out,
        "-q",
        "bank",
        "--method",
        "anncur",
        "--anchors",
        "2",
        "--budget",
        "2",
        "-k",
        "6",
        "--format",
        "json",
    ]);
    if res.status.success() {
        let v: serde_json::Value = serde_json::from_slice(&res.stdout).unwrap();
        Ok(v["ranking"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| format!("{}={}", r["id"], r["approx"]))
            .collect::<Vec<_>>()
            .join(" "))
    } else {
        Err(String::from_utf8_lossy(&res.stderr).into_owned())
    }
}

/// An index folder is one unit: a failed import (a NaN) or one killed at any step of its
/// commit leaves the old index or the new one, never the new anchors over the old R; an
/// import over an index needs --force; a byte changed in R is caught when it is read.
#[test]
fn import_is_all_or_nothing_and_refuses_to_overwrite_unasked() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let items = write(&d.join("items.jsonl"), ITEMS);
    let old_anchors = anchors_file(d, "old.jsonl", &["money", "river", "bread"]);
    let new_anchors = anchors_file(d, "new.jsonl", &["orbit", "fox", "document"]);
    let old_scores = npy(d, "old.npy", 3, 6, |i, j| ((i + 1) * (j + 2) % 7) as f32);
    let new_scores = npy(d, "new.npy", 3, 6, |i, j| {
        -((((i + 2) * (j + 1)) % 5) as f32)
    });
    let nan_scores = npy(d, "nan.npy", 3, 6, |i, j| {
        if i == 1 && j == 4 {
            f32::NAN
        } else {
            1.0
        }
    });
    let out = d.join("idx");
    let idx = out.to_str().unwrap();

    ok(&import(&items, &old_anchors, &old_scores, idx, &[], None));
    let old = search_scores(&items, idx).expect("old index searches");

    // Over an index, without --force: refused, untouched.
    let refused = import(&items, &new_anchors, &new_scores, idx, &[], None);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--force"));
    assert_eq!(search_scores(&items, idx).unwrap(), old);

    // A NaN in the new matrix: refused before anything is written.
    let bad = import(&items, &new_anchors, &nan_scores, idx, &["--force"], None);
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(
        !bad.status.success() && err.contains("anchor query 1, item 4"),
        "{err}"
    );
    assert_eq!(search_scores(&items, idx).unwrap(), old);

    // Killed after writing the new data files, before the manifest: the old index.
    let killed = import(
        &items,
        &new_anchors,
        &new_scores,
        idx,
        &["--force"],
        Some("before-manifest"),
    );
    assert!(!killed.status.success());
    assert_eq!(
        search_scores(&items, idx).unwrap(),
        old,
        "kill before the manifest"
    );

    // Killed after the manifest, before the clean-up: the new index.
    let killed = import(
        &items,
        &new_anchors,
        &new_scores,
        idx,
        &["--force"],
        Some("before-cleanup"),
    );
    assert!(!killed.status.success());
    let new = search_scores(&items, idx).expect("new index searches");
    assert_ne!(new, old);
    // Whole, the same import again gives the same index and leaves only its files.
    ok(&import(
        &items,
        &new_anchors,
        &new_scores,
        idx,
        &["--force"],
        None,
    ));
    assert_eq!(search_scores(&items, idx).unwrap(), new);
    let names: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 3, "manifest, anchors, R only: {names:?}");

    // One byte of R changed underneath: an error naming the file, not another ranking.
    let r = names.iter().find(|n| n.starts_with("R-")).unwrap();
    let mut bytes = std::fs::read(out.join(r)).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x01;
    std::fs::write(out.join(r), bytes).unwrap();
    let err = search_scores(&items, idx).unwrap_err();
    assert!(err.contains(r.as_str()) && err.contains("changed"), "{err}");
}

/// A merge checks every shard before it touches the index: a NaN in one shard is named
/// by its folder, shards of different anchor sets (of the same size) are refused, and a
/// merge killed before its manifest leaves the index that was there.
#[test]
fn merge_names_a_bad_shard_and_refuses_mixed_anchor_sets() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let items = write(&d.join("items.jsonl"), ITEMS);
    let a = anchors_file(d, "a.jsonl", &["money", "river", "bread", "orbit"]);
    let b = anchors_file(d, "b.jsonl", &["fox", "document", "bank", "sourdough"]);
    let shard = |anchors: &str, out: &Path, s: &str| {
        ok(&relex(&[
            "index",
            "build",
            "-m",
            "tests/data/tiny-ce",
            "-i",
            &items,
            "--anchor-queries",
            anchors,
            "--kq",
            "4",
            "--out",
            out.to_str().unwrap(),
            "--shard",
            s,
        ]));
    };
    // Shards 0/2 of set a and 1/2 of set b, same sizes: refused.
    let mixed = d.join("mixed");
    shard(&a, &mixed, "0/2");
    shard(&b, &mixed, "1/2");
    let out = relex(&["index", "merge", mixed.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("anchor set"), "{err}");
    assert!(!mixed.join("manifest.json").exists());

    // A good merge; then shard 1 is rebuilt with a NaN and merged again: refused by name.
    let good = d.join("good");
    shard(&a, &good, "0/2");
    shard(&a, &good, "1/2");
    ok(&relex(&["index", "merge", good.to_str().unwrap()]));
    let before = search_scores(&items, good.to_str().unwrap()).unwrap();
    let shard1 = good.join("shard-0001-of-0002");
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(shard1.join("manifest.json")).unwrap())
            .unwrap();
    let r_name = manifest["r_file"]["name"].as_str().unwrap().to_string();
    let nan =
        relex::approx::Matrix::from_fn(2, 6, |i, j| if i == 1 && j == 2 { f32::NAN } else { 0.5 });
    // The NaN rows as a broken shard run would leave them (f32, its manifest naming them).
    let st = nan_safetensors(&nan);
    let sha = relex::files::sha256_hex(&st);
    let new_name = format!("R-{}.safetensors", &sha[..16]);
    std::fs::write(shard1.join(&new_name), &st).unwrap();
    std::fs::remove_file(shard1.join(&r_name)).unwrap();
    let mut m = manifest.clone();
    m["r_file"] = serde_json::json!({"name": new_name, "sha256": sha});
    std::fs::write(shard1.join("manifest.json"), m.to_string()).unwrap();
    let out = relex(&["index", "merge", good.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains("shard-0001-of-0002") && err.contains("NaN"),
        "{err}"
    );
    assert_eq!(
        search_scores(&items, good.to_str().unwrap()).unwrap(),
        before
    );
}

/// A safetensors file of one f32 tensor `R` (NaN allowed: what a broken GPU run writes).
fn nan_safetensors(m: &relex::approx::Matrix) -> Vec<u8> {
    let data: Vec<u8> = m.data().iter().flat_map(|v| v.to_le_bytes()).collect();
    let view = safetensors::tensor::TensorView::new(
        safetensors::Dtype::F32,
        vec![m.rows(), m.cols()],
        &data,
    )
    .unwrap();
    safetensors::serialize(
        [("R", view)],
        None::<std::collections::HashMap<String, String>>,
    )
    .unwrap()
}

/// Odd flags and environment are refused with a message that names them, never taken
/// silently: a semicolon-separated CSV, a zero count, an unknown format, a tiny max length.
#[test]
fn odd_inputs_are_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let semi = write(
        &dir.path().join("semi.csv"),
        "id;title;text\n1;Bank;a bank for money\n2;River;a river bank\n",
    );
    let out = relex(&["items", "check", &semi]);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !out.status.success() && text.contains("semicolons"),
        "{text}"
    );
    let items = write(&dir.path().join("items.jsonl"), ITEMS);
    for (args, needle) in [
        (
            vec![
                "search",
                "-m",
                "tests/data/tiny-ce",
                "-i",
                &items,
                "-q",
                "x",
                "--anchors",
                "0",
            ],
            "at least 1",
        ),
        (
            vec!["eval", "--scores", "x.npy", "--adacur-rounds", "0"],
            "at least 1",
        ),
        (
            vec!["eval", "--scores", "x.npy", "--format", "yaml"],
            "yaml",
        ),
        (
            vec![
                "score",
                "-m",
                "tests/data/tiny-ce",
                "-i",
                &items,
                "-q",
                "x",
                "--max-length",
                "3",
            ],
            "3",
        ),
    ] {
        let out = relex(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && err.contains(needle),
            "{args:?}: {err}"
        );
    }
}

/// `--tokenizer` with a model folder is refused (it was ignored), and a shard count
/// without a shard index in the environment is an error.
#[test]
fn a_tokenizer_for_a_folder_and_a_half_set_shard_environment_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let items = write(&dir.path().join("items.jsonl"), ITEMS);
    let out = relex(&[
        "score",
        "-m",
        "tests/data/tiny-ce",
        "--tokenizer",
        "tests/data/tiny-ce/vocab.txt",
        "-i",
        &items,
        "-q",
        "x",
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("checkpoints only"),
        "{err}"
    );
    let out = Command::new(env!("CARGO_BIN_EXE_relex"))
        .args([
            "index",
            "build",
            "-m",
            "tests/data/tiny-ce",
            "-i",
            &items,
            "--kq",
            "2",
            "--out",
            dir.path().join("idx").to_str().unwrap(),
        ])
        .env_remove("JOB_COMPLETION_INDEX")
        .env_remove("SLURM_ARRAY_TASK_ID")
        .env("RELEX_SHARD_COUNT", "3")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("JOB_COMPLETION_INDEX"),
        "{err}"
    );
}

/// Items from a pipe (`-i -`) are read with `--item-format`, and without it the error says so.
#[test]
fn items_from_standard_input_need_and_take_a_format() {
    use std::io::Write;
    let run = |extra: &[&str]| {
        let mut child = Command::new(env!("CARGO_BIN_EXE_relex"))
            .args([
                "score",
                "-m",
                "tests/data/tiny-ce",
                "-i",
                "-",
                "-q",
                "bank",
                "--format",
                "json",
            ])
            .args(extra)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(b"a bank for money\na river bank\n")
            .unwrap();
        child.wait_with_output().unwrap()
    };
    let out = run(&[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("--item-format"),
        "{err}"
    );
    let out = run(&["--item-format", "txt"]);
    ok(&out);
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(rows.len(), 2);
}

/// A legacy (pre-zip) PyTorch pickle is named as such, not reported as a broken archive.
#[test]
fn a_legacy_pickle_checkpoint_is_named_as_such() {
    let dir = tempfile::tempdir().unwrap();
    let ckpt = dir.path().join("old_model.ckpt");
    // Pickle protocol 2 header, as torch.save wrote before the zip format.
    std::fs::write(&ckpt, b"\x80\x02\x8a\x0alz\xf0\x9c\x8e\x06\x00}q\x00.").unwrap();
    let items = write(&dir.path().join("items.txt"), "a\nb\n");
    let out = relex(&[
        "score",
        "-m",
        ckpt.to_str().unwrap(),
        "-i",
        &items,
        "-q",
        "x",
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("legacy"), "{err}");
    assert!(err.contains("old_model.ckpt"), "{err}");
}
