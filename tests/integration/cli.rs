//! The `relex` binary end to end on small local data: rankings, JSON shapes, exit codes
//! and error messages that name the file.

use std::path::Path;
use std::process::Command;

use crate::support::relex;

fn items_file(dir: &Path) -> String {
    let p = dir.join("items.jsonl");
    let mut text = String::new();
    for (i, t) in [
        "a cross-encoder scores a query and a document jointly",
        "sourdough bread needs a starter",
        "the river bank was muddy",
        "a bank lends money",
        "rockets launch into orbit",
        "the quick brown fox",
    ]
    .iter()
    .enumerate()
    {
        text.push_str(&format!(
            "{{\"id\": \"d{i}\", \"title\": \"t{i}\", \"text\": \"{t}\"}}\n"
        ));
    }
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}

#[test]
fn score_json_is_ranked_and_complete() {
    let dir = tempfile::tempdir().unwrap();
    let items = items_file(dir.path());
    let out = relex(&[
        "score",
        "-m",
        "tests/data/tiny-ce",
        "-i",
        &items,
        "-q",
        "river bank",
        "--format",
        "json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(rows.len(), 6);
    let scores: Vec<f64> = rows.iter().map(|r| r["score"].as_f64().unwrap()).collect();
    assert!(scores.windows(2).all(|w| w[0] >= w[1]), "{scores:?}");
    for (i, r) in rows.iter().enumerate() {
        assert_eq!(r["rank"].as_u64().unwrap() as usize, i + 1);
        assert!(r["id"].as_str().unwrap().starts_with('d'));
        assert!(r["tokens"].as_u64().unwrap() > 3);
    }
    // --top limits the output; csv has a header and one line per item
    let out = relex(&[
        "score",
        "-m",
        "tests/data/tiny-ce",
        "-i",
        &items,
        "-q",
        "bank",
        "-k",
        "2",
        "--format",
        "csv",
    ]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(text.lines().count(), 3);
    assert!(text.starts_with("rank,id,score"));
}

#[test]
fn bad_inputs_exit_non_zero_and_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.jsonl");
    std::fs::write(&empty, "").unwrap();
    let out = relex(&[
        "score",
        "-m",
        "tests/data/tiny-ce",
        "-i",
        empty.to_str().unwrap(),
        "-q",
        "x",
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("empty.jsonl"), "{err}");

    let bad = dir.path().join("bad.jsonl");
    std::fs::write(
        &bad,
        "{\"id\": 1, \"text\": \"ok\"}\n{\"id\": 2, \"text\": 5}\n",
    )
    .unwrap();
    let out = relex(&[
        "score",
        "-m",
        "tests/data/tiny-ce",
        "-i",
        bad.to_str().unwrap(),
        "-q",
        "x",
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.jsonl:2"), "{err}");
    // --skip-invalid keeps the good row and says what was skipped
    let out = relex(&[
        "score",
        "-m",
        "tests/data/tiny-ce",
        "-i",
        bad.to_str().unwrap(),
        "-q",
        "x",
        "--skip-invalid",
    ]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("skipped 1"));

    let out = relex(&[
        "score",
        "-m",
        "no/such/dir/",
        "-i",
        bad.to_str().unwrap(),
        "-q",
        "x",
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no/such/dir"));
}

#[test]
fn index_build_then_search_with_anncur_and_adacur() {
    let dir = tempfile::tempdir().unwrap();
    let items = items_file(dir.path());
    let index = dir.path().join("idx");
    let idx = index.to_str().unwrap();
    let out = relex(&[
        "index",
        "build",
        "-m",
        "tests/data/tiny-ce",
        "-i",
        &items,
        "--kq",
        "4",
        "--out",
        idx,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(index.join("manifest.json")).unwrap())
            .unwrap();
    assert_eq!(manifest["complete"], true);
    assert_eq!(manifest["k_q"], 4);
    assert_eq!(manifest["pseudo_queries"], true);
    // building again without --resume refuses to overwrite; with --resume it is a no-op
    assert!(!relex(&[
        "index",
        "build",
        "-m",
        "tests/data/tiny-ce",
        "-i",
        &items,
        "--kq",
        "4",
        "--out",
        idx
    ])
    .status
    .success());
    assert!(relex(&[
        "index",
        "build",
        "-m",
        "tests/data/tiny-ce",
        "-i",
        &items,
        "--kq",
        "4",
        "--out",
        idx,
        "--resume"
    ])
    .status
    .success());
    for method in ["anncur", "adacur", "tfidf", "exact"] {
        let out = relex(&[
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
            method,
            "--budget",
            "4",
            "--anchors",
            "2",
            "-k",
            "3",
            "--format",
            "json",
        ]);
        assert!(
            out.status.success(),
            "{method}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["ranking"].as_array().unwrap().len(), 3, "{method}");
        let calls = v["ce_calls"].as_u64().unwrap();
        assert!(
            if method == "exact" {
                calls == 6
            } else {
                calls <= 4
            },
            "{method}: {calls}"
        );
    }
    // the index refuses another item list
    let other = dir.path().join("other.txt");
    std::fs::write(&other, "one\ntwo\nthree\n").unwrap();
    let out = relex(&[
        "search",
        "-m",
        "tests/data/tiny-ce",
        "-i",
        other.to_str().unwrap(),
        "--index",
        idx,
        "-q",
        "x",
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("different item list"));
}

#[test]
fn eval_on_a_score_matrix_reports_every_method_and_budget() {
    let out = relex(&[
        "eval",
        "--scores",
        "tests/data/approx/eval_matrix.npy",
        "--anchor-rows",
        "30",
        "--anchors",
        "10",
        "--method",
        "anncur,adacur,random",
        "--budget",
        "20,50",
        "--k",
        "1,10",
        "--seeds",
        "2",
        "--format",
        "json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(rows.len(), 6);
    for r in &rows {
        // Every method spends exactly its budget (the matrix has more items than that).
        assert_eq!(r["ce_calls"].as_f64(), r["budget"].as_f64(), "{r}");
        for k in ["recall@1", "recall@10"] {
            let v = r[k].as_f64().unwrap();
            assert!((0.0..=1.0).contains(&v), "{k} = {v} in {r}");
        }
    }
    // ANNCUR at a larger budget re-ranks a superset of the items: recall cannot drop.
    let recall = |m: &str, b: u64, k: &str| {
        rows.iter()
            .find(|r| r["method"] == m && r["budget"] == b)
            .and_then(|r| r[k].as_f64())
            .unwrap()
    };
    assert!(recall("anncur", 50, "recall@10") >= recall("anncur", 20, "recall@10"));
    assert!(recall("anncur", 50, "recall@1") >= recall("anncur", 20, "recall@1"));
    let anncur_50 = rows
        .iter()
        .find(|r| r["method"] == "anncur" && r["budget"] == 50)
        .unwrap();
    let random_50 = rows
        .iter()
        .find(|r| r["method"] == "random" && r["budget"] == 50)
        .unwrap();
    assert!(anncur_50["recall@10"].as_f64() > random_50["recall@10"].as_f64());
}

#[test]
fn items_check_reports_counts_and_exits_by_verdict() {
    let dir = tempfile::tempdir().unwrap();
    // Problems found: a repeated id. Exit 3, the counts and the line are reported.
    let bad = dir.path().join("dup.csv");
    std::fs::write(&bad, "id,text\n1,a\n1,b\n2,c\n").unwrap();
    let out = relex(&["items", "check", bad.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(3), "{text}");
    assert!(text.contains("items:       2"), "{text}");
    assert!(text.contains("skipped:     1"), "{text}");
    assert!(text.contains("  duplicate id: 1"), "{text}");
    assert!(text.contains("dup.csv:3"), "{text}");
    assert!(text.contains("result:      PROBLEMS FOUND"), "{text}");

    // A clean file: exit 0.
    let good = dir.path().join("good.csv");
    std::fs::write(&good, "id,text\n1,a\n2,b\n").unwrap();
    let out = relex(&["items", "check", good.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(
        text.contains("items:       2") && text.contains("result:      OK"),
        "{text}"
    );

    // Unreadable: a missing file, and a CSV whose quote never closes. Exit 4.
    let missing = dir.path().join("missing.jsonl");
    let out = relex(&["items", "check", missing.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(4), "{text}");
    assert!(
        text.contains("missing.jsonl") && text.contains("UNREADABLE"),
        "{text}"
    );
    let open = dir.path().join("open.csv");
    std::fs::write(&open, "id,text\n1,\"unterminated\n2,fine\n").unwrap();
    let out = relex(&["items", "check", open.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(4), "{text}");
    assert!(
        text.contains("open.csv:2") && text.contains("never closed"),
        "{text}"
    );
}

/// Three shards built by three separate processes (one reading its shard from Slurm's
/// variables, one from a Kubernetes Indexed Job's, one from --shard), merged, must give
/// the very bytes of one unsharded build; a second run of a finished shard does nothing,
/// and a merge with a shard missing is refused by name. `--devices cpu,cpu` (two
/// in-process workers) must give the same bytes too.
#[test]
fn sharded_builds_merge_into_the_single_build_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let items = items_file(dir.path());
    let queries = dir.path().join("queries.txt");
    std::fs::write(
        &queries,
        "river bank\nbread\nspace travel\nmoney\nfoxes\ncross-encoders\nmud\n",
    )
    .unwrap();
    let q = queries.display().to_string();
    let base = |out: &Path| -> Vec<String> {
        [
            "index",
            "build",
            "-m",
            "tests/data/tiny-ce",
            "-i",
            &items,
            "--anchor-queries",
            &q,
            "--kq",
            "7",
            "--out",
        ]
        .iter()
        .map(|s| s.to_string())
        .chain([out.display().to_string()])
        .collect()
    };
    let run = |args: &[String], env: &[(&str, &str)]| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_relex"));
        cmd.args(args);
        for var in relex::index::shard::SHARD_ENV_VARS {
            cmd.env_remove(var);
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd.output().expect("relex runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stderr).to_string()
    };
    let single = dir.path().join("single");
    run(&base(&single), &[]);

    let sharded = dir.path().join("sharded");
    let children: Vec<std::thread::JoinHandle<()>> = vec![
        {
            let args = base(&sharded);
            std::thread::spawn(move || {
                let mut cmd = Command::new(env!("CARGO_BIN_EXE_relex"));
                cmd.args(&args)
                    .env_remove("JOB_COMPLETION_INDEX")
                    .env("SLURM_ARRAY_TASK_ID", "1")
                    .env("SLURM_ARRAY_TASK_MIN", "1")
                    .env("SLURM_ARRAY_TASK_COUNT", "3");
                let out = cmd.output().expect("relex runs");
                let err = String::from_utf8_lossy(&out.stderr);
                assert!(out.status.success() && err.contains("Slurm array"), "{err}");
            })
        },
        {
            let args = base(&sharded);
            std::thread::spawn(move || {
                let mut cmd = Command::new(env!("CARGO_BIN_EXE_relex"));
                cmd.args(&args)
                    .env_remove("SLURM_ARRAY_TASK_ID")
                    .env("JOB_COMPLETION_INDEX", "1")
                    .env("RELEX_SHARD_COUNT", "3");
                let out = cmd.output().expect("relex runs");
                let err = String::from_utf8_lossy(&out.stderr);
                assert!(out.status.success() && err.contains("Kubernetes"), "{err}");
            })
        },
    ];
    let mut third = base(&sharded);
    third.extend(["--shard".to_string(), "2/3".to_string()]);
    run(&third, &[]);
    for c in children {
        c.join().expect("shard process");
    }
    // Run again: the finished shard is found, not rebuilt.
    let again = run(&third, &[]);
    assert!(again.contains("shard 2/3 finished"), "{again}");

    // A merge with a shard missing names it.
    let partial = dir.path().join("partial");
    std::fs::create_dir_all(&partial).unwrap();
    for i in [0, 2] {
        let name = format!("shard-{i:04}-of-0003");
        copy_dir(&sharded.join(&name), &partial.join(&name));
    }
    let out = relex(&["index", "merge", partial.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing shards: 1/3"));

    run(
        &["index", "merge", sharded.to_str().unwrap()].map(String::from),
        &[],
    );
    let two_workers = dir.path().join("two-workers");
    let mut args = base(&two_workers);
    args.extend(["--devices".to_string(), "cpu,cpu".to_string()]);
    run(&args, &[]);
    // The same files (data files are named by their content), byte for byte.
    let single_files = index_files(&single);
    assert_eq!(
        single_files.len(),
        3,
        "manifest, anchors, R: {single_files:?}"
    );
    assert_eq!(single_files, index_files(&sharded), "3 shards");
    assert_eq!(single_files, index_files(&two_workers), "2 workers");
}

/// The files (not folders) of an index folder, by name, with their bytes.
fn index_files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&p).unwrap())
        })
        .collect();
    files.sort();
    files
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

/// `relex index build --sparse` scores k_q × k_s pairs, AXN searches the index, and the
/// methods that need the dense R are refused with a message that says why.
#[test]
fn a_sparse_index_is_built_and_searched_by_axn_only() {
    let dir = tempfile::tempdir().unwrap();
    let items = items_file(dir.path());
    let index = dir.path().join("sparse");
    let idx = index.to_str().unwrap();
    let out = relex(&[
        "index",
        "build",
        "-m",
        "tests/data/tiny-ce",
        "-i",
        &items,
        "--kq",
        "4",
        "--out",
        idx,
        "--sparse",
        "--per-row",
        "3",
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("= 12 CE calls") && err.contains("a dense index: 24"),
        "{err}"
    );
    let search = |method: &str| {
        relex(&[
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
            method,
            "--budget",
            "4",
            "-k",
            "3",
            "--format",
            "json",
        ])
    };
    let axn = search("axn");
    assert!(
        axn.status.success(),
        "{}",
        String::from_utf8_lossy(&axn.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&axn.stdout).unwrap();
    assert_eq!(v["ranking"].as_array().unwrap().len(), 3);
    assert!(v["ce_calls"].as_u64().unwrap() <= 4);
    for method in ["anncur", "adacur"] {
        let out = search(method);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && err.contains("sparse"),
            "{method}: {err}"
        );
    }
    // --per-row without --sparse, and --sparse with --devices, are refused.
    let out = relex(&[
        "index",
        "build",
        "-m",
        "tests/data/tiny-ce",
        "-i",
        &items,
        "--out",
        idx,
        "--per-row",
        "3",
    ]);
    assert!(!out.status.success());
}

/// A sparse build's first stage can be the user's own retriever: a TREC run file. Its
/// candidates lead each anchor query's row, best first; a line naming an unknown item is
/// an error with the file and line.
#[test]
fn a_sparse_build_takes_its_first_stage_from_a_candidate_run() {
    let dir = tempfile::tempdir().unwrap();
    let items = items_file(dir.path());
    let anchors = dir.path().join("anchors.jsonl");
    std::fs::write(
        &anchors,
        "{\"id\": \"q0\", \"text\": \"money\"}\n{\"id\": \"q1\", \"text\": \"animals\"}\n",
    )
    .unwrap();
    let run = dir.path().join("run.trec");
    std::fs::write(
        &run,
        "q0 Q0 d3 1 9.5 bm25\nq0 Q0 d2 2 7.0 bm25\nq1 Q0 d5 1 3.0 bm25\nother Q0 d1 1 1.0 bm25\n",
    )
    .unwrap();
    let index = dir.path().join("sparse");
    let build = |run: &Path| {
        relex(&[
            "index",
            "build",
            "-m",
            "tests/data/tiny-ce",
            "-i",
            &items,
            "--anchor-queries",
            anchors.to_str().unwrap(),
            "--kq",
            "2",
            "--out",
            index.to_str().unwrap(),
            "--sparse",
            "--per-row",
            "3",
            "--candidates",
            run.to_str().unwrap(),
        ])
    };
    let out = build(&run);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(index.join("manifest.json")).unwrap())
            .unwrap();
    let stage = manifest["sparse"]["first_stage"].as_str().unwrap();
    assert!(stage.starts_with("run:"), "{stage}");
    let entries = manifest["sparse"]["entries_file"]["name"].as_str().unwrap();
    let bytes = std::fs::read(index.join(entries)).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let cols: Vec<u32> = st
        .tensor("cols")
        .unwrap()
        .data()
        .chunks_exact(4)
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    // Rows of 3: the run's two best for q0 (d3, d2), its one for q1 (d5), then random.
    assert_eq!(&cols[..2], &[3, 2], "{cols:?}");
    assert_eq!(cols[3], 5, "{cols:?}");

    let bad = dir.path().join("bad.trec");
    std::fs::write(&bad, "q0 Q0 d3 1 9.5 bm25\nq0 Q0 d99 2 7.0 bm25\n").unwrap();
    std::fs::remove_dir_all(&index).unwrap();
    let out = build(&bad);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains("bad.trec") && err.contains("line 2") && err.contains("d99"),
        "{err}"
    );
}
