//! Frame times of the explorer while it streams exact scores for 100,000 items (the
//! figure the README reports). Not a test: timings vary with the machine, so nothing is
//! asserted; run with `cargo bench --bench ui_frames`.

use std::time::{Duration, Instant};

use relex::approx::Method;
use relex::ui::StartSources;

#[path = "../tests/integration/support/ui_harness.rs"]
mod ui_harness;
use ui_harness::*;

fn main() {
    let dir = tempdir();
    let items = write_items(dir.path(), 100_000, 2);
    let mut h = harness(StartSources::Files {
        model: TINY_CE.into(),
        items: Some(items),
        index: None,
    });
    pump_until(&mut h, "100k items", Duration::from_secs(300), loaded);
    {
        let q = h.state_mut().app_mut().query_bar_mut();
        q.method = Method::Random;
        q.budget = 50;
    }
    type_query_and_enter(&mut h, "river water");
    let start = Instant::now();
    let mut frames = Vec::new();
    while start.elapsed() < Duration::from_secs(8) {
        let t = Instant::now();
        h.step();
        frames.push(t.elapsed().as_secs_f64() * 1000.0);
        if search_done(h.state().app()) {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    h.key_press(egui::Key::Escape);
    h.step();
    frames.sort_by(f64::total_cmp);
    let p50 = frames[frames.len() / 2];
    let p95 = frames[frames.len() * 95 / 100];
    let max = frames.last().copied().unwrap_or(0.0);
    let app = h.state().app();
    let known = app.session().search.as_ref().map_or(0, |s| s.exact_known);
    println!(
        "ui_frames: 100k rows, {} frames while scoring ({known} exact scores in): \
         step p50 {p50:.1} ms, p95 {p95:.1} ms, max {max:.1} ms; ui body max while busy {:.1} ms",
        frames.len(),
        app.frame_stats().max_ui_ms_busy
    );
}
