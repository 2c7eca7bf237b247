//! The background worker. One OS thread owns the cross-encoder, the item list and the
//! index; the UI (or any caller) talks to it only through [`Request`]s and [`Event`]s.
//! The worker never touches egui: it calls a `wake` callback after sending an event,
//! which the UI sets to `request_repaint`.
//!
//! Cancellation: every request that starts a job bumps a generation counter; long loops
//! compare their own generation with the current one between batches and stop when a
//! newer job (or an explicit cancel) has arrived.

mod cache;
mod scorer;

pub use scorer::CeScorer;
mod worker;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, Sender, TryRecvError};
use std::sync::Arc;

use crate::approx::{ConvergencePoint, Method, SearchResult};
use crate::items::{Item, LoadReport};
use crate::model::{ModelInfo, PairScore};

pub use cache::ExactCache;

/// A job id: the generation it was started under.
pub type JobId = u64;

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

#[derive(Debug)]
pub enum Request {
    LoadModel {
        spec: String,
    },
    LoadItems {
        path: PathBuf,
    },
    LoadIndex {
        dir: PathBuf,
    },
    /// The embedded demo: default model, demo items, its index and test queries.
    LoadDemo,
    Search(SearchRequest),
    /// Per-item plot data: the approximation of `item` as anchor items are added.
    ItemConvergence {
        item: usize,
    },
    /// Builds an index over the loaded items from an anchor-query file (or `k_q` sampled
    /// item texts when `anchor_queries` is None) into `out`, resuming a partial build.
    BuildIndex {
        anchor_queries: Option<PathBuf>,
        k_q: usize,
        out: PathBuf,
    },
    Shutdown,
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
    DemoQueries(Vec<DemoQuery>),
    /// Progress of the current job.
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
        result: Box<SearchResult>,
        /// Exact scores computed during the approximate stage, by item index.
        scored: Vec<(usize, PairScore)>,
        seconds: f64,
    },
    /// A batch of exact scores streamed during verification.
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
    JobFinished {
        job: JobId,
        cancelled: bool,
    },
    Error {
        job: Option<JobId>,
        message: String,
    },
}

/// The caller's side of the worker.
pub struct EngineHandle {
    tx: Sender<(JobId, Request)>,
    rx: Receiver<Event>,
    generation: Arc<AtomicU64>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl EngineHandle {
    /// Starts the worker thread. `wake` is called after every event.
    pub fn spawn(wake: Box<dyn Fn() + Send>) -> Self {
        let (tx, worker_rx) = mpsc::channel();
        let (worker_tx, rx) = mpsc::channel();
        let generation = Arc::new(AtomicU64::new(0));
        let gen = generation.clone();
        let thread = std::thread::Builder::new()
            .name("relex-engine".into())
            .spawn(move || worker::run(worker_rx, worker_tx, gen, wake))
            .ok();
        Self {
            tx,
            rx,
            generation,
            thread,
        }
    }

    /// Sends a request. Requests that start jobs cancel the running job first.
    pub fn send(&self, request: Request) -> JobId {
        let starts_job = matches!(
            request,
            Request::Search(_)
                | Request::BuildIndex { .. }
                | Request::LoadModel { .. }
                | Request::LoadItems { .. }
                | Request::LoadDemo
                | Request::LoadIndex { .. }
        );
        let job = if starts_job {
            self.generation.fetch_add(1, Ordering::SeqCst) + 1
        } else {
            self.generation.load(Ordering::SeqCst)
        };
        // A closed channel means the worker is gone; the UI learns that from `poll`.
        let _ = self.tx.send((job, request));
        job
    }

    /// Stops the running job at its next batch boundary.
    pub fn cancel(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
    }

    /// The next event, if any (never blocks).
    pub fn poll(&self) -> Option<Event> {
        match self.rx.try_recv() {
            Ok(e) => Some(e),
            Err(TryRecvError::Empty) => None,
            Err(TryRecvError::Disconnected) => None,
        }
    }

    /// Blocks for the next event (CLI and tests).
    pub fn recv_timeout(&self, timeout: std::time::Duration) -> Option<Event> {
        self.rx.recv_timeout(timeout).ok()
    }
}

impl Drop for EngineHandle {
    fn drop(&mut self) {
        self.cancel();
        let _ = self.tx.send((0, Request::Shutdown));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
