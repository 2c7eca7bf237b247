//! What the explorer knows: the loaded model, items and index, and the current search
//! with its exact and approximate scores. Plain data, updated from engine events; no egui.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use crate::approx::{ConvergencePoint, Method, SearchResult};
use crate::engine::snapshot::{Judgments, Snapshot, SnapshotDiff};
use crate::engine::{
    Comparison, DemoQuery, IndexSummary, ItemExplanation, ItemsSnapshot, JobId, QueryOutcome,
    RecallCurve, SearchRequest,
};
use crate::model::{ModelInfo, PairScore};

/// A query set running or run, and the outcome of each query so far.
#[derive(Debug, Clone)]
pub struct QuerySetRun {
    pub job: JobId,
    pub path: PathBuf,
    pub total: usize,
    /// Where the exact scores come from.
    pub exact_source: String,
    pub outcomes: Vec<QueryOutcome>,
    /// `Some(cancelled)` once the job ended.
    pub finished: Option<bool>,
}

/// One search and everything that streamed in for it.
#[derive(Debug)]
pub struct SearchState {
    pub job: JobId,
    pub request: SearchRequest,
    /// The demo query this search came from, if any (its id names the TREC run's query).
    pub query_id: Option<String>,
    pub started: Instant,
    /// The approximate stage's result (`None` until `Event::Approximate`).
    pub result: Option<Arc<SearchResult>>,
    pub approx_seconds: Option<f64>,
    /// Exact CE scores by item index.
    pub exact: Vec<Option<PairScore>>,
    /// Number of `Some` in `exact`.
    pub exact_known: usize,
    /// Verification progress as the engine reports it.
    pub exact_done: usize,
    pub exact_total: usize,
    pub pairs_per_second: f64,
    /// `Some(cancelled)` once the job ended.
    pub finished: Option<bool>,
    /// Recall@k against CE calls for every method (after exact scoring completes).
    pub recall: Option<(usize, Vec<RecallCurve>)>,
    /// Bumped on every change of scores; derived data is recomputed when it moves.
    pub version: u64,
}

impl SearchState {
    pub fn new(
        job: JobId,
        request: SearchRequest,
        query_id: Option<String>,
        n_items: usize,
    ) -> Self {
        Self {
            job,
            request,
            query_id,
            started: Instant::now(),
            result: None,
            approx_seconds: None,
            exact: vec![None; n_items],
            exact_known: 0,
            exact_done: 0,
            exact_total: n_items,
            pairs_per_second: 0.0,
            finished: None,
            recall: None,
            version: 1,
        }
    }

    pub fn method(&self) -> Method {
        self.request.method
    }

    /// The approximate score vector (CUR `s̃` or TF-IDF cosine), when the method has one.
    pub fn approx_scores(&self) -> Option<&[f32]> {
        self.result.as_ref()?.approx_scores.as_deref()
    }

    /// CE calls of the approximate stage.
    pub fn approx_ce_calls(&self) -> usize {
        self.result.as_ref().map_or(0, |r| r.ce_calls)
    }

    pub fn exact_complete(&self) -> bool {
        !self.exact.is_empty() && self.exact_known == self.exact.len()
    }

    fn record(&mut self, scores: &[(usize, PairScore)]) {
        for &(i, s) in scores {
            if let Some(slot) = self.exact.get_mut(i) {
                if slot.is_none() {
                    self.exact_known += 1;
                }
                *slot = Some(s);
            }
        }
        self.version += 1;
    }

    pub fn apply_approximate(
        &mut self,
        result: Arc<SearchResult>,
        scored: &[(usize, PairScore)],
        seconds: f64,
    ) {
        self.result = Some(result);
        self.approx_seconds = Some(seconds);
        self.record(scored);
    }

    pub fn apply_exact(
        &mut self,
        scores: &[(usize, PairScore)],
        done: usize,
        total: usize,
        pairs_per_second: f64,
    ) {
        self.record(scores);
        self.exact_done = done;
        self.exact_total = total;
        if pairs_per_second > 0.0 {
            self.pairs_per_second = pairs_per_second;
        }
    }

    pub fn apply_recall(&mut self, k: usize, curves: Vec<RecallCurve>) {
        self.recall = Some((k, curves));
        self.version += 1;
    }

    pub fn finish(&mut self, cancelled: bool) {
        self.finished = Some(cancelled);
        self.version += 1;
    }
}

/// Which part of the app an error message belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorSource {
    Model,
    Items,
    Index,
    Demo,
    Search,
    Export,
    Engine,
    QuerySet,
    Snapshot,
}

impl ErrorSource {
    pub fn label(self) -> &'static str {
        match self {
            ErrorSource::Model => "model",
            ErrorSource::Items => "items",
            ErrorSource::Index => "index",
            ErrorSource::Demo => "demo",
            ErrorSource::Search => "search",
            ErrorSource::Export => "export",
            ErrorSource::Engine => "engine",
            ErrorSource::QuerySet => "query set",
            ErrorSource::Snapshot => "snapshot",
        }
    }
}

#[derive(Debug, Clone)]
pub struct ErrorEntry {
    pub source: ErrorSource,
    pub message: String,
}

/// Everything loaded, plus the current search.
#[derive(Default)]
pub struct Session {
    /// Why the engine stopped, once it has: nothing more can run until a restart.
    pub engine_stopped: Option<String>,
    pub model: Option<ModelInfo>,
    pub items: Option<Arc<ItemsSnapshot>>,
    /// Bumped whenever a new item list arrives.
    pub items_version: u64,
    pub index: Option<IndexSummary>,
    pub demo_queries: Vec<DemoQuery>,
    pub search: Option<SearchState>,
    /// The item selected for the per-item plots (an index into the item list).
    pub selected: Option<usize>,
    /// Convergence of the selected item's approximation, when the engine sent it.
    pub convergence: Option<(usize, Vec<ConvergencePoint>)>,
    /// Most recent first; the UI shows them inline next to their source.
    pub errors: Vec<ErrorEntry>,
    /// Short informational messages (exports written, index built).
    pub notices: Vec<String>,
    /// Item index by id, for the current item list.
    pub item_index: HashMap<String, usize>,
    /// Methods side by side on the last compared query.
    pub comparison: Option<Arc<Comparison>>,
    /// The last explained item.
    pub explanation: Option<ItemExplanation>,
    pub query_set: Option<QuerySetRun>,
    /// Relevance judgments of every query judged in this session.
    pub judgments: Judgments,
    /// A snapshot loaded from disk, and its file.
    pub snapshot: Option<(PathBuf, Snapshot)>,
    /// The diff of two snapshot files (first, second).
    pub snapshot_diff: Option<(PathBuf, PathBuf, SnapshotDiff)>,
}

/// How many errors and notices are kept.
const KEEP_MESSAGES: usize = 20;

impl Session {
    pub fn n_items(&self) -> usize {
        self.items.as_ref().map_or(0, |s| s.items.len())
    }

    pub fn set_items(&mut self, items: Arc<ItemsSnapshot>) {
        self.item_index = items
            .items
            .iter()
            .enumerate()
            .map(|(i, it)| (it.id.clone(), i))
            .collect();
        self.items = Some(items);
        self.items_version += 1;
        self.comparison = None;
        self.explanation = None;
        self.search = None;
        self.selected = None;
        self.convergence = None;
        self.clear_errors(ErrorSource::Items);
    }

    pub fn push_error(&mut self, source: ErrorSource, message: impl Into<String>) {
        self.errors.insert(
            0,
            ErrorEntry {
                source,
                message: message.into(),
            },
        );
        self.errors.truncate(KEEP_MESSAGES);
    }

    pub fn push_notice(&mut self, message: impl Into<String>) {
        self.notices.insert(0, message.into());
        self.notices.truncate(KEEP_MESSAGES);
    }

    /// The latest error of one source.
    pub fn error_of(&self, source: ErrorSource) -> Option<&str> {
        self.errors
            .iter()
            .find(|e| e.source == source)
            .map(|e| e.message.as_str())
    }

    pub fn clear_errors(&mut self, source: ErrorSource) {
        self.errors.retain(|e| e.source != source);
    }

    /// Ids of the gold items of the demo query the current search came from.
    pub fn gold_ids(&self) -> Option<&[String]> {
        let id = self.search.as_ref()?.query_id.as_deref()?;
        let demo = self.demo_queries.iter().find(|q| q.id == id);
        match demo {
            Some(q) => Some(q.gold.as_slice()),
            None => self
                .query_set
                .as_ref()?
                .outcomes
                .iter()
                .find(|o| o.id == id)
                .map(|o| o.gold.as_slice()),
        }
    }

    /// The current search's query text and query id (judgments belong to them).
    pub fn current_query(&self) -> Option<(&str, Option<&str>)> {
        let s = self.search.as_ref()?;
        Some((s.request.query.as_str(), s.query_id.as_deref()))
    }
}
