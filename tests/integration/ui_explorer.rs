//! UI tests of the explorer views (methods side by side, item explanations, query sets,
//! judgments and snapshots), driven through egui_kittest on the tiny test model and a
//! few dozen generated items, so each runs in seconds in a debug build.

use std::path::PathBuf;
use std::time::Duration;

use egui::Role;
use egui_kittest::kittest::Queryable;
use egui_kittest::Harness;
use relex::approx::Method;
use relex::engine::snapshot::Judgment;
use relex::engine::QueryOutcome;
use relex::ui::actions::{Action, View};
use relex::ui::StartSources;

use crate::support::ui_harness::*;

fn started(n: usize) -> (tempfile::TempDir, Harness<'static, TestApp>) {
    let dir = tempdir();
    let items = write_items(dir.path(), n, 2);
    let mut h = harness(StartSources::Files {
        model: TINY_CE.into(),
        items: Some(items),
        index: None,
    });
    pump_until(&mut h, "model and items", Duration::from_secs(60), loaded);
    (dir, h)
}

/// Items and an index of 12 anchor pseudo-queries.
fn indexed(n: usize) -> (tempfile::TempDir, Harness<'static, TestApp>) {
    let (dir, mut h) = started(n);
    h.state_mut().app_mut().push_action(Action::BuildIndex {
        anchor_queries: None,
        k_q: 12,
        out: dir.path().join("index"),
        sparse: false,
    });
    pump_until(&mut h, "the index", Duration::from_secs(120), |a| {
        a.session().index.is_some() && !a.is_busy()
    });
    (dir, h)
}

fn settings(h: &mut Harness<'static, TestApp>, method: Method, budget: usize, k_i: usize) {
    let q = h.state_mut().app_mut().query_bar_mut();
    q.method = method;
    q.budget = budget;
    q.k_i = k_i;
    q.top_k = 5;
}

fn click_tab(h: &mut Harness<'static, TestApp>, view: View) {
    h.get_by_label(view.label()).click();
    h.step();
    h.step();
    assert_eq!(h.state().app().view(), view);
}

fn item_id(h: &Harness<'static, TestApp>, i: usize) -> String {
    h.state()
        .app()
        .session()
        .items
        .as_ref()
        .map(|s| s.items[i].id.clone())
        .unwrap_or_default()
}

#[test]
fn ui_compare_view_runs_every_method_side_by_side() {
    let (_dir, mut h) = indexed(40);
    settings(&mut h, Method::Anncur, 20, 8);
    h.state_mut().app_mut().query_bar_mut().query = "money in the bank".into();
    click_tab(&mut h, View::Compare);
    h.get_by_label("Compare methods").click();
    h.step();
    pump_until(&mut h, "the comparison", Duration::from_secs(120), |a| {
        a.session().comparison.is_some() && !a.is_busy()
    });
    let app = h.state().app();
    let c = app.session().comparison.clone().expect("a comparison");
    let methods: Vec<Method> = c.runs.iter().map(|r| r.method).collect();
    assert_eq!(
        methods,
        [
            Method::Anncur,
            Method::Adacur,
            Method::Axn,
            Method::Tfidf,
            Method::Random
        ]
    );
    for r in &c.runs {
        assert_eq!(r.error, None, "{}", r.method);
        assert_eq!(r.ce_calls, 20, "{}", r.method);
        assert_eq!(r.ranking.len(), 5);
    }
    assert_eq!(c.exact.len(), 5);
    assert!(c.curves.len() >= 4, "a recall curve per method");
    for label in [
        "Jaccard@k",
        "RBO (p=0.9)",
        "Recall@5 vs CE calls, every method",
    ] {
        assert!(has_label(&h, label), "{label}");
    }
    // Every method's row of metrics is on screen, e.g. ADACUR's recall.
    let adacur = &c.runs[1];
    assert!(has_label(&h, &format!("{:.3}", adacur.rbo)));
    // Rank-change arrows: "=" where a method ranks an item as exact does, else ↑n / ↓n.
    let moves = |pred: &dyn Fn(usize, usize) -> bool| {
        c.runs.iter().any(|r| {
            r.exact_ranks
                .iter()
                .enumerate()
                .any(|(p, &e)| pred(p + 1, e))
        })
    };
    if moves(&|p, e| e == p) {
        assert!(has_label(&h, "="));
    }
    if moves(&|p, e| e > p) {
        assert!(has_label_containing(&h, "⏶"));
    }
    if moves(&|p, e| e < p) {
        assert!(has_label_containing(&h, "⏷"));
    }
}

#[test]
fn ui_explain_view_decomposes_the_selected_item_and_any_item_by_id() {
    let (_dir, mut h) = indexed(40);
    settings(&mut h, Method::Anncur, 20, 8);
    type_query_and_enter(&mut h, "money in the bank");
    pump_until(&mut h, "the search", Duration::from_secs(60), search_done);
    click_tab(&mut h, View::Explain);
    // The selected (best) item is explained as soon as the view opens.
    pump_until(&mut h, "the explanation", Duration::from_secs(60), |a| {
        a.session().explanation.is_some() && !a.is_busy()
    });
    let app = h.state().app();
    let x = app.session().explanation.clone().expect("an explanation");
    assert_eq!(Some(x.item), app.session().selected);
    assert_eq!(x.contributions.len(), 8);
    let sum: f64 = x.contributions.iter().map(|c| c.value).sum();
    let approx = x.approx.expect("an ANNCUR approximation") as f64;
    assert!(
        (sum - approx).abs() < 1e-3 * (1.0 + approx.abs()),
        "{sum} vs {approx}"
    );
    assert_eq!(x.found.len(), 5);
    assert!(has_label(&h, "Anchors that pull it up or down"));
    assert!(has_label(&h, "At what budget each method finds it"));
    // "Why isn't X here?": the item the CE ranks last, by its id.
    let last = app
        .analysis()
        .exact_rank
        .iter()
        .position(|&r| r == 40)
        .expect("an item at exact rank 40");
    let id = item_id(&h, last);
    h.get_by(|n| {
        n.role() == Role::TextInput && n.data().placeholder().is_some_and(|p| p == "item id")
    })
    .focus();
    h.step();
    h.get_by(|n| {
        n.role() == Role::TextInput && n.data().placeholder().is_some_and(|p| p == "item id")
    })
    .type_text(&id);
    h.step();
    h.key_press(egui::Key::Enter);
    h.step();
    pump_until(
        &mut h,
        "the second explanation",
        Duration::from_secs(60),
        |a| {
            a.session()
                .explanation
                .as_ref()
                .is_some_and(|x| x.item == last)
                && !a.is_busy()
        },
    );
    let x = h
        .state()
        .app()
        .session()
        .explanation
        .clone()
        .expect("explained");
    assert_eq!(x.exact_rank, 40);
    assert_eq!(h.state().app().session().selected, Some(last));
    assert!(has_label_containing(&h, "outside the exact top-5"));
    for (m, f) in &x.found {
        let f = f.as_ref().unwrap_or_else(|e| panic!("{m}: {e}"));
        assert_ne!(
            f.ranked,
            Some(40),
            "{m}: the last item is never in a full top-5"
        );
    }
}

fn write_queries(dir: &std::path::Path) -> PathBuf {
    let path = dir.join("queries.jsonl");
    let text = "{\"id\":\"qa\",\"text\":\"the muddy river bank\",\"gold\":[\"doc-00\"]}\n\
                {\"id\":\"qb\",\"text\":\"guitars and drums\",\"gold\":[\"doc-03\"]}\n\
                {\"id\":\"qc\",\"text\":\"a tall plant made of wood\",\"gold\":[\"doc-02\"]}\n";
    if let Err(e) = std::fs::write(&path, text) {
        panic!("{e}");
    }
    path
}

#[test]
fn ui_query_set_dashboard_runs_a_file_worst_first_and_opens_a_query() {
    let (dir, mut h) = started(24);
    settings(&mut h, Method::Tfidf, 8, 4);
    let queries = write_queries(dir.path());
    {
        let v = h.state_mut().app_mut().query_set_view_mut();
        v.queries = queries.display().to_string();
        v.score_exact = true;
    }
    click_tab(&mut h, View::QuerySet);
    h.get_by_label("Run query set").click();
    h.step();
    pump_until(&mut h, "the query set", Duration::from_secs(120), |a| {
        a.session()
            .query_set
            .as_ref()
            .is_some_and(|r| r.finished.is_some())
            && !a.is_busy()
    });
    let run = h
        .state()
        .app()
        .session()
        .query_set
        .clone()
        .expect("a query-set run");
    assert_eq!(run.finished, Some(false), "completed");
    assert_eq!(run.outcomes.len(), 3);
    assert!(run
        .outcomes
        .iter()
        .all(|o| o.recall.is_some() && o.ce_calls == 8));
    assert!(has_label_containing(&h, "done: 3 queries"));
    assert!(has_label_containing(&h, "mean recall@k"));
    // The worst query is listed first; a click opens it as a search.
    let worst = &run.outcomes[QueryOutcome::worst_first(&run.outcomes)[0]];
    h.get_by_label(&worst.text).click();
    h.step();
    pump_until(
        &mut h,
        "the opened query",
        Duration::from_secs(60),
        search_done,
    );
    let app = h.state().app();
    assert_eq!(app.view(), View::Ranking);
    let s = app.session().search.as_ref().expect("a search");
    assert_eq!(s.request.query, worst.text);
    assert_eq!(s.query_id.as_deref(), Some(worst.id.as_str()));
    assert_eq!(app.session().gold_ids(), Some(worst.gold.as_slice()));
}

#[test]
fn ui_query_set_with_a_missing_file_says_which() {
    let (dir, mut h) = started(8);
    let missing = dir.path().join("nope.jsonl");
    h.state_mut().app_mut().query_set_view_mut().queries = missing.display().to_string();
    click_tab(&mut h, View::QuerySet);
    h.get_by_label("Run query set").click();
    h.step();
    pump_until(&mut h, "the failure", Duration::from_secs(30), |a| {
        !a.is_busy()
    });
    h.step();
    assert!(has_label_containing(&h, "nope.jsonl"));
}

#[test]
fn ui_judging_keys_snapshots_diff_and_qrels() {
    let (dir, mut h) = started(24);
    settings(&mut h, Method::Exact, 20, 4);
    type_query_and_enter(&mut h, "a tall tree");
    pump_until(&mut h, "the search", Duration::from_secs(60), search_done);
    click_tab(&mut h, View::Judgments);
    // An exact search selects nothing by itself: ↓ selects the first row.
    h.key_press(egui::Key::ArrowDown);
    h.step();
    let order: Vec<usize> = h
        .state()
        .app()
        .table_order()
        .iter()
        .map(|&i| i as usize)
        .collect();
    assert_eq!(h.state().app().session().selected, Some(order[0]));
    for key in [egui::Key::R, egui::Key::N, egui::Key::S] {
        h.key_press(key);
        h.step();
    }
    h.step();
    let app = h.state().app();
    let j = &app.session().judgments;
    let ids: Vec<String> = order.iter().take(4).map(|&i| item_id(&h, i)).collect();
    assert_eq!(j.get("a tall tree", &ids[0]), Some(Judgment::Relevant));
    assert_eq!(j.get("a tall tree", &ids[1]), Some(Judgment::NotRelevant));
    assert_eq!(j.get("a tall tree", &ids[2]), Some(Judgment::Skip));
    assert_eq!(app.session().selected, Some(order[3]), "each key moves on");
    // Rank 1 judged relevant agrees with the CE's top-5, rank 2 judged not does not.
    assert!(has_label_containing(
        &h,
        "exact CE agrees on 1 of 2 judged items"
    ));
    assert!(has_label(&h, "disagrees"));

    let a = dir.path().join("a.json");
    let b = dir.path().join("b.json");
    h.state_mut().app_mut().save_snapshot(a.clone());
    h.key_press(egui::Key::R);
    h.step();
    h.state_mut().app_mut().save_snapshot(b.clone());
    h.state_mut().app_mut().load_snapshot(&a);
    h.state_mut().app_mut().diff_snapshot(&b);
    h.step();
    h.step();
    let app = h.state().app();
    let (_, snap) = app.session().snapshot.clone().expect("loaded");
    assert_eq!(snap.query, "a tall tree");
    assert_eq!(snap.settings.method, Method::Exact);
    assert_eq!(snap.ranking.len(), 24, "every item has an exact rank");
    assert_eq!(snap.ranking[0].id, ids[0]);
    let (_, _, d) = app.session().snapshot_diff.clone().expect("a diff");
    assert_eq!(d.judgments.len(), 1);
    assert_eq!(d.judgments[0].item, ids[3]);
    assert_eq!(d.judgments[0].after, Some(Judgment::Relevant));
    assert!(has_label(&h, "Diff a.json vs b.json"));

    // A typed path stands in for the file dialog.
    let qrels = dir.path().join("judgments.qrels");
    h.get_by(|n| {
        n.role() == Role::TextInput
            && n.data()
                .placeholder()
                .is_some_and(|p| p.contains("empty for a dialog"))
    })
    .focus();
    h.step();
    h.get_by(|n| {
        n.role() == Role::TextInput
            && n.data()
                .placeholder()
                .is_some_and(|p| p.contains("empty for a dialog"))
    })
    .type_text(&qrels.display().to_string());
    h.step();
    h.get_by_label("Export qrels…").click();
    h.step();
    h.step();
    let text = std::fs::read_to_string(&qrels).unwrap_or_default();
    let want = format!("q1 0 {} 1\nq1 0 {} 0\nq1 0 {} 1\n", ids[0], ids[1], ids[3]);
    let mut got: Vec<&str> = text.lines().collect();
    got.sort_unstable();
    let mut want: Vec<&str> = want.lines().collect();
    want.sort_unstable();
    assert_eq!(got, want);

    // A broken snapshot names its file, line and column.
    let bad = dir.path().join("bad.json");
    if let Err(e) = std::fs::write(&bad, "{\n  \"format\": 3\n}") {
        panic!("{e}");
    }
    h.state_mut().app_mut().load_snapshot(&bad);
    h.step();
    h.step();
    assert!(has_label_containing(&h, "bad.json:2:"));
}
