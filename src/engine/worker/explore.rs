//! The explorer's analysis jobs: methods side by side on one query, one item explained,
//! and a whole query set. Each reports progress, stops at its next step when cancelled,
//! and shares the query's exact-score cache row with searches.

use std::collections::HashMap;
use std::sync::Arc;

use super::{model_error, search_error, Ended, JobResult, Worker};
use crate::approx::explain::{
    anchor_contributions, budget_to_find, jaccard_at_k, rank_of, rbo, RecordingScorer,
};
use crate::approx::{
    self, defaults, metrics, ApproxError, Matrix, MatrixRowScorer, Method, SearchParams,
};
use crate::cancel::CancelToken;
use crate::engine::protocol::{
    CompareRequest, Comparison, EngineError, Event, ExplainRequest, ItemExplanation, JobId,
    MethodRun, QueryOutcome, QuerySetRequest, RecallCurve,
};
use crate::engine::CeScorer;
use crate::items;
use crate::model::{PairModel, PairScore, PreparedQuery};

/// Methods a comparison or an explanation runs, in display order.
pub const APPROX_METHODS: [Method; 5] = [
    Method::Anncur,
    Method::Adacur,
    Method::Axn,
    Method::Tfidf,
    Method::Random,
];

/// Budgets of the recall curves and of "found at budget" (those up to the item count).
const CURVE_BUDGETS: [usize; 9] = [10, 20, 50, 100, 200, 300, 500, 1000, 2000];

/// Persistence of the rank-biased overlap shown in comparisons.
const RBO_P: f64 = 0.9;

/// ANNCUR's anchor items at `budget` on a recall curve: the run's share of its budget
/// (`k_i / budget`), so the run's own budget gets the run's own `k_i`.
fn curve_k_i(run: &SearchParams, budget: usize) -> usize {
    let run_budget = run.budget.max(1);
    let run_k_i = run.k_i.clamp(1, run_budget);
    ((run_k_i * budget + run_budget / 2) / run_budget).clamp(1, budget.max(1))
}

fn exact_logits(row: &[Option<PairScore>]) -> Vec<f32> {
    row.iter()
        .map(|s| s.map_or(f32::NEG_INFINITY, |s| s.logit))
        .collect()
}

impl Worker {
    /// Recall@k against CE calls for every method, from the query's exact row (each
    /// point re-runs the method on the row: no CE calls). Every point uses the run's own
    /// settings, with the run's split of the budget between anchor items and re-ranking
    /// scaled to the point's budget, and the run's budget is one of the points: there the
    /// curve of the run's method shows exactly the run's recall.
    pub(super) fn recall_curves(
        &self,
        query: &str,
        run: &SearchParams,
        exact: &[f32],
    ) -> (usize, Vec<RecallCurve>) {
        let n = exact.len();
        let k = run.top_k.clamp(1, 100).min(n);
        let inputs = self.world.search_inputs(query, n);
        let mut budgets: Vec<usize> = CURVE_BUDGETS.iter().copied().filter(|&b| b <= n).collect();
        let own = run.budget.min(n);
        if own > 0 && !budgets.contains(&own) {
            budgets.push(own);
            budgets.sort_unstable();
        }
        let mut curves = Vec::new();
        for method in APPROX_METHODS {
            let points: Vec<(usize, f64)> = budgets
                .iter()
                .filter_map(|&budget| {
                    let params = SearchParams {
                        method,
                        budget,
                        k_i: curve_k_i(run, budget),
                        top_k: k,
                        ..run.clone()
                    };
                    let mut sc = MatrixRowScorer::from_slice(exact);
                    let r = approx::search(&inputs, &params, &mut sc).ok()?;
                    let returned: Vec<usize> = r.ranking.iter().map(|x| x.item).collect();
                    Some((r.ce_calls, metrics::top_k_recall(&returned, exact, k)))
                })
                .collect();
            if !points.is_empty() {
                curves.push(RecallCurve { method, points });
            }
        }
        (k, curves)
    }

    /// Runs `f` with the query's cache row moved out (and back in, whatever happens).
    fn with_row<T>(
        &mut self,
        query_text: &str,
        f: impl FnOnce(&Self, &dyn PairModel, &PreparedQuery, &mut [Option<PairScore>]) -> T,
    ) -> Result<T, EngineError> {
        let items = self.world.items.clone().ok_or(EngineError::NoItems)?;
        let n = items.items.len();
        if n == 0 {
            return Err(EngineError::Items("the item list is empty".into()));
        }
        let model = self.world.model.take().ok_or(EngineError::NoModel)?;
        let model_fp = model.info().fingerprint.clone();
        let prepared = match model.prepare(query_text) {
            Ok(p) => p,
            Err(e) => {
                self.world.model = Some(model);
                return Err(model_error(e));
            }
        };
        let mut row = self
            .cache
            .take(&model_fp, &items.fingerprint, query_text)
            .filter(|r| r.len() == n)
            .unwrap_or_else(|| vec![None; n]);
        let out = f(self, model.as_ref(), &prepared, &mut row);
        self.cache
            .put(&model_fp, &items.fingerprint, query_text, row);
        self.world.model = Some(model);
        Ok(out)
    }

    fn progress(&self, job: JobId, label: String, done: usize, total: usize) {
        self.send(Event::Progress {
            job,
            label,
            done,
            total,
        });
    }

    pub(super) fn compare(
        &mut self,
        job: JobId,
        cancel: &CancelToken,
        req: CompareRequest,
    ) -> JobResult {
        self.world.prepare_all()?;
        let query = req.query.clone();
        self.with_row(&query, |w, model, prepared, row| {
            w.compare_with_row(job, cancel, &req, model, prepared, row)
        })?
    }

    fn compare_with_row(
        &self,
        job: JobId,
        cancel: &CancelToken,
        req: &CompareRequest,
        model: &dyn PairModel,
        prepared: &PreparedQuery,
        row: &mut [Option<PairScore>],
    ) -> JobResult {
        let n = row.len();
        let inputs = self.world.search_inputs(&req.query, n);
        let methods: Vec<Method> = req
            .methods
            .iter()
            .copied()
            .filter(|&m| m != Method::Exact)
            .collect();
        let steps = methods.len() + 1;
        let mut results = Vec::new();
        let mut scored = std::collections::HashSet::new();
        for (i, &method) in methods.iter().enumerate() {
            self.progress(job, format!("comparing: {method}"), i, steps);
            let mut ce = CeScorer::new(model, &self.world.texts, prepared, cancel, row);
            let mut scorer = RecordingScorer::new(&mut ce);
            let r = match approx::search(&inputs, &req.params(method), &mut scorer) {
                Ok(r) => Ok(r),
                Err(ApproxError::Cancelled) => return Ok(Ended::Cancelled),
                Err(e) => Err(e.to_string()),
            };
            scored.extend(scorer.scored);
            results.push((method, r));
        }
        let distinct_scored = scored.len();
        self.progress(job, "comparing: exact".into(), methods.len(), steps);
        if !self.verify_exact(job, cancel, model, prepared, row)? {
            return Ok(Ended::Cancelled);
        }
        let exact = exact_logits(row);
        let k = req.top_k.max(1).min(n);
        let exact_top = approx::top_k_indices(&exact, k);
        let runs = results
            .into_iter()
            .map(|(method, r)| match r {
                Ok(r) => {
                    let ranking: Vec<usize> = r.ranking.iter().map(|x| x.item).collect();
                    MethodRun {
                        method,
                        exact_ranks: ranking
                            .iter()
                            .map(|&i| rank_of(&exact, i).unwrap_or(n))
                            .collect(),
                        ce_calls: r.ce_calls,
                        recall: metrics::top_k_recall(&ranking, &exact, k),
                        jaccard: jaccard_at_k(&ranking, &exact_top, k),
                        rbo: rbo(&ranking, &exact_top, RBO_P).unwrap_or(0.0),
                        warnings: r.warnings,
                        error: None,
                        ranking,
                    }
                }
                Err(e) => MethodRun {
                    method,
                    ranking: Vec::new(),
                    exact_ranks: Vec::new(),
                    ce_calls: 0,
                    recall: 0.0,
                    jaccard: 0.0,
                    rbo: 0.0,
                    warnings: Vec::new(),
                    error: Some(e),
                },
            })
            .collect();
        let run = SearchParams {
            top_k: k,
            ..req.params(Method::Anncur)
        };
        let (_, curves) = self.recall_curves(&req.query, &run, &exact);
        self.send(Event::Comparison {
            job,
            comparison: Arc::new(Comparison {
                query: req.query.clone(),
                budget: req.budget,
                top_k: k,
                n_items: n,
                exact: exact_top,
                runs,
                curves,
                distinct_scored,
            }),
        });
        Ok(Ended::Completed)
    }

    pub(super) fn explain(
        &mut self,
        job: JobId,
        cancel: &CancelToken,
        req: ExplainRequest,
    ) -> JobResult {
        let n = self.world.items.as_ref().map_or(0, |i| i.items.len());
        if req.item >= n {
            return Err(EngineError::Search(format!(
                "item {} out of range for {n} items",
                req.item
            )));
        }
        self.world.prepare_all()?;
        let query = req.query.clone();
        self.with_row(&query, |w, model, prepared, row| {
            if !w.verify_exact(job, cancel, model, prepared, row)? {
                return Ok(Ended::Cancelled);
            }
            w.explain_exact(job, cancel, &req, &exact_logits(row))
        })?
    }

    /// The explanation, once every exact score of the query is known.
    fn explain_exact(
        &self,
        job: JobId,
        cancel: &CancelToken,
        req: &ExplainRequest,
        exact: &[f32],
    ) -> JobResult {
        let n = exact.len();
        let item = req.item;
        let k_i = req.k_i.clamp(1, req.budget.max(1)).min(n);
        let (mut approx, mut approx_rank, mut contributions) = (None, None, Vec::new());
        if let Some(idx) = self.world.index.as_ref().and_then(|i| i.dense()) {
            let factor = idx
                .factor(k_i, defaults::ANCHOR_STRATEGY, req.seed)
                .map_err(search_error)?;
            let c: Vec<f32> = factor.anchors.iter().map(|&a| exact[a]).collect();
            let s = factor.approximate(&c).map_err(search_error)?;
            approx = Some(s[item]);
            approx_rank = rank_of(&s, item);
            contributions = anchor_contributions(&factor, &c, item).map_err(search_error)?;
        }
        let mut budgets: Vec<usize> = CURVE_BUDGETS.iter().copied().filter(|&b| b < n).collect();
        if n <= CURVE_BUDGETS[CURVE_BUDGETS.len() - 1] {
            budgets.push(n);
        }
        let inputs = self.world.search_inputs(&req.query, n);
        let mut found = Vec::new();
        for (i, method) in APPROX_METHODS.into_iter().enumerate() {
            if cancel.is_cancelled() {
                return Ok(Ended::Cancelled);
            }
            self.progress(
                job,
                format!("explaining: {method}"),
                i,
                APPROX_METHODS.len(),
            );
            let params = SearchParams {
                method,
                k_i: req.k_i,
                top_k: req.top_k.max(1),
                seed: req.seed,
                ..SearchParams::default()
            };
            let f =
                budget_to_find(&inputs, &params, exact, item, &budgets).map_err(|e| e.to_string());
            found.push((method, f));
        }
        self.send(Event::Explanation {
            job,
            explanation: Box::new(ItemExplanation {
                query: req.query.clone(),
                item,
                exact: exact[item],
                exact_rank: rank_of(exact, item).unwrap_or(n),
                top_k: req.top_k.max(1),
                approx,
                approx_rank,
                k_i,
                contributions,
                budgets,
                found,
            }),
        });
        Ok(Ended::Completed)
    }

    pub(super) fn query_set(
        &mut self,
        job: JobId,
        cancel: &CancelToken,
        req: QuerySetRequest,
    ) -> JobResult {
        let items = self.world.items.clone().ok_or(EngineError::NoItems)?;
        if self.world.model.is_none() {
            return Err(EngineError::NoModel);
        }
        let opts = items::LoadOptions::default();
        let set = match &req.qrels {
            Some(qrels) => items::load_beir_queries(&req.queries, qrels, &opts),
            None => items::load_queries(&req.queries, &opts),
        }
        .map_err(|e| EngineError::Items(e.to_string()))?;
        let n = items.items.len();
        let matrix = match &req.exact_scores {
            Some(p) => Some(read_exact_matrix(p, set.queries.len(), n)?),
            None => None,
        };
        if req.method.needs_index() && self.world.index.is_none() {
            return Err(EngineError::NeedsIndex { method: req.method });
        }
        self.world.prepare_all()?;
        let queries: Vec<items::Query> = set
            .queries
            .into_iter()
            .take(req.limit.unwrap_or(usize::MAX))
            .collect();
        let by_id: HashMap<&str, usize> = items
            .items
            .iter()
            .enumerate()
            .map(|(i, it)| (it.id.as_str(), i))
            .collect();
        let total = queries.len();
        self.send(Event::QuerySetStarted {
            job,
            path: req.queries.clone(),
            total,
            exact_source: match (&req.exact_scores, req.score_exact) {
                (Some(p), _) => p
                    .file_name()
                    .map_or_else(|| p.display().to_string(), |f| f.to_string_lossy().into()),
                (None, true) => "the CE (every item)".into(),
                (None, false) => "none".into(),
            },
        });
        let params = SearchParams {
            method: req.method,
            budget: req.budget,
            k_i: req.k_i,
            top_k: req.top_k.max(1),
            seed: req.seed,
            ..SearchParams::default()
        };
        for (qi, q) in queries.iter().enumerate() {
            if cancel.is_cancelled() {
                return Ok(Ended::Cancelled);
            }
            self.progress(job, format!("query {}/{total}", qi + 1), qi, total);
            let gold: Vec<usize> = q
                .gold
                .iter()
                .filter_map(|g| by_id.get(g.as_str()).copied())
                .collect();
            let run = match &matrix {
                Some(m) => {
                    let exact = m.row(qi);
                    let inputs = self.world.search_inputs(&q.text, n);
                    let mut sc = MatrixRowScorer::from_slice(exact);
                    approx::search(&inputs, &params, &mut sc).map(|r| (r, Some(exact.to_vec())))
                }
                None => self.with_row(&q.text, |w, model, prepared, row| {
                    let inputs = w.world.search_inputs(&q.text, n);
                    let mut sc = CeScorer::new(model, &w.world.texts, prepared, cancel, row);
                    let r = approx::search(&inputs, &params, &mut sc)?;
                    let verified = !req.score_exact
                        || w.verify_exact(job, cancel, model, prepared, row)
                            .map_err(|e| ApproxError::Scorer(e.to_string()))?;
                    if !verified {
                        return Err(ApproxError::Cancelled);
                    }
                    let complete = row.iter().all(Option::is_some);
                    Ok((r, complete.then(|| exact_logits(row))))
                })?,
            };
            let mut outcome = QueryOutcome {
                index: qi,
                id: q.id.clone(),
                text: q.text.clone(),
                gold: q.gold.clone(),
                ranking: Vec::new(),
                ce_calls: 0,
                recall: None,
                gold_rank: None,
                gold_exact_rank: None,
                error: None,
            };
            match run {
                Ok((r, exact)) => {
                    outcome.ranking = r.ranking.iter().map(|x| x.item).collect();
                    outcome.ce_calls = r.ce_calls;
                    outcome.gold_rank = outcome
                        .ranking
                        .iter()
                        .position(|i| gold.contains(i))
                        .map(|p| p + 1);
                    if let Some(exact) = exact {
                        outcome.recall = Some(metrics::top_k_recall(
                            &outcome.ranking,
                            &exact,
                            params.top_k,
                        ));
                        outcome.gold_exact_rank =
                            gold.iter().filter_map(|&g| rank_of(&exact, g)).min();
                    }
                }
                Err(ApproxError::Cancelled) => return Ok(Ended::Cancelled),
                Err(e) => outcome.error = Some(e.to_string()),
            }
            self.send(Event::QueryOutcome {
                job,
                outcome: Box::new(outcome),
            });
        }
        self.progress(job, "query set done".into(), total, total);
        Ok(Ended::Completed)
    }
}

/// An exact-score matrix for a query set: one row per query of the file, one column
/// per loaded item; anything else is an error naming the file and both shapes.
fn read_exact_matrix(
    path: &std::path::Path,
    queries: usize,
    items: usize,
) -> Result<Matrix, EngineError> {
    let m = approx::read_npy(path).map_err(|e| EngineError::Items(e.to_string()))?;
    if m.rows() != queries || m.cols() != items {
        return Err(EngineError::Items(format!(
            "{}: exact scores are {} × {}, but the query file has {queries} queries and \
             {items} items are loaded",
            path.display(),
            m.rows(),
            m.cols()
        )));
    }
    Ok(m)
}
