//! The desktop explorer (egui). No model logic here: everything goes through the engine.

mod app;

pub use app::RelexApp;

/// Opens the explorer window on the embedded demo.
pub fn run_app() -> anyhow::Result<()> {
    let options = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default()
            .with_title("relex — relevance explorer")
            .with_inner_size([1400.0, 900.0])
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
