//! Tokenising item texts: relex's WordPiece fast path against the tokenizers library
//! (the same ids, checked before timing), on the demo's items and on 380-token texts.

use std::hint::black_box;
use std::path::Path;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use relex::model::PairEncoder;

fn texts() -> (Vec<String>, Vec<String>) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let body = std::fs::read_to_string(root.join("assets/demo/items.jsonl")).expect("demo items");
    let demo: Vec<String> = body
        .lines()
        .take(2000)
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("json line");
            v["text"].as_str().expect("text").to_string()
        })
        .collect();
    // Long items: demo glosses run together to ~380 tokens.
    let long = demo.chunks(20).map(|c| c.join(" ")).take(100).collect();
    (demo, long)
}

fn bench(c: &mut Criterion) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/models/wordnet-minilm-emb");
    let enc = PairEncoder::from_folder(&dir, 512, true).expect("default tokenizer");
    let (demo, long) = texts();
    let mut group = c.benchmark_group("tokenize");
    for (name, set) in [("demo items", &demo), ("long items", &long)] {
        for t in set.iter().take(50) {
            let library = enc
                .tokenizer()
                .encode_fast(t.as_str(), false)
                .expect("library");
            assert_eq!(enc.ids(t, "item").expect("ids"), library.get_ids());
        }
        group.throughput(Throughput::Elements(set.len() as u64));
        group.bench_function(format!("{name}: relex"), |b| {
            b.iter(|| {
                for t in set {
                    black_box(enc.ids(t, "item").expect("ids"));
                }
            })
        });
        group.bench_function(format!("{name}: tokenizers library"), |b| {
            b.iter(|| {
                for t in set {
                    black_box(
                        enc.tokenizer()
                            .encode_fast(t.as_str(), false)
                            .expect("library"),
                    );
                }
            })
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10);
    targets = bench
}
criterion_main!(benches);
