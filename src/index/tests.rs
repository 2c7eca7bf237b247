//! Tests of `index`.

use super::*;

fn stamp() -> (ModelStamp, ItemsStamp) {
    (
        ModelStamp {
            name: "m".into(),
            fingerprint: "aa".into(),
        },
        ItemsStamp {
            source: "items.jsonl".into(),
            count: 3,
            fingerprint: "bb".into(),
        },
    )
}

pub(super) fn manifest(complete: bool) -> Manifest {
    let (model, items) = stamp();
    Manifest {
        format_version: FORMAT_VERSION,
        model,
        items,
        k_q: 2,
        n_items: 3,
        dtype: StoreDtype::F16,
        item_template: crate::items::DEFAULT_TEMPLATE.into(),
        pseudo_queries: false,
        rows_done: if complete { 2 } else { 1 },
        complete,
        shard: None,
        anchors_file: Some(FileRef {
            name: "anchor_queries-none.jsonl".into(),
            sha256: "0".into(),
        }),
        r_file: complete.then(|| FileRef {
            name: "R-none.safetensors".into(),
            sha256: "0".into(),
        }),
        sparse: None,
    }
}

fn two_anchors() -> Vec<AnchorQuery> {
    vec![
        AnchorQuery {
            id: "q1".into(),
            text: "a".into(),
            pseudo: false,
        },
        AnchorQuery {
            id: "q2".into(),
            text: "b".into(),
            pseudo: false,
        },
    ]
}

/// A complete index of `r` (2 × 3) written as a build commits one.
fn write_index(d: &Path, r: &Matrix) -> Manifest {
    let anchors = store::put(
        d,
        "anchor_queries",
        "jsonl",
        &store::anchors_bytes(&two_anchors()),
    );
    let bytes = store::matrix_bytes(d, r, StoreDtype::F16).unwrap();
    let m = Manifest {
        anchors_file: Some(anchors.unwrap()),
        r_file: Some(store::put(d, "R", "safetensors", &bytes).unwrap()),
        ..manifest(true)
    };
    m.commit(d).unwrap();
    m
}

#[test]
fn round_trip_and_mismatch_errors() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let r = Matrix::new(2, 3, vec![1.0, 2.0, 3.0, 4.0, 5.5, -6.25]).unwrap();
    write_index(d, &r);
    let (model, items) = stamp();
    let loaded = load(d, &model, &items).unwrap();
    assert_eq!(loaded.dense().unwrap().r().data(), r.data());
    let other = ModelStamp {
        name: "x".into(),
        fingerprint: "cc".into(),
    };
    let err = load(d, &other, &items).err().unwrap().to_string();
    assert!(
        err.contains("model") && err.contains("aa") && err.contains("cc"),
        "{err}"
    );
    let other_items = ItemsStamp {
        count: 4,
        ..items.clone()
    };
    let err = load(d, &model, &other_items).err().unwrap().to_string();
    assert!(err.contains("different item list"), "{err}");
}

#[test]
fn incomplete_index_says_resume() {
    let dir = tempfile::tempdir().unwrap();
    manifest(false).write(dir.path()).unwrap();
    let (model, items) = stamp();
    let err = load(dir.path(), &model, &items).err().unwrap();
    assert!(
        matches!(
            err,
            IndexError::Incomplete {
                done: 1,
                total: 2,
                ..
            }
        ),
        "{err}"
    );
    // The library says what to do in any caller's words; the CLI names its flag
    // (`cli::tests::an_incomplete_index_hints_at_resume`).
    let text = err.to_string();
    assert!(text.contains("resume") && text.contains("1 of 2"), "{text}");
}

#[test]
fn row_writer_resumes_and_drops_a_torn_row() {
    let dir = tempfile::tempdir().unwrap();
    let (mut w, rows) = RowWriter::open(dir.path(), 3).unwrap();
    assert!(rows.is_empty());
    w.push(&[1.0, 2.0, 3.0]).unwrap();
    w.push(&[4.0, 5.0, 6.0]).unwrap();
    drop(w);
    // simulate a crash in the middle of the third row
    let path = dir.path().join("rows.partial");
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap();
    f.write_all(&7.0f32.to_le_bytes()).unwrap();
    drop(f);
    let (mut w, rows) = RowWriter::open(dir.path(), 3).unwrap();
    assert_eq!(rows, vec![vec![1.0, 2.0, 3.0], vec![4.0, 5.0, 6.0]]);
    w.push(&[7.0, 8.0, 9.0]).unwrap();
    drop(w);
    let (_, rows) = RowWriter::open(dir.path(), 3).unwrap();
    assert_eq!(rows.len(), 3);
    assert!(w_len(&path) == 36);
}

fn w_len(p: &Path) -> u64 {
    std::fs::metadata(p).unwrap().len()
}

/// Any single byte flipped in the manifest or in a data file is an error or changes
/// nothing: never a silently different R or anchor list.
#[test]
fn every_byte_flip_in_an_index_folder_is_caught_or_harmless() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let r = Matrix::new(2, 3, vec![1.0, 2.0, 3.0, 4.0, 5.5, -6.25]).unwrap();
    let m = write_index(d, &r);
    let (model, items) = stamp();
    let good = load(d, &model, &items).unwrap();
    let files = [
        "manifest.json".to_string(),
        m.anchors_file.clone().unwrap().name,
        m.r_file.clone().unwrap().name,
    ];
    for name in files {
        let path = d.join(&name);
        let original = std::fs::read(&path).unwrap();
        for at in 0..original.len() {
            for bit in [0x01u8, 0x20, 0x80] {
                let mut bytes = original.clone();
                bytes[at] ^= bit;
                std::fs::write(&path, &bytes).unwrap();
                if let Ok(loaded) = load(d, &model, &items) {
                    assert_eq!(
                        loaded.dense().unwrap().r().data(),
                        good.dense().unwrap().r().data(),
                        "{name} byte {at} ^ {bit:#x}: R changed silently"
                    );
                    assert_eq!(
                        loaded.anchors, good.anchors,
                        "{name} byte {at} ^ {bit:#x}: anchors changed silently"
                    );
                    assert_eq!(loaded.manifest.k_q, 2);
                }
            }
        }
        std::fs::write(&path, &original).unwrap();
    }
}
