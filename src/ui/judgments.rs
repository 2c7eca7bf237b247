//! The "Judgments & snapshots" view: judge the current query's items from the keyboard
//! (R relevant, N not relevant, S skip: the selected row, then the next), see how often
//! the exact CE agrees, save and load session snapshots, diff two of them and export the
//! judgments as TREC qrels.

use std::collections::HashMap;

use egui::{Color32, RichText};

use super::actions::Action;
use super::analysis::{Analysis, NO_RANK};
use super::dialogs::Pick;
use super::session::{ErrorSource, Session};
use super::widgets::{error_text, snippet};
use crate::engine::snapshot::{agreement, Judgment, SnapshotDiff};

const AGREE: Color32 = Color32::from_rgb(110, 200, 110);
const DISAGREE: Color32 = Color32::from_rgb(235, 110, 90);

/// Rows listed besides the judged ones: the exact top rows.
const LISTED: usize = 20;

#[derive(Default)]
pub struct JudgmentsView {
    /// A snapshot or qrels path typed instead of picked in a dialog.
    pub path: String,
}

/// Exact ranks (1-based) of the judged items of `query`, by item id.
pub fn judged_exact_ranks<'a>(
    session: &'a Session,
    analysis: &Analysis,
    query: &str,
) -> HashMap<&'a str, usize> {
    let fresh = session
        .search
        .as_ref()
        .is_some_and(|s| s.job == analysis.job);
    let mut out = HashMap::new();
    if !fresh {
        return out;
    }
    for (id, _) in session.judgments.of(query) {
        if let Some((key, &i)) = session.item_index.get_key_value(id.as_str()) {
            if let Some(&r) = analysis.exact_rank.get(i).filter(|&&r| r != NO_RANK) {
                out.insert(key.as_str(), r as usize);
            }
        }
    }
    out
}

impl JudgmentsView {
    pub fn judgments_ui(
        &mut self,
        ui: &mut egui::Ui,
        session: &Session,
        analysis: &Analysis,
        actions: &mut Vec<Action>,
    ) {
        ui.horizontal(|ui| {
            let typed = self.path.trim().to_string();
            // A typed path is used as is; without one, a file dialog asks.
            let mut go = |pick: Pick| {
                actions.push(if typed.is_empty() {
                    Action::Open(pick)
                } else {
                    Action::UsePath(pick, typed.clone().into())
                })
            };
            let l = ui.label("file").id;
            ui.add(
                egui::TextEdit::singleline(&mut self.path)
                    .hint_text("path, or empty for a dialog")
                    .desired_width(200.0),
            )
            .labelled_by(l);
            if ui
                .button("Save snapshot…")
                .on_hover_text("query, settings, rankings and judgments as JSON")
                .clicked()
            {
                go(Pick::SaveSnapshot);
            }
            if ui.button("Load snapshot…").clicked() {
                go(Pick::LoadSnapshot);
            }
            if ui
                .add_enabled(session.snapshot.is_some(), egui::Button::new("Diff with…"))
                .on_hover_text("compare the loaded snapshot with another snapshot file")
                .clicked()
            {
                go(Pick::DiffSnapshot);
            }
            if ui
                .add_enabled(
                    session.judgments.count() > 0,
                    egui::Button::new("Export qrels…"),
                )
                .on_hover_text("every judgment of the session as TREC qrels (skips left out)")
                .clicked()
            {
                go(Pick::ExportQrels);
            }
            ui.label(format!(
                "{} judgments over {} queries",
                session.judgments.count(),
                session.judgments.by_query.len()
            ));
        });
        if let Some(e) = session.error_of(ErrorSource::Snapshot) {
            error_text(ui, e);
        }
        ui.separator();
        ui.columns(2, |cols| {
            current_ui(&mut cols[0], session, analysis);
            snapshots_ui(&mut cols[1], session, actions);
        });
    }
}

fn current_ui(ui: &mut egui::Ui, session: &Session, analysis: &Analysis) {
    let Some((query, _)) = session.current_query() else {
        ui.weak("Run a query, select a row, then press R (relevant), N (not relevant) or S (skip); the next row is selected.");
        return;
    };
    let top_k = session.search.as_ref().map_or(10, |s| s.request.top_k);
    ui.label(RichText::new(format!("Judging “{}”", snippet(query, 60))).strong());
    ui.weak("keys: R relevant · N not relevant · S skip (the selected row, then the next)");
    let ranks = judged_exact_ranks(session, analysis, query);
    let a = agreement(session.judgments.of(query), &ranks, top_k);
    match a.rate() {
        Some(r) => ui.label(format!(
            "exact CE agrees on {} of {} judged items ({:.0} %): relevant to the CE = in its exact top-{top_k}",
            a.agree,
            a.judged,
            r * 100.0
        )),
        None => ui.weak("no judged item with an exact score yet"),
    };
    let fresh = session
        .search
        .as_ref()
        .is_some_and(|s| s.job == analysis.job);
    let mut rows: Vec<(usize, u32)> = Vec::new();
    if fresh {
        for (i, &r) in analysis.exact_rank.iter().enumerate() {
            if r != NO_RANK && (r as usize) <= LISTED {
                rows.push((i, r));
            }
        }
    }
    for (id, _) in session.judgments.of(query) {
        if let Some(&i) = session.item_index.get(id.as_str()) {
            if !rows.iter().any(|&(j, _)| j == i) {
                rows.push((i, analysis.exact_rank.get(i).copied().unwrap_or(NO_RANK)));
            }
        }
    }
    rows.sort_by_key(|&(i, r)| (r, i));
    let Some(items) = session.items.as_ref() else {
        return;
    };
    egui::ScrollArea::vertical()
        .id_salt("relex-judgments-table")
        .show(ui, |ui| {
            egui::Grid::new("relex-judgments-grid")
                .striped(true)
                .show(ui, |ui| {
                    for h in ["exact rank", "item", "judgment", "CE", ""] {
                        ui.label(RichText::new(h).strong());
                    }
                    ui.end_row();
                    for (i, r) in rows {
                        let Some(it) = items.items.get(i) else {
                            continue;
                        };
                        ui.label(if r == NO_RANK {
                            "–".into()
                        } else {
                            r.to_string()
                        });
                        let name = it.title.as_deref().unwrap_or(&it.id);
                        let selected = session.selected == Some(i);
                        let mut text = RichText::new(snippet(name, 40).to_string());
                        if selected {
                            text = text.strong().color(super::widgets::SELECTED_COLOR);
                        }
                        ui.label(text).on_hover_text(format!(
                            "{}\n{}",
                            it.id,
                            snippet(&it.text, 200)
                        ));
                        let j = session.judgments.get(query, &it.id);
                        ui.label(j.map_or("", Judgment::label));
                        let ce_relevant = r != NO_RANK && (r as usize) <= top_k;
                        ui.label(if r == NO_RANK {
                            ""
                        } else if ce_relevant {
                            "relevant"
                        } else {
                            "not"
                        });
                        match j {
                            Some(Judgment::Relevant) | Some(Judgment::NotRelevant)
                                if r != NO_RANK =>
                            {
                                let agrees = (j == Some(Judgment::Relevant)) == ce_relevant;
                                ui.label(if agrees {
                                    RichText::new("agrees").color(AGREE)
                                } else {
                                    RichText::new("disagrees").color(DISAGREE)
                                });
                            }
                            _ => {
                                ui.label("");
                            }
                        }
                        ui.end_row();
                    }
                });
        });
}

fn snapshots_ui(ui: &mut egui::Ui, session: &Session, actions: &mut Vec<Action>) {
    match &session.snapshot {
        None => {
            ui.weak("No snapshot loaded. Save one to keep this query, its settings, rankings and judgments; load it later (or diff two).");
        }
        Some((path, s)) => {
            ui.label(RichText::new(format!("Snapshot {}", path.display())).strong());
            ui.label(format!(
                "“{}” — {} budget {}, k_i {}, top-{}; {} ranked rows, {} judgments",
                snippet(&s.query, 50),
                super::query_bar::method_label(s.settings.method),
                s.settings.budget,
                s.settings.k_i,
                s.settings.top_k,
                s.ranking.len(),
                s.judgments.count()
            ));
            if ui
                .button("Restore query & settings")
                .on_hover_text("put the snapshot's query and settings in the query bar and run it")
                .clicked()
            {
                actions.push(Action::RestoreSnapshot);
            }
            egui::Grid::new("relex-snapshot-rows")
                .striped(true)
                .show(ui, |ui| {
                    for row in s.ranking.iter().take(10) {
                        ui.label(row.rank.to_string());
                        ui.label(snippet(row.title.as_deref().unwrap_or(&row.id), 40));
                        ui.label(row.exact.map_or_else(|| "–".into(), |e| format!("{e:.3}")));
                        ui.end_row();
                    }
                });
        }
    }
    if let Some((a, b, d)) = &session.snapshot_diff {
        ui.separator();
        ui.label(RichText::new(format!("Diff {} vs {}", file_name(a), file_name(b))).strong());
        diff_ui(ui, d);
    }
}

fn file_name(p: &std::path::Path) -> String {
    p.file_name()
        .map_or_else(|| p.display().to_string(), |f| f.to_string_lossy().into())
}

fn diff_ui(ui: &mut egui::Ui, d: &SnapshotDiff) {
    if d.is_empty() {
        ui.label("the two snapshots are the same");
        return;
    }
    for s in &d.settings {
        ui.label(s);
    }
    egui::ScrollArea::vertical()
        .id_salt("relex-snapshot-diff")
        .show(ui, |ui| {
            for m in &d.moves {
                let (text, color) = match (m.before, m.after) {
                    (Some(a), Some(b)) if b < a => {
                        (format!("{}: {a} -> {b} (⏶{})", m.id, a - b), AGREE)
                    }
                    (Some(a), Some(b)) => (format!("{}: {a} -> {b} (⏷{})", m.id, b - a), DISAGREE),
                    (None, Some(b)) => (format!("{}: entered at {b}", m.id), AGREE),
                    (Some(a), None) => (format!("{}: left (was {a})", m.id), DISAGREE),
                    (None, None) => continue,
                };
                ui.label(RichText::new(text).color(color));
            }
            if !d.method_entered.is_empty() || !d.method_left.is_empty() {
                ui.label(format!(
                    "method top-k: +{} −{}",
                    d.method_entered.join(", "),
                    d.method_left.join(", ")
                ));
            }
            for j in &d.judgments {
                let show = |x: Option<Judgment>| x.map_or("—", Judgment::label);
                ui.label(format!(
                    "judgment “{}” / {}: {} -> {}",
                    snippet(&j.query, 30),
                    j.item,
                    show(j.before),
                    show(j.after)
                ));
            }
        });
}
