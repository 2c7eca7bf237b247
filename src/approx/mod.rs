//! Approximate k-NN search for cross-encoders by matrix factorisation.
//!
//! A cross-encoder (CE) scores one (query, item) pair per forward pass, so
//! scoring a whole catalogue for every query is the expensive part of
//! relevance exploration. This module implements the two CUR-based
//! approximations of Yadav et al. and the baselines they are measured
//! against, all under an explicit *budget* of CE calls per query:
//!
//! * [`cur`]: ANNCUR (EMNLP 2022). Offline, `k_q` anchor queries are scored
//!   against every item (matrix `R`, `k_q × N`). Online, the query is scored
//!   against `k_i` anchor items only (`c`), every score is approximated as
//!   `s̃ = c · pinv(R[:, anchors]) · R`, and the rest of the budget re-ranks
//!   the best approximations exactly.
//! * [`adacur`]: ADACUR (Findings of EMNLP 2023). The same budget is spent
//!   over several rounds; each round scores items near the top of the current
//!   approximation and refits it with everything scored so far.
//! * [`baselines`]: exact search, random sampling and TF-IDF
//!   retrieve-then-rerank at the same budget.
//! * [`search`]: the one dispatcher every caller (CLI, engine, evaluation)
//!   runs a method through, with one budget and `k_i` policy.
//! * [`metrics`], [`eval`], [`npy`]: Top-k recall, relative error and
//!   Spearman correlation, a parallel evaluation driver over precomputed
//!   exact score matrices, and a small `.npy` reader/writer for those.
//!
//! The CE itself sits behind [`PairScorer`] so that every algorithm can be
//! tested on plain matrices ([`MatrixRowScorer`]). All randomness goes
//! through [`SplitMix64`], a tiny generator that is trivial to re-implement
//! (the NumPy reference `scripts/eval_reference.py` does), so Rust and Python
//! draw the identical random samples.

pub mod adacur;
pub mod anchors;
pub mod axn;
pub mod baselines;
pub mod cur;
pub mod defaults;
pub mod eval;
pub mod explain;
pub mod linalg;
pub mod metrics;
pub mod npy;
pub mod search;

use std::fmt;
use std::str::FromStr;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

pub use adacur::{adacur_search, round_sizes, AdacurParams};
pub use baselines::{exact_search, random_search, tfidf_search, tokenize, TfIdfIndex};
pub use cur::{
    anncur_search, anncur_search_with_factor, pinv_f64, select_anchor_items, AnchorFactor,
    AnchorStrategy, AnncurParams, ConvergencePoint, CurIndex, Pinv, ILL_CONDITIONED_RATIO,
    PINV_RELATIVE_CUTOFF,
};
pub use eval::{evaluate, write_csv, EvalConfig, EvalRow};
pub use metrics::{average_ranks, relative_error, spearman, top_k_recall};
pub use npy::{read_npy, read_npy_bytes, write_npy, write_npy_bytes, NpyDtype};
pub use search::{cur_size_warnings, search, SearchInputs, SearchParams};

/// Errors of the approximate-search module. Bad input never panics; it ends
/// up here with a message that names the offending value.
#[derive(Debug, thiserror::Error)]
pub enum ApproxError {
    /// An argument is out of range or inconsistent with another one.
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// Matrix or vector dimensions do not fit together.
    #[error("shape mismatch: {0}")]
    Shape(String),
    /// The CE budget cannot even pay for the anchor items.
    #[error("budget {budget} is smaller than the {k_i} anchor items it must pay for")]
    BudgetTooSmall { budget: usize, k_i: usize },
    /// A `.npy` file is malformed or uses an unsupported layout/dtype.
    #[error("npy: {0}")]
    Npy(String),
    /// Linear algebra failed (e.g. the SVD did not converge).
    #[error("linear algebra: {0}")]
    Linalg(String),
    /// The pair scorer (the cross-encoder) failed.
    #[error("scorer: {0}")]
    Scorer(String),
    /// The search was cancelled (a newer job superseded it, or the user stopped it).
    #[error("cancelled")]
    Cancelled,
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// Shorthand for results of this module.
pub type Result<T, E = ApproxError> = std::result::Result<T, E>;

/// A dense row-major `f32` matrix; rows are queries, columns are items.
///
/// `f32` halves the memory of the large matrices (`R`, the cached factor `E`
/// of ANNCUR) compared with `f64`; the small linear-algebra steps (SVD,
/// pseudo-inverse) are done in `f64`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Matrix {
    rows: usize,
    cols: usize,
    data: Vec<f32>,
}

impl Matrix {
    /// Wraps row-major `data`; its length must be `rows * cols`.
    pub fn new(rows: usize, cols: usize, data: Vec<f32>) -> Result<Self> {
        match rows.checked_mul(cols) {
            Some(n) if n == data.len() => Ok(Self { rows, cols, data }),
            _ => Err(ApproxError::Shape(format!(
                "{} values do not form a {rows} × {cols} matrix",
                data.len()
            ))),
        }
    }

    /// An all-zero matrix.
    pub fn zeros(rows: usize, cols: usize) -> Self {
        Self {
            rows,
            cols,
            data: vec![0.0; rows * cols],
        }
    }

    /// Builds a matrix from equally long rows.
    pub fn from_rows(rows: &[Vec<f32>]) -> Result<Self> {
        let cols = rows.first().map_or(0, Vec::len);
        if let Some((i, r)) = rows.iter().enumerate().find(|(_, r)| r.len() != cols) {
            return Err(ApproxError::Shape(format!(
                "row {i} has {} values, row 0 has {cols}",
                r.len()
            )));
        }
        Ok(Self {
            rows: rows.len(),
            cols,
            data: rows.concat(),
        })
    }

    /// Builds a matrix element by element.
    pub fn from_fn(rows: usize, cols: usize, mut f: impl FnMut(usize, usize) -> f32) -> Self {
        let mut data = Vec::with_capacity(rows * cols);
        for i in 0..rows {
            for j in 0..cols {
                data.push(f(i, j));
            }
        }
        Self { rows, cols, data }
    }

    pub fn rows(&self) -> usize {
        self.rows
    }

    pub fn cols(&self) -> usize {
        self.cols
    }

    /// The row-major values.
    pub fn data(&self) -> &[f32] {
        &self.data
    }

    /// Consumes the matrix, returning its row-major values.
    pub fn into_data(self) -> Vec<f32> {
        self.data
    }

    /// Row `i`. Panics if `i` is out of range, like slice indexing; use
    /// [`Matrix::try_row`] for untrusted indices.
    pub fn row(&self, i: usize) -> &[f32] {
        &self.data[i * self.cols..(i + 1) * self.cols]
    }

    /// Row `i`, or an error when out of range.
    pub fn try_row(&self, i: usize) -> Result<&[f32]> {
        if i < self.rows {
            Ok(self.row(i))
        } else {
            Err(ApproxError::InvalidInput(format!(
                "row {i} out of range for {} rows",
                self.rows
            )))
        }
    }

    /// Element `(i, j)`; panics when out of range.
    pub fn get(&self, i: usize, j: usize) -> f32 {
        self.data[i * self.cols + j]
    }

    /// The sub-matrix of the given rows (in the given order).
    pub fn select_rows(&self, rows: &[usize]) -> Result<Self> {
        check_indices(rows, self.rows, "row")?;
        let mut data = Vec::with_capacity(rows.len() * self.cols);
        for &r in rows {
            data.extend_from_slice(self.row(r));
        }
        Ok(Self {
            rows: rows.len(),
            cols: self.cols,
            data,
        })
    }

    /// The sub-matrix of the given columns (in the given order).
    pub fn select_cols(&self, cols: &[usize]) -> Result<Self> {
        check_indices(cols, self.cols, "column")?;
        let mut data = Vec::with_capacity(self.rows * cols.len());
        for i in 0..self.rows {
            let row = self.row(i);
            data.extend(cols.iter().map(|&j| row[j]));
        }
        Ok(Self {
            rows: self.rows,
            cols: cols.len(),
            data,
        })
    }
}

/// Checks that all indices are `< bound` and pairwise distinct.
pub(crate) fn check_indices(idx: &[usize], bound: usize, what: &str) -> Result<()> {
    let mut seen = vec![false; bound];
    for &i in idx {
        if i >= bound {
            return Err(ApproxError::InvalidInput(format!(
                "{what} index {i} out of range (< {bound})"
            )));
        }
        if std::mem::replace(&mut seen[i], true) {
            return Err(ApproxError::InvalidInput(format!(
                "{what} index {i} appears twice"
            )));
        }
    }
    Ok(())
}

/// Exact scoring of the current query against items: the cross-encoder.
///
/// Implementations score one fixed query (chosen when the scorer is built)
/// against the given item indices and return one exact score per index, in
/// order. Algorithms never ask for the same item twice, and they count every
/// returned score as one CE call against the budget.
pub trait PairScorer {
    fn score_items(&mut self, items: &[usize]) -> Result<Vec<f32>>;
}

impl<T: PairScorer + ?Sized> PairScorer for &mut T {
    fn score_items(&mut self, items: &[usize]) -> Result<Vec<f32>> {
        (**self).score_items(items)
    }
}

/// A [`PairScorer`] that reads one row of a dense exact-score matrix, for
/// tests and offline evaluation. It counts the pairs it has scored.
#[derive(Clone, Debug)]
pub struct MatrixRowScorer<'a> {
    row: &'a [f32],
    /// Number of (query, item) scores handed out so far.
    pub calls: usize,
    /// Number of `score_items` invocations (batches) so far.
    pub batches: usize,
}

impl<'a> MatrixRowScorer<'a> {
    /// Scores against row `row` of `matrix`.
    pub fn new(matrix: &'a Matrix, row: usize) -> Result<Self> {
        Ok(Self::from_slice(matrix.try_row(row)?))
    }

    /// Scores against an explicit vector of exact scores.
    pub fn from_slice(row: &'a [f32]) -> Self {
        Self {
            row,
            calls: 0,
            batches: 0,
        }
    }
}

impl PairScorer for MatrixRowScorer<'_> {
    fn score_items(&mut self, items: &[usize]) -> Result<Vec<f32>> {
        let out = items
            .iter()
            .map(|&j| {
                self.row.get(j).copied().ok_or_else(|| {
                    ApproxError::InvalidInput(format!(
                        "item {j} out of range for {} items",
                        self.row.len()
                    ))
                })
            })
            .collect::<Result<Vec<_>>>()?;
        self.calls += items.len();
        self.batches += 1;
        Ok(out)
    }
}

/// One entry of a ranking.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RankedItem {
    /// Item index (column of the score matrix).
    pub item: usize,
    /// Approximate score of the method (CUR approximation or TF-IDF cosine),
    /// if the method has one.
    pub approx: Option<f32>,
    /// Exact CE score, if the item was scored.
    pub exact: Option<f32>,
}

/// The outcome of one search.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SearchResult {
    /// Top-k items in rank order: the best *exact* scores among all items
    /// scored during the search (anchor items included).
    pub ranking: Vec<RankedItem>,
    /// Number of (query, item) pairs the CE scored.
    pub ce_calls: usize,
    /// Human-readable caveats (e.g. an ill-conditioned CUR system).
    pub warnings: Vec<String>,
    /// The full approximate score vector over all items (CUR methods: `s̃`;
    /// TF-IDF: cosine similarities), for plots in the GUI.
    pub approx_scores: Option<Vec<f32>>,
    /// CUR methods: the anchor items used for the final approximation, in
    /// the order they were scored (ANNCUR: the `k_i` anchors; ADACUR: all
    /// items scored). Empty for other methods.
    pub anchor_items: Vec<usize>,
    /// Exact CE scores of `anchor_items` (the vector `c`), same order.
    pub anchor_scores: Vec<f32>,
}

/// The search methods known to [`eval::evaluate`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    /// Score every item (the reference; ignores the budget).
    Exact,
    /// ANNCUR: fixed anchor items + CUR approximation + exact re-ranking.
    Anncur,
    /// ADACUR: adaptive multi-round anchor selection.
    Adacur,
    /// TF-IDF retrieve-then-rerank (needs texts).
    Tfidf,
    /// `budget` random items scored exactly.
    Random,
    /// AXN: a sparse index factorised into item embeddings, adaptive rounds.
    Axn,
}

impl Method {
    pub const ALL: [Method; 6] = [
        Method::Exact,
        Method::Anncur,
        Method::Adacur,
        Method::Axn,
        Method::Tfidf,
        Method::Random,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Method::Exact => "exact",
            Method::Anncur => "anncur",
            Method::Adacur => "adacur",
            Method::Tfidf => "tfidf",
            Method::Random => "random",
            Method::Axn => "axn",
        }
    }

    /// Whether the method produces a CUR approximation (and hence
    /// `rel_error`/`spearman` in evaluations).
    pub fn is_cur(self) -> bool {
        matches!(self, Method::Anncur | Method::Adacur)
    }

    /// Whether the method needs an index of anchor-query scores.
    pub fn needs_index(self) -> bool {
        matches!(self, Method::Anncur | Method::Adacur | Method::Axn)
    }

    /// Whether the method produces a matrix-factorisation approximation of every
    /// item's score (CUR or AXN), so relative error and Spearman apply.
    pub fn is_factorised(self) -> bool {
        matches!(self, Method::Anncur | Method::Adacur | Method::Axn)
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Method {
    type Err = ApproxError;

    fn from_str(s: &str) -> Result<Self> {
        let lower = s.trim().to_ascii_lowercase();
        Method::ALL
            .into_iter()
            .find(|m| m.name() == lower)
            .or(match lower.as_str() {
                "tf-idf" => Some(Method::Tfidf),
                "cur" => Some(Method::Anncur),
                _ => None,
            })
            .ok_or_else(|| {
                ApproxError::InvalidInput(format!(
                    "unknown method {s:?} (expected exact, anncur, adacur, axn, tfidf or random)"
                ))
            })
    }
}

/// SplitMix64 (Steele, Lea & Flood 2014): a tiny, fast, well-mixed 64-bit
/// generator.
///
/// Used for every random draw in this module instead of `rand` so that the
/// draws are (a) stable across crate versions and (b) reproducible from
/// Python in a few lines (see `scripts/eval_reference.py`), which lets the
/// NumPy reference evaluate on the identical samples.
#[derive(Clone, Debug)]
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    /// Seed derived from a base seed and a stream number (e.g. a query row),
    /// `seed * 1_000_003 + stream` (wrapping); the next output is mixed, so
    /// nearby seeds give unrelated streams.
    pub fn for_stream(seed: u64, stream: u64) -> Self {
        Self::new(Self::stream_seed(seed, stream))
    }

    /// The seed [`SplitMix64::for_stream`] uses.
    pub fn stream_seed(seed: u64, stream: u64) -> u64 {
        seed.wrapping_mul(1_000_003).wrapping_add(stream)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform-ish integer in `0..n` by Lemire's multiply-shift (bias below
    /// `n / 2^64`, irrelevant here). `n` must be positive.
    pub fn below(&mut self, n: usize) -> usize {
        ((self.next_u64() as u128 * n as u128) >> 64) as usize
    }
}

/// `m` distinct indices from `0..n` by a partial Fisher–Yates shuffle, in draw
/// order. Prefix-consistent: the first `m' < m` draws equal a draw of `m'`
/// with the same generator state. `m` is clamped to `n`.
pub fn sample_without_replacement(rng: &mut SplitMix64, n: usize, m: usize) -> Vec<usize> {
    let m = m.min(n);
    // Sparse Fisher–Yates: only displaced positions are stored, so drawing a
    // few anchors from a million items does not allocate a million slots.
    let mut displaced = std::collections::HashMap::<usize, usize>::new();
    let mut out = Vec::with_capacity(m);
    for i in 0..m {
        let j = i + rng.below(n - i);
        let vj = *displaced.get(&j).unwrap_or(&j);
        let vi = *displaced.get(&i).unwrap_or(&i);
        displaced.insert(j, vi);
        out.push(vj);
    }
    out
}

/// Sort key that sends NaN to the bottom of every ranking.
#[inline]
pub(crate) fn rank_key(x: f32) -> f32 {
    if x.is_nan() {
        f32::NEG_INFINITY
    } else {
        x
    }
}

/// Ordering "better first": higher score first, ties by lower index (the same
/// order as NumPy's `argsort(-s, kind="stable")`).
#[inline]
pub(crate) fn better(scores: &[f32], a: usize, b: usize) -> std::cmp::Ordering {
    rank_key(scores[b])
        .total_cmp(&rank_key(scores[a]))
        .then(a.cmp(&b))
}

/// Indices of the `k` largest scores, best first (ties by lower index, NaN
/// last).
///
/// Large inputs avoid a full selection over all indices: a strided sample
/// gives a threshold that (very likely) lies just below the k-th largest
/// value, one parallel pass keeps the few items at or above it, and only
/// those are selected exactly. If fewer than `k` items pass, the threshold
/// was too high and the exact fallback (parallel per-chunk selection) runs,
/// so the result is always exact.
pub fn top_k_indices(scores: &[f32], k: usize) -> Vec<usize> {
    let n = scores.len();
    let k = k.min(n);
    if k == 0 {
        return Vec::new();
    }
    const CHUNK: usize = 1 << 16;
    let select = |mut idx: Vec<usize>| -> Vec<usize> {
        if idx.len() > k {
            idx.select_nth_unstable_by(k - 1, |&a, &b| better(scores, a, b));
            idx.truncate(k);
        }
        idx.sort_unstable_by(|&a, &b| better(scores, a, b));
        idx
    };
    if n <= 2 * CHUNK {
        return select((0..n).collect());
    }
    if k <= n / 64 {
        // Sample every `stride`-th score; the k-th largest of n corresponds
        // to rank ≈ k / stride in the sample. Take a safety margin below it.
        let stride = (n / CHUNK).max(1);
        let mut sample: Vec<f32> = scores
            .iter()
            .step_by(stride)
            .map(|&x| rank_key(x))
            .collect();
        let want = (k / stride) * 2 + 64;
        if want < sample.len() {
            let (_, t, _) = sample.select_nth_unstable_by(want, |a, b| b.total_cmp(a));
            let threshold = *t;
            let cand: Vec<usize> = scores
                .par_chunks(CHUNK)
                .enumerate()
                .flat_map_iter(|(c, chunk)| {
                    chunk
                        .iter()
                        .enumerate()
                        .filter(move |(_, &x)| rank_key(x) >= threshold)
                        .map(move |(t, _)| c * CHUNK + t)
                })
                .collect();
            if cand.len() >= k {
                return select(cand);
            }
        }
    }
    let chunks: Vec<Vec<usize>> = (0..n.div_ceil(CHUNK))
        .into_par_iter()
        .map(|c| {
            let mut idx: Vec<usize> = (c * CHUNK..((c + 1) * CHUNK).min(n)).collect();
            if idx.len() > k {
                idx.select_nth_unstable_by(k - 1, |&a, &b| better(scores, a, b));
                idx.truncate(k);
            }
            idx
        })
        .collect();
    select(chunks.concat())
}

/// Builds the final ranking: the `top_k` best exact scores among the scored
/// items, annotated with approximate scores when available.
pub(crate) fn rank_scored(
    scored: &[usize],
    exact: &[f32],
    approx: Option<&[f32]>,
    top_k: usize,
) -> Vec<RankedItem> {
    // Rank positions within `scored`, ties broken by item index.
    let mut order: Vec<usize> = (0..scored.len()).collect();
    order.sort_unstable_by(|&a, &b| {
        rank_key(exact[b])
            .total_cmp(&rank_key(exact[a]))
            .then(scored[a].cmp(&scored[b]))
    });
    order
        .into_iter()
        .take(top_k)
        .map(|p| RankedItem {
            item: scored[p],
            approx: approx.and_then(|a| a.get(scored[p]).copied()),
            exact: Some(exact[p]),
        })
        .collect()
}

#[cfg(test)]
pub(crate) mod testutil {
    use super::*;

    /// Gaussian-ish noise from SplitMix64 (sum of uniforms), deterministic.
    pub fn gauss(rng: &mut SplitMix64) -> f64 {
        let mut s = 0.0;
        for _ in 0..12 {
            s += (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        }
        s - 6.0
    }

    /// `rows × cols` matrix of rank `rank` plus `noise`-scaled Gaussian noise.
    pub fn low_rank(rows: usize, cols: usize, rank: usize, noise: f64, seed: u64) -> Matrix {
        let mut rng = SplitMix64::new(seed);
        let a: Vec<f64> = (0..rows * rank).map(|_| gauss(&mut rng)).collect();
        let b: Vec<f64> = (0..rank * cols).map(|_| gauss(&mut rng)).collect();
        let scale = 1.0 / (rank as f64).sqrt();
        Matrix::from_fn(rows, cols, |i, j| {
            let mut s = 0.0;
            for t in 0..rank {
                s += a[i * rank + t] * b[t * cols + j];
            }
            (s * scale + noise * gauss(&mut rng)) as f32
        })
    }
}

#[cfg(test)]
mod tests;
