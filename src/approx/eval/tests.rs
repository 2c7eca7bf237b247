//! Tests of `approx::eval`.

use super::super::npy::read_npy;
use super::super::testutil::low_rank;
use super::*;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/approx");

#[test]
fn eval_rows_and_sanity() {
    let m = low_rank(50, 300, 6, 0.1, 31);
    let cfg = EvalConfig {
        anchor_rows: 30,
        k_i: 12,
        methods: vec![
            Method::Exact,
            Method::Anncur,
            Method::Adacur,
            Method::Random,
        ],
        budgets: vec![12, 40, 300],
        ks: vec![1, 10],
        seeds: 2,
        ..Default::default()
    };
    let rows = evaluate(&m, &cfg).unwrap();
    assert_eq!(rows.len(), 1 + 3 * 3);
    assert_eq!((rows[0].method, rows[0].budget), (Method::Exact, 300));
    assert_eq!(rows[0].recall_at(10), Some(1.0));
    for r in &rows {
        assert_eq!(r.rel_error.is_some(), r.method.is_factorised());
        let expect = if r.method == Method::Exact {
            300.0
        } else {
            r.budget as f64
        };
        assert_eq!(r.ce_calls, expect, "{r:?}");
        if r.budget == 300 {
            assert_eq!(r.recall_at(10), Some(1.0), "{r:?}");
        }
    }
    let get = |m: Method, b: usize| {
        rows.iter()
            .find(|r| r.method == m && r.budget == b)
            .unwrap()
            .clone()
    };
    assert!(get(Method::Anncur, 40).recall_at(10) > get(Method::Random, 40).recall_at(10));
    assert!(get(Method::Anncur, 40).spearman.unwrap() > 0.8);
    let json = serde_json::to_value(&rows[1]).unwrap();
    assert!(json.get("recall@10").is_some());
    assert_eq!(json["method"], "anncur");
    assert!(json.get("rel_error").unwrap().is_number());
    assert!(serde_json::to_value(&rows[0]).unwrap()["spearman"].is_null());
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("eval.csv");
    write_csv(&rows, &p).unwrap();
    let csv = std::fs::read_to_string(&p).unwrap();
    assert!(csv.starts_with(
        "method,budget,recall@1,recall@10,rel_error,spearman,ce_calls,index_ce_calls\n"
    ));
    assert!(csv
        .lines()
        .nth(1)
        .unwrap()
        .starts_with("exact,300,1,1,,,300"));
    assert_eq!(csv.lines().count(), rows.len() + 1);
}

#[test]
fn eval_rejects_bad_configs() {
    let m = low_rank(20, 50, 3, 0.1, 32);
    let base = EvalConfig {
        anchor_rows: 10,
        k_i: 5,
        budgets: vec![10],
        ks: vec![1],
        seeds: 1,
        ..Default::default()
    };
    let check = |cfg: EvalConfig| assert!(evaluate(&m, &cfg).is_err());
    check(EvalConfig {
        anchor_rows: 20,
        ..base.clone()
    });
    check(EvalConfig {
        budgets: vec![4],
        ..base.clone()
    });
    check(EvalConfig {
        ks: vec![],
        ..base.clone()
    });
    check(EvalConfig {
        k_i: 51,
        budgets: vec![60],
        ..base.clone()
    });
    check(EvalConfig {
        methods: vec![Method::Tfidf],
        ..base.clone()
    });
    check(EvalConfig {
        anchor_sets: Some(vec![vec![1, 2], vec![3]]),
        ..base.clone()
    });
    check(EvalConfig {
        anchor_sets: Some(vec![vec![1, 50]]),
        ..base.clone()
    });
    let items: Vec<String> = (0..50).map(|i| format!("item {i}")).collect();
    let queries: Vec<String> = (0..19).map(|i| format!("item {i}")).collect();
    check(EvalConfig {
        methods: vec![Method::Tfidf],
        texts: Some((&items, &queries)),
        ..base.clone()
    });
    assert!(evaluate(&m, &base).is_ok());
}

#[test]
fn eval_with_tfidf_and_random_anchor_rows() {
    // Exact score = word overlap with the query, so TF-IDF is near-perfect.
    let words = [
        "alpha", "beta", "gamma", "delta", "eps", "zeta", "eta", "theta",
    ];
    let items: Vec<String> = (0..64)
        .map(|j| format!("{} {}", words[j % 8], words[(j / 8) % 8]))
        .collect();
    let queries: Vec<String> = (0..30).map(|i| words[i % 8].to_string()).collect();
    let m = Matrix::from_fn(30, 64, |i, j| {
        let q = words[i % 8];
        items[j].split(' ').filter(|w| *w == q).count() as f32 + 0.001 * j as f32
    });
    let cfg = EvalConfig {
        anchor_rows: 10,
        anchor_rows_random: true,
        k_i: 8,
        methods: vec![Method::Tfidf, Method::Random],
        budgets: vec![16],
        ks: vec![5],
        seeds: 1,
        texts: Some((&items, &queries)),
        ..Default::default()
    };
    let rows = evaluate(&m, &cfg).unwrap();
    assert!(rows[0].recall_at(5).unwrap() > 0.99, "{rows:?}");
    assert!(rows[1].recall_at(5).unwrap() < 0.7, "{rows:?}");
}

#[derive(Deserialize)]
struct RefFile {
    anchor_rows: usize,
    k_i: usize,
    ks: Vec<usize>,
    budgets: Vec<usize>,
    results: Vec<RefRow>,
}

#[derive(Deserialize)]
struct RefRow {
    method: String,
    budget: usize,
    recall: BTreeMap<String, f64>,
    rel_error: Option<f64>,
    spearman: Option<f64>,
}

/// `evaluate` agrees with the NumPy reference (scripts/eval_reference.py)
/// on the fixture matrix and anchor sets within 0.01.
#[test]
fn agrees_with_numpy_reference() {
    let m = read_npy(format!("{FIXTURES}/eval_matrix.npy")).unwrap();
    let sets: Vec<Vec<usize>> = serde_json::from_str(
        &std::fs::read_to_string(format!("{FIXTURES}/eval_anchor_sets.json")).unwrap(),
    )
    .unwrap();
    let reference: RefFile = serde_json::from_str(
        &std::fs::read_to_string(format!("{FIXTURES}/eval_reference.json")).unwrap(),
    )
    .unwrap();
    // Our own seeded draws are the ones the fixture records.
    let r = m
        .select_rows(&(0..reference.anchor_rows).collect::<Vec<_>>())
        .unwrap();
    for (s, set) in sets.iter().enumerate() {
        let ours =
            select_anchor_items(&r, reference.k_i, AnchorStrategy::Random, s as u64).unwrap();
        assert_eq!(&ours, set, "anchor draw of seed {s}");
    }
    let cfg = EvalConfig {
        anchor_rows: reference.anchor_rows,
        k_i: reference.k_i,
        methods: vec![Method::Anncur, Method::Random],
        budgets: reference.budgets.clone(),
        ks: reference.ks.clone(),
        anchor_sets: Some(sets),
        ..Default::default()
    };
    let rows = evaluate(&m, &cfg).unwrap();
    assert_eq!(rows.len(), reference.results.len());
    let mut max_diff = 0.0f64;
    for want in &reference.results {
        let got = rows
            .iter()
            .find(|r| r.method.name() == want.method && r.budget == want.budget)
            .unwrap();
        for (k, v) in &want.recall {
            let g = got.recall[k];
            max_diff = max_diff.max((g - v).abs());
            assert!(
                (g - v).abs() <= 0.01,
                "{} {} {k}: {g} vs {v}",
                want.method,
                want.budget
            );
        }
        for (g, w, name) in [
            (got.rel_error, want.rel_error, "rel_error"),
            (got.spearman, want.spearman, "spearman"),
        ] {
            match (g, w) {
                (Some(g), Some(w)) => {
                    max_diff = max_diff.max((g - w).abs());
                    assert!((g - w).abs() <= 0.01, "{name}: {g} vs {w}")
                }
                (None, None) => {}
                _ => panic!("{name} presence differs for {}", want.method),
            }
        }
    }
    eprintln!("max |rust - numpy| over all reference values: {max_diff:.2e}");
}
