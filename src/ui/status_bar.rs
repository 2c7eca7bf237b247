//! The bottom bar: device, items, CE calls, throughput, job progress with Cancel, and
//! the UI's own frame time.

use std::collections::VecDeque;
use std::time::Duration;

use egui::RichText;

use super::actions::Action;
use super::jobs::ActiveJob;
use super::session::Session;
use super::widgets::{error_text, format_count, format_duration};

/// Rolling frame-time statistics.
#[derive(Debug, Default)]
pub struct FrameStats {
    /// Time spent in the `ui` body of recent frames, in milliseconds.
    ui_ms: VecDeque<f32>,
    /// `unstable_dt` of recent frames (the whole frame), in milliseconds.
    dt_ms: VecDeque<f32>,
    /// Largest `ui` time seen while a job was running.
    pub max_ui_ms_busy: f32,
}

const WINDOW: usize = 120;

impl FrameStats {
    pub fn record(&mut self, ui_time: Duration, dt_seconds: f32, busy: bool) {
        let ms = ui_time.as_secs_f32() * 1000.0;
        self.ui_ms.push_back(ms);
        self.dt_ms.push_back(dt_seconds * 1000.0);
        while self.ui_ms.len() > WINDOW {
            self.ui_ms.pop_front();
        }
        while self.dt_ms.len() > WINDOW {
            self.dt_ms.pop_front();
        }
        if busy {
            self.max_ui_ms_busy = self.max_ui_ms_busy.max(ms);
        }
    }

    /// (mean, max) of the `ui` time over the window, in ms.
    pub fn ui_ms(&self) -> (f32, f32) {
        stats(&self.ui_ms)
    }

    /// (mean, max) of the frame interval over the window, in ms.
    pub fn dt_ms(&self) -> (f32, f32) {
        stats(&self.dt_ms)
    }
}

fn stats(v: &VecDeque<f32>) -> (f32, f32) {
    if v.is_empty() {
        return (0.0, 0.0);
    }
    let sum: f32 = v.iter().sum();
    let max = v.iter().copied().fold(0.0, f32::max);
    (sum / v.len() as f32, max)
}

#[derive(Default)]
pub struct StatusBar;

impl StatusBar {
    pub fn status_bar_ui(
        &mut self,
        ui: &mut egui::Ui,
        session: &Session,
        job: Option<&ActiveJob>,
        frames: &FrameStats,
        actions: &mut Vec<Action>,
    ) {
        if let Some(e) = session.errors.first() {
            ui.horizontal(|ui| {
                ui.label(RichText::new(format!("{} error:", e.source.label())).strong());
                error_text(ui, &e.message);
                if ui.small_button("dismiss").clicked() {
                    actions.push(Action::DismissErrors);
                }
            });
        } else if let Some(n) = session.notices.first() {
            ui.horizontal(|ui| {
                ui.label(n);
            });
        }
        ui.horizontal(|ui| {
            match &session.model {
                Some(m) => ui.label(format!("device: {}", m.device)),
                None => ui.weak("no model"),
            };
            ui.separator();
            ui.label(format!("{} items", format_count(session.n_items())));
            if let Some(s) = &session.search {
                ui.separator();
                let exact_calls = s.exact_done.saturating_sub(s.approx_ce_calls());
                ui.label(format!(
                    "CE calls: {} approx + {} exact",
                    format_count(s.approx_ce_calls()),
                    format_count(exact_calls)
                ))
                .on_hover_text("pairs scored by the cross-encoder for this query");
                if s.pairs_per_second > 0.0 {
                    ui.separator();
                    ui.label(format!("{:.0} pairs/s", s.pairs_per_second));
                }
            }
            ui.separator();
            let (mean, max) = frames.ui_ms();
            let (_, dt_max) = frames.dt_ms();
            let busy_max = frames.max_ui_ms_busy;
            ui.label(format!(
                "ui {mean:.1} ms (max {max:.1}, while scoring {busy_max:.1})"
            ))
            .on_hover_text(format!(
                "time spent building the UI per frame: mean and max over the last {WINDOW} \
                 frames, and the max seen while a job ran; longest frame interval {dt_max:.0} ms"
            ));
            if let Some(j) = job {
                ui.separator();
                let cancel = ui.button("Cancel").on_hover_text("Esc");
                if cancel.clicked() {
                    actions.push(Action::Cancel);
                }
                let mut text = j.label.clone();
                if j.total > 0 {
                    text.push_str(&format!(
                        " {}/{}",
                        format_count(j.done),
                        format_count(j.total)
                    ));
                }
                if let Some(eta) = j.eta_seconds() {
                    text.push_str(&format!(" · {} left", format_duration(eta)));
                }
                let bar = egui::ProgressBar::new(j.fraction().unwrap_or(0.0))
                    .text(text)
                    .desired_width(ui.available_width().max(120.0))
                    .animate(j.fraction().is_none());
                ui.add(bar);
            }
        });
    }
}
