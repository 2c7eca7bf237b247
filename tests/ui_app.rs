//! UI tests: the whole explorer driven through egui_kittest, on the tiny test model and
//! item files written to a temporary folder. Each test pumps frames until the engine's
//! events have arrived (bounded by a timeout), then checks what the window shows.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use egui::Role;
use egui_kittest::kittest::Queryable;
use egui_kittest::Harness;
use relex::approx::Method;
use relex::ui::actions::Action;
use relex::ui::{RelexApp, StartSources};

const TINY_CE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/tiny-ce");

/// The app is built on the first frame, so that it wakes the harness's own context.
struct TestApp {
    start: StartSources,
    app: Option<RelexApp>,
}

impl TestApp {
    fn app(&self) -> &RelexApp {
        match &self.app {
            Some(a) => a,
            None => panic!("the app is built on the first frame"),
        }
    }

    fn app_mut(&mut self) -> &mut RelexApp {
        match &mut self.app {
            Some(a) => a,
            None => panic!("the app is built on the first frame"),
        }
    }
}

fn harness(start: StartSources) -> Harness<'static, TestApp> {
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
fn pump_until(
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

fn write_items(dir: &Path, n: usize, words: usize) -> PathBuf {
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

fn tempdir() -> tempfile::TempDir {
    match tempfile::tempdir() {
        Ok(d) => d,
        Err(e) => panic!("tempdir: {e}"),
    }
}

fn loaded(app: &RelexApp) -> bool {
    app.session().model.is_some() && app.session().items.is_some() && !app.is_busy()
}

fn has_label(h: &Harness<'static, TestApp>, text: &str) -> bool {
    h.query_all_by_label(text).next().is_some()
}

fn has_label_containing(h: &Harness<'static, TestApp>, text: &str) -> bool {
    h.query_all_by_label_contains(text).next().is_some()
}

/// Types `query` into the query box and presses Enter, as a person would.
fn type_query_and_enter(h: &mut Harness<'static, TestApp>, query: &str) {
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

fn search_done(app: &RelexApp) -> bool {
    app.session()
        .search
        .as_ref()
        .is_some_and(|s| s.finished.is_some())
        && app.analysis().version == app.session().search.as_ref().map_or(0, |s| s.version)
}

#[test]
fn ui_loads_items_and_shows_rows() {
    let dir = tempdir();
    let items = write_items(dir.path(), 30, 3);
    let mut h = harness(StartSources::Files {
        model: TINY_CE.into(),
        items: Some(items),
        index: None,
    });
    pump_until(&mut h, "model and items", Duration::from_secs(60), loaded);
    assert!(
        has_label_containing(&h, "30 items (jsonl)"),
        "item count shown"
    );
    assert!(has_label(&h, "tiny-ce"), "model name shown");
    assert!(has_label(&h, "doc-00"), "first row shown");
    assert!(has_label(&h, "doc-05"), "a later row shown");
    assert_eq!(h.state().app().table_order().len(), 30);
}

#[test]
fn ui_query_shows_approximate_then_exact_scores() {
    let dir = tempdir();
    let items = write_items(dir.path(), 40, 3);
    let mut h = harness(StartSources::Files {
        model: TINY_CE.into(),
        items: Some(items),
        index: None,
    });
    pump_until(&mut h, "model and items", Duration::from_secs(60), loaded);
    {
        let q = h.state_mut().app_mut().query_bar_mut();
        q.method = Method::Tfidf;
        q.budget = 10;
        q.top_k = 5;
    }
    type_query_and_enter(&mut h, "the [bank] of the river");
    assert!(
        h.state().app().session().search.is_some(),
        "Enter in the query box starts a search"
    );
    pump_until(
        &mut h,
        "the search to finish",
        Duration::from_secs(60),
        search_done,
    );
    let app = h.state().app();
    let s = app
        .session()
        .search
        .as_ref()
        .map(|s| (s.exact_known, s.recall.is_some()));
    assert_eq!(
        s,
        Some((40, true)),
        "every item scored exactly, recall curves in"
    );
    assert!(app.analysis().spearman.is_some(), "Spearman ρ computed");
    assert!(app.analysis().recall.is_some(), "top-k recall computed");
    assert!(has_label_containing(&h, "exact 40 / 40"), "summary line");
    assert!(has_label_containing(&h, "Spearman ρ"), "ρ shown");
    assert!(has_label_containing(&h, "TF-IDF"), "method shown");
    // The table is ranked by exact score: its first row has exact rank 1.
    let first = app.table_order()[0] as usize;
    assert_eq!(app.analysis().exact_rank[first], 1);
    let first_id = app
        .session()
        .items
        .as_ref()
        .map(|s| s.items[first].id.clone())
        .unwrap_or_default();

    // Export as a TREC run (written on a helper thread) and as CSV.
    let run = dir.path().join("run.trec");
    let csv = dir.path().join("ranking.csv");
    let app = h.state_mut().app_mut();
    app.export_ranking(relex::ui::export::RankingFormat::Trec, run.clone());
    app.export_ranking(relex::ui::export::RankingFormat::Csv, csv.clone());
    pump_until(&mut h, "the exports", Duration::from_secs(20), |a| {
        a.session()
            .notices
            .iter()
            .filter(|n| n.starts_with("exported"))
            .count()
            == 2
    });
    let text = std::fs::read_to_string(&run).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 40);
    let fields: Vec<&str> = lines[0].split(' ').collect();
    assert_eq!(fields[0], "1");
    assert_eq!(fields[1], "Q0");
    assert_eq!(fields[2], first_id);
    assert_eq!(fields[3], "1");
    assert_eq!(fields[5], "relex");
    let csv_text = std::fs::read_to_string(&csv).unwrap_or_default();
    assert_eq!(csv_text.lines().count(), 41, "header + one row per item");
}

#[test]
fn ui_selecting_a_row_shows_its_plots() {
    let dir = tempdir();
    let items = write_items(dir.path(), 24, 2);
    let mut h = harness(StartSources::Files {
        model: TINY_CE.into(),
        items: Some(items),
        index: None,
    });
    pump_until(&mut h, "model and items", Duration::from_secs(60), loaded);
    h.state_mut().app_mut().query_bar_mut().method = Method::Exact;
    type_query_and_enter(&mut h, "a tall tree");
    pump_until(
        &mut h,
        "the search to finish",
        Duration::from_secs(60),
        search_done,
    );
    h.get_by_label("doc-07").click();
    h.step();
    h.step();
    let app = h.state().app();
    let idx = app
        .session()
        .items
        .as_ref()
        .and_then(|s| s.items.iter().position(|it| it.id == "doc-07"));
    assert_eq!(
        app.session().selected,
        idx,
        "clicking a row selects its item"
    );
    // The id now also heads the per-item plots, with its place in the distribution.
    assert!(h.query_all_by_label("doc-07").count() >= 2);
    assert!(
        has_label_containing(&h, "of scored items"),
        "histogram caption"
    );
    // Arrow down moves the selection to the next row of the table.
    let order: Vec<u32> = h.state().app().table_order().to_vec();
    let pos = order.iter().position(|&i| Some(i as usize) == idx);
    h.key_press(egui::Key::ArrowDown);
    h.step();
    let next = pos.and_then(|p| order.get(p + 1)).map(|&i| i as usize);
    assert_eq!(h.state().app().session().selected, next, "arrow keys move");
}

#[test]
fn ui_anncur_with_built_index_shows_convergence() {
    let dir = tempdir();
    let items = write_items(dir.path(), 40, 2);
    let mut h = harness(StartSources::Files {
        model: TINY_CE.into(),
        items: Some(items),
        index: None,
    });
    pump_until(&mut h, "model and items", Duration::from_secs(60), loaded);
    h.state_mut().app_mut().push_action(Action::BuildIndex {
        anchor_queries: None,
        k_q: 12,
        out: dir.path().join("index"),
    });
    pump_until(&mut h, "the index", Duration::from_secs(120), |a| {
        a.session().index.is_some() && !a.is_busy()
    });
    assert!(has_label_containing(&h, "12 anchor pseudo-queries"));
    {
        let q = h.state_mut().app_mut().query_bar_mut();
        q.method = Method::Anncur;
        q.budget = 20;
        q.k_i = 10;
        q.top_k = 5;
    }
    type_query_and_enter(&mut h, "money in the bank");
    pump_until(
        &mut h,
        "the search to finish",
        Duration::from_secs(60),
        search_done,
    );
    // The best item was selected automatically; its convergence curve arrives.
    pump_until(
        &mut h,
        "the convergence curve",
        Duration::from_secs(30),
        |a| a.session().convergence.is_some(),
    );
    assert!(has_label_containing(&h, "approximation as anchors grow"));
    let app = h.state().app();
    assert!(app.analysis().pairs >= 40, "scatter has every item");
    let curves = app
        .session()
        .search
        .as_ref()
        .and_then(|s| s.recall.as_ref())
        .map(|(_, c)| c.iter().map(|c| c.method).collect::<Vec<_>>());
    assert!(curves.is_some_and(|c| c.contains(&Method::Anncur)));
}

#[test]
fn ui_escape_cancels_a_running_search() {
    let dir = tempdir();
    let items = write_items(dir.path(), 6000, 120);
    let mut h = harness(StartSources::Files {
        model: TINY_CE.into(),
        items: Some(items),
        index: None,
    });
    pump_until(&mut h, "model and items", Duration::from_secs(120), loaded);
    h.state_mut().app_mut().query_bar_mut().method = Method::Exact;
    type_query_and_enter(&mut h, "water and stone");
    pump_until(
        &mut h,
        "the first exact scores",
        Duration::from_secs(60),
        |a| {
            a.session()
                .search
                .as_ref()
                .is_some_and(|s| s.exact_known > 0 || s.finished.is_some())
        },
    );
    let before = h
        .state()
        .app()
        .session()
        .search
        .as_ref()
        .map(|s| s.exact_known);
    assert!(
        before.is_some_and(|k| k < 6000),
        "scoring still running when Esc is pressed"
    );
    h.key_press(egui::Key::Escape);
    h.step();
    let app = h.state().app();
    assert!(app.active_job().is_none(), "no job after Esc");
    assert_eq!(
        app.session().search.as_ref().and_then(|s| s.finished),
        Some(true),
        "the search is marked cancelled"
    );
    let at_cancel = app.session().search.as_ref().map(|s| s.exact_known);
    // Late events of the cancelled job are ignored.
    for _ in 0..20 {
        h.step();
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(
        h.state()
            .app()
            .session()
            .search
            .as_ref()
            .map(|s| s.exact_known),
        at_cancel
    );
    assert!(has_label_containing(&h, "cancelled"));
}

/// A file dropped onto the window, as the windowing integration would hand it over.
#[derive(Debug)]
struct Dropped(PathBuf);

impl egui::DroppedFile for Dropped {
    fn path(&self) -> &Path {
        &self.0
    }

    fn bytes(&self) -> Result<Vec<u8>, String> {
        std::fs::read(&self.0).map_err(|e| e.to_string())
    }
}

#[test]
fn ui_dropping_a_file_loads_it() {
    let dir = tempdir();
    let first = write_items(dir.path(), 12, 1);
    let mut h = harness(StartSources::Files {
        model: TINY_CE.into(),
        items: Some(first),
        index: None,
    });
    pump_until(&mut h, "model and items", Duration::from_secs(60), loaded);
    let other = dir.path().join("other");
    assert!(std::fs::create_dir_all(&other).is_ok());
    let dropped = write_items(&other, 7, 1);
    h.input_mut()
        .dropped_files
        .push(std::sync::Arc::new(Dropped(dropped)));
    h.step();
    pump_until(&mut h, "the dropped file", Duration::from_secs(60), |a| {
        a.session().n_items() == 7 && !a.is_busy()
    });
    assert!(has_label_containing(&h, "7 items (jsonl)"));
}

#[test]
fn ui_broken_items_file_shows_the_error() {
    let dir = tempdir();
    let broken = dir.path().join("broken.jsonl");
    let written = std::fs::write(
        &broken,
        "{\"id\": \"a\", \"text\": \"fine\"}\n{\"id\": \"b\", \"text\": 5}\n",
    );
    assert!(written.is_ok());
    let mut h = harness(StartSources::Files {
        model: TINY_CE.into(),
        items: Some(broken),
        index: None,
    });
    pump_until(&mut h, "the load error", Duration::from_secs(60), |a| {
        !a.session().errors.is_empty() && !a.is_busy()
    });
    assert!(h.state().app().session().items.is_none());
    let message = h.state().app().session().errors[0].message.clone();
    assert!(
        message.contains("broken.jsonl:2"),
        "file and line: {message}"
    );
    assert!(has_label(&h, &message), "the message is on screen");
}

#[test]
fn ui_missing_model_shows_the_error() {
    let mut h = harness(StartSources::Files {
        model: "/nonexistent/relex-model".into(),
        items: None,
        index: None,
    });
    pump_until(&mut h, "the model error", Duration::from_secs(30), |a| {
        !a.session().errors.is_empty() && !a.is_busy()
    });
    assert!(has_label_containing(&h, "/nonexistent/relex-model"));
    assert!(has_label(&h, "No items loaded"));
}

#[test]
fn ui_frame_time_with_large_list_while_scoring() {
    let dir = tempdir();
    let items = write_items(dir.path(), 100_000, 2);
    let mut h = harness(StartSources::Files {
        model: TINY_CE.into(),
        items: Some(items),
        index: None,
    });
    pump_until(&mut h, "100k items", Duration::from_secs(120), loaded);
    {
        let q = h.state_mut().app_mut().query_bar_mut();
        q.method = Method::Random;
        q.budget = 50;
    }
    type_query_and_enter(&mut h, "river water");
    // Stream exact scores for a while (or until done), then cancel.
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
    let max = frames.last().copied().unwrap_or(0.0);
    let app = h.state().app();
    let known = app.session().search.as_ref().map_or(0, |s| s.exact_known);
    eprintln!(
        "100k rows, {} frames while scoring ({known} exact scores in): step p50 {p50:.1} ms, max {max:.1} ms; ui body max while busy {:.1} ms",
        frames.len(),
        app.frame_stats().max_ui_ms_busy
    );
    assert!(known > 0, "exact scores streamed");
    assert_eq!(app.table_order().len(), 100_000);
}
