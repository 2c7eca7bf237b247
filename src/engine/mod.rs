//! The background worker. One OS thread owns the cross-encoder, the item list and the
//! index; the UI (or any caller) talks to it only through [`Request`]s and [`Event`]s
//! (see [`protocol`]). The worker never touches egui: it calls a `wake` callback after
//! sending an event, which the UI sets to `request_repaint`.
//!
//! The engine, not its caller, owns the job policy ([`EngineHandle::submit`]): jobs
//! run one at a time in submission order; a new search, comparison, explanation or
//! query set supersedes (cancels) pending jobs of its own kind; a load supersedes pending
//! searches, index builds and those explorer jobs, whose world it changes; and every job
//! ends with one `JobFinished`, also when it was cancelled before it started.

mod cache;
pub mod ce_scorer;
pub mod protocol;
pub mod snapshot;
mod worker;
pub mod world;

#[cfg(test)]
mod tests;

use std::collections::VecDeque;
use std::sync::mpsc::{self, Receiver, Sender, TryRecvError};

pub use cache::ExactCache;
pub use ce_scorer::CeScorer;
pub use protocol::{
    CompareRequest, Comparison, DemoQuery, EngineError, Event, ExplainRequest, IndexSummary,
    ItemExplanation, ItemsSnapshot, JobId, JobKind, JobOutcome, MethodRun, QueryOutcome,
    QuerySetRequest, QuerySetSummary, RecallCurve, Request, SearchRequest,
};
pub use world::World;

use crate::cancel::CancelToken;
use crate::model::{CrossEncoder, DeviceSpec, LoadOptions, ModelError, PairModel};

/// Turns a model spec (folder, checkpoint or hub id) into a model on a device. Tests
/// inject fakes.
pub type ModelLoader =
    Box<dyn Fn(&str, DeviceSpec) -> Result<Box<dyn PairModel>, ModelError> + Send>;

/// The loader of real models: relex's cross-encoders with their default options.
pub fn cross_encoder_loader() -> ModelLoader {
    Box::new(|spec, device| {
        let opts = LoadOptions {
            device,
            ..LoadOptions::default()
        };
        CrossEncoder::load(spec, &opts).map(|m| Box::new(m) as Box<dyn PairModel>)
    })
}

/// A request on its way to the worker.
struct Envelope {
    job: JobId,
    cancel: CancelToken,
    request: Request,
}

/// A job submitted and not yet finished.
#[derive(Debug, Clone)]
struct PendingJob {
    id: JobId,
    kind: JobKind,
    cancel: CancelToken,
}

/// The caller's side of the worker.
pub struct EngineHandle {
    tx: Sender<Envelope>,
    rx: Receiver<Event>,
    pending: VecDeque<PendingJob>,
    next_id: JobId,
    stopped: bool,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl EngineHandle {
    /// Starts the worker thread with real models. `wake` is called after every event.
    pub fn spawn(wake: Box<dyn Fn() + Send>) -> Self {
        Self::spawn_with(cross_encoder_loader(), wake)
    }

    /// Starts the worker thread with the given model loader.
    pub fn spawn_with(loader: ModelLoader, wake: Box<dyn Fn() + Send>) -> Self {
        let (tx, worker_rx) = mpsc::channel();
        let (worker_tx, rx) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("relex-engine".into())
            .spawn(move || worker::run(worker_rx, worker_tx, loader, wake))
            .ok();
        let stopped = thread.is_none();
        Self {
            tx,
            rx,
            pending: VecDeque::new(),
            next_id: 1,
            stopped,
            thread,
        }
    }

    /// Sends a request, applying the supersede policy (module docs). Returns the job
    /// id, or `None` for a request that starts no job.
    pub fn submit(&mut self, request: Request) -> Option<JobId> {
        let kind = request.kind();
        let (job, cancel) = match kind {
            Some(kind) => {
                // Interactive jobs replace pending ones of their kind; a load replaces
                // everything that runs in the world it changes.
                let supersedes = |pending: JobKind| match kind {
                    JobKind::Search | JobKind::Compare | JobKind::Explain | JobKind::QuerySet => {
                        pending == kind
                    }
                    JobKind::BuildIndex => pending == JobKind::Search,
                    _ => !pending.is_load(),
                };
                for p in self.pending.iter().filter(|p| supersedes(p.kind)) {
                    p.cancel.cancel();
                }
                let id = self.next_id;
                self.next_id += 1;
                let cancel = CancelToken::new();
                self.pending.push_back(PendingJob {
                    id,
                    kind,
                    cancel: cancel.clone(),
                });
                (id, cancel)
            }
            None => (0, CancelToken::new()),
        };
        // A send fails only when the worker is gone; `poll` then reports
        // `EngineStopped` and forgets the pending jobs.
        let _ = self.tx.send(Envelope {
            job,
            cancel,
            request,
        });
        kind.map(|_| job)
    }

    /// Cancels every pending job (the running one stops at its next batch).
    pub fn cancel(&mut self) {
        for p in &self.pending {
            p.cancel.cancel();
        }
    }

    /// The job running now (or next), if any: the oldest one neither finished nor
    /// cancelled. A cancelled job may still be winding down ([`EngineHandle::is_busy`]).
    pub fn current(&self) -> Option<(JobId, JobKind)> {
        self.pending
            .iter()
            .find(|p| !p.cancel.is_cancelled())
            .map(|p| (p.id, p.kind))
    }

    /// Whether any submitted job has not finished yet.
    pub fn is_busy(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Whether the worker thread has stopped (after a panic it could not survive).
    pub fn is_stopped(&self) -> bool {
        self.stopped
    }

    /// The next event, if any (never blocks).
    pub fn poll(&mut self) -> Option<Event> {
        match self.rx.try_recv() {
            Ok(e) => Some(self.track(e)),
            Err(TryRecvError::Empty) => None,
            Err(TryRecvError::Disconnected) => self.stopped_now(),
        }
    }

    /// Blocks for the next event (CLI and tests); `None` on time-out or once stopped.
    pub fn recv_timeout(&mut self, timeout: std::time::Duration) -> Option<Event> {
        match self.rx.recv_timeout(timeout) {
            Ok(e) => Some(self.track(e)),
            Err(mpsc::RecvTimeoutError::Timeout) => None,
            Err(mpsc::RecvTimeoutError::Disconnected) => self.stopped_now(),
        }
    }

    fn track(&mut self, e: Event) -> Event {
        if let Event::JobFinished { job, .. } = &e {
            self.pending.retain(|p| p.id != *job);
        }
        e
    }

    /// Reports the worker's end once: its panic message when it panicked.
    fn stopped_now(&mut self) -> Option<Event> {
        if self.stopped && self.thread.is_none() {
            return None;
        }
        self.stopped = true;
        self.pending.clear();
        let reason = match self.thread.take().map(|t| t.join()) {
            Some(Err(payload)) => {
                format!("the engine thread panicked: {}", panic_message(&*payload))
            }
            _ => "the engine thread ended".to_string(),
        };
        Some(Event::EngineStopped { reason })
    }
}

/// The text of a panic payload (`&str` or `String`), or a placeholder.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".into())
}

impl Drop for EngineHandle {
    fn drop(&mut self) {
        self.cancel();
        // Closing the request channel ends the worker's loop.
        let (tx, _) = mpsc::channel();
        drop(std::mem::replace(&mut self.tx, tx));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
