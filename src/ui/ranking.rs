//! The centre: a virtualised, sortable, filterable table of every item with its exact
//! and approximate scores. Sorted index vectors are cached and rebuilt only when the
//! data, the sort or the filter change; rows borrow item text, never copy it.

use std::collections::HashSet;

use egui::{Align, Color32, RichText};
use egui_extras::{Column, TableBuilder};

use super::actions::Action;
use super::analysis::{filter_items, indices_of_ids, ActivationColumn, Analysis, NO_RANK};
use super::export::RankingFormat;
use super::query_bar::method_label;
use super::session::Session;
use super::widgets::{format_count, snippet, APPROX_COLOR, EXACT_COLOR, SELECTED_COLOR};

const ROW_HEIGHT: f32 = 20.0;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortColumn {
    /// File order.
    Index,
    Id,
    Title,
    Exact,
    Approx,
    Delta,
    Tokens,
}

impl SortColumn {
    /// Whether the natural first click sorts best-first (descending score).
    fn descending_first(self) -> bool {
        matches!(
            self,
            SortColumn::Exact | SortColumn::Approx | SortColumn::Tokens
        )
    }
}

/// The table's state: filter, sort and the cached row order.
#[derive(Default)]
pub struct RankingView {
    pub filter: String,
    /// `None`: automatic (exact score, else approximate, else file order).
    sort: Option<(SortColumn, bool)>,
    filtered: Vec<u32>,
    filter_key: Option<(u64, String)>,
    order: Vec<u32>,
    order_key: Option<OrderKey>,
    gold: HashSet<usize>,
    gold_key: Option<(u64, u64)>,
    scroll_to: Option<usize>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct OrderKey {
    items_version: u64,
    job: u64,
    analysis_version: u64,
    sort: (SortColumn, bool),
    filter_len: usize,
    filter_first: u32,
}

impl RankingView {
    /// The rows in display order (item indices).
    pub fn order(&self) -> &[u32] {
        &self.order
    }

    /// The item `delta` rows away from `selected` in the current order (the first row
    /// when nothing is selected), and scrolls it into view.
    pub fn step_selection(&mut self, selected: Option<usize>, delta: i64) -> Option<usize> {
        if self.order.is_empty() {
            return None;
        }
        let pos = match selected.and_then(|s| self.order.iter().position(|&i| i as usize == s)) {
            Some(p) => (p as i64 + delta).clamp(0, self.order.len() as i64 - 1) as usize,
            None => 0,
        };
        self.scroll_to = Some(pos);
        self.order.get(pos).map(|&i| i as usize)
    }

    fn effective_sort(&self, analysis: &Analysis, session: &Session) -> (SortColumn, bool) {
        if let Some(s) = self.sort {
            return s;
        }
        let has_search = session.search.is_some()
            && analysis.job == session.search.as_ref().map_or(0, |s| s.job);
        if has_search && analysis.exact_rank.iter().any(|&r| r != NO_RANK) {
            (SortColumn::Exact, true)
        } else if has_search && analysis.approx_rank.iter().any(|&r| r != NO_RANK) {
            (SortColumn::Approx, true)
        } else {
            (SortColumn::Index, false)
        }
    }

    /// Rebuilds the filtered set and the order when their inputs changed.
    pub fn refresh(&mut self, session: &Session, analysis: &Analysis) {
        let Some(items) = &session.items else {
            self.filtered.clear();
            self.order.clear();
            self.filter_key = None;
            self.order_key = None;
            return;
        };
        let fk = (session.items_version, self.filter.trim().to_string());
        if self.filter_key.as_ref() != Some(&fk) {
            self.filtered = filter_items(&items.items, &fk.1);
            self.filter_key = Some(fk);
            self.order_key = None;
        }
        let gk = (
            session.items_version,
            session.search.as_ref().map_or(0, |s| s.job),
        );
        if self.gold_key != Some(gk) {
            self.gold = session
                .gold_ids()
                .map(|ids| indices_of_ids(&items.items, ids))
                .unwrap_or_default();
            self.gold_key = Some(gk);
        }
        let search = session.search.as_ref();
        let analysis_fresh = search.is_some_and(|s| s.job == analysis.job);
        let sort = self.effective_sort(analysis, session);
        let key = OrderKey {
            items_version: session.items_version,
            job: search.map_or(0, |s| s.job),
            analysis_version: if analysis_fresh { analysis.version } else { 0 },
            sort,
            filter_len: self.filtered.len(),
            filter_first: self.filtered.first().copied().unwrap_or(u32::MAX),
        };
        if self.order_key == Some(key) {
            return;
        }
        self.order_key = Some(key);
        self.order.clone_from(&self.filtered);
        let n = items.items.len();
        let rank = |v: &[u32], i: u32| -> u32 {
            if analysis_fresh && v.len() == n {
                v[i as usize]
            } else {
                NO_RANK
            }
        };
        let (col, desc) = sort;
        let tokens = |i: u32| -> Option<usize> {
            search
                .and_then(|s| s.exact.get(i as usize).copied().flatten())
                .map(|p| p.tokens)
        };
        let it = &items.items;
        match col {
            SortColumn::Index => {
                if desc {
                    self.order.reverse();
                }
            }
            SortColumn::Id => self.order.sort_by(|&a, &b| {
                let o = it[a as usize].id.cmp(&it[b as usize].id);
                if desc {
                    o.reverse()
                } else {
                    o
                }
            }),
            SortColumn::Title => self.order.sort_by(|&a, &b| {
                let ta = it[a as usize]
                    .title
                    .as_deref()
                    .unwrap_or(&it[a as usize].text);
                let tb = it[b as usize]
                    .title
                    .as_deref()
                    .unwrap_or(&it[b as usize].text);
                let o = ta.cmp(tb);
                if desc {
                    o.reverse()
                } else {
                    o
                }
            }),
            SortColumn::Exact | SortColumn::Approx => {
                let v = if col == SortColumn::Exact {
                    &analysis.exact_rank
                } else {
                    &analysis.approx_rank
                };
                // Ranks are a permutation: place rows by rank in O(n) instead of sorting.
                // Best score = rank 1; missing ranks always last, in file order.
                let mut slots = vec![u32::MAX; n];
                let mut unranked = Vec::new();
                for &i in &self.order {
                    let r = rank(v, i);
                    match slots.get_mut((r as usize).wrapping_sub(1)) {
                        Some(slot) if r != NO_RANK => *slot = i,
                        _ => unranked.push(i),
                    }
                }
                self.order.clear();
                let ranked = slots.into_iter().filter(|&i| i != u32::MAX);
                if desc {
                    self.order.extend(ranked);
                } else {
                    let mut r: Vec<u32> = ranked.collect();
                    r.reverse();
                    self.order.extend(r);
                }
                self.order.extend(unranked);
            }
            SortColumn::Delta => self.order.sort_by_key(|&i| {
                let (e, a) = (
                    rank(&analysis.exact_rank, i),
                    rank(&analysis.approx_rank, i),
                );
                let d = (e != NO_RANK && a != NO_RANK).then(|| a as i64 - e as i64);
                let d = d.unwrap_or(0);
                (
                    e == NO_RANK || a == NO_RANK,
                    if desc { -d.abs() } else { d.abs() },
                    i,
                )
            }),
            SortColumn::Tokens => self.order.sort_by_key(|&i| {
                let t = tokens(i);
                (
                    t.is_none(),
                    if desc {
                        usize::MAX - t.unwrap_or(0)
                    } else {
                        t.unwrap_or(0)
                    },
                    i,
                )
            }),
        }
    }

    pub fn ranking_ui(
        &mut self,
        ui: &mut egui::Ui,
        session: &Session,
        analysis: &Analysis,
        actions: &mut Vec<Action>,
    ) {
        summary_ui(ui, session, analysis);
        let n = session.n_items();
        ui.horizontal_wrapped(|ui| {
            let l = ui.label("Filter").id;
            ui.add(
                egui::TextEdit::singleline(&mut self.filter)
                    .hint_text("id, title or text")
                    .desired_width(180.0),
            )
            .labelled_by(l);
            ui.label(format!(
                "{} of {} items",
                format_count(self.filtered.len()),
                format_count(n)
            ));
            ui.separator();
            ui.weak("export");
            for f in RankingFormat::ALL {
                let b = ui.add_enabled(n > 0, egui::Button::new(f.label()).small());
                if b.on_hover_text(format!("export the ranking as {}", f.label()))
                    .clicked()
                {
                    actions.push(Action::ExportRanking(f));
                }
            }
        });
        self.refresh(session, analysis);
        if session.items.is_none() {
            ui.add_space(40.0);
            ui.vertical_centered(|ui| {
                ui.heading("No items loaded");
                ui.label(
                    "Open an item list in the left panel (Ctrl+O), or drop a file onto the window.",
                );
            });
            return;
        }
        self.table_ui(ui, session, analysis, actions);
    }

    fn table_ui(
        &mut self,
        ui: &mut egui::Ui,
        session: &Session,
        analysis: &Analysis,
        actions: &mut Vec<Action>,
    ) {
        let Some(items) = session.items.as_ref() else {
            return;
        };
        let search = session.search.as_ref();
        let act_column = session
            .model
            .as_ref()
            .map_or(ActivationColumn::Activation, ActivationColumn::of);
        // Items with an exact score: the percentile's denominator.
        let scored = search.map_or(0, |s| s.exact_known);
        let fresh = search.is_some_and(|s| s.job == analysis.job)
            && analysis.exact_rank.len() == items.items.len();
        let approx = search
            .and_then(|s| s.approx_scores())
            .filter(|a| a.len() == items.items.len());
        let current_sort = self.effective_sort(analysis, session);
        let selected = session.selected;
        // Cells must not take clicks from the row (selectable labels would).
        ui.style_mut().interaction.selectable_labels = false;
        let mut table = TableBuilder::new(ui)
            .id_salt("relex-ranking")
            .striped(true)
            .resizable(true)
            .sense(egui::Sense::click())
            .cell_layout(egui::Layout::left_to_right(Align::Center))
            .column(Column::exact(52.0))
            .column(Column::initial(90.0).at_least(40.0).clip(true))
            .column(Column::remainder().at_least(120.0).clip(true))
            .column(Column::initial(62.0).at_least(40.0))
            .column(Column::initial(58.0).at_least(40.0))
            .column(Column::initial(62.0).at_least(40.0))
            .column(Column::initial(48.0).at_least(30.0))
            .column(Column::initial(48.0).at_least(30.0))
            .column(Column::initial(44.0).at_least(30.0))
            .column(Column::initial(48.0).at_least(30.0))
            .min_scrolled_height(0.0);
        if let Some(row) = self.scroll_to.take() {
            table = table.scroll_to_row(row, Some(Align::Center));
        }
        let order = std::mem::take(&mut self.order);
        let gold = &self.gold;
        let mut clicked = None;
        let mut new_sort = None;
        table
            .header(22.0, |mut h| {
                let mut hb = |h: &mut egui_extras::TableRow<'_, '_>,
                              label: &str,
                              col: SortColumn,
                              tip: &str| {
                    h.col(|ui| {
                        if let Some(s) = header_button(ui, label, col, current_sort, tip) {
                            new_sort = Some(s);
                        }
                    });
                };
                hb(&mut h, "#", SortColumn::Index, "row; click: file order");
                hb(&mut h, "id", SortColumn::Id, "item id");
                hb(
                    &mut h,
                    "title / text",
                    SortColumn::Title,
                    "hover a row for the full text",
                );
                hb(
                    &mut h,
                    "exact",
                    SortColumn::Exact,
                    "exact CE score (raw logit)",
                );
                h.col(|ui| {
                    let (name, why) = match act_column {
                        ActivationColumn::Activation => ("act.", act_column.explanation()),
                        ActivationColumn::Percentile => ("pct.", act_column.explanation()),
                    };
                    ui.label(RichText::new(name).strong()).on_hover_text(why);
                });
                hb(
                    &mut h,
                    "approx",
                    SortColumn::Approx,
                    "the method's approximate score (CUR or TF-IDF cosine)",
                );
                hb(
                    &mut h,
                    "r.ex",
                    SortColumn::Exact,
                    "rank under the exact score",
                );
                hb(
                    &mut h,
                    "r.ap",
                    SortColumn::Approx,
                    "rank under the approximate score",
                );
                hb(
                    &mut h,
                    "Δ",
                    SortColumn::Delta,
                    "rank change: approximate rank − exact rank",
                );
                hb(
                    &mut h,
                    "tok",
                    SortColumn::Tokens,
                    "tokens of the pair; \"cut\" = truncated",
                );
            })
            .body(|body| {
                body.rows(ROW_HEIGHT, order.len(), |mut row| {
                    let Some(&idx) = order.get(row.index()) else {
                        return;
                    };
                    let i = idx as usize;
                    let Some(item) = items.items.get(i) else {
                        return;
                    };
                    let exact = search.and_then(|s| s.exact.get(i).copied().flatten());
                    let er = if fresh {
                        analysis.exact_rank[i]
                    } else {
                        NO_RANK
                    };
                    let ar = if fresh {
                        analysis.approx_rank[i]
                    } else {
                        NO_RANK
                    };
                    row.set_selected(selected == Some(i));
                    let pos = row.index() + 1;
                    row.col(|ui| {
                        if gold.contains(&i) {
                            ui.label(RichText::new(format!("*{pos}")).color(SELECTED_COLOR))
                                .on_hover_text("a gold item of this demo query");
                        } else {
                            ui.label(pos.to_string());
                        }
                    });
                    row.col(|ui| {
                        ui.label(RichText::new(snippet(&item.id, 40)).monospace());
                    });
                    row.col(|ui| match item.title.as_deref() {
                        Some(t) => {
                            ui.label(RichText::new(snippet(t, 60)).strong());
                            ui.label(snippet(&item.text, 160));
                        }
                        None => {
                            ui.label(snippet(&item.text, 200));
                        }
                    });
                    row.col(|ui| {
                        if let Some(s) = exact {
                            ui.label(RichText::new(format!("{:.3}", s.logit)).color(EXACT_COLOR));
                        }
                    });
                    row.col(|ui| {
                        let cell = exact.and_then(|s| act_column.cell(s.activation, er, scored));
                        if let Some(text) = cell {
                            ui.label(text);
                        }
                    });
                    row.col(|ui| {
                        if let Some(a) = approx.and_then(|a| a.get(i)) {
                            ui.label(RichText::new(format!("{a:.3}")).color(APPROX_COLOR));
                        }
                    });
                    row.col(|ui| {
                        if er != NO_RANK {
                            ui.label(er.to_string());
                        }
                    });
                    row.col(|ui| {
                        if ar != NO_RANK {
                            ui.label(ar.to_string());
                        }
                    });
                    row.col(|ui| {
                        if er != NO_RANK && ar != NO_RANK {
                            let d = ar as i64 - er as i64;
                            let color = match d.cmp(&0) {
                                std::cmp::Ordering::Greater => Color32::from_rgb(230, 120, 100),
                                std::cmp::Ordering::Less => Color32::from_rgb(120, 200, 120),
                                std::cmp::Ordering::Equal => ui.visuals().weak_text_color(),
                            };
                            ui.label(RichText::new(format!("{d:+}")).color(color));
                        }
                    });
                    row.col(|ui| {
                        if let Some(s) = exact {
                            if s.truncation.any() {
                                ui.label(
                                    RichText::new(format!("{} cut", s.tokens)).color(APPROX_COLOR),
                                )
                                .on_hover_text(format!(
                                    "truncated ({}): {} query and {} item tokens cut",
                                    s.truncation.side(),
                                    s.truncation.query_tokens_cut,
                                    s.truncation.item_tokens_cut
                                ));
                            } else {
                                ui.label(s.tokens.to_string());
                            }
                        }
                    });
                    let resp = row.response();
                    if resp.clicked() {
                        clicked = Some(i);
                    }
                    resp.on_hover_ui(|ui| {
                        ui.set_max_width(520.0);
                        ui.label(RichText::new(&item.id).monospace());
                        if let Some(t) = &item.title {
                            ui.label(RichText::new(t).strong());
                        }
                        ui.label(&item.text);
                        if let Some(s) = exact {
                            ui.separator();
                            ui.label(format!(
                                "exact logit {:.4} · activation {:.4} · {} tokens{}",
                                s.logit,
                                s.activation,
                                s.tokens,
                                if s.truncation.any() {
                                    " · truncated"
                                } else {
                                    ""
                                }
                            ));
                        }
                    });
                });
            });
        self.order = order;
        if new_sort.is_some() {
            self.sort = new_sort;
        }
        if let Some(i) = clicked {
            actions.push(Action::Select(i));
        }
    }
}

/// A sortable column header; returns the new sort when clicked.
fn header_button(
    ui: &mut egui::Ui,
    label: &str,
    col: SortColumn,
    current: (SortColumn, bool),
    tip: &str,
) -> Option<(SortColumn, bool)> {
    let sorted = (current.0 == col).then_some(current.1);
    let resp = ui
        .add(egui::Button::new(RichText::new(label).strong()).frame(false))
        .on_hover_text(tip);
    if let Some(desc) = sorted {
        // A painted triangle: the default fonts have no arrow glyphs.
        let (rect, _) = ui.allocate_exact_size(egui::vec2(8.0, 8.0), egui::Sense::hover());
        let c = rect.center();
        let (tip_y, base_y) = if desc {
            (c.y + 3.0, c.y - 3.0)
        } else {
            (c.y - 3.0, c.y + 3.0)
        };
        ui.painter().add(egui::Shape::convex_polygon(
            vec![
                egui::pos2(c.x - 4.0, base_y),
                egui::pos2(c.x + 4.0, base_y),
                egui::pos2(c.x, tip_y),
            ],
            ui.visuals().strong_text_color(),
            egui::Stroke::NONE,
        ));
    }
    resp.clicked().then(|| {
        if current.0 == col {
            (col, !current.1)
        } else {
            (col, col.descending_first())
        }
    })
}

/// One line about the current search.
fn summary_ui(ui: &mut egui::Ui, session: &Session, analysis: &Analysis) {
    let Some(s) = &session.search else {
        return;
    };
    ui.horizontal_wrapped(|ui| {
        ui.label(RichText::new(format!("“{}”", s.request.query)).strong());
        ui.label(format!("· {}", method_label(s.method())));
        if let Some(secs) = s.approx_seconds {
            ui.label(format!(
                "· approximate: {} CE calls in {:.2} s",
                format_count(s.approx_ce_calls()),
                secs
            ));
        } else if s.finished.is_none() {
            ui.spinner();
            ui.label("approximate stage…");
        }
        if s.exact_known > 0 {
            ui.label(format!(
                "· exact {} / {}",
                format_count(s.exact_known),
                format_count(s.exact.len())
            ));
        }
        if let Some(rho) = analysis.spearman.filter(|_| analysis.job == s.job) {
            ui.label(format!("· Spearman ρ {rho:.3}"));
        }
        if let Some((k, r, complete)) = analysis.recall.filter(|_| analysis.job == s.job) {
            ui.label(format!(
                "· recall@{k} {r:.2}{}",
                if complete { "" } else { " (so far)" }
            ));
        }
        if s.finished == Some(true) {
            ui.colored_label(Color32::from_rgb(220, 160, 40), "· cancelled");
        }
        if let Some(r) = &s.result {
            for w in &r.warnings {
                ui.colored_label(Color32::from_rgb(220, 160, 40), format!("warning: {w}"));
            }
        }
    });
}
