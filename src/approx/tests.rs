//! Tests of `approx`.

use super::*;

#[test]
fn matrix_shape_checks() {
    assert!(Matrix::new(2, 3, vec![0.0; 5]).is_err());
    let m = Matrix::from_fn(3, 4, |i, j| (i * 10 + j) as f32);
    assert_eq!(m.row(1), &[10.0, 11.0, 12.0, 13.0]);
    assert_eq!(m.select_cols(&[3, 0]).unwrap().row(2), &[23.0, 20.0]);
    assert_eq!(m.select_rows(&[2]).unwrap().row(0), m.row(2));
    assert!(m.select_cols(&[4]).is_err());
    assert!(m.select_rows(&[1, 1]).is_err());
    assert!(m.try_row(3).is_err());
    assert!(Matrix::from_rows(&[vec![1.0], vec![1.0, 2.0]]).is_err());
}

#[test]
fn sampling_is_distinct_and_prefix_consistent() {
    let a = sample_without_replacement(&mut SplitMix64::new(7), 1000, 50);
    let b = sample_without_replacement(&mut SplitMix64::new(7), 1000, 20);
    assert_eq!(&a[..20], &b[..]);
    let mut s = a.clone();
    s.sort_unstable();
    s.dedup();
    assert_eq!(s.len(), 50);
    assert!(a.iter().all(|&i| i < 1000));
    let all = sample_without_replacement(&mut SplitMix64::new(1), 10, 99);
    assert_eq!(all.len(), 10);
}

#[test]
fn splitmix_known_value() {
    // First output for seed 0 (reference value of the published algorithm).
    assert_eq!(SplitMix64::new(0).next_u64(), 0xE220_A839_7B1D_CDAF);
}

#[test]
fn top_k_matches_sort() {
    let mut rng = SplitMix64::new(3);
    let n = 300_000;
    let mut s: Vec<f32> = (0..n).map(|_| (rng.below(1000) as f32) / 7.0).collect();
    s[17] = f32::NAN;
    let mut all: Vec<usize> = (0..n).collect();
    all.sort_by(|&a, &b| better(&s, a, b));
    // Sampled-threshold path (small k), fallback path (large k), ties.
    for k in [1, 500, 4000, 10_000] {
        assert_eq!(top_k_indices(&s, k), all[..k].to_vec(), "k = {k}");
    }
    let flat = vec![1.0f32; 200_000];
    assert_eq!(top_k_indices(&flat, 3), vec![0, 1, 2]);
    assert_eq!(top_k_indices(&s[..3], 10).len(), 3);
    assert!(top_k_indices(&s, 0).is_empty());
}

#[test]
fn method_parse() {
    assert_eq!("ANNCUR".parse::<Method>().unwrap(), Method::Anncur);
    assert_eq!("tf-idf".parse::<Method>().unwrap(), Method::Tfidf);
    assert!("foo".parse::<Method>().is_err());
}

#[test]
fn row_scorer_counts_and_checks() {
    let m = Matrix::from_fn(2, 3, |i, j| (i + j) as f32);
    let mut s = MatrixRowScorer::new(&m, 1).unwrap();
    assert_eq!(s.score_items(&[2, 0]).unwrap(), vec![3.0, 1.0]);
    assert_eq!(s.calls, 2);
    assert!(s.score_items(&[3]).is_err());
    assert!(MatrixRowScorer::new(&m, 2).is_err());
}
