//! The explorer views of the central area (ranking, methods side by side, item
//! explanations, query sets, judgments and snapshots): their tabs, actions and events.

use std::path::{Path, PathBuf};

use super::*;
use crate::engine::snapshot::{
    diff, Judgment, Snapshot, SnapshotRow, SnapshotSettings, SNAPSHOT_FORMAT,
};
use crate::engine::{CompareRequest, ExplainRequest, QuerySetRequest};
use crate::ui::actions::{QuerySetFiles, View};
use crate::ui::analysis::NO_RANK;
use crate::ui::compare::CompareView;
use crate::ui::explain::ExplainView;
use crate::ui::judgments::JudgmentsView;
use crate::ui::query_set::QuerySetView;
use crate::ui::session::QuerySetRun;

/// The seed of every search the app starts.
pub(super) const SEED: u64 = 17;

/// Rows of the exact ranking a snapshot keeps.
const SNAPSHOT_ROWS: usize = 50;

/// The central area's views and what they remember.
#[derive(Default)]
pub struct Explorer {
    pub view: View,
    pub compare: CompareView,
    pub explain: ExplainView,
    pub query_set: QuerySetView,
    pub judgments: JudgmentsView,
    /// The last (query, item) an explanation was asked for (asked once each).
    explain_requested: Option<(String, usize)>,
}

/// The judgment a key stands for: R relevant, N not relevant, S skip.
pub(super) fn judgment_key(ctx: &egui::Context) -> Option<Judgment> {
    ctx.input_mut(|i| {
        if i.consume_key(Modifiers::NONE, Key::R) {
            Some(Judgment::Relevant)
        } else if i.consume_key(Modifiers::NONE, Key::N) {
            Some(Judgment::NotRelevant)
        } else if i.consume_key(Modifiers::NONE, Key::S) {
            Some(Judgment::Skip)
        } else {
            None
        }
    })
}

impl RelexApp {
    pub fn view(&self) -> View {
        self.explorer.view
    }

    pub fn query_set_view_mut(&mut self) -> &mut QuerySetView {
        &mut self.explorer.query_set
    }

    /// The central area: a tab per view, then the view.
    pub(super) fn central_ui(&mut self, ui: &mut egui::Ui) {
        ui.horizontal(|ui| {
            for v in View::ALL {
                if ui
                    .selectable_label(self.explorer.view == v, v.label())
                    .clicked()
                {
                    self.actions.push(Action::ShowView(v));
                }
            }
        });
        ui.separator();
        let running = self.jobs.active().map(|a| a.kind);
        match self.explorer.view {
            View::Ranking => {
                self.ranking
                    .ranking_ui(ui, &self.session, &self.analysis, &mut self.actions);
                if self.session.items.is_none() {
                    if let Some(e) = self.session.errors.first() {
                        ui.vertical_centered(|ui| {
                            ui.label(format!("{} error:", e.source.label()));
                            super::super::widgets::error_text(ui, &e.message);
                        });
                    }
                }
            }
            View::Compare => {
                self.explorer
                    .compare
                    .compare_ui(ui, &self.session, running, &mut self.actions)
            }
            View::Explain => {
                self.auto_explain(running);
                self.explorer
                    .explain
                    .explain_ui(ui, &self.session, running, &mut self.actions);
            }
            View::QuerySet => self.explorer.query_set.query_set_ui(
                ui,
                &self.session,
                self.jobs.active(),
                &mut self.actions,
            ),
            View::Judgments => self.explorer.judgments.judgments_ui(
                ui,
                &self.session,
                &self.analysis,
                &mut self.actions,
            ),
        }
    }

    /// In the Explain view, the selected item is explained once its search is done.
    fn auto_explain(&mut self, running: Option<JobKind>) {
        let (Some(sel), Some(s)) = (self.session.selected, self.session.search.as_ref()) else {
            return;
        };
        if s.finished.is_none() || running == Some(JobKind::Explain) {
            return;
        }
        let key = (s.request.query.clone(), sel);
        if self.explorer.explain_requested.as_ref() != Some(&key) {
            self.actions.push(Action::Explain(sel));
        }
    }

    pub(super) fn act_explore(&mut self, action: Action) {
        match action {
            Action::ShowView(v) => self.explorer.view = v,
            Action::Compare => self.compare(),
            Action::Explain(item) => self.explain(item),
            Action::RunQuerySet(files) => self.run_query_set(files),
            Action::OpenQuery(index) => self.open_query(index),
            Action::Judge(j) => self.judge(j),
            Action::RestoreSnapshot => self.restore_snapshot(),
            _ => {}
        }
    }

    fn compare(&mut self) {
        let req = self.query.request(SEED);
        if req.query.is_empty() {
            self.session.push_error(
                ErrorSource::Search,
                "type a query to compare the methods on",
            );
            return;
        }
        self.session.clear_errors(ErrorSource::Search);
        self.session.comparison = None;
        self.jobs.submit(Request::Compare(CompareRequest {
            query: req.query,
            methods: vec![
                Method::Anncur,
                Method::Adacur,
                Method::Axn,
                Method::Tfidf,
                Method::Random,
            ],
            budget: req.budget,
            k_i: req.k_i,
            top_k: req.top_k,
            seed: SEED,
        }));
    }

    fn explain(&mut self, item: usize) {
        let Some(s) = self.session.search.as_ref() else {
            self.session
                .push_error(ErrorSource::Search, "run a query before explaining an item");
            return;
        };
        let req = ExplainRequest {
            query: s.request.query.clone(),
            item,
            budget: s.request.budget,
            k_i: s.request.k_i,
            top_k: s.request.top_k,
            seed: s.request.seed,
        };
        self.explorer.explain_requested = Some((req.query.clone(), item));
        self.jobs.submit(Request::Explain(req));
    }

    fn run_query_set(&mut self, files: QuerySetFiles) {
        let req = self.query.request(SEED);
        self.session.clear_errors(ErrorSource::QuerySet);
        self.session.query_set = None;
        self.jobs.submit(Request::QuerySet(QuerySetRequest {
            queries: files.queries,
            qrels: files.qrels,
            exact_scores: files.exact_scores,
            method: req.method,
            budget: req.budget,
            k_i: req.k_i,
            top_k: req.top_k,
            seed: SEED,
            score_exact: files.score_exact,
            limit: files.limit,
        }));
    }

    fn open_query(&mut self, index: usize) {
        let Some(o) = self
            .session
            .query_set
            .as_ref()
            .and_then(|r| r.outcomes.iter().find(|o| o.index == index))
        else {
            return;
        };
        self.query.query = o.text.clone();
        self.query.query_id = Some(o.id.clone());
        self.explorer.view = View::Ranking;
        self.run_query();
    }

    fn judge(&mut self, j: Judgment) {
        let (Some(i), Some((query, qid))) = (self.session.selected, self.session.current_query())
        else {
            self.session
                .push_notice("to judge: run a query and select a row (R relevant, N not, S skip)");
            return;
        };
        let Some(id) = self
            .session
            .items
            .as_ref()
            .and_then(|s| s.items.get(i))
            .map(|it| it.id.clone())
        else {
            return;
        };
        let (query, qid) = (query.to_string(), qid.map(str::to_string));
        self.session.judgments.set(&query, qid.as_deref(), &id, j);
        if let Some(next) = self.ranking.step_selection(Some(i), 1) {
            self.select(next);
        }
    }

    /// The current query, its settings, rankings and every judgment of the session.
    pub fn snapshot_now(&self) -> Option<Snapshot> {
        let s = self.session.search.as_ref()?;
        let items = self.session.items.as_ref()?;
        let fresh = s.job == self.analysis.job;
        let mut ranked: Vec<(u32, usize)> = if fresh {
            let by_exact: Vec<(u32, usize)> = self
                .analysis
                .exact_rank
                .iter()
                .enumerate()
                .filter(|&(_, &r)| r != NO_RANK && (r as usize) <= SNAPSHOT_ROWS)
                .map(|(i, &r)| (r, i))
                .collect();
            if by_exact.is_empty() {
                self.analysis
                    .approx_rank
                    .iter()
                    .enumerate()
                    .filter(|&(_, &r)| r != NO_RANK && (r as usize) <= SNAPSHOT_ROWS)
                    .map(|(i, &r)| (r, i))
                    .collect()
            } else {
                by_exact
            }
        } else {
            Vec::new()
        };
        ranked.sort_unstable();
        let approx = s.approx_scores();
        let ranking = ranked
            .iter()
            .filter_map(|&(r, i)| {
                let it = items.items.get(i)?;
                Some(SnapshotRow {
                    rank: r as usize,
                    id: it.id.clone(),
                    title: it.title.clone(),
                    exact: s.exact.get(i).copied().flatten().map(|e| e.logit),
                    approx: approx.and_then(|a| a.get(i).copied()),
                })
            })
            .collect();
        let method_ranking = s.result.as_ref().map_or_else(Vec::new, |r| {
            r.ranking
                .iter()
                .filter_map(|x| items.items.get(x.item).map(|it| it.id.clone()))
                .collect()
        });
        Some(Snapshot {
            format: SNAPSHOT_FORMAT.into(),
            query: s.request.query.clone(),
            query_id: s.query_id.clone(),
            settings: SnapshotSettings {
                method: s.request.method,
                budget: s.request.budget,
                k_i: s.request.k_i,
                top_k: s.request.top_k,
            },
            model: self.session.model.as_ref().map(|m| m.name.clone()),
            items: Some(items.path.display().to_string()),
            ranking,
            method_ranking,
            judgments: self.session.judgments.clone(),
        })
    }

    pub fn save_snapshot(&mut self, path: PathBuf) {
        let path = with_default_extension(path, "json");
        let Some(snap) = self.snapshot_now() else {
            self.session
                .push_error(ErrorSource::Snapshot, "nothing to save: run a query first");
            return;
        };
        match snap.write(&path) {
            Ok(()) => {
                self.session.clear_errors(ErrorSource::Snapshot);
                self.session
                    .push_notice(format!("snapshot saved to {}", path.display()));
            }
            Err(e) => self
                .session
                .push_error(ErrorSource::Snapshot, e.to_string()),
        }
    }

    /// Loads a snapshot: shows it and adds its judgments to the session's.
    pub fn load_snapshot(&mut self, path: &Path) {
        match Snapshot::read(path) {
            Ok(s) => {
                self.session.clear_errors(ErrorSource::Snapshot);
                for (q, items) in &s.judgments.by_query {
                    let qid = s.judgments.query_ids.get(q).map(String::as_str);
                    for (id, &j) in items {
                        self.session.judgments.set(q, qid, id, j);
                    }
                }
                self.session.snapshot_diff = None;
                self.session.snapshot = Some((path.to_path_buf(), s));
                self.explorer.view = View::Judgments;
            }
            Err(e) => self
                .session
                .push_error(ErrorSource::Snapshot, e.to_string()),
        }
    }

    /// Diffs the loaded snapshot against the one in `path`.
    pub fn diff_snapshot(&mut self, path: &Path) {
        let Some((first, a)) = &self.session.snapshot else {
            self.session
                .push_error(ErrorSource::Snapshot, "load a snapshot first, then diff it");
            return;
        };
        match Snapshot::read(path) {
            Ok(b) => {
                let d = diff(a, &b);
                self.session.snapshot_diff = Some((first.clone(), path.to_path_buf(), d));
                self.session.clear_errors(ErrorSource::Snapshot);
            }
            Err(e) => self
                .session
                .push_error(ErrorSource::Snapshot, e.to_string()),
        }
    }

    pub fn export_qrels(&mut self, path: PathBuf) {
        let (text, lines) = self.session.judgments.to_qrels();
        match std::fs::write(&path, text) {
            Ok(()) => self
                .session
                .push_notice(format!("exported {lines} qrels to {}", path.display())),
            Err(e) => self
                .session
                .push_error(ErrorSource::Snapshot, format!("{}: {e}", path.display())),
        }
    }

    fn restore_snapshot(&mut self) {
        let Some((_, s)) = &self.session.snapshot else {
            return;
        };
        self.query.query = s.query.clone();
        self.query.query_id = s.query_id.clone();
        self.query.method = s.settings.method;
        self.query.budget = s.settings.budget;
        self.query.k_i = s.settings.k_i;
        self.query.top_k = s.settings.top_k;
        self.explorer.view = View::Ranking;
        self.run_query();
    }

    pub(super) fn picked_explore(&mut self, pick: Pick, path: PathBuf) {
        let shown = path.display().to_string();
        match pick {
            Pick::QueryFile => self.explorer.query_set.queries = shown,
            Pick::QrelsFile => self.explorer.query_set.qrels = shown,
            Pick::ExactScores => self.explorer.query_set.exact_scores = shown,
            Pick::SaveSnapshot => self.save_snapshot(path),
            Pick::LoadSnapshot => self.load_snapshot(&path),
            Pick::DiffSnapshot => self.diff_snapshot(&path),
            Pick::ExportQrels => self.export_qrels(with_default_extension(path, "qrels")),
            _ => {}
        }
    }

    /// Events of the explorer's jobs.
    pub(super) fn explore_event(&mut self, ev: Event) {
        match ev {
            Event::Comparison { comparison, .. } => self.session.comparison = Some(comparison),
            Event::Explanation { explanation, .. } => self.session.explanation = Some(*explanation),
            Event::QuerySetStarted {
                job,
                path,
                total,
                exact_source,
            } => {
                self.session.query_set = Some(QuerySetRun {
                    job,
                    path,
                    total,
                    exact_source,
                    outcomes: Vec::new(),
                    finished: None,
                })
            }
            Event::QueryOutcome { job, outcome } => {
                if let Some(r) = self.session.query_set.as_mut().filter(|r| r.job == job) {
                    r.outcomes.push(*outcome);
                }
            }
            _ => {}
        }
    }

    /// A query set's end (completed, cancelled or failed).
    pub(super) fn query_set_finished(&mut self, job: JobId, completed: bool) {
        if let Some(r) = self
            .session
            .query_set
            .as_mut()
            .filter(|r| r.job == job && r.finished.is_none())
        {
            r.finished = Some(!completed);
        }
    }
}
