//! Loading speed of item lists in every format.
//!
//! The target is 1,000,000 JSONL items (~200 MB) in under 5 s on a 2-core
//! machine; this bench uses 100,000 items (~20 MB) per format so it finishes
//! quickly, and reports throughput so the figure scales. Files are generated
//! once into a temporary directory.

use std::hint::black_box;
use std::path::PathBuf;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use relex::items::{load_items, write_items, Format, Item, LoadOptions};

const N: usize = 100_000;

fn sample_items(n: usize) -> Vec<Item> {
    let words = [
        "relevance",
        "cross",
        "encoder",
        "query",
        "passage",
        "retrieval",
        "matrix",
        "sketch",
        "token",
        "model",
        "score",
        "index",
    ];
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..n)
        .map(|i| {
            let mut text = String::with_capacity(160);
            while text.len() < 150 {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                text.push_str(words[(state % words.len() as u64) as usize]);
                text.push(' ');
            }
            text.truncate(text.trim_end().len());
            Item::new(format!("doc{i}"), text).with_title(format!("Title number {i}"))
        })
        .collect()
}

fn bench_load(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let items = sample_items(N);
    let mut group = c.benchmark_group("items_load");
    group.sample_size(10);
    for format in Format::ALL {
        let path: PathBuf = dir.path().join(format!("items.{format}"));
        if format == Format::Txt {
            let untitled: Vec<Item> = items
                .iter()
                .map(|it| Item::new(it.id.clone(), it.text.clone()))
                .collect();
            write_items(&path, &untitled, format).expect("write txt");
        } else {
            write_items(&path, &items, format).expect("write");
        }
        let bytes = std::fs::metadata(&path).expect("metadata").len();
        group.throughput(Throughput::Bytes(bytes));
        group.bench_function(format!("{format}_{N}"), |b| {
            b.iter(|| {
                let list = load_items(black_box(&path), &LoadOptions::default()).expect("load");
                assert_eq!(list.items.len(), N);
                list
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench_load);
criterion_main!(benches);
