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
        sparse: None,
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
    assert_eq!(a.dense().unwrap().r().data(), b.dense().unwrap().r().data());
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
        idx.dense().unwrap().r().data().iter().all(|&v| v != 99.0),
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

fn sparse_spec<'a>(model: &'a CrossEncoder, texts: &'a [String]) -> BuildSpec<'a> {
    let mut s = spec(model, texts);
    let tfidf = relex::approx::TfIdfIndex::build(texts).unwrap();
    let anchor_texts: Vec<String> = s.anchors.iter().map(|a| a.text.clone()).collect();
    s.sparse = Some(index::SparsePlan::new(
        &anchor_texts,
        &tfidf,
        texts.len(),
        6,
    ));
    s
}

/// A sparse (AXN) build scores only its plan's items (k_q × k_s calls), resumes after an
/// interruption to the same files as an uninterrupted build, and observes the entries a
/// dense build would have: its embeddings approximate as the simulation on the dense R does.
#[test]
fn a_sparse_build_resumes_and_agrees_with_its_simulation_on_a_dense_build() {
    let model = CrossEncoder::load("tests/data/tiny-ce", &LoadOptions::default()).unwrap();
    let words = [
        "bank", "river", "money", "bread", "rocket", "fox", "water", "loan",
    ];
    let texts: Vec<String> = (0..40)
        .map(|i| format!("item {i} about {} and {}", words[i % 8], words[(i / 8) % 8]))
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("sparse");
    let mut pairs = 0;
    let err = index::build(sparse_spec(&model, &texts), &out, false, &mut |p| {
        assert_eq!(p.n_items, 6, "a row is k_s pairs");
        pairs = pairs.max(p.rows_done * p.n_items + p.pairs_done);
        if p.rows_done == 2 {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    })
    .unwrap_err();
    assert!(err.to_string().contains("after 2 of 5 rows"), "{err}");
    let m = index::build(sparse_spec(&model, &texts), &out, true, &mut |_| {
        ControlFlow::Continue(())
    })
    .unwrap();
    assert!(m.complete && m.is_sparse() && m.r_file.is_none());
    assert_eq!(m.sparse.as_ref().unwrap().per_row, 6);
    let fresh = dir.path().join("fresh");
    index::build(sparse_spec(&model, &texts), &fresh, false, &mut |_| {
        ControlFlow::Continue(())
    })
    .unwrap();
    // The manifest names every file by its hash: equal manifests, equal indexes.
    assert_eq!(
        std::fs::read(out.join("manifest.json")).unwrap(),
        std::fs::read(fresh.join("manifest.json")).unwrap()
    );

    let stamp = ModelStamp::of(model.info());
    let items = spec(&model, &texts).items;
    let sparse = index::load(&out, &stamp, &items).unwrap();
    assert!(sparse.dense().is_none());
    assert!(sparse
        .require_dense()
        .unwrap_err()
        .to_string()
        .contains("sparse"));
    let index::IndexData::Sparse(axn) = &sparse.data else {
        panic!("a sparse index loads its embeddings")
    };

    // The dense build of the same anchor queries, and AXN simulated on it.
    let dense_dir = dir.path().join("dense");
    index::build(spec(&model, &texts), &dense_dir, false, &mut |_| {
        ControlFlow::Continue(())
    })
    .unwrap();
    let dense = index::load(&dense_dir, &stamp, &items).unwrap();
    let tfidf = relex::approx::TfIdfIndex::build(&texts).unwrap();
    let anchor_texts: Vec<String> = dense.anchors.iter().map(|a| a.text.clone()).collect();
    let simulated = relex::approx::axn::index_from_dense(
        dense.dense().unwrap().r(),
        Some(&anchor_texts),
        Some(&tfidf),
        6,
        &relex::approx::axn::AxnFactorParams::default(),
    )
    .unwrap();
    assert_eq!(axn.indexing_calls, 5 * 6);
    assert_eq!(simulated.indexing_calls, 5 * 6);
    // The same exact scores of a few items give the same approximation of all of them.
    let probe: Vec<usize> = vec![0, 7, 13, 22, 31, 39];
    let exact: Vec<f32> = probe.iter().map(|&j| j as f32 * 0.01 - 0.2).collect();
    let a = axn.approximate(&probe, &exact);
    let b = simulated.approximate(&probe, &exact);
    let worst = a
        .iter()
        .zip(&b)
        .map(|(x, y)| (x - y).abs())
        .fold(0f32, f32::max);
    assert!(worst < 1e-3, "real and simulated AXN differ by {worst}");
}
