//! The explorer's jobs with the fake model: methods compared against exact scores, an
//! item explained, a query set run, stopped and refused with a bad score file.

use super::*;
use crate::approx::explain::rank_of;
use crate::approx::{top_k_indices, Matrix, NpyDtype};

/// The fake model's score of item `i` of `world(n)` for `query`: shared characters.
fn fake_scores(query: &str, n: usize) -> Vec<f32> {
    (0..n)
        .map(|i| {
            let text = format!("item a {i} {}", "xyz".repeat(i % 5));
            text.chars().filter(|c| query.contains(*c)).count() as f32
        })
        .collect()
}

fn with_index(w: &World) -> (EngineHandle, Arc<AtomicUsize>) {
    let (mut e, calls) = engine(0);
    loaded(&mut e, w);
    let build = e
        .submit(Request::BuildIndex {
            anchor_queries: None,
            k_q: 8,
            out: w.dir.join("index"),
            sparse: false,
        })
        .unwrap();
    let ev = run_until_finished(&mut e, &[build]);
    assert_eq!(outcome(&ev, build), JobOutcome::Completed);
    (e, calls)
}

#[test]
fn compare_runs_every_method_once_per_item_and_measures_it_against_exact() {
    let w = world(60);
    let (mut e, calls) = with_index(&w);
    let before = calls.load(Ordering::SeqCst);
    let query = "item xyz 7";
    let job = e
        .submit(Request::Compare(CompareRequest {
            query: query.into(),
            methods: vec![
                Method::Anncur,
                Method::Adacur,
                Method::Axn,
                Method::Tfidf,
                Method::Random,
            ],
            budget: 20,
            k_i: 6,
            top_k: 5,
            seed: 1,
        }))
        .unwrap();
    let ev = run_until_finished(&mut e, &[job]);
    assert_eq!(outcome(&ev, job), JobOutcome::Completed);
    // Methods share the query's scores: every item went through the model exactly once.
    assert_eq!(calls.load(Ordering::SeqCst) - before, 60);
    assert!(ev.iter().any(
        |x| matches!(x, Event::Progress { job: j, label, .. } if *j == job && label == "comparing: adacur")
    ));
    let c = ev
        .iter()
        .find_map(|x| match x {
            Event::Comparison { comparison, .. } => Some(comparison.clone()),
            _ => None,
        })
        .expect("a Comparison event");
    let exact = fake_scores(query, 60);
    assert_eq!(c.exact, top_k_indices(&exact, 5));
    assert_eq!(c.runs.len(), 5);
    // Methods pick different items, and each item is scored once (at most the 60).
    assert!(
        c.distinct_scored > 20 && c.distinct_scored <= 60,
        "{}",
        c.distinct_scored
    );
    for r in &c.runs {
        assert_eq!(r.error, None, "{}", r.method);
        assert_eq!(r.ce_calls, 20, "{}", r.method);
        assert_eq!(r.ranking.len(), 5);
        for (&i, &rank) in r.ranking.iter().zip(&r.exact_ranks) {
            assert_eq!(Some(rank), rank_of(&exact, i));
        }
        assert!((0.0..=1.0).contains(&r.recall) && (0.0..=1.0).contains(&r.rbo));
        if r.ranking == c.exact {
            assert!(r.jaccard == 1.0 && (r.rbo - 1.0).abs() < 1e-12);
        }
    }
    let methods: Vec<Method> = c.curves.iter().map(|c| c.method).collect();
    assert!(methods.contains(&Method::Anncur) && methods.contains(&Method::Tfidf));
}

#[test]
fn explain_takes_the_anncur_score_apart_and_finds_the_budgets() {
    let w = world(60);
    let (mut e, _) = with_index(&w);
    let query = "item xyz 3";
    let exact = fake_scores(query, 60);
    let item = top_k_indices(&exact, 40)[39];
    let job = e
        .submit(Request::Explain(ExplainRequest {
            query: query.into(),
            item,
            budget: 20,
            k_i: 6,
            top_k: 5,
            seed: 0,
        }))
        .unwrap();
    let ev = run_until_finished(&mut e, &[job]);
    assert_eq!(outcome(&ev, job), JobOutcome::Completed);
    let x = ev
        .iter()
        .find_map(|x| match x {
            Event::Explanation { explanation, .. } => Some(explanation.clone()),
            _ => None,
        })
        .expect("an Explanation event");
    assert_eq!(x.item, item);
    assert_eq!(x.exact, exact[item]);
    assert_eq!(Some(x.exact_rank), rank_of(&exact, item));
    assert_eq!(x.contributions.len(), 6);
    let sum: f64 = x.contributions.iter().map(|c| c.value).sum();
    let approx = x.approx.expect("an approximation") as f64;
    assert!(
        (sum - approx).abs() < 1e-3 * (1.0 + approx.abs()),
        "{sum} vs {approx}"
    );
    assert_eq!(x.budgets, vec![10, 20, 50, 60]);
    assert_eq!(x.found.len(), 5);
    for (m, f) in &x.found {
        let f = f.as_ref().unwrap_or_else(|e| panic!("{m}: {e}"));
        // Spending every call scores every item.
        assert!(f.scored.is_some_and(|b| b <= 60), "{m}: {f:?}");
        // Rank 40 of 60 can be in a method's top-5 only while better items are unscored,
        // never once every item is scored.
        assert_ne!(f.ranked, Some(60), "{m}");
    }
    let bad = e
        .submit(Request::Explain(ExplainRequest {
            query: query.into(),
            item: 60,
            budget: 20,
            k_i: 6,
            top_k: 5,
            seed: 0,
        }))
        .unwrap();
    let ev = run_until_finished(&mut e, &[bad]);
    assert!(
        matches!(outcome(&ev, bad), JobOutcome::Failed(EngineError::Search(m)) if m.contains("out of range"))
    );
}

fn write_queries(w: &World, n: usize) -> std::path::PathBuf {
    let path = w.dir.join("queries.jsonl");
    let text: String = (0..n)
        .map(|q| format!("{{\"id\":\"q{q}\",\"text\":\"item {q} xyz\",\"gold\":[\"i{q}\"]}}\n"))
        .collect();
    std::fs::write(&path, text).expect("write queries");
    path
}

fn query_set(queries: std::path::PathBuf, exact_scores: Option<std::path::PathBuf>) -> Request {
    Request::QuerySet(QuerySetRequest {
        queries,
        qrels: None,
        exact_scores,
        method: Method::Tfidf,
        budget: 10,
        k_i: 5,
        top_k: 5,
        seed: 0,
        score_exact: true,
        limit: None,
    })
}

#[test]
fn a_query_set_reports_every_query_with_recall_and_gold_rank() {
    let w = world(30);
    let (mut e, _) = engine(0);
    loaded(&mut e, &w);
    let queries = write_queries(&w, 3);
    let job = e.submit(query_set(queries.clone(), None)).unwrap();
    let ev = run_until_finished(&mut e, &[job]);
    assert_eq!(outcome(&ev, job), JobOutcome::Completed);
    assert!(ev
        .iter()
        .any(|x| matches!(x, Event::QuerySetStarted { total: 3, .. })));
    let outcomes: Vec<&QueryOutcome> = ev
        .iter()
        .filter_map(|x| match x {
            Event::QueryOutcome { outcome, .. } => Some(outcome.as_ref()),
            _ => None,
        })
        .collect();
    assert_eq!(outcomes.len(), 3);
    for (q, o) in outcomes.iter().enumerate() {
        let exact = fake_scores(&format!("item {q} xyz"), 30);
        assert_eq!(o.index, q);
        assert_eq!(o.ce_calls, 10);
        let want = crate::approx::top_k_recall(&o.ranking, &exact, 5);
        assert_eq!(o.recall, Some(want));
        assert_eq!(o.gold_exact_rank, rank_of(&exact, q));
        assert_eq!(
            o.gold_rank,
            o.ranking.iter().position(|&i| i == q).map(|p| p + 1)
        );
    }
    // The same queries read from an exact-score matrix: the same recall, no CE.
    let rows: Vec<Vec<f32>> = (0..3)
        .map(|q| fake_scores(&format!("item {q} xyz"), 30))
        .collect();
    let npy = w.dir.join("scores.npy");
    crate::approx::write_npy(&npy, &Matrix::from_rows(&rows).unwrap(), NpyDtype::F32).unwrap();
    let job = e.submit(query_set(queries.clone(), Some(npy))).unwrap();
    let ev = run_until_finished(&mut e, &[job]);
    let recalls: Vec<Option<f64>> = ev
        .iter()
        .filter_map(|x| match x {
            Event::QueryOutcome { outcome, .. } => Some(outcome.recall),
            _ => None,
        })
        .collect();
    let before: Vec<Option<f64>> = outcomes.iter().map(|o| o.recall).collect();
    assert_eq!(recalls, before);
    // A matrix of the wrong shape is refused, naming the file and both shapes.
    let bad = w.dir.join("bad.npy");
    crate::approx::write_npy(&bad, &Matrix::zeros(2, 5), NpyDtype::F32).unwrap();
    let job = e.submit(query_set(queries, Some(bad))).unwrap();
    let ev = run_until_finished(&mut e, &[job]);
    match outcome(&ev, job) {
        JobOutcome::Failed(EngineError::Items(m)) => {
            assert!(
                m.contains("bad.npy") && m.contains("2 × 5") && m.contains("3 queries"),
                "{m}"
            )
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_query_set_stops_when_cancelled() {
    let w = world(40);
    let (mut e, _) = engine(3);
    loaded(&mut e, &w);
    let queries = write_queries(&w, 30);
    let job = e.submit(query_set(queries, None)).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut events = Vec::new();
    while !events
        .iter()
        .any(|x| matches!(x, Event::QueryOutcome { .. }))
    {
        assert!(Instant::now() < deadline, "no outcome: {events:#?}");
        if let Some(x) = e.recv_timeout(Duration::from_millis(100)) {
            events.push(x);
        }
    }
    e.cancel();
    events.extend(run_until_finished(&mut e, &[job]));
    assert_eq!(outcome(&events, job), JobOutcome::Cancelled);
    let n = events
        .iter()
        .filter(|x| matches!(x, Event::QueryOutcome { .. }))
        .count();
    assert!(n < 30, "{n} queries ran after the cancel");
}

#[test]
fn outcomes_sort_worst_first_and_summarise() {
    let o = |index: usize, recall: Option<f64>, gold_rank: Option<usize>| QueryOutcome {
        index,
        id: format!("q{index}"),
        text: String::new(),
        gold: vec!["g".into()],
        ranking: Vec::new(),
        ce_calls: 0,
        recall,
        gold_rank,
        gold_exact_rank: None,
        error: None,
    };
    let mut failed = o(4, None, None);
    failed.error = Some("bad".into());
    let all = vec![
        o(0, Some(1.0), Some(1)),
        o(1, Some(0.2), Some(2)),
        o(2, Some(0.2), None),
        o(3, Some(0.6), Some(4)),
        failed,
    ];
    assert_eq!(QueryOutcome::worst_first(&all), vec![4, 2, 1, 3, 0]);
    let s = QuerySetSummary::of(&all);
    assert_eq!(s.queries, 5);
    assert!((s.mean_recall.unwrap() - 0.5).abs() < 1e-12);
    assert!((s.gold_found.unwrap() - 0.6).abs() < 1e-12);
    assert!((s.mrr.unwrap() - (1.0 + 0.5 + 0.25) / 5.0).abs() < 1e-12);
}

fn compare(query: &str) -> Request {
    Request::Compare(CompareRequest {
        query: query.into(),
        methods: vec![Method::Tfidf, Method::Random],
        budget: 10,
        k_i: 5,
        top_k: 5,
        seed: 0,
    })
}

#[test]
fn explorer_jobs_supersede_their_own_kind_and_loads_supersede_them() {
    let w = world(40);
    let (mut e, _) = engine(2);
    loaded(&mut e, &w);
    let queries = write_queries(&w, 12);
    // A comparison replaces a pending comparison, not the query set running before it.
    let set = e.submit(query_set(queries.clone(), None)).unwrap();
    let first = e.submit(compare("item 1")).unwrap();
    let second = e.submit(compare("item 2")).unwrap();
    let ev = run_until_finished(&mut e, &[set, first, second]);
    assert_eq!(outcome(&ev, set), JobOutcome::Completed);
    assert_eq!(outcome(&ev, first), JobOutcome::Cancelled);
    assert_eq!(outcome(&ev, second), JobOutcome::Completed);
    let compared: Vec<&str> = ev
        .iter()
        .filter_map(|x| match x {
            Event::Comparison { comparison, .. } => Some(comparison.query.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(compared, vec!["item 2"]);
    // A load stops a running query set and a pending explanation.
    let set = e.submit(query_set(queries, None)).unwrap();
    let explain = e
        .submit(Request::Explain(ExplainRequest {
            query: "item 3".into(),
            item: 3,
            budget: 10,
            k_i: 5,
            top_k: 5,
            seed: 0,
        }))
        .unwrap();
    let load = e
        .submit(Request::LoadItems {
            path: w.items.clone(),
        })
        .unwrap();
    let ev = run_until_finished(&mut e, &[set, explain, load]);
    assert_eq!(outcome(&ev, set), JobOutcome::Cancelled);
    assert_eq!(outcome(&ev, explain), JobOutcome::Cancelled);
    assert_eq!(outcome(&ev, load), JobOutcome::Completed);
}

/// The recall curves drawn under a search are that search's own method, settings and
/// anchor strategy: at the run's budget, the run's method's curve shows the run's recall.
#[test]
fn a_recall_curve_at_the_runs_budget_is_the_runs_recall() {
    let w = world(60);
    let (mut e, _) = with_index(&w);
    let query = "item xyz 7";
    let exact = fake_scores(query, 60);
    for method in [Method::Anncur, Method::Adacur, Method::Axn, Method::Tfidf] {
        // k_i 6 of a budget of 25: not the half of the budget an older rule assumed,
        // and 25 is not one of the curves' fixed budgets.
        let job = e
            .submit(Request::Search(SearchRequest {
                query: query.into(),
                method,
                budget: 25,
                k_i: 6,
                top_k: 5,
                seed: 3,
                verify_exact: true,
            }))
            .unwrap();
        let ev = run_until_finished(&mut e, &[job]);
        assert_eq!(outcome(&ev, job), JobOutcome::Completed, "{method}");
        let result = ev
            .iter()
            .find_map(|x| match x {
                Event::Approximate { job: j, result, .. } if *j == job => Some(result.clone()),
                _ => None,
            })
            .expect("the approximate stage");
        let returned: Vec<usize> = result.ranking.iter().map(|x| x.item).collect();
        let run_recall = crate::approx::metrics::top_k_recall(&returned, &exact, 5);
        let (k, curves) = ev
            .iter()
            .find_map(|x| match x {
                Event::RecallCurves { job: j, k, curves } if *j == job => Some((*k, curves)),
                _ => None,
            })
            .expect("recall curves after verification");
        assert_eq!(k, 5);
        let curve = curves
            .iter()
            .find(|c| c.method == method)
            .expect("a curve of the run's method");
        let point = curve
            .points
            .iter()
            .find(|(calls, _)| *calls == result.ce_calls)
            .unwrap_or_else(|| {
                panic!("{method}: no point at {} calls: {curve:?}", result.ce_calls)
            });
        assert_eq!(point.1, run_recall, "{method}: curve {curve:?}");
    }
}
