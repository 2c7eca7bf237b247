//! The "Query set" view: run a whole query file with the query bar's method and budget,
//! and see per-query recall and gold rank, worst queries first; click one to open it.

use std::path::PathBuf;

use egui::RichText;

use super::actions::{Action, QuerySetFiles};
use super::dialogs::Pick;
use super::jobs::ActiveJob;
use super::session::Session;
use super::widgets::{error_text, format_count, snippet};
use crate::engine::{JobKind, QueryOutcome, QuerySetSummary};

#[derive(Default)]
pub struct QuerySetView {
    pub queries: String,
    pub qrels: String,
    pub exact_scores: String,
    /// Without exact scores: score every item of every query exactly (slow).
    pub score_exact: bool,
    /// Run only the first `limit` queries (0: all).
    pub limit: usize,
}

fn opt_path(s: &str) -> Option<PathBuf> {
    let t = s.trim();
    (!t.is_empty()).then(|| PathBuf::from(t))
}

impl QuerySetView {
    /// The files of the demo's held-out test queries and their exact scores.
    pub fn use_demo(&mut self) {
        let demo = crate::assets::demo_dir();
        self.queries = demo.join("test_queries.jsonl").display().to_string();
        self.qrels.clear();
        self.exact_scores = demo.join("test_scores.npy").display().to_string();
    }

    pub fn files(&self) -> Option<QuerySetFiles> {
        Some(QuerySetFiles {
            queries: opt_path(&self.queries)?,
            qrels: opt_path(&self.qrels),
            exact_scores: opt_path(&self.exact_scores),
            score_exact: self.score_exact,
            limit: (self.limit > 0).then_some(self.limit),
        })
    }

    pub fn query_set_ui(
        &mut self,
        ui: &mut egui::Ui,
        session: &Session,
        active: Option<&ActiveJob>,
        actions: &mut Vec<Action>,
    ) {
        let mut row =
            |ui: &mut egui::Ui, label: &str, text: &mut String, hint: &str, pick: Pick| {
                ui.horizontal(|ui| {
                    let l = ui.add_sized([110.0, 18.0], egui::Label::new(label)).id;
                    ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
                        if ui.button("Open…").clicked() {
                            actions.push(Action::Open(pick));
                        }
                        ui.add(
                            egui::TextEdit::singleline(text)
                                .hint_text(hint)
                                .desired_width(ui.available_width()),
                        )
                        .labelled_by(l);
                    });
                });
            };
        row(
            ui,
            "queries",
            &mut self.queries,
            "query file (jsonl/csv/…, with gold ids) or BEIR queries.jsonl",
            Pick::QueryFile,
        );
        row(
            ui,
            "qrels (BEIR)",
            &mut self.qrels,
            "optional: qrels/test.tsv beside a BEIR queries.jsonl",
            Pick::QrelsFile,
        );
        row(
            ui,
            "exact scores",
            &mut self.exact_scores,
            "optional: .npy, one row per query, one column per item",
            Pick::ExactScores,
        );
        let running = active.filter(|a| a.kind == JobKind::QuerySet);
        ui.horizontal(|ui| {
            if ui
                .button("Demo test queries")
                .on_hover_text("the demo's 441 held-out queries and their exact scores")
                .clicked()
            {
                self.use_demo();
            }
            let l = ui.label("first").id;
            ui.add(egui::DragValue::new(&mut self.limit).range(0..=1_000_000))
                .labelled_by(l)
                .on_hover_text("run only the first queries (0: all)");
            ui.label("queries");
            ui.add_enabled(
                self.exact_scores.trim().is_empty(),
                egui::Checkbox::new(&mut self.score_exact, "score every item exactly (slow)"),
            )
            .on_hover_text("without an exact-score file, recall needs every item scored by the CE");
            let files = self.files();
            if ui
                .add_enabled(
                    files.is_some() && running.is_none(),
                    egui::Button::new("Run query set"),
                )
                .on_hover_text("with the query bar's method, budget, k_i and top-k")
                .clicked()
            {
                if let Some(f) = files {
                    actions.push(Action::RunQuerySet(f));
                }
            }
            if ui
                .add_enabled(running.is_some(), egui::Button::new("Cancel"))
                .on_hover_text("Esc")
                .clicked()
            {
                actions.push(Action::Cancel);
            }
        });
        if let Some(e) = session.error_of(super::session::ErrorSource::QuerySet) {
            error_text(ui, e);
        }
        let Some(run) = &session.query_set else {
            ui.weak("Pick a query file (or the demo's test queries) and run it: each query is searched with the query bar's settings.");
            return;
        };
        let fraction = run.outcomes.len() as f32 / run.total.max(1) as f32;
        let status = match run.finished {
            None => format!("{} / {} queries", run.outcomes.len(), run.total),
            Some(false) => format!("done: {} queries", run.outcomes.len()),
            Some(true) => format!(
                "cancelled after {} of {} queries",
                run.outcomes.len(),
                run.total
            ),
        };
        ui.add(egui::ProgressBar::new(fraction).text(status));
        let sum = QuerySetSummary::of(&run.outcomes);
        let pct = |x: Option<f64>| x.map_or_else(|| "–".into(), |v| format!("{v:.3}"));
        ui.label(format!(
            "{} — exact scores from {}: mean recall@k {} · gold in top-k {} · MRR {}",
            run.path.display(),
            run.exact_source,
            pct(sum.mean_recall),
            pct(sum.gold_found),
            pct(sum.mrr)
        ));
        ui.separator();
        ui.label(RichText::new("Worst queries first (click to open)").strong());
        let order = QueryOutcome::worst_first(&run.outcomes);
        egui::ScrollArea::vertical()
            .id_salt("relex-query-set-table")
            .show(ui, |ui| {
                egui::Grid::new("relex-query-set-grid")
                    .striped(true)
                    .show(ui, |ui| {
                        for h in [
                            "id",
                            "query",
                            "recall@k",
                            "gold rank",
                            "gold exact rank",
                            "CE calls",
                        ] {
                            ui.label(RichText::new(h).strong());
                        }
                        ui.end_row();
                        for &i in order.iter().take(500) {
                            let o = &run.outcomes[i];
                            ui.label(&o.id);
                            if ui
                                .selectable_label(false, snippet(&o.text, 60))
                                .on_hover_text(format!("{}\nclick to open it as a search", o.text))
                                .clicked()
                            {
                                actions.push(Action::OpenQuery(o.index));
                            }
                            match &o.error {
                                Some(e) => {
                                    ui.label(
                                        RichText::new(snippet(e, 50))
                                            .color(super::widgets::ERROR_COLOR),
                                    )
                                    .on_hover_text(e);
                                    ui.label("");
                                    ui.label("");
                                    ui.label("");
                                }
                                None => {
                                    ui.label(
                                        o.recall.map_or_else(|| "–".into(), |r| format!("{r:.2}")),
                                    );
                                    ui.label(match (o.gold_rank, o.gold.is_empty()) {
                                        (_, true) => "no gold".to_string(),
                                        (Some(r), _) => r.to_string(),
                                        (None, _) => "not in top-k".to_string(),
                                    });
                                    ui.label(
                                        o.gold_exact_rank.map_or_else(|| "–".into(), format_count),
                                    );
                                    ui.label(format_count(o.ce_calls));
                                }
                            }
                            ui.end_row();
                        }
                    });
            });
    }
}
