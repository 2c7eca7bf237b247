//! What panels ask the app to do. Panels never talk to the engine themselves: they push
//! actions, and the app turns them into requests, dialogs and exports.

use std::path::PathBuf;

use super::dialogs::Pick;
use super::export::{PlotKind, RankingFormat};
use crate::engine::snapshot::Judgment;

/// The views of the central area, one tab each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum View {
    #[default]
    Ranking,
    Compare,
    Explain,
    QuerySet,
    Judgments,
}

impl View {
    pub const ALL: [View; 5] = [
        View::Ranking,
        View::Compare,
        View::Explain,
        View::QuerySet,
        View::Judgments,
    ];

    pub fn label(self) -> &'static str {
        match self {
            View::Ranking => "Ranking",
            View::Compare => "Compare",
            View::Explain => "Explain item",
            View::QuerySet => "Query set",
            View::Judgments => "Judgments & snapshots",
        }
    }
}

/// Files and options of a query-set run (the method and budget come from the query bar).
#[derive(Debug, Clone, PartialEq)]
pub struct QuerySetFiles {
    pub queries: PathBuf,
    pub qrels: Option<PathBuf>,
    pub exact_scores: Option<PathBuf>,
    pub score_exact: bool,
    pub limit: Option<usize>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    LoadModel(String),
    LoadItems(PathBuf),
    LoadIndex(PathBuf),
    BuildIndex {
        anchor_queries: Option<PathBuf>,
        k_q: usize,
        out: PathBuf,
        /// A sparse (AXN) index instead of a dense one.
        sparse: bool,
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
    ShowView(View),
    /// Run every method on the query bar's query and budget.
    Compare,
    /// Explain an item (by index) for the current query.
    Explain(usize),
    RunQuerySet(QuerySetFiles),
    /// Open query `n` of the query set (its position in the file) as a search.
    OpenQuery(usize),
    /// Judge the selected item for the current query, then select the next row.
    Judge(Judgment),
    /// Restore the loaded snapshot's query and settings.
    RestoreSnapshot,
    /// A typed path, used as if a file dialog had picked it.
    UsePath(Pick, PathBuf),
}
