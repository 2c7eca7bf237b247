//! AXN (Yadav et al., ICLR 2024, "Adaptive Retrieval and Scalable Indexing for k-NN
//! Search with Cross-Encoders"): a *sparse* index and adaptive test-time retrieval.
//!
//! Indexing: instead of ANNCUR's dense `R` (every anchor query against every item,
//! `k_q · N` CE calls), each anchor query is scored against only `k_s` items: most
//! retrieved by a cheap first stage (TF-IDF here; the paper uses a dual encoder), the
//! rest drawn at random so every item is seen now and then. The observed entries are
//! factorised by alternating least squares into item embeddings `v_i` (with an item
//! bias `b_i`): `score(q, i) ≈ u_q · v_i + a_q + b_i`. The index then costs
//! `k_q · k_s` CE calls.
//!
//! Search: like ADACUR, the budget is spent in rounds. The first round scores the
//! first stage's best items; after each round the query's embedding `(u, a)` is the
//! ridge regression of the exact scores so far on the scored items' embeddings, every
//! item is approximated as `u · v_i + a + b_i`, and the next round scores the best
//! unscored items of that approximation (plus a little random exploration). The
//! ranking is the exact top-k of everything scored.
//!
//! No public implementation of AXN exists; this one follows the paper's description
//! with two choices of ours, both documented in the README: TF-IDF as the first stage,
//! and explicit biases in the factorisation.

use std::collections::HashSet;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::adacur::round_sizes;
use super::cur::score_checked;
use super::{
    rank_scored, sample_without_replacement, top_k_indices, ApproxError, Matrix, PairScorer,
    Result, SearchResult, SplitMix64,
};

/// How the sparse index is factorised.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AxnFactorParams {
    /// Embedding dimension `d`.
    pub rank: usize,
    /// Ridge penalty on embeddings (biases are not penalised).
    pub lambda: f64,
    pub iterations: usize,
    pub seed: u64,
}

impl Default for AxnFactorParams {
    fn default() -> Self {
        Self {
            rank: 32,
            lambda: 1.0,
            iterations: 12,
            seed: 0,
        }
    }
}

/// The observed part of the anchor-query × item score matrix: per anchor query, the
/// items it was scored against and their exact scores.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SparseScores {
    pub n_items: usize,
    pub rows: Vec<Vec<(usize, f32)>>,
}

impl SparseScores {
    /// CE calls the index cost.
    pub fn observed(&self) -> usize {
        self.rows.iter().map(Vec::len).sum()
    }

    /// The entries of a dense matrix that a sparse build would have scored: for each
    /// row, `first_stage[q]` (the retriever's items, in order) up to `retrieved`, then
    /// random items (seeded) up to `per_row` in all. Evaluation uses this to measure
    /// AXN on the same anchor queries as ANNCUR without another round of CE calls.
    pub fn sample_dense(
        r: &Matrix,
        first_stage: Option<&[Vec<usize>]>,
        retrieved: usize,
        per_row: usize,
        seed: u64,
    ) -> Result<Self> {
        let n = r.cols();
        let rows = (0..r.rows())
            .map(|q| {
                let first = first_stage
                    .and_then(|f| f.get(q))
                    .map_or(&[][..], Vec::as_slice);
                let row = r.row(q);
                row_columns(n, first, retrieved, per_row, seed, q)
                    .into_iter()
                    .map(|j| (j, row[j]))
                    .collect()
            })
            .collect();
        Ok(Self { n_items: n, rows })
    }
}

/// The items a sparse index scores for anchor query `q` of `n` items: the first stage's
/// items in order up to `retrieved`, then random items (seeded per row) up to `per_row`
/// in all. A real sparse build and its simulation on a dense `R` both take their entries
/// from here, so they observe the same entries.
pub fn row_columns(
    n: usize,
    first_stage: &[usize],
    retrieved: usize,
    per_row: usize,
    seed: u64,
    q: usize,
) -> Vec<usize> {
    let per_row = per_row.min(n);
    // A first stage may name an item twice (a user's run file): each is scored once.
    let mut taken: HashSet<usize> = HashSet::new();
    let mut cols: Vec<usize> = first_stage
        .iter()
        .copied()
        .filter(|&j| j < n && taken.insert(j))
        .take(retrieved.min(per_row))
        .collect();
    let mut rng = SplitMix64::for_stream(seed, q as u64);
    while cols.len() < per_row {
        let j = rng.below(n);
        if taken.insert(j) {
            cols.push(j);
        }
    }
    cols
}

/// Items of each anchor query retrieved by the first stage (TF-IDF over the item texts,
/// from the anchor query's text), best first.
pub fn first_stage(
    anchor_texts: &[String],
    tfidf: &super::TfIdfIndex,
    retrieved: usize,
) -> Vec<Vec<usize>> {
    anchor_texts
        .par_iter()
        .map(|q| top_k_indices(&tfidf.scores(q), retrieved))
        .collect()
}

/// How many of a row's `per_row` items the first stage retrieves.
pub fn retrieved_per_row(per_row: usize) -> usize {
    (per_row as f64 * FIRST_STAGE_SHARE).round() as usize
}

/// Items per anchor query a sparse index scores by default: 5% of the catalogue, at
/// least 200 (all of a small one).
pub fn default_per_row(n_items: usize) -> usize {
    (n_items / 20).max(200).min(n_items)
}

/// Share of each anchor query's items taken from the first stage (the rest random).
pub const FIRST_STAGE_SHARE: f64 = 0.75;

/// The AXN index a sparse build would give for these anchor queries, simulated on a
/// dense `R` (evaluation, and the app on a dense index): TF-IDF retrieves
/// [`FIRST_STAGE_SHARE`] of each row's `per_row` items from the anchor query's text,
/// random items fill the rest. Without texts every observed item is random.
pub fn index_from_dense(
    r: &Matrix,
    anchor_texts: Option<&[String]>,
    tfidf: Option<&super::TfIdfIndex>,
    per_row: usize,
    params: &AxnFactorParams,
) -> Result<AxnIndex> {
    let retrieved = retrieved_per_row(per_row);
    let first: Option<Vec<Vec<usize>>> = match (anchor_texts, tfidf) {
        (Some(texts), Some(t)) if texts.len() == r.rows() => Some(first_stage(texts, t, retrieved)),
        _ => None,
    };
    let sparse = SparseScores::sample_dense(r, first.as_deref(), retrieved, per_row, params.seed)?;
    AxnIndex::factorize(&sparse, params)
}

/// Item embeddings learnt from sparse anchor-query scores.
#[derive(Clone, Debug, PartialEq)]
pub struct AxnIndex {
    /// `d × N` row-major: row `t` holds every item's `t`-th coordinate.
    v: Matrix,
    /// Item biases `b_i`.
    bias: Vec<f32>,
    lambda: f64,
    /// CE calls spent building it.
    pub indexing_calls: usize,
}

/// Solves the symmetric positive-definite system `a x = b` (`a` row-major, `m × m`) by
/// Cholesky; `None` if `a` is not positive definite.
fn solve_spd(a: &mut [f64], b: &mut [f64], m: usize) -> Option<()> {
    for j in 0..m {
        let mut d = a[j * m + j];
        for k in 0..j {
            d -= a[j * m + k] * a[j * m + k];
        }
        if d <= 0.0 {
            return None;
        }
        let d = d.sqrt();
        a[j * m + j] = d;
        for i in j + 1..m {
            let mut s = a[i * m + j];
            for k in 0..j {
                s -= a[i * m + k] * a[j * m + k];
            }
            a[i * m + j] = s / d;
        }
    }
    for i in 0..m {
        let mut s = b[i];
        for k in 0..i {
            s -= a[i * m + k] * b[k];
        }
        b[i] = s / a[i * m + i];
    }
    for i in (0..m).rev() {
        let mut s = b[i];
        for k in i + 1..m {
            s -= a[k * m + i] * b[k];
        }
        b[i] = s / a[i * m + i];
    }
    Some(())
}

/// Ridge regression `argmin_x Σ (y − f·x)² + λ Σ_{t<penalised} x_t²` over the feature
/// rows `f` (each `m` long). Returns zeros for a degenerate system.
fn ridge(features: &[&[f64]], y: &[f64], m: usize, lambda: f64, penalised: usize) -> Vec<f64> {
    let mut a = vec![0.0; m * m];
    let mut b = vec![0.0; m];
    for (f, &t) in features.iter().zip(y) {
        for i in 0..m {
            b[i] += f[i] * t;
            for j in 0..=i {
                a[i * m + j] += f[i] * f[j];
            }
        }
    }
    for i in 0..m {
        for j in 0..i {
            a[j * m + i] = a[i * m + j];
        }
        // A tiny ridge on the unpenalised biases keeps the system definite.
        a[i * m + i] += if i < penalised { lambda } else { 1e-6 };
    }
    match solve_spd(&mut a, &mut b, m) {
        Some(()) => b,
        None => vec![0.0; m],
    }
}

impl AxnIndex {
    /// Alternating least squares on the observed entries (module docs).
    pub fn factorize(sparse: &SparseScores, params: &AxnFactorParams) -> Result<Self> {
        let (kq, n, d) = (sparse.rows.len(), sparse.n_items, params.rank);
        if kq == 0 || n == 0 || d == 0 {
            return Err(ApproxError::InvalidInput(format!(
                "AXN needs anchor queries, items and a positive rank ({kq} × {n}, rank {d})"
            )));
        }
        if let Some((q, &(j, s))) = sparse.rows.iter().enumerate().find_map(|(q, row)| {
            row.iter()
                .find(|(j, s)| *j >= n || !s.is_finite())
                .map(|e| (q, e))
        }) {
            return Err(ApproxError::InvalidInput(format!(
                "anchor query {q}: entry (item {j}, score {s}) is out of range or not finite"
            )));
        }
        // Per item: (anchor query, score) observations.
        let mut by_item: Vec<Vec<(usize, f32)>> = vec![Vec::new(); n];
        for (q, row) in sparse.rows.iter().enumerate() {
            for &(j, s) in row {
                by_item[j].push((q, s));
            }
        }
        let mut rng = SplitMix64::new(params.seed);
        // Query side: [u_q (d), a_q, 1]; item side: [v_i (d), 1, b_i].
        let mut u: Vec<Vec<f64>> = (0..kq)
            .map(|_| {
                let mut x: Vec<f64> = (0..d)
                    .map(|_| ((rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64 - 0.5) * 0.2)
                    .collect();
                x.extend([0.0, 1.0]);
                x
            })
            .collect();
        let mut v: Vec<Vec<f64>> = vec![
            {
                let mut x = vec![0.0; d];
                x.extend([1.0, 0.0]);
                x
            };
            n
        ];
        let lambda = params.lambda;
        for _ in 0..params.iterations {
            // Items given queries: solve [v_i, b_i] on target s − a_q.
            v = by_item
                .par_iter()
                .map(|obs| {
                    let feats: Vec<Vec<f64>> = obs
                        .iter()
                        .map(|&(q, _)| {
                            let mut f = u[q][..d].to_vec();
                            f.push(1.0);
                            f
                        })
                        .collect();
                    let refs: Vec<&[f64]> = feats.iter().map(Vec::as_slice).collect();
                    let y: Vec<f64> = obs.iter().map(|&(q, s)| s as f64 - u[q][d]).collect();
                    let sol = ridge(&refs, &y, d + 1, lambda, d);
                    let mut x = sol[..d].to_vec();
                    x.extend([1.0, sol[d]]);
                    x
                })
                .collect();
            // Queries given items: solve [u_q, a_q] on target s − b_i.
            u = sparse
                .rows
                .par_iter()
                .map(|row| {
                    let feats: Vec<Vec<f64>> = row
                        .iter()
                        .map(|&(j, _)| {
                            let mut f = v[j][..d].to_vec();
                            f.push(1.0);
                            f
                        })
                        .collect();
                    let refs: Vec<&[f64]> = feats.iter().map(Vec::as_slice).collect();
                    let y: Vec<f64> = row.iter().map(|&(j, s)| s as f64 - v[j][d + 1]).collect();
                    let sol = ridge(&refs, &y, d + 1, lambda, d);
                    let mut x = sol[..d].to_vec();
                    x.extend([sol[d], 1.0]);
                    x
                })
                .collect();
        }
        let vt = Matrix::from_fn(d, n, |t, j| v[j][t] as f32);
        let bias = v.iter().map(|x| x[d + 1] as f32).collect();
        Ok(Self {
            v: vt,
            bias,
            lambda,
            indexing_calls: sparse.observed(),
        })
    }

    pub fn n_items(&self) -> usize {
        self.v.cols()
    }

    /// The stored form: item embeddings `d × N`, item biases, the ridge strength.
    pub fn parts(&self) -> (&Matrix, &[f32], f64) {
        (&self.v, &self.bias, self.lambda)
    }

    /// An index from its stored form (see [`AxnIndex::parts`]).
    pub fn from_parts(
        v: Matrix,
        bias: Vec<f32>,
        lambda: f64,
        indexing_calls: usize,
    ) -> Result<Self> {
        if bias.len() != v.cols() || v.rows() == 0 {
            return Err(ApproxError::InvalidInput(format!(
                "AXN embeddings of {} × {} with {} biases",
                v.rows(),
                v.cols(),
                bias.len()
            )));
        }
        Ok(Self {
            v,
            bias,
            lambda,
            indexing_calls,
        })
    }

    pub fn rank(&self) -> usize {
        self.v.rows()
    }

    /// The query embedding fitted to exact scores of `items`, and every item's
    /// approximate score under it.
    pub fn approximate(&self, items: &[usize], exact: &[f32]) -> Vec<f32> {
        let d = self.rank();
        let feats: Vec<Vec<f64>> = items
            .iter()
            .map(|&j| {
                let mut f: Vec<f64> = (0..d).map(|t| self.v.get(t, j) as f64).collect();
                f.push(1.0);
                f
            })
            .collect();
        let refs: Vec<&[f64]> = feats.iter().map(Vec::as_slice).collect();
        let y: Vec<f64> = items
            .iter()
            .zip(exact)
            .map(|(&j, &s)| s as f64 - self.bias[j] as f64)
            .collect();
        let sol = ridge(&refs, &y, d + 1, self.lambda, d);
        let w: Vec<f32> = sol[..d].iter().map(|&x| x as f32).collect();
        let mut out = super::linalg::combine_rows(&self.v, &w);
        let a = sol[d] as f32;
        out.iter_mut()
            .zip(&self.bias)
            .for_each(|(o, b)| *o += a + b);
        out
    }
}

/// Parameters of an AXN search.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AxnParams {
    pub budget: usize,
    pub top_k: usize,
    pub rounds: usize,
    /// Fraction of each later round drawn at random from unscored items.
    pub exploration: f32,
    pub seed: u64,
}

/// AXN search: `first_stage` lists the retriever's items for this query, best first
/// (TF-IDF); the first round scores its head (topped up at random).
pub fn axn_search<S: PairScorer + ?Sized>(
    index: &AxnIndex,
    first_stage: &[usize],
    scorer: &mut S,
    params: &AxnParams,
) -> Result<SearchResult> {
    let n = index.n_items();
    if params.budget == 0 || n == 0 {
        return Err(ApproxError::InvalidInput(
            "AXN needs a budget and items".into(),
        ));
    }
    if !(0.0..=1.0).contains(&params.exploration) {
        return Err(ApproxError::InvalidInput(format!(
            "exploration must be in [0, 1], got {}",
            params.exploration
        )));
    }
    let budget = params.budget.min(n);
    let sizes = round_sizes(budget, params.rounds);
    let mut rng = SplitMix64::for_stream(params.seed, u64::MAX - 1);
    let mut scored: Vec<usize> = Vec::with_capacity(budget);
    let mut in_scored: HashSet<usize> = HashSet::with_capacity(budget);
    for &j in first_stage.iter().filter(|&&j| j < n) {
        if scored.len() == sizes[0] {
            break;
        }
        if in_scored.insert(j) {
            scored.push(j);
        }
    }
    top_up_random(&mut rng, n, &mut scored, &mut in_scored, sizes[0]);
    let mut exact = score_checked(scorer, &scored)?;
    for &size in &sizes[1..] {
        let approx = index.approximate(&scored, &exact);
        let n_explore = ((params.exploration * size as f32).round() as usize).min(size);
        let mut picks: Vec<usize> = top_k_indices(&approx, scored.len() + size - n_explore)
            .into_iter()
            .filter(|j| !in_scored.contains(j))
            .take(size - n_explore)
            .collect();
        in_scored.extend(picks.iter().copied());
        let target = picks.len() + n_explore;
        top_up_random(&mut rng, n, &mut picks, &mut in_scored, target);
        if picks.is_empty() {
            break;
        }
        exact.extend(score_checked(scorer, &picks)?);
        scored.extend(picks);
    }
    let approx = index.approximate(&scored, &exact);
    Ok(SearchResult {
        ranking: rank_scored(&scored, &exact, Some(&approx), params.top_k),
        ce_calls: scored.len(),
        warnings: Vec::new(),
        approx_scores: Some(approx),
        anchor_items: Vec::new(),
        anchor_scores: Vec::new(),
    })
}

/// Adds random unscored items to `picks` until it holds `target` (or none are left).
fn top_up_random(
    rng: &mut SplitMix64,
    n: usize,
    picks: &mut Vec<usize>,
    taken: &mut HashSet<usize>,
    target: usize,
) {
    if picks.len() >= target || taken.len() >= n {
        return;
    }
    // Rejection sampling while most items are free; a shuffle of the rest otherwise.
    if taken.len() * 2 < n {
        while picks.len() < target && taken.len() < n {
            let j = rng.below(n);
            if taken.insert(j) {
                picks.push(j);
            }
        }
    } else {
        let free: Vec<usize> = (0..n).filter(|j| !taken.contains(j)).collect();
        for k in sample_without_replacement(rng, free.len(), target - picks.len()) {
            taken.insert(free[k]);
            picks.push(free[k]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::low_rank;

    /// A first stage that names an item twice still gives each row distinct items.
    #[test]
    fn row_columns_are_distinct_whatever_the_first_stage_repeats() {
        let cols = row_columns(50, &[3, 3, 7, 3, 9], 3, 10, 0, 4);
        assert_eq!(&cols[..3], &[3, 7, 9]);
        assert_eq!(cols.len(), 10);
        let unique: HashSet<usize> = cols.iter().copied().collect();
        assert_eq!(unique.len(), 10);
    }
    use super::super::{metrics::top_k_recall, MatrixRowScorer};
    use super::*;

    #[test]
    fn cholesky_ridge_recovers_an_exact_linear_model() {
        let xs: Vec<Vec<f64>> = (0..20)
            .map(|i| vec![i as f64, (i * i % 7) as f64, 1.0])
            .collect();
        let y: Vec<f64> = xs.iter().map(|x| 2.0 * x[0] - 3.0 * x[1] + 0.5).collect();
        let refs: Vec<&[f64]> = xs.iter().map(Vec::as_slice).collect();
        let w = ridge(&refs, &y, 3, 1e-9, 2);
        assert!(
            (w[0] - 2.0).abs() < 1e-6 && (w[1] + 3.0).abs() < 1e-6 && (w[2] - 0.5).abs() < 1e-6,
            "{w:?}"
        );
    }

    #[test]
    fn factorisation_of_sparse_low_rank_scores_predicts_unseen_entries() {
        let m = low_rank(121, 600, 5, 0.01, 21);
        let rows: Vec<usize> = (0..120).collect();
        let r = m.select_rows(&rows).unwrap();
        // A fifth of each anchor row observed.
        let sparse = SparseScores::sample_dense(&r, None, 0, 120, 3).unwrap();
        assert_eq!(sparse.observed(), 120 * 120);
        let index = AxnIndex::factorize(
            &sparse,
            &AxnFactorParams {
                rank: 8,
                lambda: 0.1,
                ..Default::default()
            },
        )
        .unwrap();
        // A held-out query, seen on 60 items, is predicted on all 600.
        let test = m.row(120);
        let seen: Vec<usize> = (0..60).map(|k| k * 10).collect();
        let exact: Vec<f32> = seen.iter().map(|&j| test[j]).collect();
        let approx = index.approximate(&seen, &exact);
        let err: f64 = approx
            .iter()
            .zip(test)
            .map(|(a, b)| ((a - b) as f64).powi(2))
            .sum::<f64>()
            .sqrt();
        let norm: f64 = test.iter().map(|&b| (b as f64).powi(2)).sum::<f64>().sqrt();
        assert!(err / norm < 0.2, "relative error {}", err / norm);
    }

    #[test]
    fn search_spends_its_budget_and_finds_the_top_items() {
        let m = low_rank(121, 800, 5, 0.01, 5);
        let r = m.select_rows(&(0..120).collect::<Vec<_>>()).unwrap();
        let sparse = SparseScores::sample_dense(&r, None, 0, 160, 1).unwrap();
        let index = AxnIndex::factorize(&sparse, &AxnFactorParams::default()).unwrap();
        let test = m.row(120);
        let mut sc = MatrixRowScorer::from_slice(test);
        let params = AxnParams {
            budget: 100,
            top_k: 10,
            rounds: 5,
            exploration: 0.1,
            seed: 0,
        };
        let res = axn_search(&index, &[], &mut sc, &params).unwrap();
        assert_eq!(res.ce_calls, 100);
        assert_eq!(sc.calls, 100);
        let got: Vec<usize> = res.ranking.iter().map(|x| x.item).collect();
        let recall = top_k_recall(&got, test, 10);
        // Random would find 100/800 of them; the adaptive rounds find most.
        assert!(recall >= 0.7, "recall@10 {recall}");
        // A first stage that already holds the best items makes the first round count.
        let mut sc = MatrixRowScorer::from_slice(test);
        let first = top_k_indices(test, 20);
        let res = axn_search(&index, &first, &mut sc, &params).unwrap();
        let got: Vec<usize> = res.ranking.iter().map(|x| x.item).collect();
        assert_eq!(top_k_recall(&got, test, 10), 1.0);
    }
}
