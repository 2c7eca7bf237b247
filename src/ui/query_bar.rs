//! The top bar: the query box and the search settings.

use egui::RichText;
use serde::{Deserialize, Serialize};

use crate::approx::{defaults, Method};
use crate::engine::SearchRequest;

use super::actions::Action;
use super::session::Session;
use super::widgets::snippet;

/// Query text and search settings (persisted, except the query id).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct QueryBar {
    pub query: String,
    pub method: Method,
    pub budget: usize,
    pub k_i: usize,
    pub top_k: usize,
    pub verify_exact: bool,
    /// The demo query the text came from (cleared when the text is edited).
    #[serde(skip)]
    pub query_id: Option<String>,
}

/// The storage key.
pub const STORAGE_KEY: &str = "relex.query";

impl Default for QueryBar {
    fn default() -> Self {
        Self {
            query: String::new(),
            method: defaults::METHOD,
            budget: defaults::BUDGET,
            k_i: defaults::K_I,
            top_k: defaults::TOP_K,
            verify_exact: true,
            query_id: None,
        }
    }
}

/// The id of the query text box (for focusing it).
pub fn query_box_id() -> egui::Id {
    egui::Id::unique("relex-query-box")
}

impl QueryBar {
    pub fn request(&self, seed: u64) -> SearchRequest {
        SearchRequest {
            query: self.query.trim().to_string(),
            method: self.method,
            budget: self.budget.max(1),
            k_i: self.k_i.clamp(1, self.budget.max(1)),
            top_k: self.top_k.max(1),
            seed,
            verify_exact: self.verify_exact,
        }
    }

    pub fn query_bar_ui(
        &mut self,
        ui: &mut egui::Ui,
        session: &Session,
        busy: bool,
        actions: &mut Vec<Action>,
    ) {
        ui.horizontal(|ui| {
            ui.label(RichText::new("Query").strong());
            let width = (ui.available_width() - 260.0).max(200.0);
            let edit = ui.add(
                egui::TextEdit::singleline(&mut self.query)
                    .id(query_box_id())
                    .hint_text("type a query, Enter runs — [brackets] mark the mention: he hit the nail with a [hammer]")
                    .desired_width(width),
            );
            if edit.changed() {
                self.query_id = None;
            }
            let enter = edit.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
            let can_run = !self.query.trim().is_empty();
            let run = ui
                .add_enabled(can_run, egui::Button::new("Run"))
                .on_hover_text("Enter");
            if (run.clicked() || enter) && can_run {
                actions.push(Action::Run);
            }
            let cancel = ui
                .add_enabled(busy, egui::Button::new("Cancel"))
                .on_hover_text("Esc");
            if cancel.clicked() {
                actions.push(Action::Cancel);
            }
            self.demo_ui(ui, session, actions);
        });
        ui.horizontal(|ui| {
            let method_label_id = ui.label("method").id;
            egui::ComboBox::from_id_salt("relex-method")
                .selected_text(method_label(self.method))
                .show_ui(ui, |ui| {
                    for m in Method::ALL {
                        ui.selectable_value(&mut self.method, m, method_label(m))
                            .on_hover_text(method_help(m));
                    }
                })
                .response
                .labelled_by(method_label_id);
            let l = ui.label("CE budget").id;
            ui.add(egui::DragValue::new(&mut self.budget).range(1..=100_000))
                .labelled_by(l)
                .on_hover_text("CE calls for the approximate stage (anchor items included)");
            if self.method == Method::Anncur {
                let l = ui.label("anchor items k_i").id;
                ui.add(egui::DragValue::new(&mut self.k_i).range(1..=self.budget.max(1)))
                    .labelled_by(l);
            }
            let l = ui.label("top-k").id;
            ui.add(egui::DragValue::new(&mut self.top_k).range(1..=1000))
                .labelled_by(l);
            ui.checkbox(&mut self.verify_exact, "then score all exactly")
                .on_hover_text(
                    "after the approximate ranking, stream exact CE scores for every item",
                );
            if self.method.needs_index() && session.index.is_none() {
                ui.colored_label(
                    egui::Color32::from_rgb(220, 160, 40),
                    "needs an index (left panel) — or pick exact / TF-IDF / random",
                );
            } else {
                // An example the demo catalogue (WordNet's artefacts) answers: its top ten are
                // hammers and nails.
                ui.weak("square brackets mark the mention: he hit the nail with a [hammer]");
            }
        });
    }

    fn demo_ui(&mut self, ui: &mut egui::Ui, session: &Session, actions: &mut Vec<Action>) {
        if session.demo_queries.is_empty() {
            return;
        }
        let mut picked = None;
        let l = ui.label("demo").id;
        egui::ComboBox::from_id_salt("relex-demo-queries")
            .selected_text("Demo queries")
            .width(140.0)
            .show_ui(ui, |ui| {
                for (i, q) in session.demo_queries.iter().enumerate() {
                    if ui
                        .selectable_label(
                            self.query_id.as_deref() == Some(q.id.as_str()),
                            snippet(&q.text, 70),
                        )
                        .on_hover_text(&q.text)
                        .clicked()
                    {
                        picked = Some(i);
                    }
                }
            })
            .response
            .labelled_by(l);
        if let Some(q) = picked.and_then(|i| session.demo_queries.get(i)) {
            self.query = q.text.clone();
            self.query_id = Some(q.id.clone());
            actions.push(Action::Run);
        }
    }
}

pub fn method_label(m: Method) -> &'static str {
    match m {
        Method::Exact => "exact",
        Method::Anncur => "ANNCUR",
        Method::Adacur => "ADACUR",
        Method::Axn => "AXN",
        Method::Tfidf => "TF-IDF",
        Method::Random => "random",
    }
}

fn method_help(m: Method) -> &'static str {
    match m {
        Method::Exact => "score every item with the cross-encoder (ignores the budget)",
        Method::Anncur => {
            "k_i anchor items + CUR approximation, the rest of the budget re-ranks the best"
        }
        Method::Adacur => "the budget spent over rounds, refitting the approximation each round",
        Method::Axn => {
            "item embeddings from a sparse index; rounds refit the query's embedding to the CE"
        }
        Method::Tfidf => "TF-IDF retrieves, the CE re-ranks the top of it",
        Method::Random => "score a random sample of the budget's size",
    }
}
