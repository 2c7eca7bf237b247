//! The desktop explorer (egui). No model logic here: everything goes through the engine
//! ([`crate::engine::EngineHandle`]), which runs on its own thread and wakes the window
//! when an event arrives.
//!
//! One struct per panel: [`sources::SourcesPanel`] (left), [`query_bar::QueryBar`]
//! (top), [`plots::PlotsPanel`] (right), [`status_bar::StatusBar`] (bottom), and one tab
//! per view in the centre: [`ranking::RankingView`], [`compare::CompareView`],
//! [`explain::ExplainView`], [`query_set::QuerySetView`] and
//! [`judgments::JudgmentsView`]. Panels read the [`session::Session`] and push
//! [`actions::Action`]s; [`app::RelexApp`] turns those into engine requests.

pub mod actions;
pub mod analysis;
mod app;
pub mod compare;
pub mod dialogs;
pub mod explain;
pub mod export;
pub mod fonts;
pub mod jobs;
pub mod judgments;
pub mod plots;
pub mod query_bar;
pub mod query_set;
pub mod ranking;
pub mod recent;
pub mod session;
pub mod sources;
pub mod status_bar;
pub mod widgets;

pub use app::{RelexApp, StartSources};

/// Opens the explorer window on the embedded demo.
pub fn run_app() -> anyhow::Result<()> {
    let options = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default()
            .with_title("relex — relevance explorer")
            .with_inner_size([1500.0, 920.0])
            .with_min_inner_size([900.0, 600.0])
            .with_drag_and_drop(true),
        ..Default::default()
    };
    eframe::run_native(
        "relex",
        options,
        Box::new(|cc| Ok(Box::new(RelexApp::new(cc)))),
    )
    .map_err(|e| anyhow::anyhow!("cannot open the window: {e}"))
}
