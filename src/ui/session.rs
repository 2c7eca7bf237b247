//! What the explorer knows: the loaded model, items and index, and the current search
//! with its exact and approximate scores. Plain data, updated from engine events; no egui.

use std::sync::Arc;
use std::time::Instant;

use crate::approx::{ConvergencePoint, Method, SearchResult};
use crate::engine::{DemoQuery, IndexSummary, ItemsSnapshot, JobId, RecallCurve, SearchRequest};
use crate::model::{ModelInfo, PairScore};

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
}

/// How many errors and notices are kept.
const KEEP_MESSAGES: usize = 20;

impl Session {
    pub fn n_items(&self) -> usize {
        self.items.as_ref().map_or(0, |s| s.items.len())
    }

    pub fn set_items(&mut self, items: Arc<ItemsSnapshot>) {
        self.items = Some(items);
        self.items_version += 1;
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
        self.demo_queries
            .iter()
            .find(|q| q.id == id)
            .map(|q| q.gold.as_slice())
    }
}
