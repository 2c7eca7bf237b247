//! The "Explain item" view: why an item is (or is not) in the top-k. Its exact score and
//! rank, its ANNCUR score taken apart into one contribution per anchor item (which
//! anchors pull it up, which down), and the budget at which each method finds it.

use egui::{Color32, RichText};
use egui_plot::{Bar, BarChart, Plot};

use super::actions::Action;
use super::query_bar::method_label;
use super::session::Session;
use super::widgets::{error_text, format_count, method_color, snippet};
use crate::engine::{ItemExplanation, JobKind};

const PULL_UP: Color32 = Color32::from_rgb(110, 200, 110);
const PULL_DOWN: Color32 = Color32::from_rgb(235, 110, 90);
/// Contributions listed and drawn (by absolute value).
const SHOWN: usize = 12;

#[derive(Default)]
pub struct ExplainView {
    /// An item id typed by the user ("why isn't X here?").
    pub item_id: String,
    pub error: Option<String>,
}

impl ExplainView {
    pub fn explain_ui(
        &mut self,
        ui: &mut egui::Ui,
        session: &Session,
        running: Option<JobKind>,
        actions: &mut Vec<Action>,
    ) {
        ui.horizontal(|ui| {
            let can = session.search.is_some() && running != Some(JobKind::Explain);
            match session.selected {
                Some(i) => {
                    ui.label(format!("selected: {}", item_name(session, i)));
                    if ui
                        .add_enabled(can, egui::Button::new("Explain selected"))
                        .clicked()
                    {
                        actions.push(Action::Explain(i));
                    }
                }
                None => {
                    ui.weak("select a row (arrow keys, or click one in Ranking)");
                }
            }
            ui.separator();
            let l = ui.label("why isn't this item here? id").id;
            let edit = ui
                .add(
                    egui::TextEdit::singleline(&mut self.item_id)
                        .hint_text("item id")
                        .desired_width(140.0),
                )
                .labelled_by(l);
            let enter = edit.lost_focus() && ui.input(|i| i.key_pressed(egui::Key::Enter));
            if (ui.add_enabled(can, egui::Button::new("Explain")).clicked() || enter)
                && !self.item_id.trim().is_empty()
            {
                match session.item_index.get(self.item_id.trim()) {
                    Some(&i) => {
                        self.error = None;
                        actions.push(Action::Select(i));
                        actions.push(Action::Explain(i));
                    }
                    None => self.error = Some(format!("no item has the id {:?}", self.item_id)),
                }
            }
            if running == Some(JobKind::Explain) {
                ui.spinner();
            }
        });
        if let Some(e) = &self.error {
            error_text(ui, e);
        }
        if session.search.is_none() {
            ui.weak("Run a query first: an explanation is about one item for one query.");
            return;
        }
        let Some(x) = &session.explanation else {
            ui.weak("Explaining needs every item's exact score for the query (computed once, then cached).");
            return;
        };
        ui.separator();
        summary_ui(ui, session, x);
        ui.separator();
        let h = (ui.available_height() * 0.5).max(160.0);
        ui.columns(2, |cols| {
            contributions_ui(&mut cols[0], session, x, h);
            found_ui(&mut cols[1], x);
        });
    }
}

fn item_name(session: &Session, i: usize) -> String {
    session
        .items
        .as_ref()
        .and_then(|s| s.items.get(i))
        .map_or_else(
            || format!("#{i}"),
            |it| match &it.title {
                Some(t) => format!("{} ({})", snippet(t, 40), it.id),
                None => it.id.clone(),
            },
        )
}

fn summary_ui(ui: &mut egui::Ui, session: &Session, x: &ItemExplanation) {
    ui.label(
        RichText::new(item_name(session, x.item))
            .strong()
            .size(16.0),
    );
    if let Some(it) = session.items.as_ref().and_then(|s| s.items.get(x.item)) {
        ui.add(egui::Label::new(RichText::new(snippet(&it.text, 220)).weak()).wrap());
    }
    let inside = x.exact_rank <= x.top_k;
    ui.label(format!(
        "query “{}”: exact CE score {:.3}, exact rank {} of {} — {} the exact top-{}",
        snippet(&x.query, 60),
        x.exact,
        format_count(x.exact_rank),
        format_count(session.n_items()),
        if inside { "inside" } else { "outside" },
        x.top_k
    ));
    match (x.approx, x.approx_rank) {
        (Some(a), Some(r)) => {
            let sum: f64 = x.contributions.iter().map(|c| c.value).sum();
            ui.label(format!(
                "ANNCUR with k_i = {} anchor items approximates it as {a:.3} (rank {} by the approximation); Σ_j c_j·E_j,i = {sum:.3}",
                x.k_i,
                format_count(r)
            ));
        }
        _ => {
            ui.weak("no index loaded: no CUR approximation to take apart");
        }
    }
}

fn contributions_ui(ui: &mut egui::Ui, session: &Session, x: &ItemExplanation, height: f32) {
    ui.label(RichText::new("Anchors that pull it up or down").strong());
    if x.contributions.is_empty() {
        ui.weak("—");
        return;
    }
    let mut order: Vec<usize> = (0..x.contributions.len()).collect();
    order.sort_by(|&a, &b| {
        x.contributions[b]
            .value
            .abs()
            .total_cmp(&x.contributions[a].value.abs())
    });
    order.truncate(SHOWN);
    let bars: Vec<Bar> = order
        .iter()
        .enumerate()
        .map(|(pos, &j)| {
            let c = &x.contributions[j];
            Bar::new(pos as f64, c.value)
                .name(item_name(session, c.anchor))
                .fill(if c.value >= 0.0 { PULL_UP } else { PULL_DOWN })
        })
        .collect();
    Plot::new("relex-explain-bars")
        .height(height * 0.55)
        .x_axis_label("anchor (largest |contribution| first)")
        .y_axis_label("c_j · E_j,i")
        .allow_scroll(false)
        .show(ui, |pui| {
            pui.bar_chart(BarChart::new("contributions", bars))
        });
    egui::ScrollArea::vertical()
        .id_salt("relex-explain-anchors")
        .show(ui, |ui| {
            egui::Grid::new("relex-explain-grid")
                .striped(true)
                .show(ui, |ui| {
                    for h in ["anchor item", "c_j (CE)", "E_j,i", "c_j·E_j,i"] {
                        ui.label(RichText::new(h).strong());
                    }
                    ui.end_row();
                    for &j in &order {
                        let c = &x.contributions[j];
                        ui.label(item_name(session, c.anchor));
                        ui.label(format!("{:.3}", c.c));
                        ui.label(format!("{:.4}", c.e));
                        let color = if c.value >= 0.0 { PULL_UP } else { PULL_DOWN };
                        ui.label(RichText::new(format!("{:+.3}", c.value)).color(color));
                        ui.end_row();
                    }
                });
        });
}

fn found_ui(ui: &mut egui::Ui, x: &ItemExplanation) {
    ui.label(RichText::new("At what budget each method finds it").strong());
    egui::Grid::new("relex-explain-found")
        .striped(true)
        .show(ui, |ui| {
            for h in ["method", "CE-scored at", "in its top-k at"] {
                ui.label(RichText::new(h).strong());
            }
            ui.end_row();
            let shown = |b: Option<usize>| {
                b.map_or_else(|| "not within the budgets tried".into(), format_count)
            };
            for (m, f) in &x.found {
                ui.label(RichText::new(method_label(*m)).color(method_color(*m)));
                match f {
                    Ok(f) => {
                        ui.label(shown(f.scored));
                        ui.label(shown(f.ranked));
                    }
                    Err(e) => {
                        ui.label(RichText::new(snippet(e, 40)).color(PULL_DOWN))
                            .on_hover_text(e);
                        ui.label("");
                    }
                }
                ui.end_row();
            }
        });
    let budgets: Vec<String> = x.budgets.iter().map(|&b| format_count(b)).collect();
    ui.weak(format!(
        "budgets tried: {} CE calls (each method re-run on the exact scores, no new CE calls). \
         An item outside the exact top-{} shows up in a method's top-k only while better \
         items are still unscored (a miss of the method).",
        budgets.join(", "),
        x.top_k
    ));
}
