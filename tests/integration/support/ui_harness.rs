//! The explorer driven through egui_kittest, shared by the UI tests and the frame-time
//! bench: a harness around `RelexApp`, frame pumping, and item files to load.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use egui::Role;
use egui_kittest::kittest::Queryable;
use egui_kittest::Harness;
use relex::ui::{RelexApp, StartSources};

pub const TINY_CE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/tiny-ce");

/// The app is built on the first frame, so that it wakes the harness's own context.
pub struct TestApp {
    start: StartSources,
    app: Option<RelexApp>,
}

impl TestApp {
    pub fn app(&self) -> &RelexApp {
        match &self.app {
            Some(a) => a,
            None => panic!("the app is built on the first frame"),
        }
    }

    pub fn app_mut(&mut self) -> &mut RelexApp {
        match &mut self.app {
            Some(a) => a,
            None => panic!("the app is built on the first frame"),
        }
    }
}

pub fn harness(start: StartSources) -> Harness<'static, TestApp> {
    Harness::builder()
        .with_size([1500.0, 920.0])
        .build_ui_state(
            |ui, t: &mut TestApp| {
                let start = t.start.clone();
                let app = t
                    .app
                    .get_or_insert_with(|| RelexApp::with_sources(ui.ctx(), start));
                app.logic_step(ui.ctx());
                app.frame_ui(ui);
            },
            TestApp { start, app: None },
        )
}

/// Steps frames until `done` holds; panics with `what` after `timeout`.
pub fn pump_until(
    h: &mut Harness<'static, TestApp>,
    what: &str,
    timeout: Duration,
    done: impl Fn(&RelexApp) -> bool,
) {
    let start = Instant::now();
    loop {
        h.step();
        if done(h.state().app()) {
            // One more frame so the UI shows the new state.
            h.step();
            return;
        }
        assert!(
            start.elapsed() < timeout,
            "timed out after {timeout:?} waiting for {what}; errors: {:?}",
            h.state().app().session().errors
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

pub fn write_items(dir: &Path, n: usize, words: usize) -> PathBuf {
    let topics = [
        (
            "river bank",
            "the muddy bank of the river where the water meets the land",
        ),
        (
            "money bank",
            "a bank is a financial institution that accepts deposits",
        ),
        (
            "tree",
            "a tall plant with a trunk and branches made of wood",
        ),
        (
            "music",
            "a band plays songs with guitars and drums on a stage",
        ),
    ];
    let mut out = String::new();
    for i in 0..n {
        let (title, text) = topics[i % topics.len()];
        let mut body = format!("{text} number {i}");
        for w in 0..words {
            body.push_str(if w % 2 == 0 { " water" } else { " stone" });
        }
        out.push_str(&format!(
            "{{\"id\": \"doc-{i:02}\", \"title\": \"{title} {i}\", \"text\": \"{body}\"}}\n"
        ));
    }
    let path = dir.join("items.jsonl");
    if let Err(e) = std::fs::write(&path, out) {
        panic!("cannot write {}: {e}", path.display());
    }
    path
}

pub fn tempdir() -> tempfile::TempDir {
    match tempfile::tempdir() {
        Ok(d) => d,
        Err(e) => panic!("tempdir: {e}"),
    }
}

pub fn loaded(app: &RelexApp) -> bool {
    app.session().model.is_some() && app.session().items.is_some() && !app.is_busy()
}

pub fn has_label(h: &Harness<'static, TestApp>, text: &str) -> bool {
    h.query_all_by_label(text).next().is_some()
}

pub fn has_label_containing(h: &Harness<'static, TestApp>, text: &str) -> bool {
    h.query_all_by_label_contains(text).next().is_some()
}

/// Types `query` into the query box and presses Enter, as a person would.
pub fn type_query_and_enter(h: &mut Harness<'static, TestApp>, query: &str) {
    h.get_by(|n| {
        n.role() == Role::TextInput
            && n.data()
                .placeholder()
                .is_some_and(|p| p.contains("type a query"))
    })
    .focus();
    h.step();
    h.get_by(|n| {
        n.role() == Role::TextInput
            && n.data()
                .placeholder()
                .is_some_and(|p| p.contains("type a query"))
    })
    .type_text(query);
    h.step();
    h.key_press(egui::Key::Enter);
    h.step();
}

pub fn search_done(app: &RelexApp) -> bool {
    app.session()
        .search
        .as_ref()
        .is_some_and(|s| s.finished.is_some())
        && app.analysis().version == app.session().search.as_ref().map_or(0, |s| s.version)
}
