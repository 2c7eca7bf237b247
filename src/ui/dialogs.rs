//! Native file dialogs on a helper thread, so the window never freezes while one is open.
//! The picked path comes back over a channel and is read in `App::logic`.

use std::path::PathBuf;
use std::sync::mpsc::{self, Receiver, Sender};

use super::export::{PlotKind, RankingFormat};

/// What a picked path is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pick {
    ModelFolder,
    Items,
    AnchorQueries,
    IndexFolder,
    BuildIndexOut,
    ExportRanking(RankingFormat),
    SavePlot(PlotKind),
    QueryFile,
    QrelsFile,
    ExactScores,
    SaveSnapshot,
    LoadSnapshot,
    /// The second snapshot of a diff (the first is the loaded one).
    DiffSnapshot,
    ExportQrels,
}

impl Pick {
    fn title(self) -> &'static str {
        match self {
            Pick::ModelFolder => "Open model folder",
            Pick::Items => "Open items",
            Pick::AnchorQueries => "Open anchor-query file",
            Pick::IndexFolder => "Open index folder",
            Pick::BuildIndexOut => "Folder for the new index",
            Pick::ExportRanking(_) => "Export ranking",
            Pick::SavePlot(_) => "Save plot as PNG",
            Pick::QueryFile => "Open query file",
            Pick::QrelsFile => "Open qrels file",
            Pick::ExactScores => "Open exact scores (.npy)",
            Pick::SaveSnapshot => "Save snapshot",
            Pick::LoadSnapshot => "Load snapshot",
            Pick::DiffSnapshot => "Snapshot to diff against",
            Pick::ExportQrels => "Export judgments as TREC qrels",
        }
    }
}

pub struct Dialogs {
    tx: Sender<(Pick, Option<PathBuf>)>,
    rx: Receiver<(Pick, Option<PathBuf>)>,
    /// A dialog is open (one at a time).
    open: Option<Pick>,
}

impl Default for Dialogs {
    fn default() -> Self {
        let (tx, rx) = mpsc::channel();
        Self { tx, rx, open: None }
    }
}

impl Dialogs {
    pub fn is_open(&self) -> bool {
        self.open.is_some()
    }

    /// Opens a dialog for `pick` on its own thread; `suggested` names the default file.
    pub fn open(&mut self, ctx: &egui::Context, pick: Pick, suggested: Option<String>) {
        if self.open.is_some() {
            return;
        }
        self.open = Some(pick);
        let tx = self.tx.clone();
        let ctx = ctx.clone();
        let spawned = std::thread::Builder::new()
            .name("relex-file-dialog".into())
            .spawn(move || {
                let mut dialog = rfd::FileDialog::new().set_title(pick.title());
                if let Ok(dir) = std::env::current_dir() {
                    dialog = dialog.set_directory(dir);
                }
                let path = match pick {
                    Pick::ModelFolder | Pick::IndexFolder | Pick::BuildIndexOut => {
                        dialog.pick_folder()
                    }
                    Pick::Items | Pick::AnchorQueries | Pick::QueryFile => dialog
                        .add_filter(
                            "item and query files",
                            &["jsonl", "json", "txt", "csv", "tsv", "ndjson"],
                        )
                        .add_filter("all files", &["*"])
                        .pick_file(),
                    Pick::QrelsFile
                    | Pick::ExactScores
                    | Pick::LoadSnapshot
                    | Pick::DiffSnapshot => dialog.pick_file(),
                    Pick::ExportRanking(_)
                    | Pick::SavePlot(_)
                    | Pick::SaveSnapshot
                    | Pick::ExportQrels => {
                        if let Some(name) = suggested {
                            dialog = dialog.set_file_name(name);
                        }
                        dialog.save_file()
                    }
                };
                let _ = tx.send((pick, path));
                ctx.request_repaint();
            });
        if spawned.is_err() {
            self.open = None;
        }
    }

    /// A dialog that closed since the last call: what it was for and the path, if any.
    pub fn poll(&mut self) -> Option<(Pick, Option<PathBuf>)> {
        let got = self.rx.try_recv().ok()?;
        self.open = None;
        Some(got)
    }
}
