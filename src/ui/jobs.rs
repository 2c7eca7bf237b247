//! The UI's view of the engine's jobs: which one runs, its progress and ETA. The job
//! policy (queueing, superseding, cancelling) belongs to the engine; this only watches.

use std::time::Instant;

use crate::engine::{EngineHandle, Event, JobId, JobKind, Request};

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
    fn new(id: JobId, kind: JobKind) -> Self {
        Self {
            id,
            kind,
            label: kind.label().to_string(),
            done: 0,
            total: 0,
            started: Instant::now(),
            first_progress: None,
        }
    }

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
}

impl Jobs {
    pub fn new(engine: EngineHandle) -> Self {
        Self {
            engine,
            active: None,
        }
    }

    pub fn active(&self) -> Option<&ActiveJob> {
        self.active.as_ref()
    }

    pub fn is_busy(&self) -> bool {
        self.engine.is_busy()
    }

    pub fn is_stopped(&self) -> bool {
        self.engine.is_stopped()
    }

    /// Hands a request to the engine; the job id when it starts a job.
    pub fn submit(&mut self, request: Request) -> Option<JobId> {
        let id = self.engine.submit(request);
        self.sync();
        id
    }

    /// Asks every pending job to stop; returns the one that was running.
    pub fn cancel(&mut self) -> Option<ActiveJob> {
        self.engine.cancel();
        let was = self.active.clone();
        self.sync();
        was
    }

    /// The next engine event, with the progress of the running job kept up to date.
    pub fn poll(&mut self) -> Option<Event> {
        let ev = self.engine.poll()?;
        if let Event::Progress {
            job,
            label,
            done,
            total,
        } = &ev
        {
            self.progress(*job, label.clone(), *done, *total);
        }
        self.sync();
        Some(ev)
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

    /// Follows the engine's current job.
    fn sync(&mut self) {
        match self.engine.current() {
            None => self.active = None,
            Some((id, kind)) => {
                if self.active.as_ref().is_none_or(|a| a.id != id) {
                    self.active = Some(ActiveJob::new(id, kind));
                }
            }
        }
    }
}
