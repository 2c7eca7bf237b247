//! The UI's side of the engine: sends requests, remembers which job is current, and
//! queues loads so that one never supersedes another before it started (the worker skips
//! a job that was superseded before it began).

use std::collections::VecDeque;
use std::time::Instant;

use crate::engine::{EngineHandle, Event, JobId, Request};

use super::session::ErrorSource;

/// What a job does, for labels and for routing its errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobKind {
    Model,
    Items,
    Index,
    Demo,
    BuildIndex,
    Search,
}

impl JobKind {
    pub fn label(self) -> &'static str {
        match self {
            JobKind::Model => "loading model",
            JobKind::Items => "loading items",
            JobKind::Index => "loading index",
            JobKind::Demo => "loading demo",
            JobKind::BuildIndex => "building index",
            JobKind::Search => "searching",
        }
    }

    pub fn error_source(self) -> ErrorSource {
        match self {
            JobKind::Model => ErrorSource::Model,
            JobKind::Items => ErrorSource::Items,
            JobKind::Index | JobKind::BuildIndex => ErrorSource::Index,
            JobKind::Demo => ErrorSource::Demo,
            JobKind::Search => ErrorSource::Search,
        }
    }
}

/// The running job and its progress.
#[derive(Debug, Clone)]
pub struct ActiveJob {
    pub id: JobId,
    pub kind: JobKind,
    pub label: String,
    pub done: usize,
    pub total: usize,
    pub started: Instant,
    /// First progress report (time, done), for the rate behind the ETA.
    first_progress: Option<(Instant, usize)>,
}

impl ActiveJob {
    /// Fraction done, when the job reports a total.
    pub fn fraction(&self) -> Option<f32> {
        (self.total > 0).then(|| (self.done as f32 / self.total as f32).clamp(0.0, 1.0))
    }

    /// Seconds left at the rate seen since the first progress report.
    pub fn eta_seconds(&self) -> Option<f64> {
        let (t0, d0) = self.first_progress?;
        let elapsed = t0.elapsed().as_secs_f64();
        let progressed = self.done.checked_sub(d0)?;
        if progressed == 0 || elapsed < 0.5 || self.total <= self.done {
            return None;
        }
        Some(elapsed / progressed as f64 * (self.total - self.done) as f64)
    }
}

pub struct Jobs {
    engine: EngineHandle,
    active: Option<ActiveJob>,
    queue: VecDeque<(JobKind, Request)>,
    /// Recent jobs, to route late errors (newest last).
    history: VecDeque<(JobId, JobKind)>,
}

const HISTORY: usize = 32;

impl Jobs {
    pub fn new(engine: EngineHandle) -> Self {
        Self {
            engine,
            active: None,
            queue: VecDeque::new(),
            history: VecDeque::new(),
        }
    }

    pub fn active(&self) -> Option<&ActiveJob> {
        self.active.as_ref()
    }

    pub fn is_busy(&self) -> bool {
        self.active.is_some() || !self.queue.is_empty()
    }

    /// Whether a load (not a search) is running or waiting.
    fn load_pending(&self) -> bool {
        self.active
            .as_ref()
            .is_some_and(|a| a.kind != JobKind::Search)
            || self.queue.iter().any(|(k, _)| *k != JobKind::Search)
    }

    /// Sends `request` now, or after the running load when one is running. A search
    /// replaces a queued search and cancels a running one (the engine does that).
    /// Returns the job id when it was sent now.
    pub fn submit(&mut self, kind: JobKind, request: Request) -> Option<JobId> {
        if kind == JobKind::Search {
            self.queue.retain(|(k, _)| *k != JobKind::Search);
        }
        if self.load_pending() {
            self.queue.push_back((kind, request));
            return None;
        }
        Some(self.send_now(kind, request))
    }

    fn send_now(&mut self, kind: JobKind, request: Request) -> JobId {
        let id = self.engine.send(request);
        self.history.push_back((id, kind));
        while self.history.len() > HISTORY {
            self.history.pop_front();
        }
        self.active = Some(ActiveJob {
            id,
            kind,
            label: kind.label().to_string(),
            done: 0,
            total: 0,
            started: Instant::now(),
            first_progress: None,
        });
        id
    }

    /// A request that starts no job (per-item plot data).
    pub fn query(&self, request: Request) {
        self.engine.send(request);
    }

    /// Stops the running job at once and drops queued ones.
    pub fn cancel(&mut self) -> Option<ActiveJob> {
        self.queue.clear();
        let was = self.active.take();
        if was.is_some() {
            self.engine.cancel();
        }
        was
    }

    /// Ends the active job if it is `job` (or any job of `kind` when `job` is None), then
    /// sends the next queued request. Returns the id of a job sent from the queue.
    pub fn finish(&mut self, job: Option<JobId>, kinds: &[JobKind]) -> Option<(JobKind, JobId)> {
        let matches = self.active.as_ref().is_some_and(|a| match job {
            Some(id) => a.id == id,
            None => kinds.contains(&a.kind),
        });
        if matches {
            self.active = None;
        }
        self.pump()
    }

    fn pump(&mut self) -> Option<(JobKind, JobId)> {
        if self.active.is_some() {
            return None;
        }
        let (kind, request) = self.queue.pop_front()?;
        let id = self.send_now(kind, request);
        Some((kind, id))
    }

    pub fn is_current(&self, job: JobId) -> bool {
        self.active.as_ref().is_some_and(|a| a.id == job)
    }

    pub fn kind_of(&self, job: JobId) -> Option<JobKind> {
        self.history
            .iter()
            .rev()
            .find(|(id, _)| *id == job)
            .map(|(_, k)| *k)
    }

    pub fn progress(&mut self, job: JobId, label: String, done: usize, total: usize) {
        if let Some(a) = self.active.as_mut().filter(|a| a.id == job) {
            a.label = label;
            a.done = done;
            a.total = total;
            if a.first_progress.is_none() {
                a.first_progress = Some((Instant::now(), done));
            }
        }
    }

    pub fn poll(&self) -> Option<Event> {
        self.engine.poll()
    }
}
