//! ANNCUR query-time cost on a large catalogue: N = 1,000,000 items,
//! k_q = 128 anchor queries, k_i = 100 anchor items, budget 1,000.
//!
//! * `approx_step_1M`: `s̃ = c · E` plus the top-`budget` selection, the
//!   per-query work besides CE calls (target: < 50 ms on 2 cores).
//! * `anncur_search_1M`: the whole search with a matrix-backed scorer (adds
//!   the re-ranking bookkeeping; the CE itself is free here).
//!
//! Setup (building R and the cached factor E, ≈ 1 GB) takes a few seconds.
//! Run with `cargo bench --bench approx_search`.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use relex::approx::{
    anncur_search, top_k_indices, AnchorStrategy, AnncurParams, CurIndex, Matrix, MatrixRowScorer,
    SplitMix64,
};

const N: usize = 1_000_000;
const K_Q: usize = 128;
const K_I: usize = 100;
const RANK: usize = 16;
const BUDGET: usize = 1_000;

fn uniform(rng: &mut SplitMix64) -> f32 {
    (rng.next_u64() >> 40) as f32 / (1u64 << 24) as f32 - 0.5
}

/// Rank-16 scores plus noise, for `rows` queries; item factors are shared.
fn scores(rows: usize, items: &[f32], seed: u64) -> Vec<f32> {
    let mut rng = SplitMix64::new(seed);
    let q: Vec<f32> = (0..rows * RANK).map(|_| uniform(&mut rng)).collect();
    let mut out = vec![0.0f32; rows * N];
    for (i, row) in out.chunks_mut(N).enumerate() {
        for (t, &qt) in q[i * RANK..(i + 1) * RANK].iter().enumerate() {
            for (x, &b) in row.iter_mut().zip(&items[t * N..(t + 1) * N]) {
                *x += qt * b;
            }
        }
        for x in row.iter_mut() {
            *x += 0.05 * uniform(&mut rng);
        }
    }
    out
}

fn bench(c: &mut Criterion) {
    let mut rng = SplitMix64::new(1);
    let items: Vec<f32> = (0..RANK * N).map(|_| uniform(&mut rng)).collect();
    let r = Matrix::new(K_Q, N, scores(K_Q, &items, 2)).expect("shape");
    let query = scores(1, &items, 3);
    let index = CurIndex::new(r, Vec::new()).expect("index");
    let factor = index
        .factor(K_I, AnchorStrategy::Random, 0)
        .expect("factor");
    let cvec: Vec<f32> = factor.anchors.iter().map(|&j| query[j]).collect();

    let mut g = c.benchmark_group("anncur");
    g.sample_size(20);
    g.measurement_time(std::time::Duration::from_secs(8));
    g.bench_function("approx_step_1M", |b| {
        b.iter(|| {
            let s = factor.approximate(black_box(&cvec)).expect("approx");
            black_box(top_k_indices(&s, BUDGET))
        })
    });
    let params = AnncurParams {
        k_i: K_I,
        budget: BUDGET,
        top_k: 10,
        strategy: AnchorStrategy::Random,
        seed: 0,
    };
    g.bench_function("anncur_search_1M", |b| {
        b.iter(|| {
            let mut sc = MatrixRowScorer::from_slice(&query);
            black_box(anncur_search(&index, &mut sc, &params).expect("search"))
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
