//! The right panel: exact-vs-approximate scatter, the selected item's convergence and
//! place in the score distribution, and recall@k against CE calls per method.

use std::collections::HashMap;

use egui::{Color32, RichText};
use egui_plot::{
    Bar, BarChart, HLine, HoverPosition, Legend, Line, MarkerShape, Plot, PlotPoint, PlotPoints,
    Points, VLine,
};

use super::actions::Action;
use super::analysis::{fraction_below, Analysis};
use super::export::PlotKind;
use super::query_bar::method_label;
use super::session::Session;
use super::widgets::{
    format_count, method_color, snippet, APPROX_COLOR, EXACT_COLOR, SELECTED_COLOR,
};

/// Where each plot was drawn last frame (for PNG export).
#[derive(Default)]
pub struct PlotsPanel {
    pub rects: HashMap<PlotKind, egui::Rect>,
}

impl PlotsPanel {
    pub fn plots_ui(
        &mut self,
        ui: &mut egui::Ui,
        session: &Session,
        analysis: &Analysis,
        actions: &mut Vec<Action>,
    ) {
        let fresh = session
            .search
            .as_ref()
            .is_some_and(|s| s.job == analysis.job);
        // Headers, captions and separators of the three sections.
        let spacing = 3.0 * 48.0;
        let h = ((ui.available_height() - spacing) / 3.0).max(120.0);
        self.scatter_ui(ui, session, analysis, fresh, h, actions);
        ui.separator();
        self.item_ui(ui, session, analysis, fresh, h, actions);
        ui.separator();
        self.recall_ui(ui, session, analysis, fresh, h, actions);
    }

    fn header(
        ui: &mut egui::Ui,
        title: &str,
        kind: PlotKind,
        actions: &mut Vec<Action>,
        extra: impl FnOnce(&mut egui::Ui),
    ) {
        ui.horizontal(|ui| {
            ui.label(RichText::new(title).strong());
            extra(ui);
            ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), |ui| {
                if ui
                    .add(egui::Button::new("PNG").small())
                    .on_hover_text("save this plot as a PNG image")
                    .clicked()
                {
                    actions.push(Action::SavePlot(kind));
                }
            });
        });
    }

    fn scatter_ui(
        &mut self,
        ui: &mut egui::Ui,
        session: &Session,
        analysis: &Analysis,
        fresh: bool,
        height: f32,
        actions: &mut Vec<Action>,
    ) {
        Self::header(
            ui,
            "Exact vs approximate",
            PlotKind::Scatter,
            actions,
            |ui| {
                if fresh {
                    if let Some(rho) = analysis.spearman {
                        ui.label(format!("ρ = {rho:.3}"));
                    }
                    if let Some((k, r, complete)) = analysis.recall {
                        ui.label(format!(
                            "recall@{k} = {r:.2}{}",
                            if complete { "" } else { "*" }
                        ))
                        .on_hover_text(if complete {
                            "the method's top-k against the exact top-k"
                        } else {
                            "* against the exact scores known so far"
                        });
                    }
                }
            },
        );
        let items = session.items.as_ref();
        let search = session.search.as_ref();
        let points: &[PlotPoint] = if fresh { &analysis.scatter } else { &[] };
        let scatter_items = &analysis.scatter_items;
        let selected = session.selected;
        let approx = search.and_then(|s| s.approx_scores());
        let sel_point = selected.and_then(|i| {
            let e = search?.exact.get(i).copied().flatten()?;
            let a = approx?.get(i).copied()?;
            Some([e.logit as f64, a as f64])
        });
        let label = move |pos: &HoverPosition<'_>| -> Option<String> {
            match pos {
                HoverPosition::NearDataPoint {
                    plot_name,
                    index,
                    position,
                } if *plot_name == "items" => {
                    let i = *scatter_items.get(*index)? as usize;
                    let it = items?.items.get(i)?;
                    Some(format!(
                        "{}\n{}\nexact {:.3} · approx {:.3}",
                        it.id,
                        snippet(it.title.as_deref().unwrap_or(&it.text), 60),
                        position.x,
                        position.y
                    ))
                }
                HoverPosition::NearDataPoint { position, .. }
                | HoverPosition::Elsewhere { position } => {
                    Some(format!("exact {:.3}\napprox {:.3}", position.x, position.y))
                }
            }
        };
        // y = x only where the approximation is on the CE's scale (CUR); TF-IDF is a cosine.
        let is_cur = search.is_some_and(|s| s.method().is_factorised());
        let range = analysis.scatter_range.filter(|_| fresh && is_cur);
        let plot = Plot::new("relex-scatter")
            .height(height)
            .x_axis_label("exact CE score")
            .y_axis_label(if is_cur || search.is_none() {
                "approximation"
            } else {
                "TF-IDF cosine"
            })
            .label_formatter(label)
            .allow_scroll(false);
        let resp = plot.show(ui, |pui| {
            if let Some((lo, hi)) = range {
                pui.line(
                    Line::new("y = x", vec![[lo, lo], [hi, hi]])
                        .color(Color32::GRAY)
                        .style(egui_plot::LineStyle::dashed_loose())
                        .allow_hover(false),
                );
            }
            if !points.is_empty() {
                pui.add(
                    Points::new("items", PlotPoints::from(points))
                        .radius(if points.len() > 2000 { 1.5 } else { 2.5 })
                        .color(EXACT_COLOR.gamma_multiply(0.8)),
                );
            }
            if let Some(p) = sel_point {
                pui.add(
                    Points::new("selected", vec![p])
                        .radius(6.0)
                        .shape(MarkerShape::Diamond)
                        .color(SELECTED_COLOR),
                );
            }
        });
        self.rects.insert(PlotKind::Scatter, resp.response.rect);
        // Click a point to select its item.
        if resp.response.clicked() {
            if let Some(pos) = resp.response.interact_pointer_pos() {
                let mut best: Option<(f32, usize)> = None;
                for (j, p) in points.iter().enumerate() {
                    let d = resp.transform.position_from_point(p).distance_sq(pos);
                    if best.is_none_or(|(bd, _)| d < bd) {
                        best = Some((d, j));
                    }
                }
                if let Some((d, j)) = best {
                    if d < 100.0 {
                        if let Some(&i) = scatter_items.get(j) {
                            actions.push(Action::Select(i as usize));
                        }
                    }
                }
            }
        }
        if points.is_empty() {
            ui.weak(match search {
                None => "run a query to compare exact and approximate scores",
                Some(s)
                    if !s.method().is_factorised()
                        && s.method() != crate::approx::Method::Tfidf =>
                {
                    "this method has no approximate scores: pick ANNCUR, ADACUR, AXN or TF-IDF"
                }
                Some(_) => "waiting for exact scores…",
            });
        } else if analysis.pairs > points.len() {
            ui.weak(format!(
                "showing {} of {} pairs (statistics use all)",
                format_count(points.len()),
                format_count(analysis.pairs)
            ));
        }
    }

    fn item_ui(
        &mut self,
        ui: &mut egui::Ui,
        session: &Session,
        analysis: &Analysis,
        fresh: bool,
        height: f32,
        actions: &mut Vec<Action>,
    ) {
        let search = session.search.as_ref();
        let selected = session.selected;
        let item = selected.and_then(|i| session.items.as_ref()?.items.get(i));
        let exact = selected.and_then(|i| search?.exact.get(i).copied().flatten());
        let approx = selected.and_then(|i| search?.approx_scores()?.get(i).copied());
        Self::header(
            ui,
            "Selected item",
            PlotKind::Item,
            actions,
            |ui| match item {
                Some(it) => {
                    ui.label(
                        RichText::new(snippet(&it.id, 30))
                            .monospace()
                            .color(SELECTED_COLOR),
                    )
                    .on_hover_text(it.title.as_deref().unwrap_or(&it.text));
                }
                None => {
                    ui.weak("click a row or a point");
                }
            },
        );
        if let Some(it) = item {
            ui.horizontal(|ui| {
                ui.label(snippet(it.title.as_deref().unwrap_or(&it.text), 60));
                if let Some(e) = exact {
                    ui.label(RichText::new(format!("exact {:.3}", e.logit)).color(EXACT_COLOR));
                }
                if let Some(a) = approx {
                    ui.label(RichText::new(format!("approx {a:.3}")).color(APPROX_COLOR));
                }
            });
        }
        let conv = session
            .convergence
            .as_ref()
            .filter(|(i, _)| Some(*i) == selected)
            .map(|(_, pts)| pts);
        let rect = ui.columns(2, |cols| {
            let r1 = convergence_plot(
                &mut cols[0],
                conv,
                exact.map(|e| e.logit as f64),
                height,
                search.is_some_and(|s| s.method().is_cur()),
            );
            let values: &[f32] = if fresh { &analysis.exact_values } else { &[] };
            let r2 = histogram_plot(
                &mut cols[1],
                analysis,
                values,
                exact.map(|e| e.logit),
                height,
            );
            r1.union(r2)
        });
        self.rects.insert(PlotKind::Item, rect);
    }

    fn recall_ui(
        &mut self,
        ui: &mut egui::Ui,
        session: &Session,
        analysis: &Analysis,
        fresh: bool,
        height: f32,
        actions: &mut Vec<Action>,
    ) {
        let search = session.search.as_ref();
        let recall = search.and_then(|s| s.recall.as_ref());
        let title = match recall {
            Some((k, _)) => format!("Recall@{k} vs CE calls"),
            None => "Recall@k vs CE calls".to_string(),
        };
        Self::header(ui, &title, PlotKind::Recall, actions, |_| {});
        let current = search.and_then(|s| {
            let (_, r, complete) = analysis.recall.filter(|_| fresh)?;
            complete.then(|| (s.method(), s.approx_ce_calls() as f64, r))
        });
        let resp = Plot::new("relex-recall")
            .height(height - 18.0)
            .x_axis_label("CE calls")
            .y_axis_label("recall")
            .include_y(0.0)
            .include_y(1.0)
            .include_x(0.0)
            .allow_scroll(false)
            .legend(Legend::default().position(egui_plot::Corner::RightBottom))
            .show(ui, |pui| {
                if let Some((_, curves)) = recall {
                    for c in curves {
                        let color = &method_color(c.method);
                        let pts: Vec<[f64; 2]> =
                            c.points.iter().map(|&(x, y)| [x as f64, y]).collect();
                        let name = method_label(c.method);
                        pui.line(Line::new(name, pts.clone()).color(*color).width(2.0));
                        pui.add(Points::new(name, pts).color(*color).radius(3.0));
                    }
                }
                if let Some((m, x, y)) = current {
                    pui.add(
                        Points::new(format!("this query ({})", method_label(m)), vec![[x, y]])
                            .shape(MarkerShape::Asterisk)
                            .radius(7.0)
                            .color(SELECTED_COLOR),
                    );
                }
            });
        self.rects.insert(PlotKind::Recall, resp.response.rect);
        if recall.is_none() {
            ui.weak(match search {
                Some(s) if s.finished.is_none() => "filled in when exact scores complete…",
                Some(_) => "needs every item scored exactly (tick “then score all exactly”)",
                None => "run a query",
            });
        }
    }
}

fn convergence_plot(
    ui: &mut egui::Ui,
    points: Option<&Vec<crate::approx::ConvergencePoint>>,
    exact: Option<f64>,
    height: f32,
    is_cur: bool,
) -> egui::Rect {
    let resp = Plot::new("relex-convergence")
        .height(height - 40.0)
        .x_axis_label("anchor items")
        .y_axis_label("score")
        .allow_scroll(false)
        .show(ui, |pui| {
            if let Some(pts) = points {
                let line: Vec<[f64; 2]> =
                    pts.iter().map(|p| [p.k as f64, p.approx as f64]).collect();
                pui.line(
                    Line::new("approximation", line.clone())
                        .color(APPROX_COLOR)
                        .width(2.0),
                );
                pui.add(
                    Points::new("approximation", line)
                        .color(APPROX_COLOR)
                        .radius(2.5),
                );
            }
            if let Some(e) = exact {
                pui.add(HLine::new("exact", e).color(EXACT_COLOR).width(1.5));
            }
        });
    if points.is_none() {
        ui.weak(if is_cur {
            "convergence: select an item"
        } else {
            "convergence: ANNCUR/ADACUR only"
        });
    } else {
        ui.weak("approximation as anchors grow");
    }
    resp.response.rect
}

fn histogram_plot(
    ui: &mut egui::Ui,
    analysis: &Analysis,
    values: &[f32],
    exact: Option<f32>,
    height: f32,
) -> egui::Rect {
    let h = &analysis.histogram;
    let resp = Plot::new("relex-histogram")
        .height(height - 40.0)
        .x_axis_label("exact score")
        .y_axis_label("items")
        .allow_scroll(false)
        .show(ui, |pui| {
            if !values.is_empty() && !h.counts.is_empty() {
                let bars: Vec<Bar> = h
                    .counts
                    .iter()
                    .enumerate()
                    .map(|(b, &c)| Bar::new(h.centre(b), c as f64).width(h.width * 0.95))
                    .collect();
                pui.add(BarChart::new("exact scores", bars).color(EXACT_COLOR.gamma_multiply(0.7)));
            }
            if let Some(e) = exact {
                pui.add(
                    VLine::new("selected", e as f64)
                        .color(SELECTED_COLOR)
                        .width(2.0),
                );
            }
        });
    match exact {
        Some(e) if !values.is_empty() => {
            let below = fraction_below(values, e);
            ui.weak(format!("above {:.1}% of scored items", below * 100.0));
        }
        _ => {
            ui.weak("score distribution");
        }
    }
    resp.response.rect
}
