//! The left panel: model, items, anchor queries, index and recent files.

use std::path::PathBuf;

use egui::{Color32, RichText};

use super::actions::Action;
use super::dialogs::Pick;
use super::jobs::ActiveJob;
use super::recent::{RecentFiles, RecentKind};
use super::session::{ErrorSource, Session};
use super::widgets::{error_text, format_count, format_duration, path_field};
use crate::engine::JobKind;

/// Text fields of the sources panel (paths can be typed as well as picked).
pub struct SourcesPanel {
    pub model_spec: String,
    pub items_path: String,
    pub anchor_path: String,
    pub index_path: String,
    pub index_out: String,
    pub k_q: usize,
    /// Build a sparse (AXN) index instead of a dense one.
    pub sparse_index: bool,
    /// The models shipped in assets/ (read once).
    embedded: Option<Vec<PathBuf>>,
    /// Where models run; a change reloads the loaded model there.
    pub device: crate::model::DeviceSpec,
    /// The devices this build can use (probed once).
    devices: Option<Vec<crate::model::DeviceSpec>>,
}

impl Default for SourcesPanel {
    fn default() -> Self {
        Self {
            model_spec: String::new(),
            items_path: String::new(),
            anchor_path: String::new(),
            index_path: String::new(),
            index_out: String::new(),
            k_q: 100,
            sparse_index: false,
            embedded: None,
            device: crate::model::DeviceSpec::Cpu,
            devices: None,
        }
    }
}

impl SourcesPanel {
    pub fn sources_ui(
        &mut self,
        ui: &mut egui::Ui,
        session: &Session,
        job: Option<&ActiveJob>,
        recent: &RecentFiles,
        actions: &mut Vec<Action>,
    ) {
        egui::ScrollArea::vertical()
            .auto_shrink([false, false])
            .show(ui, |ui| {
                self.model_ui(ui, session, job, actions);
                ui.separator();
                self.items_ui(ui, session, job, actions);
                ui.separator();
                self.index_ui(ui, session, job, actions);
                ui.separator();
                if let Some(e) = session.error_of(ErrorSource::Demo) {
                    ui.label(RichText::new("Demo").strong());
                    error_text(ui, e);
                }
                if ui
                    .button("Load demo")
                    .on_hover_text("the embedded model and demo items (assets/)")
                    .clicked()
                {
                    actions.push(Action::LoadDemo);
                }
                ui.separator();
                self.recent_ui(ui, recent, actions);
            });
    }

    fn model_ui(
        &mut self,
        ui: &mut egui::Ui,
        session: &Session,
        job: Option<&ActiveJob>,
        actions: &mut Vec<Action>,
    ) {
        ui.label(RichText::new("Model").strong());
        match &session.model {
            Some(m) => {
                ui.label(RichText::new(&m.name).monospace())
                    .on_hover_text(&m.source);
                ui.weak(format!(
                    "{} · {:.1}M params · {} layers · hidden {}",
                    m.family,
                    m.parameters as f64 / 1e6,
                    m.layers,
                    m.hidden_size
                ));
                ui.weak(format!(
                    "pooling {} · {:?} · max {} tokens",
                    m.pooling, m.activation, m.max_length
                ));
                let act = super::analysis::ActivationColumn::of(m);
                ui.weak(match act {
                    super::analysis::ActivationColumn::Activation => {
                        "act. column: the sigmoid of the logit"
                    }
                    super::analysis::ActivationColumn::Percentile => {
                        "pct. column: percentile among scored items"
                    }
                })
                .on_hover_text(act.explanation());
                self.device_ui(ui, m, actions);
            }
            None => {
                ui.weak("no model loaded");
            }
        }
        busy_line(ui, job, &[JobKind::LoadModel, JobKind::LoadDemo]);
        if let Some(e) = session.error_of(ErrorSource::Model) {
            error_text(ui, e);
        }
        // The shipped models side by side: flipping between the [EMB] default and the
        // [CLS] model shows how pooling changes how well CUR approximates the scores.
        let embedded = self
            .embedded
            .get_or_insert_with(crate::assets::embedded_models);
        if !embedded.is_empty() {
            ui.horizontal_wrapped(|ui| {
                ui.weak("shipped:");
                for path in embedded.iter() {
                    let name = path
                        .file_name()
                        .map(|n| n.to_string_lossy().to_string())
                        .unwrap_or_default();
                    let current = session.model.as_ref().is_some_and(|m| m.name == name);
                    if ui
                        .selectable_label(current, &name)
                        .on_hover_text(path.display().to_string())
                        .clicked()
                        && !current
                    {
                        actions.push(Action::LoadModel(path.display().to_string()));
                    }
                }
            });
        }
        if ui.button("Open model folder…").clicked() {
            actions.push(Action::Open(Pick::ModelFolder));
        }
        ui.horizontal(|ui| {
            if path_field(
                ui,
                &mut self.model_spec,
                "folder or hub id (owner/name)",
                "Load",
            ) {
                actions.push(Action::LoadModel(self.model_spec.trim().to_string()));
            }
        });
    }

    /// The device picker: the CPU and, in CUDA builds, each GPU found. Picking another
    /// reloads the loaded model there.
    fn device_ui(
        &mut self,
        ui: &mut egui::Ui,
        model: &crate::model::ModelInfo,
        actions: &mut Vec<Action>,
    ) {
        let devices = self
            .devices
            .get_or_insert_with(crate::model::device::available);
        let mut picked = self.device;
        ui.horizontal(|ui| {
            let label = ui.weak("device:").id;
            egui::ComboBox::from_id_salt("device")
                .selected_text(model.device.as_str())
                .show_ui(ui, |ui| {
                    for d in devices.iter() {
                        ui.selectable_value(&mut picked, *d, d.to_string());
                    }
                })
                .response
                .labelled_by(label);
            if devices.len() == 1 {
                ui.weak("(no GPU in this build)").on_hover_text(
                    "GPUs need a build with the cuda feature: scripts/build_cuda.sh",
                );
            }
        });
        if picked != self.device {
            self.device = picked;
            actions.push(Action::LoadModel(model.source.clone()));
        }
    }

    fn items_ui(
        &mut self,
        ui: &mut egui::Ui,
        session: &Session,
        job: Option<&ActiveJob>,
        actions: &mut Vec<Action>,
    ) {
        ui.label(RichText::new("Items").strong());
        match &session.items {
            Some(s) => {
                let name = s
                    .path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_else(|| s.path.display().to_string());
                ui.label(RichText::new(name).monospace())
                    .on_hover_text(s.path.display().to_string());
                let fmt = s.report.format.map(|f| f.name()).unwrap_or("?");
                ui.weak(format!(
                    "{} items ({fmt}) · {} blank lines",
                    format_count(s.items.len()),
                    s.report.blank_lines
                ));
                if s.report.skipped > 0 {
                    ui.colored_label(
                        Color32::from_rgb(220, 160, 40),
                        format!("{} rows skipped", format_count(s.report.skipped)),
                    );
                    for e in s.report.first_errors.iter().take(3) {
                        error_text(ui, &e.to_string());
                    }
                }
                for note in &s.report.notes {
                    ui.small(note);
                }
            }
            None => {
                ui.weak("no items loaded");
            }
        }
        busy_line(ui, job, &[JobKind::LoadItems]);
        if let Some(e) = session.error_of(ErrorSource::Items) {
            error_text(ui, e);
        }
        ui.horizontal(|ui| {
            if ui
                .button("Open items…")
                .on_hover_text("Ctrl+O · or drop a file onto the window")
                .clicked()
            {
                actions.push(Action::Open(Pick::Items));
            }
            ui.weak("or drop a file");
        });
        ui.horizontal(|ui| {
            if path_field(
                ui,
                &mut self.items_path,
                "items file (.jsonl .json .txt .csv .tsv)",
                "Load",
            ) {
                actions.push(Action::LoadItems(PathBuf::from(self.items_path.trim())));
            }
        });
    }

    fn index_ui(
        &mut self,
        ui: &mut egui::Ui,
        session: &Session,
        job: Option<&ActiveJob>,
        actions: &mut Vec<Action>,
    ) {
        ui.label(RichText::new("Index (for ANNCUR / ADACUR / AXN)").strong());
        match &session.index {
            Some(ix) => {
                let kind = match ix.sparse_per_row {
                    Some(k_s) => format!(" (sparse: {k_s} items a query, AXN only)"),
                    None => String::new(),
                };
                ui.small(format!(
                    "{} anchor {} × {} items{kind}",
                    ix.k_q,
                    if ix.pseudo_queries {
                        "pseudo-queries"
                    } else {
                        "queries"
                    },
                    format_count(ix.n_items)
                ))
                .on_hover_text(ix.dir.display().to_string());
            }
            None => {
                ui.weak("no index: ANNCUR/ADACUR need one");
            }
        }
        if let Some(e) = session.error_of(ErrorSource::Index) {
            error_text(ui, e);
        }
        ui.horizontal(|ui| {
            if ui.button("Load index…").clicked() {
                actions.push(Action::Open(Pick::IndexFolder));
            }
            if path_field(ui, &mut self.index_path, "index folder", "Load") {
                actions.push(Action::LoadIndex(PathBuf::from(self.index_path.trim())));
            }
        });
        egui::CollapsingHeader::new("Build an index")
            .default_open(false)
            .show(ui, |ui| {
                ui.horizontal(|ui| {
                    if ui.button("Anchor queries…").clicked() {
                        actions.push(Action::Open(Pick::AnchorQueries));
                    }
                    ui.add(
                        egui::TextEdit::singleline(&mut self.anchor_path)
                            .hint_text("query file; empty: sample items")
                            .desired_width(ui.available_width()),
                    );
                });
                ui.horizontal(|ui| {
                    let l = ui.label("anchor queries k_q").id;
                    ui.add(egui::DragValue::new(&mut self.k_q).range(2..=5000))
                        .labelled_by(l);
                });
                ui.checkbox(&mut self.sparse_index, "sparse (AXN: 5 % of the items per query)")
                    .on_hover_text(
                        "Scores each anchor query against TF-IDF's best items and random ones only: \
                         far fewer CE calls, searched by AXN alone (ANNCUR and ADACUR need a dense index)",
                    );
                if let Some(items) = &session.items {
                    // The model's speed as the last search's verification measured it.
                    let rate = session.search.as_ref().map_or(0.0, |s| s.pairs_per_second);
                    build_cost_ui(ui, self.k_q, items.items.len(), self.sparse_index, rate);
                }
                ui.horizontal(|ui| {
                    if ui.button("Output…").clicked() {
                        actions.push(Action::Open(Pick::BuildIndexOut));
                    }
                    ui.add(
                        egui::TextEdit::singleline(&mut self.index_out)
                            .hint_text("output folder")
                            .desired_width(ui.available_width()),
                    );
                });
                let ready = session.model.is_some()
                    && session.items.is_some()
                    && !self.index_out.trim().is_empty();
                let build = ui
                    .add_enabled(ready, egui::Button::new("Build index"))
                    .on_disabled_hover_text("load a model and items, and choose an output folder");
                if build.clicked() {
                    let anchor = self.anchor_path.trim();
                    actions.push(Action::BuildIndex {
                        anchor_queries: (!anchor.is_empty()).then(|| PathBuf::from(anchor)),
                        k_q: self.k_q,
                        out: PathBuf::from(self.index_out.trim()),
                        sparse: self.sparse_index,
                    });
                }
            });
        if let Some(j) =
            job.filter(|j| j.kind == JobKind::BuildIndex || j.kind == JobKind::LoadIndex)
        {
            let mut bar = egui::ProgressBar::new(j.fraction().unwrap_or(0.0)).text(&j.label);
            if j.fraction().is_none() {
                bar = bar.animate(true);
            }
            ui.add(bar);
            if let Some(eta) = j.eta_seconds() {
                ui.small(format!("about {} left", format_duration(eta)));
            }
        }
    }
}

/// A spinner with the job's label while one of `kinds` runs.
fn busy_line(ui: &mut egui::Ui, job: Option<&ActiveJob>, kinds: &[JobKind]) {
    if let Some(j) = job.filter(|j| kinds.contains(&j.kind)) {
        ui.horizontal(|ui| {
            ui.spinner();
            match j.fraction() {
                Some(f) => ui.small(format!("{} {:.0}%", j.label, f * 100.0)),
                None => ui.small(&j.label),
            };
        });
    }
}

impl SourcesPanel {
    fn recent_ui(&mut self, ui: &mut egui::Ui, recent: &RecentFiles, actions: &mut Vec<Action>) {
        egui::CollapsingHeader::new("Recent")
            .default_open(true)
            .show(ui, |ui| {
                if recent.entries.is_empty() {
                    ui.weak("nothing yet");
                }
                for e in &recent.entries {
                    let short = std::path::Path::new(&e.spec)
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_else(|| e.spec.clone());
                    let resp = ui
                        .add(
                            egui::Button::new(format!("{}: {short}", e.kind.label()))
                                .small()
                                .frame(false),
                        )
                        .on_hover_text(&e.spec);
                    if resp.clicked() {
                        let path = PathBuf::from(&e.spec);
                        actions.push(match e.kind {
                            RecentKind::Model => Action::LoadModel(e.spec.clone()),
                            RecentKind::Items => Action::LoadItems(path),
                            RecentKind::Index => Action::LoadIndex(path),
                            RecentKind::AnchorQueries => {
                                self.anchor_path = e.spec.clone();
                                continue;
                            }
                        });
                    }
                }
            });
    }
}

/// What a build will cost before it starts: its CE calls (beside the other kind's) and,
/// once a search has measured the model's speed, about how long they take.
fn build_cost_ui(
    ui: &mut egui::Ui,
    k_q: usize,
    n_items: usize,
    sparse: bool,
    pairs_per_second: f64,
) {
    let dense = k_q * n_items;
    let calls = if sparse {
        k_q * crate::approx::axn::default_per_row(n_items)
    } else {
        dense
    };
    let mut text = format!("{} CE calls", format_count(calls));
    if sparse {
        text.push_str(&format!(" (dense: {})", format_count(dense)));
    }
    if pairs_per_second > 0.0 {
        text.push_str(&format!(
            ", about {} at {:.0} pairs/s",
            format_duration(calls as f64 / pairs_per_second),
            pairs_per_second
        ));
    }
    ui.small(text);
}
