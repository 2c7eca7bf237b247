//! The app shell: owns the engine handle and the view state.

use crate::engine::{EngineHandle, Request};

pub struct RelexApp {
    engine: EngineHandle,
    status: String,
}

impl RelexApp {
    pub fn new(cc: &eframe::CreationContext<'_>) -> Self {
        let ctx = cc.egui_ctx.clone();
        let engine = EngineHandle::spawn(Box::new(move || ctx.request_repaint()));
        engine.send(Request::LoadDemo);
        Self {
            engine,
            status: String::new(),
        }
    }
}

impl eframe::App for RelexApp {
    fn logic(&mut self, _ctx: &egui::Context, _frame: &mut eframe::Frame) {
        while let Some(ev) = self.engine.poll() {
            self.status = format!("{ev:?}").chars().take(200).collect();
        }
    }

    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        egui::CentralPanel::default_margins().show(ui, |ui| {
            ui.label(&self.status);
        });
    }
}
