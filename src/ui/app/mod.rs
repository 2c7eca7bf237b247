//! The app shell: owns the engine (through [`Jobs`]), the session and the panels; turns
//! engine events into session state and panel actions into requests.

use std::path::PathBuf;
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::Arc;
use std::time::{Duration, Instant};

use egui::{Key, Modifiers};

use crate::approx::Method;
use crate::engine::{
    EngineError, EngineHandle, Event, JobId, JobKind, JobOutcome, Request, SearchRequest,
};

mod events;
mod explore;
mod files;

pub use explore::Explorer;

use super::actions::Action;
use super::analysis::{Analysis, AnalysisInput};
use super::dialogs::{Dialogs, Pick};
use super::export::{
    save_png, suggested_name, with_default_extension, PlotKind, RankingFormat, RankingSnapshot,
};
use super::jobs::{ActiveJob, Jobs};
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
    /// The central area's views.
    explorer: Explorer,
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
        super::fonts::install_fallback_fonts(&cc.egui_ctx);
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
            pending_png: None,
            screenshot_tx,
            screenshot_rx,
            background_tx,
            background_rx,
            actions: Vec::new(),
            method_fallback: None,
            first_frame: true,
            explorer: Explorer::default(),
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
            if let Some(reason) = &self.session.engine_stopped {
                // Nothing can run any more: say so where the user types queries.
                super::widgets::error_text(
                    ui,
                    &format!("Engine stopped — restart relex to continue. {reason}"),
                );
            }
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
        egui::CentralPanel::default_margins().show(ui, |ui| self.central_ui(ui));
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
                // First / last row: far enough to clamp at either end of any table.
                if i.consume_key(Modifiers::NONE, Key::Home) {
                    delta = -(u32::MAX as i64);
                }
                if i.consume_key(Modifiers::NONE, Key::End) {
                    delta = u32::MAX as i64;
                }
            });
            if delta != 0 {
                if let Some(i) = self.ranking.step_selection(self.session.selected, delta) {
                    self.actions.push(Action::Select(i));
                }
            }
            if let Some(j) = explore::judgment_key(ctx) {
                self.actions.push(Action::Judge(j));
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
                self.jobs.submit(Request::LoadModel {
                    spec,
                    device: self.sources.device,
                });
            }
            Action::LoadItems(path) => {
                self.session.clear_errors(ErrorSource::Items);
                self.sources.items_path = path.display().to_string();
                self.jobs.submit(Request::LoadItems { path });
            }
            Action::LoadIndex(dir) => {
                self.session.clear_errors(ErrorSource::Index);
                self.jobs.submit(Request::LoadIndex { dir });
            }
            Action::BuildIndex {
                anchor_queries,
                k_q,
                out,
                sparse,
            } => {
                self.session.clear_errors(ErrorSource::Index);
                if let Some(p) = &anchor_queries {
                    self.recent
                        .touch(RecentKind::AnchorQueries, p.display().to_string());
                }
                self.jobs.submit(Request::BuildIndex {
                    anchor_queries,
                    k_q,
                    out,
                    sparse,
                });
            }
            Action::LoadDemo => {
                self.session.clear_errors(ErrorSource::Demo);
                self.jobs.submit(Request::LoadDemo);
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
            Action::UsePath(pick, path) => self.picked(ctx, pick, Some(path)),
            other => self.act_explore(other),
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
        let req = self.query.request(explore::SEED);
        if req.query.is_empty() {
            return;
        }
        self.session.clear_errors(ErrorSource::Search);
        for w in crate::model::query_warnings(&req.query) {
            self.session.push_notice(w);
        }
        let qid = self.query.query_id.clone();
        // The engine queues it behind any running load and supersedes an older search.
        if let Some(job) = self.jobs.submit(Request::Search(req.clone())) {
            self.start_search_state(job, req, qid);
        }
    }

    fn cancel(&mut self) {
        if let Some(job) = self.jobs.cancel() {
            if let Some(s) = self.session.search.as_mut().filter(|s| s.job == job.id) {
                s.finish(true);
            }
            self.query_set_finished(job.id, false);
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
            self.jobs.submit(Request::ItemConvergence { item });
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
