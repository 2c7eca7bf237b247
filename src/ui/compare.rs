//! The "Compare methods" view: every method on one query at one budget, side by side —
//! a column of rankings per method with rank-change arrows against the exact ranking,
//! overlap metrics, and recall@k against CE calls for all of them.

use egui::{Color32, RichText};
use egui_plot::{Legend, Line, MarkerShape, Plot, Points};

use super::actions::Action;
use super::query_bar::method_label;
use super::session::Session;
use super::widgets::{format_count, method_color, snippet, EXACT_COLOR};
use crate::engine::{Comparison, JobKind};

#[derive(Default)]
pub struct CompareView;

const UP: Color32 = Color32::from_rgb(110, 200, 110);
const DOWN: Color32 = Color32::from_rgb(235, 110, 90);

/// The arrow of an item the method ranks at `pos` (1-based) and the exact CE at `exact`:
/// "⏶n" when the method puts it n places higher than exact, "⏷n" lower, "=" the same.
pub fn rank_change(pos: usize, exact: usize) -> (String, Color32) {
    match exact.cmp(&pos) {
        std::cmp::Ordering::Equal => ("=".into(), Color32::GRAY),
        std::cmp::Ordering::Greater => (format!("⏶{}", exact - pos), UP),
        std::cmp::Ordering::Less => (format!("⏷{}", pos - exact), DOWN),
    }
}

impl CompareView {
    pub fn compare_ui(
        &mut self,
        ui: &mut egui::Ui,
        session: &Session,
        running: Option<JobKind>,
        actions: &mut Vec<Action>,
    ) {
        ui.horizontal(|ui| {
            let enabled = session.items.is_some() && running != Some(JobKind::Compare);
            if ui
                .add_enabled(enabled, egui::Button::new("Compare methods"))
                .on_hover_text(
                    "run ANNCUR, ADACUR, AXN, TF-IDF and random on the query bar's query at \
                     its budget, then score every item exactly",
                )
                .clicked()
            {
                actions.push(Action::Compare);
            }
            if running == Some(JobKind::Compare) {
                ui.spinner();
                ui.label("comparing… (Esc cancels)");
            }
        });
        let Some(c) = session.comparison.as_deref() else {
            ui.weak("Type a query in the bar above, then Compare methods: each method gets the same budget of CE calls; exact scores of every item are the reference.");
            return;
        };
        ui.label(format!(
            "“{}” — budget {} CE calls each, top-{} of {} items; {} distinct items scored by the methods together",
            snippet(&c.query, 80),
            c.budget,
            c.top_k,
            format_count(c.n_items),
            format_count(c.distinct_scored)
        ));
        ui.separator();
        let plot_h = (ui.available_height() * 0.38).clamp(140.0, 320.0);
        egui::ScrollArea::vertical()
            .id_salt("relex-compare-scroll")
            .max_height(ui.available_height() - plot_h - 8.0)
            .show(ui, |ui| {
                metrics_grid_ui(ui, c);
                ui.separator();
                columns_ui(ui, session, c, actions);
            });
        ui.separator();
        recall_plot_ui(ui, c, plot_h);
    }
}

fn metrics_grid_ui(ui: &mut egui::Ui, c: &Comparison) {
    egui::Grid::new("relex-compare-metrics")
        .striped(true)
        .num_columns(6)
        .show(ui, |ui| {
            for h in [
                "method",
                "CE calls",
                "recall@k",
                "Jaccard@k",
                "RBO (p=0.9)",
                "notes",
            ] {
                ui.label(RichText::new(h).strong());
            }
            ui.end_row();
            for r in &c.runs {
                ui.label(RichText::new(method_label(r.method)).color(method_color(r.method)));
                match &r.error {
                    Some(e) => {
                        ui.label("–");
                        ui.label("–");
                        ui.label("–");
                        ui.label("–");
                        ui.label(RichText::new(snippet(e, 60)).color(DOWN))
                            .on_hover_text(e);
                    }
                    None => {
                        ui.label(format_count(r.ce_calls));
                        ui.label(format!("{:.2}", r.recall));
                        ui.label(format!("{:.2}", r.jaccard));
                        ui.label(format!("{:.3}", r.rbo));
                        let w = r.warnings.join("; ");
                        ui.label(snippet(&w, 60)).on_hover_text(w.clone());
                    }
                }
                ui.end_row();
            }
            ui.label(RichText::new("exact").color(EXACT_COLOR));
            ui.label(format_count(c.n_items));
            ui.label("1.00");
            ui.label("1.00");
            ui.label("1.000");
            ui.label("the reference");
            ui.end_row();
        });
}

fn item_title(session: &Session, i: usize) -> String {
    session
        .items
        .as_ref()
        .and_then(|s| s.items.get(i))
        .map_or_else(
            || format!("#{i}"),
            |it| it.title.clone().unwrap_or_else(|| it.id.clone()),
        )
}

fn columns_ui(ui: &mut egui::Ui, session: &Session, c: &Comparison, actions: &mut Vec<Action>) {
    let exact_set: std::collections::HashSet<usize> = c.exact.iter().copied().collect();
    egui::Grid::new("relex-compare-columns")
        .striped(true)
        .min_col_width(60.0)
        .show(ui, |ui| {
            ui.label(RichText::new("#").strong());
            ui.label(RichText::new("exact").strong().color(EXACT_COLOR));
            for r in &c.runs {
                ui.label(
                    RichText::new(method_label(r.method))
                        .strong()
                        .color(method_color(r.method)),
                );
            }
            ui.end_row();
            for pos in 0..c.top_k {
                ui.label(format!("{}", pos + 1));
                match c.exact.get(pos) {
                    Some(&i) => {
                        let t = item_title(session, i);
                        if ui
                            .selectable_label(session.selected == Some(i), snippet(&t, 28))
                            .on_hover_text(&t)
                            .clicked()
                        {
                            actions.push(Action::Select(i));
                        }
                    }
                    None => {
                        ui.label("");
                    }
                }
                for r in &c.runs {
                    match (r.ranking.get(pos), r.exact_ranks.get(pos)) {
                        (Some(&i), Some(&e)) => {
                            ui.horizontal(|ui| {
                                let (arrow, color) = rank_change(pos + 1, e);
                                ui.label(RichText::new(arrow).color(color).monospace())
                                    .on_hover_text(format!("exact rank {e}"));
                                let t = item_title(session, i);
                                let mut text = RichText::new(snippet(&t, 24).to_string());
                                if !exact_set.contains(&i) {
                                    text = text.italics().color(DOWN);
                                }
                                if ui
                                    .selectable_label(session.selected == Some(i), text)
                                    .on_hover_text(format!("{t}\nexact rank {e}"))
                                    .clicked()
                                {
                                    actions.push(Action::Select(i));
                                }
                            });
                        }
                        _ => {
                            ui.label("");
                        }
                    }
                }
                ui.end_row();
            }
        });
    ui.weak("⏶n / ⏷n: the method ranks the item n places higher / lower than the exact CE; red italics: not in the exact top-k. Click an item to select it (Explain item shows why).");
}

fn recall_plot_ui(ui: &mut egui::Ui, c: &Comparison, height: f32) {
    ui.label(RichText::new(format!("Recall@{} vs CE calls, every method", c.top_k)).strong());
    Plot::new("relex-compare-recall")
        .height(height - 20.0)
        .x_axis_label("CE calls")
        .y_axis_label("recall")
        .include_y(0.0)
        .include_y(1.0)
        .include_x(0.0)
        .allow_scroll(false)
        .legend(Legend::default().position(egui_plot::Corner::RightBottom))
        .show(ui, |pui| {
            for curve in &c.curves {
                let pts: Vec<[f64; 2]> = curve.points.iter().map(|&(x, y)| [x as f64, y]).collect();
                let color = method_color(curve.method);
                let name = method_label(curve.method);
                pui.line(Line::new(name, pts.clone()).color(color).width(2.0));
                pui.add(Points::new(name, pts).color(color).radius(2.5));
            }
            for r in c.runs.iter().filter(|r| r.error.is_none()) {
                pui.add(
                    Points::new(
                        format!("{} at budget {}", method_label(r.method), c.budget),
                        vec![[r.ce_calls as f64, r.recall]],
                    )
                    .shape(MarkerShape::Diamond)
                    .radius(6.0)
                    .color(method_color(r.method)),
                );
            }
        });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rank_change_arrows() {
        assert_eq!(rank_change(3, 3).0, "=");
        assert_eq!(rank_change(1, 4).0, "⏶3");
        assert_eq!(rank_change(5, 2).0, "⏷3");
    }
}
