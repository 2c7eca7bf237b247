//! Tests of `approx::cur`.

use super::super::check_indices;
use super::super::testutil::low_rank;
use super::super::{metrics, MatrixRowScorer};
use super::*;

fn index_and_test(m: &Matrix, kq: usize) -> (CurIndex, Matrix) {
    let r = m.select_rows(&(0..kq).collect::<Vec<_>>()).unwrap();
    let t = m.select_rows(&(kq..m.rows()).collect::<Vec<_>>()).unwrap();
    (CurIndex::new(r, vec![]).unwrap(), t)
}

#[test]
fn pinv_of_known_matrix() {
    // A = [[1, 0], [0, 2], [0, 0]] → pinv = [[1, 0, 0], [0, 0.5, 0]]
    let p = pinv_f64(3, 2, &[1.0, 0.0, 0.0, 2.0, 0.0, 0.0]).unwrap();
    let want = [1.0, 0.0, 0.0, 0.0, 0.5, 0.0];
    for (a, b) in p.data.iter().zip(want) {
        assert!((a - b).abs() < 1e-12);
    }
    assert_eq!(p.rank, 2);
    // Rank-deficient: [[1, 1], [1, 1]] → pinv = A / 4.
    let p = pinv_f64(2, 2, &[1.0, 1.0, 1.0, 1.0]).unwrap();
    assert_eq!(p.rank, 1);
    assert!(p.data.iter().all(|x| (x - 0.25).abs() < 1e-12));
    assert!(pinv_f64(1, 1, &[f64::NAN]).is_err());
    assert!(pinv_f64(2, 2, &[0.0; 3]).is_err());
    let z = pinv_f64(2, 3, &[0.0; 6]).unwrap();
    assert_eq!(z.rank, 0);
    assert!(z.data.iter().all(|&x| x == 0.0));
}

#[test]
fn exact_recovery_on_low_rank() {
    // rank 8 ≤ k_i = 12 ≤ k_q = 30: CUR reproduces every row exactly.
    let m = low_rank(40, 500, 8, 0.0, 11);
    let (index, test) = index_and_test(&m, 30);
    for strategy in [
        AnchorStrategy::Random,
        AnchorStrategy::TopScoring,
        AnchorStrategy::KMeansPP,
    ] {
        let f = index.factor(12, strategy, 5).unwrap();
        assert_eq!(f.rank, 8);
        for q in 0..test.rows() {
            let row = test.row(q);
            let c: Vec<f32> = f.anchors.iter().map(|&j| row[j]).collect();
            let s = f.approximate(&c).unwrap();
            let err = metrics::relative_error(&s, row).unwrap();
            assert!(err < 1e-6, "{strategy:?}: relative error {err}");
        }
    }
}

#[test]
fn search_is_exact_with_full_recovery() {
    let m = low_rank(40, 500, 8, 0.0, 12);
    let (index, test) = index_and_test(&m, 30);
    let params = AnncurParams {
        k_i: 12,
        budget: 30,
        top_k: 10,
        ..Default::default()
    };
    for q in 0..test.rows() {
        let mut sc = MatrixRowScorer::new(&test, q).unwrap();
        let res = anncur_search(&index, &mut sc, &params).unwrap();
        assert_eq!(res.ce_calls, 30);
        assert_eq!(sc.calls, 30);
        let got: Vec<usize> = res.ranking.iter().map(|r| r.item).collect();
        let want = top_k_indices(test.row(q), 10);
        assert_eq!(got, want);
        assert!(!res.warnings.iter().any(|w| w.contains("ill-conditioned")));
        assert_eq!(res.approx_scores.as_ref().unwrap().len(), 500);
    }
}

#[test]
fn recall_rises_with_budget() {
    let m = low_rank(120, 2000, 15, 0.3, 13);
    let (index, test) = index_and_test(&m, 80);
    let mut prev = -1.0;
    for budget in [40, 80, 160, 400] {
        let params = AnncurParams {
            k_i: 40,
            budget,
            top_k: 10,
            ..Default::default()
        };
        let mut total = 0.0;
        for q in 0..test.rows() {
            let mut sc = MatrixRowScorer::new(&test, q).unwrap();
            let res = anncur_search(&index, &mut sc, &params).unwrap();
            let got: Vec<usize> = res.ranking.iter().map(|r| r.item).collect();
            total += metrics::top_k_recall(&got, test.row(q), 10);
        }
        let recall = total / test.rows() as f64;
        assert!(
            recall >= prev,
            "recall {recall} < {prev} at budget {budget}"
        );
        prev = recall;
    }
    assert!(prev > 0.9, "recall at budget 400 only {prev}");
}

#[test]
fn rank_deficient_intersection_stays_finite() {
    // R has rank 3 but we ask for 10 anchors, and duplicate columns.
    let base = low_rank(20, 100, 3, 0.0, 14);
    let mut data = base.clone().into_data();
    // Make columns 0..5 identical copies of column 0.
    for i in 0..20 {
        for j in 1..5 {
            data[i * 100 + j] = data[i * 100];
        }
    }
    let m = Matrix::new(20, 100, data).unwrap();
    let (index, test) = index_and_test(&m, 10);
    let f = index.factor_for_anchors((0..10).collect()).unwrap();
    assert!(f.rank <= 3);
    assert!(f.e.data().iter().all(|x| x.is_finite()));
    assert!(!f.warnings.is_empty());
    let mut sc = MatrixRowScorer::new(&test, 0).unwrap();
    let res = anncur_search_with_factor(&f, &mut sc, 20, 5).unwrap();
    assert!(res.approx_scores.unwrap().iter().all(|x| x.is_finite()));
    // All-zero R: pinv is zero, s̃ is zero, still finite.
    let z = CurIndex::new(Matrix::zeros(5, 50), vec![]).unwrap();
    let f = z.factor(3, AnchorStrategy::Random, 0).unwrap();
    assert_eq!(f.rank, 0);
    assert!(f
        .approximate(&[1.0, 2.0, 3.0])
        .unwrap()
        .iter()
        .all(|&x| x == 0.0));
}

#[test]
fn warns_when_k_i_near_k_q() {
    let m = low_rank(30, 200, 20, 0.1, 15);
    let (index, test) = index_and_test(&m, 20);
    let mut sc = MatrixRowScorer::new(&test, 0).unwrap();
    let params = AnncurParams {
        k_i: 18,
        budget: 40,
        top_k: 5,
        ..Default::default()
    };
    let res = anncur_search(&index, &mut sc, &params).unwrap();
    assert!(res.warnings.iter().any(|w| w.contains("ill-conditioned")));
}

#[test]
fn bad_inputs_are_errors() {
    let m = low_rank(10, 50, 3, 0.0, 16);
    let index = CurIndex::new(m.clone(), vec![]).unwrap();
    let mut sc = MatrixRowScorer::new(&m, 0).unwrap();
    let p = |k_i, budget| AnncurParams {
        k_i,
        budget,
        top_k: 5,
        ..Default::default()
    };
    assert!(matches!(
        anncur_search(&index, &mut sc, &p(10, 5)),
        Err(ApproxError::BudgetTooSmall { .. })
    ));
    assert!(anncur_search(&index, &mut sc, &p(0, 5)).is_err());
    assert!(anncur_search(&index, &mut sc, &p(51, 60)).is_err());
    assert!(index.factor_for_anchors(vec![1, 1]).is_err());
    assert!(index.factor_for_anchors(vec![50]).is_err());
    assert!(CurIndex::new(Matrix::zeros(0, 3), vec![]).is_err());
    assert!(CurIndex::new(Matrix::zeros(2, 3), vec!["a".into()]).is_err());
    let nan = Matrix::new(1, 2, vec![1.0, f32::NAN]).unwrap();
    assert!(CurIndex::new(nan, vec![]).is_err());
    // Budget above N is clamped: everything gets scored once.
    let res = anncur_search(&index, &mut sc, &p(5, 500)).unwrap();
    assert_eq!(res.ce_calls, 50);
    // A scorer returning garbage is reported.
    struct Bad;
    impl PairScorer for Bad {
        fn score_items(&mut self, items: &[usize]) -> Result<Vec<f32>> {
            Ok(vec![f32::NAN; items.len()])
        }
    }
    assert!(matches!(
        anncur_search(&index, &mut Bad, &p(5, 10)),
        Err(ApproxError::Scorer(_))
    ));
}

#[test]
fn factor_cache_reuses() {
    let m = low_rank(10, 50, 3, 0.0, 17);
    let index = CurIndex::new(m, vec![]).unwrap();
    let a = index.factor(5, AnchorStrategy::Random, 1).unwrap();
    let b = index.factor(5, AnchorStrategy::Random, 1).unwrap();
    assert!(Arc::ptr_eq(&a, &b));
    let c = index.factor(5, AnchorStrategy::Random, 2).unwrap();
    assert!(!Arc::ptr_eq(&a, &c));
}

#[test]
fn convergence_ends_at_full_approximation() {
    let m = low_rank(40, 300, 6, 0.05, 18);
    let (index, test) = index_and_test(&m, 30);
    let f = index.factor(20, AnchorStrategy::Random, 3).unwrap();
    let row = test.row(0);
    let c: Vec<f32> = f.anchors.iter().map(|&j| row[j]).collect();
    let s = f.approximate(&c).unwrap();
    let pts = index.item_convergence(&f.anchors, &c, 7, 5).unwrap();
    assert_eq!(
        pts.iter().map(|p| p.k).collect::<Vec<_>>(),
        vec![5, 10, 15, 20]
    );
    assert!((pts[3].approx - s[7]).abs() < 1e-4);
    let pts = index.item_convergence(&f.anchors, &c, 7, 6).unwrap();
    assert_eq!(pts.last().unwrap().k, 20);
    assert!(index.item_convergence(&f.anchors, &c, 300, 5).is_err());
    assert!(index.item_convergence(&f.anchors, &c, 0, 0).is_err());
}

#[test]
fn anchor_strategies_are_distinct_items() {
    let m = low_rank(20, 400, 5, 0.1, 19);
    for s in [
        AnchorStrategy::Random,
        AnchorStrategy::TopScoring,
        AnchorStrategy::KMeansPP,
    ] {
        let a = select_anchor_items(&m, 30, s, 4).unwrap();
        assert_eq!(a.len(), 30);
        check_indices(&a, 400, "item").unwrap();
    }
    // TopScoring starts with each row's best item.
    let a = select_anchor_items(&m, 30, AnchorStrategy::TopScoring, 0).unwrap();
    assert_eq!(a[0], top_k_indices(m.row(0), 1)[0]);
    assert_eq!(
        "kmeans++".parse::<AnchorStrategy>().unwrap(),
        AnchorStrategy::KMeansPP
    );
}
