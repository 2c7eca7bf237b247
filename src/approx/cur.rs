//! ANNCUR: CUR-decomposition search (Yadav et al., EMNLP 2022).
//!
//! Offline the index stores `R` (`k_q × N`): the exact CE scores of `k_q`
//! anchor queries against all `N` items. For a fixed set of `k_i` anchor
//! items `A`, the factor `E = pinv(R[:, A]) · R` (`k_i × N`) is computed once
//! and cached. Online a query costs `k_i` CE calls (`c = CE(q, A)`) and one
//! vector–matrix product `s̃ = c · E`; the remaining `budget − k_i` calls
//! re-rank the best non-anchor items of `s̃` exactly.
//!
//! Why this works: if the (query × item) score matrix has low rank `r` and
//! `R[:, A]` has the same rank, then the query's score row lies in the row
//! space of `R` and `c · pinv(R[:, A])` recovers its coefficients exactly.
//! With noise, the quality depends on how well-conditioned `R[:, A]` is; it
//! degrades sharply as `k_i → k_q` (a square, nearly singular system), hence
//! the warning above [`ILL_CONDITIONED_RATIO`].

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use faer::{Accum, Mat, Par};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

pub use super::anchors::{select_anchor_items, AnchorStrategy};
use super::linalg::{combine_rows, cur_weights, intersection_pinv, COL_CHUNK};
pub use super::linalg::{pinv_f64, Pinv, PINV_RELATIVE_CUTOFF};
use super::{rank_scored, top_k_indices, ApproxError, Matrix, PairScorer, Result, SearchResult};

/// Warn when `k_i > ILL_CONDITIONED_RATIO · k_q`: `R[:, anchors]` becomes
/// (nearly) square and its smallest singular values tiny, so the CUR
/// approximation amplifies noise and recall collapses.
pub const ILL_CONDITIONED_RATIO: f64 = 0.8;

/// How many anchor factors a [`CurIndex`] keeps (each is `k_i × N` `f32`).
const FACTOR_CACHE_CAPACITY: usize = 4;

/// The cached per-anchor-set part of ANNCUR: `E = pinv(R[:, anchors]) · R`.
#[derive(Clone, Debug)]
pub struct AnchorFactor {
    /// The anchor items, in the order of `c` and of the rows of `e`.
    pub anchors: Vec<usize>,
    /// `pinv(R[:, anchors]) · R`, `k_i × N`, row-major `f32`.
    pub e: Matrix,
    /// Singular values of the intersection `R[:, anchors]` (descending).
    pub singular_values: Vec<f64>,
    /// Numerical rank of the intersection (see [`PINV_RELATIVE_CUTOFF`]).
    pub rank: usize,
    /// Conditioning caveats found when building the factor.
    pub warnings: Vec<String>,
}

impl AnchorFactor {
    pub fn k_i(&self) -> usize {
        self.anchors.len()
    }

    /// `σ_max / σ_min` over the kept singular values.
    pub fn condition_number(&self) -> f64 {
        match (self.singular_values.first(), self.rank) {
            (Some(&s0), r) if r > 0 => s0 / self.singular_values[r - 1],
            _ => f64::INFINITY,
        }
    }

    /// `s̃ = c · E`, the approximate score of every item. This is the only
    /// per-query `O(k_i · N)` step, so it is parallel over column chunks.
    pub fn approximate(&self, c: &[f32]) -> Result<Vec<f32>> {
        if c.len() != self.k_i() {
            return Err(ApproxError::Shape(format!(
                "{} anchor scores for {} anchor items",
                c.len(),
                self.k_i()
            )));
        }
        Ok(combine_rows(&self.e, c))
    }
}

fn conditioning_warnings(k_i: usize, k_q: usize, rank: usize, what: &str) -> Vec<String> {
    let mut warnings = super::cur_size_warnings(super::Method::Anncur, k_i, k_q);
    if rank < k_i.min(k_q) {
        warnings.push(format!(
            "{what}: the intersection R[:, anchors] has numerical rank {rank} < {}; \
             the extra anchors add no information (their directions were cut off)",
            k_i.min(k_q)
        ));
    }
    warnings
}

/// Per-item convergence: the approximation of one item after `k` anchors.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConvergencePoint {
    /// Number of anchor items used (a prefix of the anchor list).
    pub k: usize,
    /// `s̃_item` from the first `k` anchors.
    pub approx: f32,
}

type FactorKey = (usize, AnchorStrategy, u64);

/// The ANNCUR index: exact scores of the anchor queries against all items.
#[derive(Debug)]
pub struct CurIndex {
    r: Matrix,
    anchor_queries: Vec<String>,
    cache: Mutex<Vec<(FactorKey, Arc<AnchorFactor>)>>,
    /// Anchor sets already chosen: the greedy and clustering strategies cost a pass
    /// over R, which a search (ADACUR's first round) must not repeat per query.
    anchor_sets: Mutex<Vec<(FactorKey, Arc<Vec<usize>>)>>,
}

impl Clone for CurIndex {
    fn clone(&self) -> Self {
        Self {
            r: self.r.clone(),
            anchor_queries: self.anchor_queries.clone(),
            cache: Mutex::new(Vec::new()),
            anchor_sets: Mutex::new(Vec::new()),
        }
    }
}

impl CurIndex {
    /// `r`: `k_q × N` exact CE scores (row `i` = anchor query `i`).
    /// `anchor_queries`: the anchor query texts (may be empty when unknown,
    /// e.g. for an index cut out of an evaluation matrix).
    pub fn new(r: Matrix, anchor_queries: Vec<String>) -> Result<Self> {
        if r.rows() == 0 || r.cols() == 0 {
            return Err(ApproxError::InvalidInput(format!(
                "index matrix must be non-empty, got {} × {}",
                r.rows(),
                r.cols()
            )));
        }
        if !anchor_queries.is_empty() && anchor_queries.len() != r.rows() {
            return Err(ApproxError::Shape(format!(
                "{} anchor query texts for {} rows of R",
                anchor_queries.len(),
                r.rows()
            )));
        }
        if let Some(p) = r.data().iter().position(|x| !x.is_finite()) {
            return Err(ApproxError::InvalidInput(format!(
                "R has a non-finite score at ({}, {})",
                p / r.cols(),
                p % r.cols()
            )));
        }
        Ok(Self {
            r,
            anchor_queries,
            cache: Mutex::new(Vec::new()),
            anchor_sets: Mutex::new(Vec::new()),
        })
    }

    /// The `k_q × N` anchor-query score matrix.
    pub fn r(&self) -> &Matrix {
        &self.r
    }

    pub fn anchor_queries(&self) -> &[String] {
        &self.anchor_queries
    }

    /// Number of anchor queries.
    pub fn k_q(&self) -> usize {
        self.r.rows()
    }

    /// Number of items.
    pub fn n_items(&self) -> usize {
        self.r.cols()
    }

    /// The factor for `(k_i, strategy, seed)`, computed on first use and then
    /// reused: the anchor set is fixed per index and seed, so all queries
    /// share one `E`. The cache keeps the last few factors.
    pub fn factor(
        &self,
        k_i: usize,
        strategy: AnchorStrategy,
        seed: u64,
    ) -> Result<Arc<AnchorFactor>> {
        let key = (k_i, strategy, seed);
        if let Some(f) = self.lock_cache().iter().find(|(k, _)| *k == key) {
            return Ok(f.1.clone());
        }
        // Built outside the lock: concurrent first users may both compute it,
        // which is harmless and keeps the GUI thread from blocking on a build.
        let anchors = self.anchor_items(k_i, strategy, seed)?;
        let f = Arc::new(self.factor_for_anchors(anchors.to_vec())?);
        let mut cache = self.lock_cache();
        if let Some(existing) = cache.iter().find(|(k, _)| *k == key) {
            return Ok(existing.1.clone());
        }
        if cache.len() >= FACTOR_CACHE_CAPACITY {
            cache.remove(0);
        }
        cache.push((key, f.clone()));
        Ok(f)
    }

    /// The `k` anchor items of `strategy` and `seed` ([`select_anchor_items`]), chosen on
    /// first use and then reused (the last few sets are kept).
    pub fn anchor_items(
        &self,
        k: usize,
        strategy: AnchorStrategy,
        seed: u64,
    ) -> Result<Arc<Vec<usize>>> {
        let key = (k, strategy, seed);
        let lock = || self.anchor_sets.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, a)) = lock().iter().find(|(k, _)| *k == key) {
            return Ok(a.clone());
        }
        let a = Arc::new(select_anchor_items(&self.r, k, strategy, seed)?);
        let mut sets = lock();
        if sets.len() >= FACTOR_CACHE_CAPACITY {
            sets.remove(0);
        }
        sets.push((key, a.clone()));
        Ok(a)
    }

    fn lock_cache(&self) -> std::sync::MutexGuard<'_, Vec<(FactorKey, Arc<AnchorFactor>)>> {
        // A panic while holding the lock cannot leave the Vec inconsistent.
        self.cache.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Builds (without caching) the factor for explicit anchor items.
    pub fn factor_for_anchors(&self, anchors: Vec<usize>) -> Result<AnchorFactor> {
        if anchors.is_empty() {
            return Err(ApproxError::InvalidInput("no anchor items".into()));
        }
        let p = intersection_pinv(&self.r, &anchors)?;
        let (kq, n, ki) = (self.k_q(), self.n_items(), anchors.len());
        let pmat = Mat::<f64>::from_fn(ki, kq, |i, j| p.data[i * kq + j]);
        let mut e = vec![0.0f32; ki * n];
        // Hand every column chunk its pieces of all k_i rows of E, so chunks
        // can be filled in parallel without unsafe code.
        let n_chunks = n.div_ceil(COL_CHUNK);
        let mut pieces: Vec<Vec<&mut [f32]>> = (0..n_chunks).map(|_| Vec::new()).collect();
        for row in e.chunks_mut(n) {
            for (c, piece) in row.chunks_mut(COL_CHUNK).enumerate() {
                pieces[c].push(piece);
            }
        }
        let r = &self.r;
        pieces
            .into_par_iter()
            .enumerate()
            .for_each(|(c, mut rows)| {
                let lo = c * COL_CHUNK;
                let w = rows[0].len();
                let rc = Mat::<f64>::from_fn(kq, w, |i, t| r.get(i, lo + t) as f64);
                let mut out = Mat::<f64>::zeros(ki, w);
                faer::linalg::matmul::matmul(&mut out, Accum::Replace, &pmat, &rc, 1.0, Par::Seq);
                for (i, row) in rows.iter_mut().enumerate() {
                    for (t, x) in row.iter_mut().enumerate() {
                        *x = out[(i, t)] as f32;
                    }
                }
            });
        let warnings = conditioning_warnings(ki, kq, p.rank, "ANNCUR");
        Ok(AnchorFactor {
            anchors,
            e: Matrix::new(ki, n, e)?,
            singular_values: p.singular_values,
            rank: p.rank,
            warnings,
        })
    }

    /// How item `item`'s approximation evolves as anchors are added: for
    /// `k = step, 2·step, …, k_i` (and `k_i` itself), `s̃_item` computed from
    /// the first `k` anchors and their scores `c[..k]`. Cheap: one small SVD
    /// (`k_q × k`) per point, no CE calls, no `E`.
    pub fn item_convergence(
        &self,
        anchors: &[usize],
        c: &[f32],
        item: usize,
        step: usize,
    ) -> Result<Vec<ConvergencePoint>> {
        if step == 0 {
            return Err(ApproxError::InvalidInput("step must be positive".into()));
        }
        if item >= self.n_items() {
            return Err(ApproxError::InvalidInput(format!(
                "item {item} out of range for {} items",
                self.n_items()
            )));
        }
        if c.len() != anchors.len() {
            return Err(ApproxError::Shape(format!(
                "{} scores for {} anchors",
                c.len(),
                anchors.len()
            )));
        }
        let mut ks: Vec<usize> = (step..=anchors.len()).step_by(step).collect();
        if ks.last() != Some(&anchors.len()) && !anchors.is_empty() {
            ks.push(anchors.len());
        }
        let col: Vec<f64> = (0..self.k_q())
            .map(|i| self.r.get(i, item) as f64)
            .collect();
        ks.into_par_iter()
            .map(|k| {
                let (w, _) = cur_weights(&self.r, &anchors[..k], &c[..k])?;
                let approx = w.iter().zip(&col).map(|(a, b)| a * b).sum::<f64>() as f32;
                Ok(ConvergencePoint { k, approx })
            })
            .collect()
    }
}

/// Parameters of an ANNCUR search.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AnncurParams {
    /// Number of anchor items scored per query.
    pub k_i: usize,
    /// Total CE calls per query, the `k_i` anchors included.
    pub budget: usize,
    /// Length of the returned ranking.
    pub top_k: usize,
    pub strategy: AnchorStrategy,
    /// Seed of the anchor-item draw (fixes the anchor set, hence the cache).
    pub seed: u64,
}

impl Default for AnncurParams {
    fn default() -> Self {
        Self {
            k_i: super::defaults::K_I,
            budget: super::defaults::BUDGET,
            top_k: super::defaults::TOP_K,
            strategy: super::defaults::ANCHOR_STRATEGY,
            seed: super::defaults::SEED,
        }
    }
}

/// ANNCUR search of the scorer's query against `index`.
pub fn anncur_search<S: PairScorer + ?Sized>(
    index: &CurIndex,
    scorer: &mut S,
    params: &AnncurParams,
) -> Result<SearchResult> {
    if params.budget < params.k_i {
        return Err(ApproxError::BudgetTooSmall {
            budget: params.budget,
            k_i: params.k_i,
        });
    }
    let factor = index.factor(params.k_i, params.strategy, params.seed)?;
    anncur_search_with_factor(&factor, scorer, params.budget, params.top_k)
}

/// ANNCUR search with an explicit (e.g. precomputed or hand-picked) factor.
pub fn anncur_search_with_factor<S: PairScorer + ?Sized>(
    factor: &AnchorFactor,
    scorer: &mut S,
    budget: usize,
    top_k: usize,
) -> Result<SearchResult> {
    let k_i = factor.k_i();
    if budget < k_i {
        return Err(ApproxError::BudgetTooSmall { budget, k_i });
    }
    let c = score_checked(scorer, &factor.anchors)?;
    let approx = factor.approximate(&c)?;
    let mut res = anncur_rerank(factor, &c, &approx, scorer, budget, top_k)?;
    res.approx_scores = Some(approx);
    res.anchor_scores = c;
    Ok(res)
}

/// Second half of ANNCUR, given `c` and `s̃`: spend `budget − k_i` CE calls on
/// the best non-anchor items of `s̃`, return the exact top-k of everything
/// scored. Split out so evaluation can reuse one `s̃` across budgets; the
/// result's `approx_scores` and `anchor_scores` are left empty for the caller.
pub(crate) fn anncur_rerank<S: PairScorer + ?Sized>(
    factor: &AnchorFactor,
    c: &[f32],
    approx: &[f32],
    scorer: &mut S,
    budget: usize,
    top_k: usize,
) -> Result<SearchResult> {
    let n = factor.e.cols();
    let k_i = factor.k_i();
    let budget = budget.min(n);
    // The top `budget` of s̃ contain at most k_i anchors, so after dropping
    // them at least `budget − k_i` candidates remain.
    let anchor_set: HashSet<usize> = factor.anchors.iter().copied().collect();
    let retrieve: Vec<usize> = top_k_indices(approx, budget)
        .into_iter()
        .filter(|j| !anchor_set.contains(j))
        .take(budget - k_i)
        .collect();
    let exact = if retrieve.is_empty() {
        Vec::new()
    } else {
        score_checked(scorer, &retrieve)?
    };
    let mut scored = factor.anchors.clone();
    scored.extend_from_slice(&retrieve);
    let mut all_exact = c.to_vec();
    all_exact.extend_from_slice(&exact);
    Ok(SearchResult {
        ranking: rank_scored(&scored, &all_exact, Some(approx), top_k),
        ce_calls: scored.len(),
        warnings: factor.warnings.clone(),
        approx_scores: None,
        anchor_items: factor.anchors.clone(),
        anchor_scores: Vec::new(),
    })
}

/// Calls the scorer and checks it kept its contract (one finite score per
/// item), so a misbehaving CE surfaces as an error instead of NaN rankings.
pub(crate) fn score_checked<S: PairScorer + ?Sized>(
    scorer: &mut S,
    items: &[usize],
) -> Result<Vec<f32>> {
    let s = scorer.score_items(items)?;
    if s.len() != items.len() {
        return Err(ApproxError::Scorer(format!(
            "asked for {} scores, got {}",
            items.len(),
            s.len()
        )));
    }
    if let Some(p) = s.iter().position(|x| !x.is_finite()) {
        return Err(ApproxError::Scorer(format!(
            "non-finite score {} for item {}",
            s[p], items[p]
        )));
    }
    Ok(s)
}

#[cfg(test)]
mod tests;
