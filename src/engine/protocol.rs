//! The messages between the engine and its caller: [`Request`]s in, [`Event`]s out.
//!
//! Every job request gets exactly one [`Event::JobFinished`], whatever happens to it
//! (completed, cancelled before or while running, failed, or the worker panicked), so a
//! caller never waits forever. When the worker thread itself is gone the handle reports
//! [`Event::EngineStopped`] once.

use std::path::PathBuf;
use std::sync::Arc;

use crate::approx::explain::{AnchorContribution, FoundAt};
use crate::approx::{ConvergencePoint, Method, SearchParams, SearchResult};
use crate::items::{Item, LoadReport};
use crate::model::{ModelInfo, PairScore};

/// A job id, unique per engine, increasing in submission order.
pub type JobId = u64;

/// What a job does: labels, and the supersede policy of [`super::EngineHandle::submit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JobKind {
    LoadModel,
    LoadItems,
    LoadIndex,
    LoadDemo,
    BuildIndex,
    Search,
    /// Several methods on one query, then exact scores and overlap metrics.
    Compare,
    /// One item's CUR decomposition and the budget each method needs to find it.
    Explain,
    /// A whole query file, one outcome per query.
    QuerySet,
}

impl JobKind {
    pub fn label(self) -> &'static str {
        match self {
            JobKind::LoadModel => "loading model",
            JobKind::LoadItems => "loading items",
            JobKind::LoadIndex => "loading index",
            JobKind::LoadDemo => "loading demo",
            JobKind::BuildIndex => "building index",
            JobKind::Search => "searching",
            JobKind::Compare => "comparing methods",
            JobKind::Explain => "explaining an item",
            JobKind::QuerySet => "running a query set",
        }
    }

    /// Loads change the world a search or a build runs in.
    pub fn is_load(self) -> bool {
        matches!(
            self,
            JobKind::LoadModel | JobKind::LoadItems | JobKind::LoadIndex | JobKind::LoadDemo
        )
    }
}

/// What a search asks for.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchRequest {
    pub query: String,
    pub method: Method,
    /// Total CE calls for the approximate stage (anchor items included).
    pub budget: usize,
    /// Anchor items for ANNCUR.
    pub k_i: usize,
    pub top_k: usize,
    pub seed: u64,
    /// After the approximate stage, score every item exactly in the background.
    pub verify_exact: bool,
}

impl SearchRequest {
    /// The parameters of `approx::search` this request stands for.
    pub fn params(&self) -> SearchParams {
        SearchParams {
            method: self.method,
            budget: self.budget,
            k_i: self.k_i,
            top_k: self.top_k,
            seed: self.seed,
            ..SearchParams::default()
        }
    }
}

/// Several methods for one query at one budget ([`Request::Compare`]).
#[derive(Debug, Clone, PartialEq)]
pub struct CompareRequest {
    pub query: String,
    /// The approximate methods to run (exact is always computed, as the reference).
    pub methods: Vec<Method>,
    pub budget: usize,
    pub k_i: usize,
    pub top_k: usize,
    pub seed: u64,
}

impl CompareRequest {
    /// The parameters of `approx::search` for one of the methods (as a search's).
    pub fn params(&self, method: Method) -> SearchParams {
        SearchParams {
            method,
            budget: self.budget,
            k_i: self.k_i,
            top_k: self.top_k,
            seed: self.seed,
            ..SearchParams::default()
        }
    }
}

/// Why an item is (not) in the top-k of a query ([`Request::Explain`]).
#[derive(Debug, Clone, PartialEq)]
pub struct ExplainRequest {
    pub query: String,
    pub item: usize,
    pub budget: usize,
    /// Anchor items of the ANNCUR approximation taken apart.
    pub k_i: usize,
    pub top_k: usize,
    pub seed: u64,
}

/// A query file run with one method ([`Request::QuerySet`]).
#[derive(Debug, Clone, PartialEq)]
pub struct QuerySetRequest {
    /// Queries (with `gold` ids), or BEIR `queries.jsonl` when `qrels` is given.
    pub queries: PathBuf,
    pub qrels: Option<PathBuf>,
    /// Exact scores, one row per query of the file, one column per item (`.npy`): the
    /// method reads its scores there instead of calling the CE (as `relex eval`).
    pub exact_scores: Option<PathBuf>,
    pub method: Method,
    pub budget: usize,
    pub k_i: usize,
    pub top_k: usize,
    pub seed: u64,
    /// Without `exact_scores`: also score every item exactly (for recall).
    pub score_exact: bool,
    /// Run only the first queries of the file.
    pub limit: Option<usize>,
}

#[derive(Debug)]
pub enum Request {
    LoadModel {
        spec: String,
        /// Where to run it (the app's device picker).
        device: crate::model::DeviceSpec,
    },
    LoadItems {
        path: PathBuf,
    },
    LoadIndex {
        dir: PathBuf,
    },
    /// The embedded demo: default model (on the last device asked for), demo items, its
    /// index and test queries.
    LoadDemo,
    Search(SearchRequest),
    /// Builds an index over the loaded items from an anchor-query file (or `k_q` sampled
    /// item texts when `anchor_queries` is None) into `out`, resuming a partial build.
    BuildIndex {
        anchor_queries: Option<PathBuf>,
        k_q: usize,
        out: PathBuf,
        /// A sparse (AXN) index: each anchor query against 5 % of the items (TF-IDF's
        /// best and random ones), searched by AXN only.
        sparse: bool,
    },
    /// Per-item plot data: the approximation of `item` as anchor items are added. Not a
    /// job: it is answered from the last search, in order with the jobs.
    ItemConvergence {
        item: usize,
    },
    Compare(CompareRequest),
    Explain(ExplainRequest),
    QuerySet(QuerySetRequest),
}

impl Request {
    /// The job this request starts, if it starts one.
    pub fn kind(&self) -> Option<JobKind> {
        Some(match self {
            Request::LoadModel { .. } => JobKind::LoadModel,
            Request::LoadItems { .. } => JobKind::LoadItems,
            Request::LoadIndex { .. } => JobKind::LoadIndex,
            Request::LoadDemo => JobKind::LoadDemo,
            Request::Search(_) => JobKind::Search,
            Request::BuildIndex { .. } => JobKind::BuildIndex,
            Request::Compare(_) => JobKind::Compare,
            Request::Explain(_) => JobKind::Explain,
            Request::QuerySet(_) => JobKind::QuerySet,
            Request::ItemConvergence { .. } => return None,
        })
    }
}

/// Why a job failed. The variant says which part of the world is at fault (the UI
/// routes it to that panel); the message names the file, line or tensor.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EngineError {
    #[error("no model loaded")]
    NoModel,
    #[error("no items loaded")]
    NoItems,
    #[error("load a model and an item list before an index")]
    IndexNeedsModelAndItems,
    #[error("{method} needs an index: build or load one first")]
    NeedsIndex { method: Method },
    /// Loading or running the model failed.
    #[error("{0}")]
    Model(String),
    /// Reading an item or query file failed.
    #[error("{0}")]
    Items(String),
    /// Reading, checking or building an index failed.
    #[error("{0}")]
    Index(String),
    /// The search itself failed (bad parameters, a scorer error).
    #[error("{0}")]
    Search(String),
    /// The job panicked; the worker survived it and runs on.
    #[error("internal error (the job panicked): {0}")]
    Panicked(String),
}

/// How a job ended.
#[derive(Debug, Clone, PartialEq)]
pub enum JobOutcome {
    Completed,
    Cancelled,
    Failed(EngineError),
}

/// Loaded items, shared read-only with the UI (one copy of the text in memory).
#[derive(Debug)]
pub struct ItemsSnapshot {
    pub path: PathBuf,
    pub items: Vec<Item>,
    pub report: LoadReport,
    pub fingerprint: String,
}

#[derive(Debug, Clone)]
pub struct IndexSummary {
    pub dir: PathBuf,
    pub k_q: usize,
    pub n_items: usize,
    pub pseudo_queries: bool,
    /// Items per anchor query of a sparse (AXN) index; `None` for a dense one.
    pub sparse_per_row: Option<usize>,
}

#[derive(Debug, Clone)]
pub struct DemoQuery {
    pub id: String,
    pub text: String,
    pub gold: Vec<String>,
}

/// Recall@k of each method against CE calls, on the current query.
#[derive(Debug, Clone, PartialEq)]
pub struct RecallCurve {
    pub method: Method,
    /// (CE calls, recall@k)
    pub points: Vec<(usize, f64)>,
}

/// One method's run in a comparison, measured against the exact ranking.
#[derive(Debug, Clone, PartialEq)]
pub struct MethodRun {
    pub method: Method,
    /// The method's top-k (item indices, best first).
    pub ranking: Vec<usize>,
    /// The exact rank (1-based) of each item of `ranking`.
    pub exact_ranks: Vec<usize>,
    pub ce_calls: usize,
    pub recall: f64,
    pub jaccard: f64,
    /// Rank-biased overlap with the exact top-k (p = 0.9).
    pub rbo: f64,
    pub warnings: Vec<String>,
    /// The method could not run (e.g. no index); the metrics are then 0.
    pub error: Option<String>,
}

/// Methods side by side on one query.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    pub query: String,
    pub budget: usize,
    pub top_k: usize,
    pub n_items: usize,
    /// The exact top-k.
    pub exact: Vec<usize>,
    pub runs: Vec<MethodRun>,
    /// Recall@k against CE calls for every method on this query.
    pub curves: Vec<RecallCurve>,
    /// Distinct items the methods scored together (each CE call is made once).
    pub distinct_scored: usize,
}

/// Why an item is where it is for a query.
#[derive(Debug, Clone, PartialEq)]
pub struct ItemExplanation {
    pub query: String,
    pub item: usize,
    pub exact: f32,
    pub exact_rank: usize,
    pub top_k: usize,
    /// ANNCUR's approximation of the item with `k_i` anchors (none without an index).
    pub approx: Option<f32>,
    pub approx_rank: Option<usize>,
    pub k_i: usize,
    /// `c_j · E[j, item]` per anchor, in anchor order; they sum to `approx`.
    pub contributions: Vec<AnchorContribution>,
    /// The budgets tried, ascending.
    pub budgets: Vec<usize>,
    /// Per method, when it first scores and first ranks the item in its top-k.
    pub found: Vec<(Method, Result<FoundAt, String>)>,
}

/// One query of a query set.
#[derive(Debug, Clone, PartialEq)]
pub struct QueryOutcome {
    /// Position in the query file.
    pub index: usize,
    pub id: String,
    pub text: String,
    pub gold: Vec<String>,
    /// The method's top-k.
    pub ranking: Vec<usize>,
    pub ce_calls: usize,
    /// Recall@k against the exact top-k (when exact scores are known).
    pub recall: Option<f64>,
    /// Rank of the best gold item in the method's top-k (`None`: not there).
    pub gold_rank: Option<usize>,
    /// Its rank under the exact scores (when known).
    pub gold_exact_rank: Option<usize>,
    pub error: Option<String>,
}

impl QueryOutcome {
    /// Worst first: failed queries, then lowest recall, then gold missing or lowest.
    pub fn worst_first(outcomes: &[QueryOutcome]) -> Vec<usize> {
        let mut order: Vec<usize> = (0..outcomes.len()).collect();
        let key = |o: &QueryOutcome| {
            (
                o.error.is_none(),
                o.recall.unwrap_or(f64::INFINITY),
                std::cmp::Reverse(o.gold_rank.map_or(usize::MAX, |r| r)),
            )
        };
        order.sort_by(|&a, &b| {
            let (ka, kb) = (key(&outcomes[a]), key(&outcomes[b]));
            ka.0.cmp(&kb.0)
                .then(ka.1.total_cmp(&kb.1))
                .then(ka.2.cmp(&kb.2))
                .then(a.cmp(&b))
        });
        order
    }
}

/// Averages over the finished queries of a query set.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct QuerySetSummary {
    pub queries: usize,
    pub mean_recall: Option<f64>,
    /// Fraction of queries with a gold item in the method's top-k.
    pub gold_found: Option<f64>,
    /// Mean reciprocal rank of the gold in the method's top-k (0 when absent).
    pub mrr: Option<f64>,
}

impl QuerySetSummary {
    pub fn of(outcomes: &[QueryOutcome]) -> Self {
        let recalls: Vec<f64> = outcomes.iter().filter_map(|o| o.recall).collect();
        let with_gold: Vec<&QueryOutcome> =
            outcomes.iter().filter(|o| !o.gold.is_empty()).collect();
        let mean = |v: &[f64]| (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64);
        let found: Vec<f64> = with_gold
            .iter()
            .map(|o| f64::from(u8::from(o.gold_rank.is_some())))
            .collect();
        let rr: Vec<f64> = with_gold
            .iter()
            .map(|o| o.gold_rank.map_or(0.0, |r| 1.0 / r as f64))
            .collect();
        Self {
            queries: outcomes.len(),
            mean_recall: mean(&recalls),
            gold_found: mean(&found),
            mrr: mean(&rr),
        }
    }
}

#[derive(Debug)]
pub enum Event {
    ModelLoaded(Box<ModelInfo>),
    ItemsLoaded(Arc<ItemsSnapshot>),
    IndexLoaded(IndexSummary),
    /// The loaded index no longer matches the model or items and was dropped.
    IndexUnloaded {
        reason: String,
    },
    DemoQueries(Vec<DemoQuery>),
    /// Progress of a running job.
    Progress {
        job: JobId,
        label: String,
        done: usize,
        total: usize,
    },
    /// The approximate stage of a search finished.
    Approximate {
        job: JobId,
        query: String,
        result: Arc<SearchResult>,
        /// Every exact score known after the approximate stage (computed now, or
        /// remembered from an earlier search of the same query), by item index.
        scored: Vec<(usize, PairScore)>,
        seconds: f64,
    },
    /// A batch of new exact scores streamed during verification (never a score that
    /// an earlier event of the job already carried).
    Exact {
        job: JobId,
        scores: Vec<(usize, PairScore)>,
        done: usize,
        total: usize,
        pairs_per_second: f64,
    },
    RecallCurves {
        job: JobId,
        k: usize,
        curves: Vec<RecallCurve>,
    },
    ItemConvergence {
        item: usize,
        points: Vec<ConvergencePoint>,
    },
    IndexBuilt(IndexSummary),
    Comparison {
        job: JobId,
        comparison: Arc<Comparison>,
    },
    Explanation {
        job: JobId,
        explanation: Box<ItemExplanation>,
    },
    /// A query set is loaded and about to run.
    QuerySetStarted {
        job: JobId,
        path: PathBuf,
        total: usize,
        /// Where exact scores come from ("test_scores.npy", "the CE", or none).
        exact_source: String,
    },
    QueryOutcome {
        job: JobId,
        outcome: Box<QueryOutcome>,
    },
    /// Exactly one per submitted job.
    JobFinished {
        job: JobId,
        kind: JobKind,
        outcome: JobOutcome,
    },
    /// A request that is not a job failed (e.g. per-item plot data).
    RequestFailed {
        error: EngineError,
    },
    /// The worker thread is gone; nothing more will happen. Sent once, by the handle.
    EngineStopped {
        reason: String,
    },
}
