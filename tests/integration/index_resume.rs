//! An interrupted index build resumes with no row lost or recomputed, and ends with the
//! same matrix as an uninterrupted build.

use std::ops::ControlFlow;

use relex::index::{self, AnchorQuery, BuildSpec, ItemsStamp, ModelStamp, StoreDtype};
use relex::model::{CrossEncoder, LoadOptions};

fn spec<'a>(model: &'a CrossEncoder, texts: &'a [String]) -> BuildSpec<'a> {
    BuildSpec {
        model,
        texts,
        items: ItemsStamp {
            source: "mem".into(),
            count: texts.len(),
            fingerprint: "items-fp".into(),
        },
        anchors: (0..5)
            .map(|i| AnchorQuery {
                id: format!("q{i}"),
                text: format!("query number {i} about banks and rivers"),
                pseudo: false,
            })
            .collect(),
        dtype: StoreDtype::F32,
        item_template: "{text}".into(),
        shard: None,
    }
}

#[test]
fn interrupted_build_resumes_without_recomputing_rows() {
    let model = CrossEncoder::load("tests/data/tiny-ce", &LoadOptions::default()).unwrap();
    let texts: Vec<String> = (0..9)
        .map(|i| format!("item {i} text with some words"))
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("idx");

    // Stop as soon as the third row starts.
    let err = index::build(spec(&model, &texts), &out, false, &mut |p| {
        if p.rows_done == 2 {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    })
    .unwrap_err();
    assert!(err.to_string().contains("after 2 of 5 rows"), "{err}");
    let m = index::Manifest::read(&out).unwrap();
    assert!(!m.complete);
    assert_eq!(m.rows_done, 2);

    // Resume: the first row worked on is row 2.
    let mut first_row = None;
    let m = index::build(spec(&model, &texts), &out, true, &mut |p| {
        first_row.get_or_insert(p.rows_done);
        ControlFlow::Continue(())
    })
    .unwrap();
    assert_eq!(first_row, Some(2));
    assert!(m.complete);
    assert!(!out.join("rows.partial").exists());

    // Same numbers as a build that was never interrupted.
    let fresh = dir.path().join("fresh");
    index::build(spec(&model, &texts), &fresh, false, &mut |_| {
        ControlFlow::Continue(())
    })
    .unwrap();
    let stamp = ModelStamp {
        name: model.info().name.clone(),
        fingerprint: model.info().fingerprint.clone(),
    };
    let items = spec(&model, &texts).items;
    let a = index::load(&out, &stamp, &items).unwrap();
    let b = index::load(&fresh, &stamp, &items).unwrap();
    assert_eq!(a.cur.r().data(), b.cur.r().data());
}

#[test]
fn a_fresh_build_never_reuses_leftover_rows() {
    let model = CrossEncoder::load("tests/data/tiny-ce", &LoadOptions::default()).unwrap();
    let texts: Vec<String> = (0..9)
        .map(|i| format!("item {i} text with some words"))
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("idx");
    std::fs::create_dir_all(&out).unwrap();
    // Rows of some other build (huge values), left without a manifest.
    let stale: Vec<u8> = (0..2 * 9).flat_map(|_| 99.0f32.to_le_bytes()).collect();
    std::fs::write(out.join("rows.partial"), stale).unwrap();
    let mut first_row = None;
    index::build(spec(&model, &texts), &out, true, &mut |p| {
        first_row.get_or_insert(p.rows_done);
        ControlFlow::Continue(())
    })
    .unwrap();
    assert_eq!(first_row, Some(0), "every row computed");
    let idx = index::load(
        &out,
        &ModelStamp::of(model.info()),
        &spec(&model, &texts).items,
    )
    .unwrap();
    assert!(
        idx.cur.r().data().iter().all(|&v| v != 99.0),
        "no stale score kept"
    );
}

#[test]
fn the_model_fingerprint_covers_tokenizer_and_max_length() {
    let base = CrossEncoder::load("tests/data/tiny-ce", &LoadOptions::default()).unwrap();
    let fp = |opts: LoadOptions| {
        CrossEncoder::load("tests/data/tiny-ce", &opts)
            .unwrap()
            .info()
            .fingerprint
            .clone()
    };
    assert_eq!(
        base.info().fingerprint,
        fp(LoadOptions::default()),
        "stable"
    );
    let shorter = fp(LoadOptions {
        max_length: Some(16),
        ..LoadOptions::default()
    });
    assert_ne!(
        base.info().fingerprint,
        shorter,
        "max length changes scores"
    );
    // The same weights with another tokenizer file (one vocabulary entry changed).
    let dir = tempfile::tempdir().unwrap();
    for e in std::fs::read_dir("tests/data/tiny-ce").unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), dir.path().join(e.file_name())).unwrap();
    }
    let tok = dir.path().join("tokenizer.json");
    let vocab = dir.path().join("vocab.txt");
    if tok.exists() {
        let text = std::fs::read_to_string(&tok).unwrap();
        std::fs::write(&tok, text.replacen("\"bank\"", "\"banc\"", 1)).unwrap();
    } else {
        let text = std::fs::read_to_string(&vocab).unwrap();
        std::fs::write(&vocab, text.replacen("\nbank\n", "\nbanc\n", 1)).unwrap();
    }
    let other = CrossEncoder::load(dir.path().to_str().unwrap(), &LoadOptions::default()).unwrap();
    assert_ne!(
        base.info().fingerprint,
        other.info().fingerprint,
        "tokenizer changes scores"
    );
    // An index built under one is refused under the other.
    let texts: Vec<String> = (0..4).map(|i| format!("item {i}")).collect();
    let out = dir.path().join("idx");
    index::build(spec(&base, &texts), &out, false, &mut |_| {
        ControlFlow::Continue(())
    })
    .unwrap();
    let short_model = CrossEncoder::load(
        "tests/data/tiny-ce",
        &LoadOptions {
            max_length: Some(16),
            ..LoadOptions::default()
        },
    )
    .unwrap();
    let err = match index::load(
        &out,
        &ModelStamp::of(short_model.info()),
        &spec(&base, &texts).items,
    ) {
        Ok(_) => panic!("an index built at another max length was accepted"),
        Err(e) => e.to_string(),
    };
    assert!(err.contains("fingerprint"), "{err}");
}
