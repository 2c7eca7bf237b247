//! Offline evaluation on a precomputed exact score matrix (`relex eval`).
//!
//! The matrix (queries × items) is split into anchor rows, which form the
//! ANNCUR index `R`, and test rows, which play the queries: every method
//! searches each test query through a [`MatrixRowScorer`] on its row, under
//! each budget, and is scored against the row itself. Results are averaged
//! over test queries and over `seeds` draws of the anchor items (seed `s`
//! draws with [`SplitMix64`]`::new(s)`; explicit `anchor_sets` replace the
//! draws, which is how the NumPy reference and Rust share identical anchors).
//!
//! Budget accounting is the same for all methods: a budget counts every CE
//! call for a test query, ANNCUR's `k_i` anchor items included, and items
//! scored along the way (anchors) are candidates for the final top-k.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::baselines::TfIdfIndex;
use super::cur::{select_anchor_items, AnchorStrategy, CurIndex};
use super::defaults;
use super::metrics::{average_ranks, recall_against, relative_error, spearman_from_ranks};
use super::search::{search, SearchInputs, SearchParams};
use super::{
    sample_without_replacement, top_k_indices, ApproxError, Matrix, MatrixRowScorer, Method,
    Result, SearchResult, SplitMix64,
};

/// What to evaluate; see the module docs.
#[derive(Clone, Debug)]
pub struct EvalConfig<'a> {
    /// Number of rows of the matrix used as anchor queries (`k_q`).
    pub anchor_rows: usize,
    /// `false`: the first `anchor_rows` rows are the anchors. `true`: a
    /// random (seeded by `row_seed`) choice of rows.
    pub anchor_rows_random: bool,
    /// Seed of the anchor-row choice when `anchor_rows_random`.
    pub row_seed: u64,
    /// Anchor items per query for ANNCUR (ADACUR's first round uses a prefix).
    pub k_i: usize,
    /// How anchor items are chosen (when `anchor_sets` is `None`).
    pub anchor_strategy: AnchorStrategy,
    pub methods: Vec<Method>,
    /// CE calls per test query.
    pub budgets: Vec<usize>,
    /// The `k` of each reported `recall@k`.
    pub ks: Vec<usize>,
    /// Number of anchor-item draws (seeds `0..seeds`) averaged over.
    pub seeds: usize,
    /// Explicit anchor items, one set per seed (overrides `seeds`, `k_i` and
    /// `anchor_strategy`; all sets must have the same length).
    pub anchor_sets: Option<Vec<Vec<usize>>>,
    /// ADACUR rounds and exploration fraction.
    pub adacur_rounds: usize,
    pub adacur_exploration: f32,
    pub adacur_ridge: f64,
    /// See [`SearchParams::adacur_tfidf_seed`].
    pub adacur_tfidf_seed: f32,
    pub axn_rounds: usize,
    /// `(item texts, query texts)` for TF-IDF; `query texts` has one entry per
    /// matrix row (anchor rows included).
    pub texts: Option<(&'a [String], &'a [String])>,
    /// AXN: items each anchor query is scored against in the simulated sparse index
    /// (`None`: [`super::axn::default_per_row`]), and the factorisation.
    pub axn_per_row: Option<usize>,
    pub axn: super::axn::AxnFactorParams,
}

impl Default for EvalConfig<'_> {
    fn default() -> Self {
        Self {
            anchor_rows: 100,
            anchor_rows_random: false,
            row_seed: 0,
            k_i: defaults::K_I,
            anchor_strategy: defaults::ANCHOR_STRATEGY,
            methods: vec![Method::Anncur, Method::Adacur, Method::Random],
            budgets: vec![100, 200, 500],
            ks: vec![1, 10, 100],
            seeds: 3,
            anchor_sets: None,
            adacur_rounds: defaults::ADACUR_ROUNDS,
            adacur_exploration: defaults::EXPLORATION,
            adacur_ridge: defaults::ADACUR_RIDGE,
            adacur_tfidf_seed: defaults::ADACUR_TFIDF_SEED,
            axn_rounds: defaults::AXN_ROUNDS,
            texts: None,
            axn_per_row: None,
            axn: super::axn::AxnFactorParams::default(),
        }
    }
}

impl EvalConfig<'_> {
    /// Warnings about settings where a CUR system approaches square (ANNCUR's `k_i`,
    /// or an ADACUR budget, close to the `anchor_rows` anchor queries), in the words
    /// `relex search` uses for the same condition.
    pub fn warnings(&self) -> Vec<String> {
        let k_i = self
            .anchor_sets
            .as_ref()
            .and_then(|s| s.first())
            .map_or(self.k_i, Vec::len);
        let mut out = Vec::new();
        if self.methods.contains(&Method::Anncur) {
            out.extend(super::cur_size_warnings(
                Method::Anncur,
                k_i,
                self.anchor_rows,
            ));
        }
        if self.methods.contains(&Method::Adacur) {
            for &b in &self.budgets {
                out.extend(super::adacur::size_warnings(
                    b,
                    self.anchor_rows,
                    self.adacur_ridge,
                ));
            }
        }
        out
    }
}

/// One result line: a method at a budget, averaged over test queries and seeds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EvalRow {
    pub method: Method,
    /// The configured budget (`exact`: the number of items).
    pub budget: usize,
    /// `recall@{k}` → mean Top-k recall, one entry per configured `k`.
    #[serde(flatten)]
    pub recall: BTreeMap<String, f64>,
    /// Mean `‖s̃ − s‖ / ‖s‖` per query (CUR methods only).
    pub rel_error: Option<f64>,
    /// Mean Spearman correlation of `s̃` with `s` (CUR methods only).
    pub spearman: Option<f64>,
    /// Mean CE calls per query.
    pub ce_calls: f64,
    /// CE calls spent on the index the method needs (dense `k_q · N` for the CUR
    /// methods, the sparse index's entries for AXN), once for all queries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index_ce_calls: Option<usize>,
}

impl EvalRow {
    /// Mean recall@k, if `k` was evaluated.
    pub fn recall_at(&self, k: usize) -> Option<f64> {
        self.recall.get(&recall_key(k)).copied()
    }
}

fn recall_key(k: usize) -> String {
    format!("recall@{k}")
}

/// Running sums of one (method, budget) cell.
#[derive(Clone, Debug, Default)]
struct Acc {
    recall: Vec<f64>,
    rel_error: f64,
    spearman: f64,
    ce_calls: f64,
    count: f64,
}

impl Acc {
    fn add(mut self, o: &Acc) -> Acc {
        if self.recall.is_empty() {
            self.recall = vec![0.0; o.recall.len()];
        }
        for (a, b) in self.recall.iter_mut().zip(&o.recall) {
            *a += b;
        }
        self.rel_error += o.rel_error;
        self.spearman += o.spearman;
        self.ce_calls += o.ce_calls;
        self.count += o.count;
        self
    }
}

/// Runs the evaluation; one row per (method, budget) in the order of
/// `methods` then `budgets` (`exact` gets a single row). Parallel over test
/// queries.
pub fn evaluate(matrix: &Matrix, cfg: &EvalConfig<'_>) -> Result<Vec<EvalRow>> {
    let (n_rows, n) = (matrix.rows(), matrix.cols());
    validate(matrix, cfg)?;
    let anchor_rows: Vec<usize> = if cfg.anchor_rows_random {
        let mut r =
            sample_without_replacement(&mut SplitMix64::new(cfg.row_seed), n_rows, cfg.anchor_rows);
        r.sort_unstable();
        r
    } else {
        (0..cfg.anchor_rows).collect()
    };
    let mut is_anchor = vec![false; n_rows];
    anchor_rows.iter().for_each(|&i| is_anchor[i] = true);
    let test_rows: Vec<usize> = (0..n_rows).filter(|&i| !is_anchor[i]).collect();
    let index = CurIndex::new(matrix.select_rows(&anchor_rows)?, Vec::new())?;
    let wants_tfidf = cfg.methods.contains(&Method::Tfidf)
        || cfg.methods.contains(&Method::Axn)
        || (cfg.methods.contains(&Method::Adacur) && cfg.adacur_tfidf_seed > 0.0);
    let tfidf = match (wants_tfidf, cfg.texts) {
        (true, Some((items, _))) => Some(TfIdfIndex::build(items)?),
        _ => None,
    };
    let axn = if cfg.methods.contains(&Method::Axn) {
        let anchor_texts: Option<Vec<String>> = cfg
            .texts
            .map(|(_, qs)| anchor_rows.iter().map(|&i| qs[i].clone()).collect());
        Some(super::axn::index_from_dense(
            index.r(),
            anchor_texts.as_deref(),
            tfidf.as_ref(),
            cfg.axn_per_row
                .unwrap_or_else(|| super::axn::default_per_row(n)),
            &cfg.axn,
        )?)
    } else {
        None
    };
    let needs_anchors = cfg.methods.iter().any(|m| m.is_cur());
    let anchor_sets: Vec<Vec<usize>> = match &cfg.anchor_sets {
        Some(sets) => sets.clone(),
        None if needs_anchors => (0..cfg.seeds as u64)
            .map(|s| select_anchor_items(index.r(), cfg.k_i, cfg.anchor_strategy, s))
            .collect::<Result<_>>()?,
        None => (0..cfg.seeds).map(|_| Vec::new()).collect(),
    };

    // Cells in output order.
    let cells: Vec<(Method, usize)> = cfg
        .methods
        .iter()
        .flat_map(|&m| match m {
            Method::Exact => vec![(m, n)],
            _ => cfg.budgets.iter().map(|&b| (m, b)).collect(),
        })
        .collect();
    let max_k = cfg.ks.iter().copied().max().unwrap_or(1);
    let mut totals: Vec<Acc> = vec![Acc::default(); cells.len()];

    for (seed, anchors) in anchor_sets.iter().enumerate() {
        let seed = seed as u64;
        let factor = if cfg.methods.contains(&Method::Anncur) {
            Some(index.factor_for_anchors(anchors.clone())?)
        } else {
            None
        };
        let ctx = QueryCtx {
            matrix,
            cfg,
            index: &index,
            factor: factor.as_ref(),
            anchors,
            tfidf: tfidf.as_ref(),
            axn: axn.as_ref(),
            cells: &cells,
            max_k,
            seed,
        };
        let zero = || vec![Acc::default(); cells.len()];
        let sums = test_rows
            .par_iter()
            .map(|&q| ctx.eval_query(q))
            .try_reduce(zero, |a, b| {
                Ok(a.into_iter().zip(&b).map(|(x, y)| x.add(y)).collect())
            })?;
        totals = totals
            .into_iter()
            .zip(&sums)
            .map(|(x, y)| x.add(y))
            .collect();
    }

    Ok(cells
        .iter()
        .zip(totals)
        .map(|(&(method, budget), acc)| {
            let cnt = acc.count.max(1.0);
            EvalRow {
                method,
                budget,
                recall: cfg
                    .ks
                    .iter()
                    .enumerate()
                    .map(|(t, &k)| {
                        (
                            recall_key(k),
                            acc.recall.get(t).copied().unwrap_or(0.0) / cnt,
                        )
                    })
                    .collect(),
                rel_error: method.is_factorised().then(|| acc.rel_error / cnt),
                spearman: method.is_factorised().then(|| acc.spearman / cnt),
                ce_calls: acc.ce_calls / cnt,
                index_ce_calls: match method {
                    Method::Anncur | Method::Adacur => Some(index.k_q() * n),
                    Method::Axn => axn.as_ref().map(|a| a.indexing_calls),
                    _ => None,
                },
            }
        })
        .collect())
}

fn validate(matrix: &Matrix, cfg: &EvalConfig<'_>) -> Result<()> {
    let bad = |m: String| Err(ApproxError::InvalidInput(m));
    let (n_rows, n) = (matrix.rows(), matrix.cols());
    if n == 0 {
        return bad("the score matrix has no items (columns)".into());
    }
    if cfg.anchor_rows == 0 || cfg.anchor_rows >= n_rows {
        return bad(format!(
            "anchor_rows = {} must be in 1..{n_rows} so that test rows remain",
            cfg.anchor_rows
        ));
    }
    if let Some(p) = matrix.data().iter().position(|x| !x.is_finite()) {
        return bad(format!(
            "the score matrix has a non-finite value at ({}, {})",
            p / n,
            p % n
        ));
    }
    if cfg.methods.is_empty() || cfg.budgets.is_empty() || cfg.ks.is_empty() {
        return bad("methods, budgets and ks must all be non-empty".into());
    }
    if cfg.budgets.contains(&0) || cfg.ks.contains(&0) {
        return bad("budgets and ks must be positive".into());
    }
    let k_i = match &cfg.anchor_sets {
        Some(sets) => {
            let len = sets.first().map_or(0, Vec::len);
            if sets.is_empty() || len == 0 || sets.iter().any(|s| s.len() != len) {
                return bad("anchor_sets must be non-empty sets of equal length".into());
            }
            for s in sets {
                super::check_indices(s, n, "anchor item")?;
            }
            len
        }
        None => {
            if cfg.seeds == 0 {
                return bad("seeds must be positive".into());
            }
            cfg.k_i
        }
    };
    if cfg.methods.iter().any(|m| m.is_cur()) && (k_i == 0 || k_i > n) {
        return bad(format!("k_i = {k_i} must be in 1..={n}"));
    }
    if cfg.methods.contains(&Method::Anncur) {
        if let Some(&b) = cfg.budgets.iter().find(|&&b| b < k_i) {
            return Err(ApproxError::BudgetTooSmall { budget: b, k_i });
        }
    }
    if !(0.0..=1.0).contains(&cfg.adacur_exploration) {
        return bad("adacur_exploration must be in [0, 1]".into());
    }
    if !(cfg.adacur_ridge >= 0.0 && cfg.adacur_ridge.is_finite()) {
        return bad("adacur_ridge must be a finite number >= 0".into());
    }
    if cfg.methods.contains(&Method::Tfidf) {
        match cfg.texts {
            None => {
                return bad("method tfidf needs item and query texts".into());
            }
            Some((items, queries)) => {
                if items.len() != n || queries.len() != n_rows {
                    return Err(ApproxError::Shape(format!(
                        "{} item texts / {} query texts for a {n_rows} × {n} matrix",
                        items.len(),
                        queries.len()
                    )));
                }
            }
        }
    }
    Ok(())
}

/// Everything one test query needs (shared, read-only, across threads).
struct QueryCtx<'a> {
    matrix: &'a Matrix,
    cfg: &'a EvalConfig<'a>,
    index: &'a CurIndex,
    factor: Option<&'a super::cur::AnchorFactor>,
    anchors: &'a [usize],
    tfidf: Option<&'a TfIdfIndex>,
    axn: Option<&'a super::axn::AxnIndex>,
    cells: &'a [(Method, usize)],
    max_k: usize,
    seed: u64,
}

impl QueryCtx<'_> {
    fn eval_query(&self, q: usize) -> Result<Vec<Acc>> {
        let exact = self.matrix.row(q);
        let n = exact.len();
        let ks = &self.cfg.ks;
        // Exact top-`max k` and exact ranks, shared by all cells.
        let truth = top_k_indices(exact, self.max_k);
        let exact_ranks = if self.cells.iter().any(|c| c.0.is_factorised()) {
            average_ranks(exact)
        } else {
            Vec::new()
        };
        let inputs = SearchInputs {
            n_items: n,
            index: Some(self.index),
            tfidf: self.tfidf,
            query_text: self.cfg.texts.map(|(_, qs)| qs[q].as_str()),
            anncur_factor: self.factor,
            first_round: Some(self.anchors),
            stream: Some(q as u64),
            axn: self.axn,
        };
        let mut out = Vec::with_capacity(self.cells.len());
        for &(method, budget) in self.cells {
            let mut sc = MatrixRowScorer::from_slice(exact);
            let params = SearchParams {
                method,
                budget,
                k_i: self.anchors.len(),
                top_k: self.max_k,
                anchor_strategy: self.cfg.anchor_strategy,
                seed: self.seed,
                adacur_rounds: self.cfg.adacur_rounds,
                adacur_exploration: self.cfg.adacur_exploration,
                adacur_ridge: self.cfg.adacur_ridge,
                adacur_tfidf_seed: self.cfg.adacur_tfidf_seed,
                axn_rounds: self.cfg.axn_rounds,
            };
            let res: SearchResult = search(&inputs, &params, &mut sc)?;
            let items: Vec<usize> = res.ranking.iter().map(|r| r.item).collect();
            let mut acc = Acc {
                recall: ks
                    .iter()
                    .map(|&k| recall_against(&items, &truth, k))
                    .collect(),
                ce_calls: res.ce_calls as f64,
                count: 1.0,
                ..Default::default()
            };
            if method.is_factorised() {
                if let Some(a) = &res.approx_scores {
                    acc.rel_error = relative_error(a, exact)?;
                    acc.spearman = spearman_from_ranks(&average_ranks(a), &exact_ranks);
                }
            }
            out.push(acc);
        }
        Ok(out)
    }
}

/// Writes rows as CSV: `method,budget,recall@k…,rel_error,spearman,ce_calls`
/// (empty cells for absent values; recall columns ordered by `k`).
pub fn write_csv(rows: &[EvalRow], path: impl AsRef<Path>) -> Result<()> {
    let mut ks: Vec<usize> = rows
        .iter()
        .flat_map(|r| r.recall.keys())
        .filter_map(|k| k.strip_prefix("recall@").and_then(|v| v.parse().ok()))
        .collect();
    ks.sort_unstable();
    ks.dedup();
    let mut out = String::from("method,budget");
    for k in &ks {
        out.push_str(&format!(",recall@{k}"));
    }
    out.push_str(",rel_error,spearman,ce_calls,index_ce_calls\n");
    let opt = |x: Option<f64>| x.map_or(String::new(), |v| v.to_string());
    for r in rows {
        out.push_str(&format!("{},{}", r.method, r.budget));
        for &k in &ks {
            out.push_str(&format!(",{}", opt(r.recall_at(k))));
        }
        out.push_str(&format!(
            ",{},{},{},{}\n",
            opt(r.rel_error),
            opt(r.spearman),
            r.ce_calls,
            r.index_ce_calls.map_or(String::new(), |c| c.to_string())
        ));
    }
    let mut f = std::fs::File::create(path)?;
    f.write_all(out.as_bytes())?;
    Ok(())
}

#[cfg(test)]
mod tests;
