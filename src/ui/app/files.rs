//! File dialogs, exports and plot screenshots.

use super::*;

impl RelexApp {
    pub(super) fn suggested_file_name(&self, pick: Pick) -> Option<String> {
        let query = self
            .session
            .search
            .as_ref()
            .map_or("", |s| s.request.query.as_str());
        match pick {
            Pick::ExportRanking(f) => Some(suggested_name(query, "ranking", f.extension())),
            Pick::SavePlot(k) => Some(suggested_name(query, k.file_stem(), "png")),
            Pick::SaveSnapshot => Some(suggested_name(query, "snapshot", "json")),
            Pick::ExportQrels => Some(suggested_name(query, "judgments", "qrels")),
            _ => None,
        }
    }

    pub(super) fn picked(&mut self, ctx: &egui::Context, pick: Pick, path: Option<PathBuf>) {
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
            other => self.picked_explore(other, path),
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

    pub(super) fn screenshot_arrived(
        &mut self,
        ctx: &egui::Context,
        image: &Arc<egui::ColorImage>,
    ) {
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
