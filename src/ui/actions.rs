//! What panels ask the app to do. Panels never talk to the engine themselves: they push
//! actions, and the app turns them into requests, dialogs and exports.

use std::path::PathBuf;

use super::dialogs::Pick;
use super::export::{PlotKind, RankingFormat};

#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    LoadModel(String),
    LoadItems(PathBuf),
    LoadIndex(PathBuf),
    BuildIndex {
        anchor_queries: Option<PathBuf>,
        k_q: usize,
        out: PathBuf,
    },
    LoadDemo,
    /// Run the query in the query bar.
    Run,
    Cancel,
    Select(usize),
    /// Open a file dialog.
    Open(Pick),
    ExportRanking(RankingFormat),
    SavePlot(PlotKind),
    DismissErrors,
}
