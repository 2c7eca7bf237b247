//! UI tests: the whole explorer driven through egui_kittest, on the tiny test model and
//! item files written to a temporary folder. Each test pumps frames until the engine's
//! events have arrived (bounded by a timeout), then checks what the window shows.

use std::path::{Path, PathBuf};
use std::time::Duration;

use egui_kittest::kittest::Queryable;
use relex::approx::Method;
use relex::ui::actions::Action;
use relex::ui::StartSources;

use crate::support::ui_harness::*;

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
    // End and Home jump to the last and the first row.
    h.key_press(egui::Key::End);
    h.step();
    let last = order.last().map(|&i| i as usize);
    assert_eq!(h.state().app().session().selected, last, "End: last row");
    h.key_press(egui::Key::Home);
    h.step();
    let first = order.first().map(|&i| i as usize);
    assert_eq!(h.state().app().session().selected, first, "Home: first row");
    assert_ne!(first, last);
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
        sparse: false,
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
fn ui_large_list_streams_exact_scores_and_escape_cancels() {
    let dir = tempdir();
    let items = write_items(dir.path(), 100_000, 2);
    let mut h = harness(StartSources::Files {
        model: TINY_CE.into(),
        items: Some(items),
        index: None,
    });
    pump_until(&mut h, "100k items", Duration::from_secs(120), loaded);
    assert_eq!(h.state().app().table_order().len(), 100_000);
    {
        let q = h.state_mut().app_mut().query_bar_mut();
        q.method = Method::Random;
        q.budget = 50;
    }
    type_query_and_enter(&mut h, "river water");
    pump_until(
        &mut h,
        "exact scores streaming",
        Duration::from_secs(60),
        |a| {
            a.session()
                .search
                .as_ref()
                .is_some_and(|s| s.exact_known > 50)
        },
    );
    h.key_press(egui::Key::Escape);
    pump_until(
        &mut h,
        "the cancelled search to end",
        Duration::from_secs(30),
        |a| !a.is_busy(),
    );
    let app = h.state().app();
    let s = app.session().search.as_ref().expect("a search");
    assert_eq!(s.finished, Some(true), "ended as cancelled");
    assert!(s.exact_known < 100_000, "stopped before scoring every item");
    assert_eq!(app.table_order().len(), 100_000, "every row still listed");
}
