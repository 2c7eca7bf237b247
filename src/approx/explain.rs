//! Explaining and comparing rankings: overlap of two rankings (Jaccard@k, rank-biased
//! overlap), an item's CUR score taken apart into one contribution per anchor item, and
//! the budget at which a method first finds an item.
//!
//! All pure functions over slices and the [`PairScorer`] seam, shared by the engine's
//! comparison, explanation and query-set jobs.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use super::search::{search, SearchInputs, SearchParams};
use super::{AnchorFactor, ApproxError, PairScorer, Result};

/// `|A_k ∩ B_k| / |A_k ∪ B_k|` of the first `k` entries of two rankings (duplicates
/// counted once). Two empty prefixes are identical: 1.
pub fn jaccard_at_k(a: &[usize], b: &[usize], k: usize) -> f64 {
    let sa: HashSet<usize> = a.iter().take(k).copied().collect();
    let sb: HashSet<usize> = b.iter().take(k).copied().collect();
    let union = sa.union(&sb).count();
    if union == 0 {
        return 1.0;
    }
    sa.intersection(&sb).count() as f64 / union as f64
}

/// Extrapolated rank-biased overlap (Webber, Moffat and Zobel 2010, eq. 32) of two
/// rankings cut to the shorter one's length `k`:
/// `X_k/k · p^k + (1−p)/p · Σ_{d=1..k} X_d/d · p^d`, where `X_d` is the overlap of the
/// two depth-`d` prefixes. 1 for identical rankings, 0 for disjoint ones; `p` (in
/// (0, 1)) weighs the top: with 0.9 the first 10 ranks carry 86 % of the weight.
pub fn rbo(a: &[usize], b: &[usize], p: f64) -> Result<f64> {
    if !(p > 0.0 && p < 1.0) {
        return Err(ApproxError::InvalidInput(format!(
            "RBO persistence p must be in (0, 1), got {p}"
        )));
    }
    let k = a.len().min(b.len());
    if k == 0 {
        return Ok(if a.len() == b.len() { 1.0 } else { 0.0 });
    }
    let (mut seen_a, mut seen_b) = (HashSet::new(), HashSet::new());
    let mut overlap = 0usize;
    let mut sum = 0.0;
    let mut weight = 1.0;
    for d in 1..=k {
        let (x, y) = (a[d - 1], b[d - 1]);
        if x == y {
            if seen_a.insert(x) && seen_b.insert(y) {
                overlap += 1;
            }
        } else {
            if seen_a.insert(x) && seen_b.contains(&x) {
                overlap += 1;
            }
            if seen_b.insert(y) && seen_a.contains(&y) {
                overlap += 1;
            }
        }
        weight *= p;
        sum += overlap as f64 / d as f64 * weight;
    }
    Ok(overlap as f64 / k as f64 * weight + (1.0 - p) / p * sum)
}

/// 1-based rank of `item` under `scores` in descending order, ties broken by the lower
/// index (as [`super::top_k_indices`]); NaN ranks below every number.
pub fn rank_of(scores: &[f32], item: usize) -> Option<usize> {
    if item >= scores.len() {
        return None;
    }
    let key = |i: usize| super::rank_key(scores[i]);
    let me = key(item);
    let above = (0..scores.len())
        .filter(|&j| {
            let k = key(j);
            k > me || (k == me && j < item)
        })
        .count();
    Some(above + 1)
}

/// One anchor item's share of an item's CUR score.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AnchorContribution {
    /// The anchor item (index into the item list).
    pub anchor: usize,
    /// The query's exact CE score on the anchor, `c_j`.
    pub c: f32,
    /// The item's weight on the anchor, `E[j, i]` of `E = pinv(R[:, anchors]) · R`.
    pub e: f32,
    /// `c_j · E[j, i]`: positive pulls the item up, negative down.
    pub value: f64,
}

/// Takes `s̃_item = c · E[:, item]` apart: one [`AnchorContribution`] per anchor, in
/// anchor order. The values sum (in `f64`) to the item's approximate score, which the
/// search computed as the same sum in `f32`.
pub fn anchor_contributions(
    factor: &AnchorFactor,
    c: &[f32],
    item: usize,
) -> Result<Vec<AnchorContribution>> {
    if c.len() != factor.k_i() {
        return Err(ApproxError::Shape(format!(
            "{} anchor scores for {} anchor items",
            c.len(),
            factor.k_i()
        )));
    }
    if item >= factor.e.cols() {
        return Err(ApproxError::InvalidInput(format!(
            "item {item} out of range for {} items",
            factor.e.cols()
        )));
    }
    Ok(factor
        .anchors
        .iter()
        .zip(c)
        .enumerate()
        .map(|(j, (&anchor, &cj))| {
            let e = factor.e.get(j, item);
            AnchorContribution {
                anchor,
                c: cj,
                e,
                value: cj as f64 * e as f64,
            }
        })
        .collect())
}

/// A [`PairScorer`] that remembers every item it was asked to score.
pub struct RecordingScorer<'a, S: PairScorer + ?Sized> {
    inner: &'a mut S,
    pub scored: HashSet<usize>,
}

impl<'a, S: PairScorer + ?Sized> RecordingScorer<'a, S> {
    pub fn new(inner: &'a mut S) -> Self {
        Self {
            inner,
            scored: HashSet::new(),
        }
    }
}

impl<S: PairScorer + ?Sized> PairScorer for RecordingScorer<'_, S> {
    fn score_items(&mut self, items: &[usize]) -> Result<Vec<f32>> {
        let out = self.inner.score_items(items)?;
        self.scored.extend(items.iter().copied());
        Ok(out)
    }
}

/// When a method first finds an item, over a grid of budgets.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FoundAt {
    /// The smallest budget of the grid at which the method CE-scores the item (so its
    /// exact score is known and it can be ranked).
    pub scored: Option<usize>,
    /// The smallest budget of the grid at which the item is in the method's top-k.
    pub ranked: Option<usize>,
}

/// Runs `params.method` at each budget of `budgets` (ascending) against the exact
/// score row `exact` (no CE calls) and reports the first budget at which the method
/// scores `item` and the first at which it returns it in its top-k. Stops early once
/// both are known.
pub fn budget_to_find(
    inputs: &SearchInputs<'_>,
    params: &SearchParams,
    exact: &[f32],
    item: usize,
    budgets: &[usize],
) -> Result<FoundAt> {
    if item >= exact.len() {
        return Err(ApproxError::InvalidInput(format!(
            "item {item} out of range for {} items",
            exact.len()
        )));
    }
    let mut found = FoundAt::default();
    for &budget in budgets {
        let p = SearchParams {
            budget,
            k_i: params.k_i.min(budget / 2).max(1),
            ..params.clone()
        };
        let mut base = super::MatrixRowScorer::from_slice(exact);
        let mut rec = RecordingScorer::new(&mut base);
        let res = search(inputs, &p, &mut rec)?;
        if found.scored.is_none() && rec.scored.contains(&item) {
            found.scored = Some(budget);
        }
        if found.ranked.is_none() && res.ranking.iter().any(|r| r.item == item) {
            found.ranked = Some(budget);
        }
        if found.scored.is_some() && found.ranked.is_some() {
            break;
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::super::testutil::low_rank;
    use super::super::{CurIndex, MatrixRowScorer, Method, TfIdfIndex};
    use super::*;

    #[test]
    fn jaccard_examples() {
        assert_eq!(jaccard_at_k(&[1, 2, 3], &[3, 2, 1], 3), 1.0);
        assert_eq!(jaccard_at_k(&[1, 2], &[3, 4], 2), 0.0);
        // {1,2} vs {2,5}: 1 shared of 3.
        assert!((jaccard_at_k(&[1, 2, 9], &[2, 5, 1], 2) - 1.0 / 3.0).abs() < 1e-12);
        assert_eq!(jaccard_at_k(&[], &[], 5), 1.0);
    }

    #[test]
    fn rank_of_breaks_ties_by_index() {
        let s = [0.5, 2.0, 0.5, f32::NAN, 1.0];
        assert_eq!(rank_of(&s, 1), Some(1));
        assert_eq!(rank_of(&s, 4), Some(2));
        assert_eq!(rank_of(&s, 0), Some(3));
        assert_eq!(rank_of(&s, 2), Some(4));
        assert_eq!(rank_of(&s, 3), Some(5));
        assert_eq!(rank_of(&s, 5), None);
        let top = super::super::top_k_indices(&s, 5);
        for (pos, &i) in top.iter().enumerate() {
            assert_eq!(rank_of(&s, i), Some(pos + 1));
        }
    }

    #[test]
    fn rbo_examples() {
        assert!((rbo(&[1, 2, 3], &[1, 2, 3], 0.9).unwrap() - 1.0).abs() < 1e-12);
        assert_eq!(rbo(&[1, 2, 3], &[4, 5, 6], 0.9).unwrap(), 0.0);
        // X = 1, 1, 3: 3/3 · 0.729 + 0.1/0.9 · (0.9 + 0.5 · 0.81 + 0.729).
        let want = 0.729 + 0.1 / 0.9 * (0.9 + 0.405 + 0.729);
        assert!((rbo(&[1, 2, 3], &[1, 3, 2], 0.9).unwrap() - want).abs() < 1e-12);
        // A swap at the top costs more than one at the bottom.
        let top = rbo(&[1, 2, 3, 4], &[2, 1, 3, 4], 0.9).unwrap();
        let bottom = rbo(&[1, 2, 3, 4], &[1, 2, 4, 3], 0.9).unwrap();
        assert!(top < bottom && bottom < 1.0, "{top} {bottom}");
        assert!(rbo(&[1], &[1], 1.0).is_err());
    }

    #[test]
    fn contributions_sum_to_the_approximate_score() {
        let m = low_rank(41, 120, 5, 0.05, 3);
        let r = m.select_rows(&(0..40).collect::<Vec<_>>()).unwrap();
        let index = CurIndex::new(r, Vec::new()).unwrap();
        let factor = index
            .factor(12, super::super::AnchorStrategy::Random, 5)
            .unwrap();
        let query = m.row(40);
        let c: Vec<f32> = factor.anchors.iter().map(|&a| query[a]).collect();
        let approx = factor.approximate(&c).unwrap();
        for item in [0, 17, 63, 119] {
            let parts = anchor_contributions(&factor, &c, item).unwrap();
            assert_eq!(parts.len(), 12);
            let sum: f64 = parts.iter().map(|p| p.value).sum();
            assert!(
                (sum - approx[item] as f64).abs() < 1e-4 * (1.0 + approx[item].abs() as f64),
                "item {item}: {sum} vs {}",
                approx[item]
            );
            assert!(parts
                .iter()
                .zip(&factor.anchors)
                .all(|(p, &a)| p.anchor == a));
        }
        // An anchor item's own decomposition is (close to) its exact score.
        let a0 = factor.anchors[0];
        let own: f64 = anchor_contributions(&factor, &c, a0)
            .unwrap()
            .iter()
            .map(|p| p.value)
            .sum();
        assert!(
            (own - query[a0] as f64).abs() < 0.05,
            "{own} vs {}",
            query[a0]
        );
        assert!(anchor_contributions(&factor, &c[1..], 0).is_err());
        assert!(anchor_contributions(&factor, &c, 120).is_err());
    }

    #[test]
    fn budget_to_find_reports_the_first_budget_that_scores_and_ranks_the_item() {
        // TF-IDF ranks item 7 ("item seven") first for the query "seven": found at once.
        let n = 50;
        let mut texts: Vec<String> = (0..n).map(|i| format!("filler {i}")).collect();
        texts[7] = "item seven".into();
        let tfidf = TfIdfIndex::build(&texts).unwrap();
        let mut exact = vec![0.0f32; n];
        exact[7] = 5.0;
        exact[30] = 4.0;
        let inputs = SearchInputs {
            n_items: n,
            tfidf: Some(&tfidf),
            query_text: Some("seven"),
            ..Default::default()
        };
        let params = SearchParams {
            method: Method::Tfidf,
            top_k: 2,
            ..Default::default()
        };
        let f = budget_to_find(&inputs, &params, &exact, 7, &[1, 5, 50]).unwrap();
        assert_eq!(
            f,
            FoundAt {
                scored: Some(1),
                ranked: Some(1)
            }
        );
        // Item 30 has no query word: TF-IDF reaches it only when it scores everything.
        let f = budget_to_find(&inputs, &params, &exact, 30, &[1, 5, 50]).unwrap();
        assert_eq!(f.scored, Some(50));
        assert_eq!(f.ranked, Some(50));
        // The random baseline at budget 1 scores a single item: the recorder saw it.
        let mut base = MatrixRowScorer::from_slice(&exact);
        let mut rec = RecordingScorer::new(&mut base);
        let p = SearchParams {
            method: Method::Random,
            budget: 3,
            ..Default::default()
        };
        search(&inputs, &p, &mut rec).unwrap();
        assert_eq!(rec.scored.len(), 3);
        assert!(budget_to_find(&inputs, &params, &exact, 50, &[1]).is_err());
    }
}
