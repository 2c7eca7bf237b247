//! Quality measures of approximate search against exact CE scores.
//!
//! * Top-k recall: the retrieval quality users see.
//! * Relative error `‖s̃ − s‖ / ‖s‖`: how good the CUR approximation is as a
//!   whole (dominated by the many low-scoring items).
//! * Spearman correlation: whether the approximation orders items right,
//!   insensitive to scale and shift of `s̃`.

use super::{top_k_indices, ApproxError, Result};

/// Fraction of the exact top-k (of `exact`, ties by lower index) found among
/// the first `k` entries of `returned`. `k` is clamped to the number of
/// items; with fewer than `k` returned items the missing ones count as
/// misses. Returns 1 for an empty catalogue or `k = 0` (nothing to find).
pub fn top_k_recall(returned: &[usize], exact: &[f32], k: usize) -> f64 {
    let k = k.min(exact.len());
    recall_against(returned, &top_k_indices(exact, k), k)
}

/// Top-k recall against a precomputed exact ranking `truth` (best first, at
/// least `k` long unless the catalogue is smaller): evaluation computes the
/// exact top-`max k` once per query and reuses its prefixes.
pub(crate) fn recall_against(returned: &[usize], truth: &[usize], k: usize) -> f64 {
    let k = k.min(truth.len());
    if k == 0 {
        return 1.0;
    }
    let mut in_truth = std::collections::HashSet::with_capacity(k);
    in_truth.extend(truth[..k].iter().copied());
    let hits = returned
        .iter()
        .take(k)
        .filter(|j| in_truth.remove(j))
        .count();
    hits as f64 / k as f64
}

/// `‖approx − exact‖₂ / ‖exact‖₂` (in `f64`). An all-zero `exact` gives 0 if
/// `approx` is zero too, else infinity.
pub fn relative_error(approx: &[f32], exact: &[f32]) -> Result<f64> {
    same_len(approx, exact)?;
    let (mut num, mut den) = (0.0f64, 0.0f64);
    for (&a, &e) in approx.iter().zip(exact) {
        let d = a as f64 - e as f64;
        num += d * d;
        den += e as f64 * e as f64;
    }
    Ok(if den > 0.0 {
        (num / den).sqrt()
    } else if num == 0.0 {
        0.0
    } else {
        f64::INFINITY
    })
}

/// Spearman rank correlation: Pearson correlation of the ranks, tied values
/// sharing their average rank (as `scipy.stats.spearmanr`). Undefined for a
/// constant input; this returns 0 there so averages stay finite.
pub fn spearman(a: &[f32], b: &[f32]) -> Result<f64> {
    same_len(a, b)?;
    Ok(spearman_from_ranks(&average_ranks(a), &average_ranks(b)))
}

/// Pearson correlation of two rank vectors of equal length (0 if either is
/// constant); lets evaluation rank the exact scores once per query.
pub(crate) fn spearman_from_ranks(ra: &[f64], rb: &[f64]) -> f64 {
    let n = ra.len() as f64;
    if n == 0.0 {
        return 0.0;
    }
    let (ma, mb) = (ra.iter().sum::<f64>() / n, rb.iter().sum::<f64>() / n);
    let (mut sab, mut saa, mut sbb) = (0.0, 0.0, 0.0);
    for (x, y) in ra.iter().zip(rb) {
        let (dx, dy) = (x - ma, y - mb);
        sab += dx * dy;
        saa += dx * dx;
        sbb += dy * dy;
    }
    if saa > 0.0 && sbb > 0.0 {
        sab / (saa * sbb).sqrt()
    } else {
        0.0
    }
}

/// 1-based ranks in ascending order, ties getting the mean of their ranks.
/// NaN is ranked below every number.
pub fn average_ranks(x: &[f32]) -> Vec<f64> {
    // Sort (key, index) pairs: a plain key compare is much faster than an
    // indirect comparator, and ranks of 12,000 items are needed per query.
    let mut pairs: Vec<(f32, u32)> = x
        .iter()
        .enumerate()
        .map(|(i, &v)| (super::rank_key(v), i as u32))
        .collect();
    pairs.sort_unstable_by(|a, b| a.0.total_cmp(&b.0));
    let order: Vec<usize> = pairs.iter().map(|p| p.1 as usize).collect();
    let mut ranks = vec![0.0; x.len()];
    let key = |i: usize| super::rank_key(x[i]);
    let mut start = 0;
    while start < order.len() {
        let mut end = start + 1;
        while end < order.len() && key(order[end]) == key(order[start]) {
            end += 1;
        }
        let avg = (start + end + 1) as f64 / 2.0; // mean of start+1 ..= end
        for &i in &order[start..end] {
            ranks[i] = avg;
        }
        start = end;
    }
    ranks
}

fn same_len(a: &[f32], b: &[f32]) -> Result<()> {
    if a.len() == b.len() {
        Ok(())
    } else {
        Err(ApproxError::Shape(format!(
            "vectors of length {} and {}",
            a.len(),
            b.len()
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn recall_examples() {
        let exact = [0.1, 0.9, 0.5, 0.7, 0.3];
        assert_eq!(top_k_recall(&[1, 3], &exact, 2), 1.0);
        assert_eq!(top_k_recall(&[3, 1], &exact, 2), 1.0);
        assert_eq!(top_k_recall(&[1, 2], &exact, 2), 0.5);
        assert_eq!(top_k_recall(&[1], &exact, 2), 0.5);
        assert_eq!(top_k_recall(&[1, 3, 2, 4, 0], &exact, 100), 1.0);
        // Duplicates in `returned` do not count twice.
        assert_eq!(top_k_recall(&[1, 1], &exact, 2), 0.5);
        assert_eq!(top_k_recall(&[], &[], 3), 1.0);
    }

    #[test]
    fn rel_error_examples() {
        assert_eq!(relative_error(&[3.0, 4.0], &[3.0, 4.0]).unwrap(), 0.0);
        let e = relative_error(&[3.0, 5.0], &[3.0, 4.0]).unwrap();
        assert!((e - 0.2).abs() < 1e-12);
        assert_eq!(relative_error(&[0.0], &[0.0]).unwrap(), 0.0);
        assert!(relative_error(&[1.0], &[0.0]).unwrap().is_infinite());
        assert!(relative_error(&[1.0], &[0.0, 1.0]).is_err());
    }

    #[test]
    fn spearman_examples() {
        let a = [1.0, 2.0, 3.0, 4.0];
        assert!((spearman(&a, &[10.0, 20.0, 30.0, 40.0]).unwrap() - 1.0).abs() < 1e-12);
        assert!((spearman(&a, &[4.0, 3.0, 2.0, 1.0]).unwrap() + 1.0).abs() < 1e-12);
        assert_eq!(
            average_ranks(&[5.0, 1.0, 5.0, 3.0]),
            vec![3.5, 1.0, 3.5, 2.0]
        );
        // scipy.stats.spearmanr([1,2,2,3],[1,3,2,4]) = 0.9486832980505138
        let s = spearman(&[1.0, 2.0, 2.0, 3.0], &[1.0, 3.0, 2.0, 4.0]).unwrap();
        assert!((s - 0.948_683_298_050_513_8).abs() < 1e-12);
        assert_eq!(spearman(&[1.0, 1.0], &[1.0, 2.0]).unwrap(), 0.0);
    }

    proptest! {
        #[test]
        fn spearman_bounded_and_symmetric(v in prop::collection::vec((-5i32..5, -5i32..5), 2..40)) {
            let a: Vec<f32> = v.iter().map(|p| p.0 as f32).collect();
            let b: Vec<f32> = v.iter().map(|p| p.1 as f32).collect();
            let s = spearman(&a, &b).unwrap();
            prop_assert!((-1.0 - 1e-9..=1.0 + 1e-9).contains(&s));
            prop_assert!((s - spearman(&b, &a).unwrap()).abs() < 1e-12);
        }

        #[test]
        fn recall_in_unit_interval(exact in prop::collection::vec(-10.0f32..10.0, 1..60),
                                   ret in prop::collection::vec(0usize..60, 0..20),
                                   k in 1usize..30) {
            let ret: Vec<usize> = ret.into_iter().filter(|&j| j < exact.len()).collect();
            let r = top_k_recall(&ret, &exact, k);
            prop_assert!((0.0..=1.0).contains(&r));
        }
    }
}
