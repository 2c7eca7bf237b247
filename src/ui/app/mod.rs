//! The app shell: owns the engine (through [`Jobs`]), the session and the panels; turns
//! engine events into session state and panel actions into requests.

use std::path::PathBuf;
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::Arc;
use std::time::{Duration, Instant};

use egui::{Key, Modifiers};

use crate::approx::Method;
use crate::engine::{EngineHandle, Event, JobId, Request, SearchRequest};

use super::actions::Action;
use super::analysis::{Analysis, AnalysisInput};
use super::dialogs::{Dialogs, Pick};
use super::export::{
    save_png, suggested_name, with_default_extension, PlotKind, RankingFormat, RankingSnapshot,
};
use super::jobs::{ActiveJob, JobKind, Jobs};
use super::plots::PlotsPanel;
use super::query_bar::{self, QueryBar};
use super::ranking::RankingView;
use super::recent::{self, RecentFiles, RecentKind};
use super::session::{ErrorSource, SearchState, Session};
use super::sources::SourcesPanel;
use super::status_bar::{FrameStats, StatusBar};

/// What the app loads when it starts.
#[derive(Debug, Clone)]
pub enum StartSources {
    /// The embedded default model and demo items (`Request::LoadDemo`).
    Demo,
    /// A model (folder, checkpoint or hub id), then optionally items and an index.
    Files {
        model: String,
        items: Option<PathBuf>,
        index: Option<PathBuf>,
    },
    /// Nothing: the user picks.
    Nothing,
}

/// While exact scores stream in, derived data is recomputed at most this often.
const ANALYSIS_INTERVAL: Duration = Duration::from_millis(250);
/// Events handled per frame at most (the rest next frame), to bound frame time.
const EVENTS_PER_FRAME: usize = 256;

pub struct RelexApp {
    jobs: Jobs,
    session: Session,
    analysis: Analysis,
    analysis_rx: Receiver<Analysis>,
    analysis_tx: Sender<Analysis>,
    analysis_in_flight: bool,
    analysis_started: Option<Instant>,
    sources: SourcesPanel,
    query: QueryBar,
    ranking: RankingView,
    plots: PlotsPanel,
    status: StatusBar,
    frames: FrameStats,
    dialogs: Dialogs,
    recent: RecentFiles,
    /// A search waiting behind a load: its request and demo query id.
    pending_search: Option<(SearchRequest, Option<String>)>,
    /// A plot to save once the screenshot arrives.
    pending_png: Option<(PlotKind, PathBuf)>,
    screenshot_tx: Sender<Arc<egui::ColorImage>>,
    screenshot_rx: Receiver<Arc<egui::ColorImage>>,
    /// Results of exports running on helper threads.
    background_tx: Sender<Result<String, String>>,
    background_rx: Receiver<Result<String, String>>,
    actions: Vec<Action>,
    /// The CUR method the user had picked while no index is loaded (TF-IDF stands in).
    method_fallback: Option<Method>,
    /// Focus the query box on the first frame.
    first_frame: bool,
    ctx: egui::Context,
}

impl RelexApp {
    /// The desktop app: restores recent files and settings, loads the embedded demo.
    ///
    /// `RELEX_UI_MODEL` (and optionally `RELEX_UI_ITEMS`, `RELEX_UI_INDEX`) start it on
    /// other sources instead, e.g. for scripted screenshots.
    pub fn new(cc: &eframe::CreationContext<'_>) -> Self {
        let start = match std::env::var("RELEX_UI_MODEL") {
            Ok(model) if !model.is_empty() => StartSources::Files {
                model,
                items: std::env::var_os("RELEX_UI_ITEMS").map(PathBuf::from),
                index: std::env::var_os("RELEX_UI_INDEX").map(PathBuf::from),
            },
            _ => StartSources::Demo,
        };
        let mut app = Self::with_sources(&cc.egui_ctx, start);
        if let Some(storage) = cc.storage {
            if let Some(r) = eframe::get_value::<RecentFiles>(storage, recent::STORAGE_KEY) {
                app.recent = r;
            }
            if let Some(q) = eframe::get_value::<QueryBar>(storage, query_bar::STORAGE_KEY) {
                app.query = q;
            }
        }
        app
    }

    /// An app on the given sources (tests and `new`). The engine wakes `ctx` on events.
    pub fn with_sources(ctx: &egui::Context, start: StartSources) -> Self {
        let wake_ctx = ctx.clone();
        let engine = EngineHandle::spawn(Box::new(move || wake_ctx.request_repaint()));
        let (analysis_tx, analysis_rx) = mpsc::channel();
        let (screenshot_tx, screenshot_rx) = mpsc::channel();
        let (background_tx, background_rx) = mpsc::channel();
        let mut app = Self {
            jobs: Jobs::new(engine),
            session: Session::default(),
            analysis: Analysis::default(),
            analysis_rx,
            analysis_tx,
            analysis_in_flight: false,
            analysis_started: None,
            sources: SourcesPanel::default(),
            query: QueryBar::default(),
            ranking: RankingView::default(),
            plots: PlotsPanel::default(),
            status: StatusBar,
            frames: FrameStats::default(),
            dialogs: Dialogs::default(),
            recent: RecentFiles::default(),
            pending_search: None,
            pending_png: None,
            screenshot_tx,
            screenshot_rx,
            background_tx,
            background_rx,
            actions: Vec::new(),
            method_fallback: None,
            first_frame: true,
            ctx: ctx.clone(),
        };
        match start {
            StartSources::Demo => app.actions.push(Action::LoadDemo),
            StartSources::Files {
                model,
                items,
                index,
            } => {
                app.sources.model_spec = model.clone();
                app.actions.push(Action::LoadModel(model));
                if let Some(p) = items {
                    app.sources.items_path = p.display().to_string();
                    app.actions.push(Action::LoadItems(p));
                }
                if let Some(p) = index {
                    app.sources.index_path = p.display().to_string();
                    app.actions.push(Action::LoadIndex(p));
                }
            }
            StartSources::Nothing => {}
        }
        app.process_actions();
        app
    }

    // ----- read access for tests and the window title -----

    pub fn session(&self) -> &Session {
        &self.session
    }

    pub fn analysis(&self) -> &Analysis {
        &self.analysis
    }

    pub fn active_job(&self) -> Option<&ActiveJob> {
        self.jobs.active()
    }

    pub fn is_busy(&self) -> bool {
        self.jobs.is_busy()
    }

    pub fn frame_stats(&self) -> &FrameStats {
        &self.frames
    }

    /// The rows of the ranking table in display order (item indices).
    pub fn table_order(&self) -> &[u32] {
        self.ranking.order()
    }

    pub fn query_bar_mut(&mut self) -> &mut QueryBar {
        &mut self.query
    }

    /// Queues an action as if a panel had produced it (tests, scripted use).
    pub fn push_action(&mut self, action: Action) {
        self.actions.push(action);
    }

    // ----- the frame -----

    /// Everything that is not drawing: engine events, dialogs, screenshots, analysis.
    pub fn logic_step(&mut self, ctx: &egui::Context) {
        for _ in 0..EVENTS_PER_FRAME {
            let Some(ev) = self.jobs.poll() else { break };
            self.handle_event(ev);
        }
        // More may be waiting: the engine woke us for each, so a repaint is pending anyway.
        while let Some((pick, path)) = self.dialogs.poll() {
            self.picked(ctx, pick, path);
        }
        while let Ok(image) = self.screenshot_rx.try_recv() {
            self.screenshot_arrived(ctx, &image);
        }
        while let Ok(r) = self.background_rx.try_recv() {
            match r {
                Ok(msg) => self.session.push_notice(msg),
                Err(e) => self.session.push_error(ErrorSource::Export, e),
            }
        }
        self.update_analysis(ctx);
        self.process_actions();
    }

    /// Draws the window; `ui` is the root ui of the viewport.
    pub fn frame_ui(&mut self, ui: &mut egui::Ui) {
        let start = Instant::now();
        let ctx = ui.ctx().clone();
        if std::mem::take(&mut self.first_frame) {
            ctx.memory_mut(|m| m.request_focus(query_bar::query_box_id()));
        }
        self.shortcuts(&ctx);
        self.drag_and_drop(&ctx);
        let busy = self.jobs.active().is_some();
        egui::Panel::top("relex-query").show(ui, |ui| {
            ui.add_space(4.0);
            self.query
                .query_bar_ui(ui, &self.session, busy, &mut self.actions);
            ui.add_space(2.0);
        });
        egui::Panel::bottom("relex-status").show(ui, |ui| {
            self.status.status_bar_ui(
                ui,
                &self.session,
                self.jobs.active(),
                &self.frames,
                &mut self.actions,
            );
        });
        egui::Panel::left("relex-sources")
            .default_size(290.0)
            .min_size(220.0)
            .max_size(480.0)
            .show(ui, |ui| {
                self.sources.sources_ui(
                    ui,
                    &self.session,
                    self.jobs.active(),
                    &self.recent,
                    &mut self.actions,
                );
            });
        egui::Panel::right("relex-plots")
            .default_size(470.0)
            .min_size(300.0)
            .max_size(900.0)
            .show(ui, |ui| {
                self.plots
                    .plots_ui(ui, &self.session, &self.analysis, &mut self.actions);
            });
        egui::CentralPanel::default_margins().show(ui, |ui| {
            self.ranking
                .ranking_ui(ui, &self.session, &self.analysis, &mut self.actions);
            if self.session.items.is_none() {
                if let Some(e) = self.session.errors.first() {
                    ui.vertical_centered(|ui| {
                        ui.label(format!("{} error:", e.source.label()));
                        super::widgets::error_text(ui, &e.message);
                    });
                }
            }
        });
        self.process_actions();
        let dt = ctx.input(|i| i.unstable_dt);
        self.frames.record(start.elapsed(), dt, busy);
    }

    fn shortcuts(&mut self, ctx: &egui::Context) {
        if self.jobs.active().is_some()
            && ctx.input_mut(|i| i.consume_key(Modifiers::NONE, Key::Escape))
        {
            self.actions.push(Action::Cancel);
        }
        if ctx.input_mut(|i| i.consume_key(Modifiers::COMMAND, Key::O)) {
            self.actions.push(Action::Open(Pick::Items));
        }
        if !ctx.egui_wants_keyboard_input() {
            let mut delta = 0i64;
            ctx.input_mut(|i| {
                if i.consume_key(Modifiers::NONE, Key::ArrowDown) {
                    delta += 1;
                }
                if i.consume_key(Modifiers::NONE, Key::ArrowUp) {
                    delta -= 1;
                }
                if i.consume_key(Modifiers::NONE, Key::PageDown) {
                    delta += 20;
                }
                if i.consume_key(Modifiers::NONE, Key::PageUp) {
                    delta -= 20;
                }
            });
            if delta != 0 {
                if let Some(i) = self.ranking.step_selection(self.session.selected, delta) {
                    self.actions.push(Action::Select(i));
                }
            }
        }
    }

    fn drag_and_drop(&mut self, ctx: &egui::Context) {
        let dropped: Vec<PathBuf> = ctx.input(|i| {
            i.raw
                .dropped_files
                .iter()
                .map(|f| f.path().to_path_buf())
                .collect()
        });
        if let Some(p) = dropped.into_iter().next() {
            if p.is_dir() {
                self.actions
                    .push(Action::LoadModel(p.display().to_string()));
            } else {
                self.actions.push(Action::LoadItems(p));
            }
        }
        let hovering = ctx.input(|i| !i.raw.hovered_files.is_empty());
        if hovering {
            let screen = ctx.content_rect();
            let painter = ctx.layer_painter(egui::LayerId::new(
                egui::Order::Foreground,
                egui::Id::unique("relex-drop"),
            ));
            painter.rect_filled(screen, 0.0, egui::Color32::from_black_alpha(160));
            painter.text(
                screen.center(),
                egui::Align2::CENTER_CENTER,
                "Drop an item file to load it (a folder: a model)",
                egui::FontId::proportional(22.0),
                egui::Color32::WHITE,
            );
        }
    }

    // ----- events -----

    fn handle_event(&mut self, ev: Event) {
        match ev {
            Event::ModelLoaded(info) => {
                self.recent.touch(RecentKind::Model, info.source.clone());
                self.session.clear_errors(ErrorSource::Model);
                self.session.model = Some(*info);
                self.finish_job(None, &[JobKind::Model]);
            }
            Event::ItemsLoaded(snapshot) => {
                self.recent
                    .touch(RecentKind::Items, snapshot.path.display().to_string());
                self.sources.items_path = snapshot.path.display().to_string();
                self.session.set_items(snapshot);
                self.analysis = Analysis::default();
                self.fit_method_to_index();
                self.finish_job(None, &[JobKind::Items, JobKind::Demo]);
            }
            Event::IndexLoaded(summary) => {
                self.recent
                    .touch(RecentKind::Index, summary.dir.display().to_string());
                self.session.clear_errors(ErrorSource::Index);
                self.session.index = Some(summary);
                self.fit_method_to_index();
                self.finish_job(None, &[JobKind::Index]);
            }
            Event::DemoQueries(list) => self.session.demo_queries = list,
            Event::Progress {
                job,
                label,
                done,
                total,
            } => self.jobs.progress(job, label, done, total),
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
                s.apply_approximate(*result, &scored, seconds);
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
            Event::JobFinished { job, cancelled } => {
                if let Some(s) = self.session.search.as_mut().filter(|s| s.job == job) {
                    s.finish(cancelled);
                }
                self.finish_job(Some(job), &[]);
            }
            Event::Error { job, message } => self.engine_error(job, message),
        }
    }

    /// The current search if `job` is its job and it was not cancelled: events of any
    /// other job are stale and ignored.
    fn live_search(&mut self, job: JobId) -> Option<&mut SearchState> {
        self.session
            .search
            .as_mut()
            .filter(|s| s.job == job && s.finished != Some(true))
    }

    /// ANNCUR/ADACUR need an index: without one TF-IDF stands in, and the user's choice
    /// comes back when an index arrives.
    fn fit_method_to_index(&mut self) {
        match (&self.session.index, self.method_fallback) {
            (None, None) if self.query.method.is_cur() => {
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

    fn engine_error(&mut self, job: Option<JobId>, message: String) {
        if job.is_none() && message.starts_with("index unloaded") {
            self.session.index = None;
            self.fit_method_to_index();
        }
        let kind = job.and_then(|j| self.jobs.kind_of(j));
        let current_search = self.session.search.as_ref().map(|s| s.job);
        if kind == Some(JobKind::Search) && job != current_search {
            return; // an old search: its error no longer matters
        }
        let source = kind.map_or(ErrorSource::Engine, JobKind::error_source);
        self.session.push_error(source, message);
        if let (Some(j), Some(s)) = (job, self.session.search.as_mut()) {
            if s.job == j && s.finished.is_none() {
                s.finish(false);
            }
        }
        if let Some(j) = job {
            self.finish_job(Some(j), &[]);
        }
    }

    /// Ends the active job (by id, or by kind for events without one) and sends what was
    /// queued behind it.
    fn finish_job(&mut self, job: Option<JobId>, kinds: &[JobKind]) {
        if let Some((kind, id)) = self.jobs.finish(job, kinds) {
            if kind == JobKind::Search {
                if let Some((req, qid)) = self.pending_search.take() {
                    self.start_search_state(id, req, qid);
                }
            }
        }
    }

    fn start_search_state(&mut self, job: JobId, req: SearchRequest, query_id: Option<String>) {
        let n = self.session.n_items();
        self.session.search = Some(SearchState::new(job, req, query_id, n));
        self.session.convergence = None;
        if self.session.selected.is_some_and(|i| i >= n) {
            self.session.selected = None;
        }
    }

    // ----- derived data -----

    fn update_analysis(&mut self, ctx: &egui::Context) {
        while let Ok(a) = self.analysis_rx.try_recv() {
            self.analysis_in_flight = false;
            let current = self.session.search.as_ref().map(|s| s.job);
            if Some(a.job) == current {
                self.analysis = a;
            }
        }
        let Some(search) = &self.session.search else {
            return;
        };
        let stale = search.job != self.analysis.job || search.version != self.analysis.version;
        if !stale || self.analysis_in_flight {
            return;
        }
        let due = search.job != self.analysis.job
            || search.finished.is_some()
            || self
                .analysis_started
                .is_none_or(|t| t.elapsed() >= ANALYSIS_INTERVAL);
        if !due {
            ctx.request_repaint_after(ANALYSIS_INTERVAL);
            return;
        }
        let input = AnalysisInput::from_search(search);
        let tx = self.analysis_tx.clone();
        let wake = ctx.clone();
        self.analysis_in_flight = true;
        self.analysis_started = Some(Instant::now());
        let spawned = std::thread::Builder::new()
            .name("relex-analysis".into())
            .spawn(move || {
                let _ = tx.send(Analysis::compute(&input));
                wake.request_repaint();
            });
        if spawned.is_err() {
            self.analysis_in_flight = false;
        }
    }

    // ----- actions -----

    fn process_actions(&mut self) {
        let ctx = self.ctx.clone();
        for action in std::mem::take(&mut self.actions) {
            self.act(&ctx, action);
        }
    }

    fn act(&mut self, ctx: &egui::Context, action: Action) {
        match action {
            Action::LoadModel(spec) => {
                self.session.clear_errors(ErrorSource::Model);
                self.jobs
                    .submit(JobKind::Model, Request::LoadModel { spec });
            }
            Action::LoadItems(path) => {
                self.session.clear_errors(ErrorSource::Items);
                self.sources.items_path = path.display().to_string();
                self.jobs
                    .submit(JobKind::Items, Request::LoadItems { path });
            }
            Action::LoadIndex(dir) => {
                self.session.clear_errors(ErrorSource::Index);
                self.jobs.submit(JobKind::Index, Request::LoadIndex { dir });
            }
            Action::BuildIndex {
                anchor_queries,
                k_q,
                out,
            } => {
                self.session.clear_errors(ErrorSource::Index);
                if let Some(p) = &anchor_queries {
                    self.recent
                        .touch(RecentKind::AnchorQueries, p.display().to_string());
                }
                self.jobs.submit(
                    JobKind::BuildIndex,
                    Request::BuildIndex {
                        anchor_queries,
                        k_q,
                        out,
                    },
                );
            }
            Action::LoadDemo => {
                self.session.clear_errors(ErrorSource::Demo);
                self.jobs.submit(JobKind::Demo, Request::LoadDemo);
            }
            Action::Run => self.run_query(),
            Action::Cancel => self.cancel(),
            Action::Select(i) => self.select(i),
            Action::Open(pick) => {
                let suggested = self.suggested_file_name(pick);
                self.dialogs.open(ctx, pick, suggested);
            }
            Action::ExportRanking(format) => {
                self.dialogs.open(
                    ctx,
                    Pick::ExportRanking(format),
                    self.suggested_file_name(Pick::ExportRanking(format)),
                );
            }
            Action::SavePlot(kind) => {
                self.dialogs.open(
                    ctx,
                    Pick::SavePlot(kind),
                    self.suggested_file_name(Pick::SavePlot(kind)),
                );
            }
            Action::DismissErrors => self.session.errors.clear(),
        }
    }

    fn run_query(&mut self) {
        if self.session.model.is_none() && !self.jobs.is_busy() {
            self.session
                .push_error(ErrorSource::Search, "load a model first (left panel)");
            return;
        }
        if self.session.items.is_none() && !self.jobs.is_busy() {
            self.session.push_error(
                ErrorSource::Search,
                "load an item list first (left panel, Ctrl+O or drop a file)",
            );
            return;
        }
        let seed = 17;
        let req = self.query.request(seed);
        if req.query.is_empty() {
            return;
        }
        self.session.clear_errors(ErrorSource::Search);
        let qid = self.query.query_id.clone();
        match self
            .jobs
            .submit(JobKind::Search, Request::Search(req.clone()))
        {
            Some(job) => {
                self.pending_search = None;
                self.start_search_state(job, req, qid);
            }
            None => self.pending_search = Some((req, qid)),
        }
    }

    fn cancel(&mut self) {
        self.pending_search = None;
        if let Some(job) = self.jobs.cancel() {
            if let Some(s) = self.session.search.as_mut().filter(|s| s.job == job.id) {
                s.finish(true);
            }
            self.session.push_notice(format!("{} cancelled", job.label));
        }
    }

    fn select(&mut self, i: usize) {
        if i >= self.session.n_items() {
            return;
        }
        if self.session.selected != Some(i) {
            self.session.convergence = None;
        }
        self.session.selected = Some(i);
        self.request_convergence(i);
    }

    fn request_convergence(&mut self, item: usize) {
        let has_anchors = self
            .session
            .search
            .as_ref()
            .and_then(|s| s.result.as_ref())
            .is_some_and(|r| !r.anchor_items.is_empty());
        if has_anchors {
            self.jobs.query(Request::ItemConvergence { item });
        }
    }

    // ----- dialogs and exports -----

    fn suggested_file_name(&self, pick: Pick) -> Option<String> {
        let query = self
            .session
            .search
            .as_ref()
            .map_or("", |s| s.request.query.as_str());
        match pick {
            Pick::ExportRanking(f) => Some(suggested_name(query, "ranking", f.extension())),
            Pick::SavePlot(k) => Some(suggested_name(query, k.file_stem(), "png")),
            _ => None,
        }
    }

    fn picked(&mut self, ctx: &egui::Context, pick: Pick, path: Option<PathBuf>) {
        let Some(path) = path else {
            self.session.push_notice(
                "no file chosen (if no dialog appeared, type the path into the field instead)",
            );
            return;
        };
        let shown = path.display().to_string();
        match pick {
            Pick::ModelFolder => {
                self.sources.model_spec = shown.clone();
                self.actions.push(Action::LoadModel(shown));
            }
            Pick::Items => self.actions.push(Action::LoadItems(path)),
            Pick::AnchorQueries => {
                self.recent.touch(RecentKind::AnchorQueries, shown.clone());
                self.sources.anchor_path = shown;
            }
            Pick::IndexFolder => {
                self.sources.index_path = shown;
                self.actions.push(Action::LoadIndex(path));
            }
            Pick::BuildIndexOut => self.sources.index_out = shown,
            Pick::ExportRanking(format) => self.export_ranking(format, path),
            Pick::SavePlot(kind) => {
                self.pending_png = Some((kind, with_default_extension(path, "png")));
                let tx = self.screenshot_tx.clone();
                let wake = ctx.clone();
                ctx.request_screenshot(move |image| {
                    let _ = tx.send(image);
                    wake.request_repaint();
                });
            }
        }
    }

    /// Writes the ranking on a helper thread from a snapshot of the current scores.
    pub fn export_ranking(&mut self, format: RankingFormat, path: PathBuf) {
        let Some(items) = self.session.items.clone() else {
            self.session
                .push_error(ErrorSource::Export, "nothing to export: no items loaded");
            return;
        };
        let path = with_default_extension(path, format.extension());
        let search = self.session.search.as_ref();
        let fresh = search.is_some_and(|s| s.job == self.analysis.job);
        let n = items.items.len();
        let snapshot = RankingSnapshot {
            query: search.map_or(String::new(), |s| s.request.query.clone()),
            query_id: search
                .and_then(|s| s.query_id.clone())
                .unwrap_or_else(|| "1".into()),
            exact: search.map_or_else(|| vec![None; n], |s| s.exact.clone()),
            approx: search.and_then(|s| s.approx_scores().map(<[f32]>::to_vec)),
            exact_rank: if fresh {
                self.analysis.exact_rank.clone()
            } else {
                Vec::new()
            },
            approx_rank: if fresh {
                self.analysis.approx_rank.clone()
            } else {
                Vec::new()
            },
            items,
        };
        let tx = self.background_tx.clone();
        let wake = self.ctx.clone();
        let spawned = std::thread::Builder::new()
            .name("relex-export".into())
            .spawn(move || {
                let r = snapshot
                    .write_file(format, &path)
                    .map(|rows| format!("exported {rows} rows to {}", path.display()));
                let _ = tx.send(r);
                wake.request_repaint();
            });
        if let Err(e) = spawned {
            self.session
                .push_error(ErrorSource::Export, format!("cannot start the export: {e}"));
        }
    }

    fn screenshot_arrived(&mut self, ctx: &egui::Context, image: &Arc<egui::ColorImage>) {
        let Some((kind, path)) = self.pending_png.take() else {
            return;
        };
        let Some(rect) = self.plots.rects.get(&kind).copied() else {
            self.session
                .push_error(ErrorSource::Export, "the plot was not on screen");
            return;
        };
        let ppp = ctx.pixels_per_point();
        let image = image.clone();
        let tx = self.background_tx.clone();
        let wake = ctx.clone();
        let spawned = std::thread::Builder::new()
            .name("relex-png".into())
            .spawn(move || {
                let r = save_png(&image, rect, ppp, &path)
                    .map(|()| format!("saved plot to {}", path.display()));
                let _ = tx.send(r);
                wake.request_repaint();
            });
        if let Err(e) = spawned {
            self.session
                .push_error(ErrorSource::Export, format!("cannot save the plot: {e}"));
        }
    }
}

impl eframe::App for RelexApp {
    fn logic(&mut self, ctx: &egui::Context, _frame: &mut eframe::Frame) {
        self.logic_step(ctx);
    }

    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        self.frame_ui(ui);
    }

    fn save(&mut self, storage: &mut dyn eframe::Storage) {
        eframe::set_value(storage, recent::STORAGE_KEY, &self.recent);
        eframe::set_value(storage, query_bar::STORAGE_KEY, &self.query);
    }
}
