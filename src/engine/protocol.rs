//! The messages between the engine and its caller: [`Request`]s in, [`Event`]s out.
//!
//! Every job request gets exactly one [`Event::JobFinished`], whatever happens to it
//! (completed, cancelled before or while running, failed, or the worker panicked), so a
//! caller never waits forever. When the worker thread itself is gone the handle reports
//! [`Event::EngineStopped`] once.

use std::path::PathBuf;
use std::sync::Arc;

use crate::approx::{AnchorStrategy, ConvergencePoint, Method, SearchParams, SearchResult};
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
            // Greedy column selection beat random anchors on the demo at every budget
            // (README, "On the demo").
            anchor_strategy: AnchorStrategy::L2Greedy,
            seed: self.seed,
            ..SearchParams::default()
        }
    }
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
    },
    /// Per-item plot data: the approximation of `item` as anchor items are added. Not a
    /// job: it is answered from the last search, in order with the jobs.
    ItemConvergence {
        item: usize,
    },
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
}

#[derive(Debug, Clone)]
pub struct DemoQuery {
    pub id: String,
    pub text: String,
    pub gold: Vec<String>,
}

/// Recall@k of each method against CE calls, on the current query.
#[derive(Debug, Clone)]
pub struct RecallCurve {
    pub method: Method,
    /// (CE calls, recall@k)
    pub points: Vec<(usize, f64)>,
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
