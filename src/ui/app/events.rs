//! Engine events arriving in the app: loaded sources, search results, job ends.

use super::*;

impl RelexApp {
    pub(super) fn handle_event(&mut self, ev: Event) {
        match ev {
            Event::ModelLoaded(info) => {
                self.recent.touch(RecentKind::Model, info.source.clone());
                self.session.clear_errors(ErrorSource::Model);
                self.session.model = Some(*info);
            }
            Event::ItemsLoaded(snapshot) => {
                self.recent
                    .touch(RecentKind::Items, snapshot.path.display().to_string());
                self.sources.items_path = snapshot.path.display().to_string();
                self.session.set_items(snapshot);
                self.analysis = Analysis::default();
                self.fit_method_to_index();
            }
            Event::IndexLoaded(summary) => {
                self.recent
                    .touch(RecentKind::Index, summary.dir.display().to_string());
                self.session.clear_errors(ErrorSource::Index);
                self.session.index = Some(summary);
                self.fit_method_to_index();
            }
            Event::IndexUnloaded { reason } => {
                self.session.index = None;
                self.fit_method_to_index();
                self.session
                    .push_error(ErrorSource::Index, format!("index unloaded: {reason}"));
            }
            Event::DemoQueries(list) => self.session.demo_queries = list,
            // The job list already recorded it (`Jobs::poll`).
            Event::Progress { .. } => {}
            Event::Approximate {
                job,
                result,
                scored,
                seconds,
                ..
            } => {
                let Some(s) = self.live_search(job) else {
                    return;
                };
                s.apply_approximate(result, &scored, seconds);
                // Select the best item so the per-item plots show something at once.
                let first = s
                    .result
                    .as_ref()
                    .and_then(|r| r.ranking.first())
                    .map(|r| r.item);
                match (self.session.selected, first) {
                    (None, Some(i)) => self.select(i),
                    (Some(i), _) => self.request_convergence(i),
                    _ => {}
                }
                self.jobs.progress(job, "exact scoring".into(), 0, 0);
            }
            Event::Exact {
                job,
                scores,
                done,
                total,
                pairs_per_second,
            } => {
                if let Some(s) = self.live_search(job) {
                    s.apply_exact(&scores, done, total, pairs_per_second);
                    self.jobs.progress(job, "exact scoring".into(), done, total);
                } else if self
                    .jobs
                    .active()
                    .is_some_and(|a| a.id == job && a.kind != JobKind::QuerySet)
                {
                    // A comparison or explanation scoring every item: its progress.
                    self.jobs.progress(job, "exact scoring".into(), done, total);
                }
            }
            Event::RecallCurves { job, k, curves } => {
                if let Some(s) = self.live_search(job) {
                    s.apply_recall(k, curves);
                }
            }
            Event::ItemConvergence { item, points } => {
                if self.session.selected == Some(item) {
                    self.session.convergence = Some((item, points));
                }
            }
            Event::IndexBuilt(summary) => {
                self.session.push_notice(format!(
                    "index built: {} anchor queries × {} items in {}",
                    summary.k_q,
                    summary.n_items,
                    summary.dir.display()
                ));
                self.session.index = Some(summary);
                self.fit_method_to_index();
            }
            ev @ (Event::Comparison { .. }
            | Event::Explanation { .. }
            | Event::QuerySetStarted { .. }
            | Event::QueryOutcome { .. }) => self.explore_event(ev),
            Event::JobFinished { job, kind, outcome } => self.job_finished(job, kind, outcome),
            Event::RequestFailed { error } => self
                .session
                .push_error(ErrorSource::Engine, error.to_string()),
            Event::EngineStopped { reason } => {
                if let Some(s) = self
                    .session
                    .search
                    .as_mut()
                    .filter(|s| s.finished.is_none())
                {
                    s.finish(true);
                }
                self.session.push_error(ErrorSource::Engine, reason.clone());
                self.session.engine_stopped = Some(reason);
            }
        }
    }

    /// Every job ends here, once: a search's state is closed, a failure is shown in
    /// the panel it belongs to.
    pub(super) fn job_finished(&mut self, job: JobId, kind: JobKind, outcome: JobOutcome) {
        let is_current_search = self.session.search.as_ref().is_some_and(|s| s.job == job);
        if is_current_search {
            if let Some(s) = self
                .session
                .search
                .as_mut()
                .filter(|s| s.finished.is_none())
            {
                s.finish(!matches!(outcome, JobOutcome::Completed));
            }
        }
        if kind == JobKind::QuerySet {
            self.query_set_finished(job, matches!(outcome, JobOutcome::Completed));
        }
        match outcome {
            JobOutcome::Completed | JobOutcome::Cancelled => {}
            // An old search's failure no longer matters.
            JobOutcome::Failed(_) if kind == JobKind::Search && !is_current_search => {}
            JobOutcome::Failed(error) => {
                let source = error_source(kind, &error);
                self.session.push_error(source, error.to_string());
            }
        }
    }

    /// The current search if `job` is its job and it was not cancelled: events of any
    /// other job are stale and ignored.
    pub(super) fn live_search(&mut self, job: JobId) -> Option<&mut SearchState> {
        self.session
            .search
            .as_mut()
            .filter(|s| s.job == job && s.finished != Some(true))
    }

    /// ANNCUR/ADACUR need an index: without one TF-IDF stands in, and the user's choice
    /// comes back when an index arrives.
    pub(super) fn fit_method_to_index(&mut self) {
        match (&self.session.index, self.method_fallback) {
            (None, None) if self.query.method.needs_index() => {
                self.method_fallback = Some(self.query.method);
                self.query.method = Method::Tfidf;
                self.session.push_notice(
                    "no index loaded: searching with TF-IDF (load or build an index for ANNCUR/ADACUR)",
                );
            }
            (Some(_), Some(m)) => {
                if self.query.method == Method::Tfidf {
                    self.query.method = m;
                    // Replaces the fallback notice, which would otherwise stay on screen.
                    self.session
                        .push_notice(format!("index loaded: searching with {m} again"));
                }
                self.method_fallback = None;
            }
            _ => {}
        }
    }

    pub(super) fn start_search_state(
        &mut self,
        job: JobId,
        req: SearchRequest,
        query_id: Option<String>,
    ) {
        let n = self.session.n_items();
        self.session.search = Some(SearchState::new(job, req, query_id, n));
        self.session.convergence = None;
        if self.session.selected.is_some_and(|i| i >= n) {
            self.session.selected = None;
        }
    }
}

/// The panel a failed job's error belongs to: the demo's own, else the part of the
/// world the error names.
fn error_source(kind: JobKind, error: &EngineError) -> ErrorSource {
    match kind {
        JobKind::LoadDemo => return ErrorSource::Demo,
        JobKind::QuerySet => return ErrorSource::QuerySet,
        _ => {}
    }
    match error {
        EngineError::Model(_) => ErrorSource::Model,
        EngineError::Items(_) => ErrorSource::Items,
        EngineError::Index(_)
        | EngineError::NeedsIndex { .. }
        | EngineError::IndexNeedsModelAndItems => ErrorSource::Index,
        EngineError::NoModel | EngineError::NoItems | EngineError::Search(_) => ErrorSource::Search,
        EngineError::Panicked(_) => ErrorSource::Engine,
    }
}
