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
