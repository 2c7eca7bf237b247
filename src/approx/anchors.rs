//! Choosing anchor items: which `k_i` items ANNCUR scores for every query (and ADACUR
//! in its first round). Random is the paper's default; the others use the index
//! matrix `R` to pick informative columns.

use std::collections::HashSet;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::{sample_without_replacement, top_k_indices, ApproxError, Matrix, Result, SplitMix64};

/// Candidate items considered by [`AnchorStrategy::KMeansPP`]; larger
/// catalogues are subsampled (seeded) to keep selection well under a second.
const KMEANSPP_MAX_CANDIDATES: usize = 20_000;

/// How the `k_i` anchor items of ANNCUR (and ADACUR's first round) are chosen.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AnchorStrategy {
    /// Uniformly at random (seeded); the ANNCUR paper's default.
    #[default]
    Random,
    /// Round-robin over the anchor queries' best items: the top item of every
    /// anchor-query row, then every row's second best, ... (deduplicated).
    /// This is the "top-k" style choice of the reference code: anchors then
    /// sit where scores are high, which is where retrieval needs accuracy.
    /// Deterministic (the seed is ignored).
    TopScoring,
    /// k-means++ seeding (D² sampling, seeded) on the items' anchor-query
    /// score profiles `R[:, j]` (L2-normalised): a cheap clustering-based
    /// choice that spreads anchors over distinct groups of items, which keeps
    /// `R[:, anchors]` well-conditioned. Catalogues above 20,000 items are
    /// subsampled first.
    #[serde(rename = "kmeans++")]
    KMeansPP,
    /// Greedy column subset selection on `R`: each step takes the item whose
    /// anchor-query profile `R[:, j]` has the largest L2 residual after projecting
    /// out the profiles already chosen (pivoted Gram–Schmidt). The chosen columns
    /// span as much of `R` as `k_i` columns greedily can, so `R[:, anchors]` is
    /// well-conditioned and `c · pinv(R[:, anchors])` sees every direction the
    /// index knows. Deterministic (the seed is ignored).
    #[serde(rename = "l2greedy")]
    L2Greedy,
    /// k-means (k-means++ seeding, then Lloyd iterations) on the items'
    /// L2-normalised profiles `R[:, j]`; the anchor of each cluster is the item
    /// nearest its centre, largest clusters first.
    #[serde(rename = "kmeans")]
    KMeans,
}

impl std::str::FromStr for AnchorStrategy {
    type Err = ApproxError;

    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "random" => Ok(Self::Random),
            "topscoring" | "top-scoring" | "topk" => Ok(Self::TopScoring),
            "kmeans++" | "kmeanspp" => Ok(Self::KMeansPP),
            "kmeans" | "cluster" => Ok(Self::KMeans),
            "l2greedy" | "l2-greedy" | "greedy" => Ok(Self::L2Greedy),
            other => Err(ApproxError::InvalidInput(format!(
                "unknown anchor strategy {other:?} (expected random, topscoring, kmeans++, kmeans or l2greedy)"
            ))),
        }
    }
}

/// Chooses `k_i` distinct anchor items for the index matrix `r` (`k_q × N`).
///
/// The returned order matters for ADACUR, whose first round uses a prefix;
/// for [`AnchorStrategy::Random`] a prefix is itself a random draw with the
/// same seed (partial Fisher–Yates with [`SplitMix64`]`::new(seed)`).
pub fn select_anchor_items(
    r: &Matrix,
    k_i: usize,
    strategy: AnchorStrategy,
    seed: u64,
) -> Result<Vec<usize>> {
    let n = r.cols();
    if k_i == 0 || k_i > n {
        return Err(ApproxError::InvalidInput(format!(
            "k_i = {k_i} anchor items requested, but there are {n} items (need 1 ≤ k_i ≤ N)"
        )));
    }
    Ok(match strategy {
        AnchorStrategy::Random => sample_without_replacement(&mut SplitMix64::new(seed), n, k_i),
        AnchorStrategy::TopScoring => top_scoring_anchors(r, k_i),
        AnchorStrategy::KMeansPP => kmeanspp_anchors(r, k_i, seed),
        AnchorStrategy::L2Greedy => l2_greedy_anchors(r, k_i),
        AnchorStrategy::KMeans => kmeans_anchors(r, k_i, seed),
    })
}

impl std::fmt::Display for AnchorStrategy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Random => "random",
            Self::TopScoring => "topscoring",
            Self::KMeansPP => "kmeans++",
            Self::L2Greedy => "l2greedy",
            Self::KMeans => "kmeans",
        })
    }
}

/// The items' profiles `R[:, j]` as rows (`N × k_q`), optionally L2-normalised.
fn profiles(r: &Matrix, normalise: bool) -> Vec<f32> {
    let (kq, n) = (r.rows(), r.cols());
    let mut x = vec![0.0f32; n * kq];
    for i in 0..kq {
        for (j, &v) in r.row(i).iter().enumerate() {
            x[j * kq + i] = v;
        }
    }
    if normalise {
        x.par_chunks_mut(kq.max(1)).for_each(|v| {
            let norm = v.iter().map(|a| a * a).sum::<f32>().sqrt();
            if norm > 0.0 {
                v.iter_mut().for_each(|a| *a /= norm);
            }
        });
    }
    x
}

fn l2_greedy_anchors(r: &Matrix, k_i: usize) -> Vec<usize> {
    let (kq, n) = (r.rows(), r.cols());
    if kq == 0 {
        return (0..k_i).collect();
    }
    // Residual profiles, updated in place as chosen directions are projected out; f64
    // keeps the repeated projections from drifting.
    let mut res: Vec<f64> = profiles(r, false).into_iter().map(f64::from).collect();
    let mut norms: Vec<f64> = res
        .par_chunks(kq)
        .map(|v| v.iter().map(|a| a * a).sum())
        .collect();
    let mut chosen = vec![false; n];
    let mut out = Vec::with_capacity(k_i);
    for _ in 0..k_i {
        let best = (0..n)
            .filter(|&j| !chosen[j])
            .max_by(|&a, &b| norms[a].total_cmp(&norms[b]).then(b.cmp(&a)));
        let Some(j) = best else { break };
        chosen[j] = true;
        out.push(j);
        let scale = norms[j].sqrt();
        if scale <= 1e-12 {
            // Everything left is already spanned: the rest add no direction.
            continue;
        }
        let q: Vec<f64> = res[j * kq..(j + 1) * kq]
            .iter()
            .map(|v| v / scale)
            .collect();
        res.par_chunks_mut(kq)
            .zip(norms.par_iter_mut())
            .for_each(|(v, nv)| {
                let dot: f64 = v.iter().zip(&q).map(|(a, b)| a * b).sum();
                v.iter_mut().zip(&q).for_each(|(a, b)| *a -= dot * b);
                *nv = v.iter().map(|a| a * a).sum();
            });
    }
    // Fewer distinct directions than k_i (tiny indexes): fill in index order.
    let mut j = 0;
    while out.len() < k_i && j < n {
        if !chosen[j] {
            chosen[j] = true;
            out.push(j);
        }
        j += 1;
    }
    out
}

/// Lloyd iterations after k-means++ seeding.
const KMEANS_ITERATIONS: usize = 10;

fn kmeans_anchors(r: &Matrix, k_i: usize, seed: u64) -> Vec<usize> {
    let (kq, n) = (r.rows().max(1), r.cols());
    let x = profiles(r, true);
    let seeds = kmeanspp_anchors(r, k_i, seed);
    let mut centres: Vec<f32> = seeds
        .iter()
        .flat_map(|&j| x[j * kq..(j + 1) * kq].iter().copied())
        .collect();
    let nearest = |v: &[f32], centres: &[f32]| -> (usize, f32) {
        centres
            .chunks(kq)
            .enumerate()
            .map(|(c, m)| {
                (
                    c,
                    v.iter().zip(m).map(|(a, b)| (a - b) * (a - b)).sum::<f32>(),
                )
            })
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .unwrap_or((0, 0.0))
    };
    let mut assign: Vec<(usize, f32)> = vec![(0, 0.0); n];
    for _ in 0..KMEANS_ITERATIONS {
        assign = x.par_chunks(kq).map(|v| nearest(v, &centres)).collect();
        let mut sums = vec![0.0f64; k_i * kq];
        let mut counts = vec![0usize; k_i];
        for (j, &(c, _)) in assign.iter().enumerate() {
            counts[c] += 1;
            for (s, &v) in sums[c * kq..(c + 1) * kq]
                .iter_mut()
                .zip(&x[j * kq..(j + 1) * kq])
            {
                *s += v as f64;
            }
        }
        for c in 0..k_i {
            // An empty cluster keeps its centre (its seed item).
            if counts[c] > 0 {
                for t in 0..kq {
                    centres[c * kq + t] = (sums[c * kq + t] / counts[c] as f64) as f32;
                }
            }
        }
    }
    // Each cluster's anchor: its member nearest the centre (the seed if it is empty).
    let mut best: Vec<Option<(usize, f32)>> = vec![None; k_i];
    let mut sizes = vec![0usize; k_i];
    for (j, &(c, d)) in assign.iter().enumerate() {
        sizes[c] += 1;
        if best[c].is_none_or(|(_, bd)| d < bd) {
            best[c] = Some((j, d));
        }
    }
    let mut order: Vec<usize> = (0..k_i).collect();
    order.sort_by_key(|&c| std::cmp::Reverse(sizes[c]));
    let mut taken = HashSet::with_capacity(k_i);
    let mut out = Vec::with_capacity(k_i);
    for c in order {
        let j = best[c].map_or(seeds[c], |(j, _)| j);
        if taken.insert(j) {
            out.push(j);
        }
    }
    // Two clusters sharing a nearest item: top up with unused seeds, then any item.
    for j in seeds.iter().copied().chain(0..n) {
        if out.len() == k_i {
            break;
        }
        if taken.insert(j) {
            out.push(j);
        }
    }
    out
}

fn top_scoring_anchors(r: &Matrix, k_i: usize) -> Vec<usize> {
    if r.rows() == 0 {
        return sample_without_replacement(&mut SplitMix64::new(0), r.cols(), k_i);
    }
    let tops: Vec<Vec<usize>> = (0..r.rows())
        .into_par_iter()
        .map(|i| top_k_indices(r.row(i), k_i))
        .collect();
    let mut taken = HashSet::with_capacity(k_i);
    let mut out = Vec::with_capacity(k_i);
    'outer: for t in 0..k_i {
        for top in &tops {
            if out.len() == k_i {
                break 'outer;
            }
            if taken.insert(top[t]) {
                out.push(top[t]);
            }
        }
    }
    out
}

fn kmeanspp_anchors(r: &Matrix, k_i: usize, seed: u64) -> Vec<usize> {
    let (kq, n) = (r.rows(), r.cols());
    let mut rng = SplitMix64::new(seed);
    let mut cand = if n > KMEANSPP_MAX_CANDIDATES {
        sample_without_replacement(&mut rng, n, KMEANSPP_MAX_CANDIDATES)
    } else {
        (0..n).collect()
    };
    if cand.len() < k_i {
        // Only possible when subsampled below k_i: fall back to everything.
        cand = (0..n).collect();
    }
    let m = cand.len();
    // Candidate profiles, one row each (m × k_q), unit length.
    let mut x = vec![0.0f32; m * kq];
    for i in 0..kq {
        let row = r.row(i);
        for (t, &j) in cand.iter().enumerate() {
            x[t * kq + i] = row[j];
        }
    }
    x.par_chunks_mut(kq.max(1)).for_each(|v| {
        let norm = v.iter().map(|a| a * a).sum::<f32>().sqrt();
        if norm > 0.0 {
            v.iter_mut().for_each(|a| *a /= norm);
        }
    });
    let mut dist = vec![f32::INFINITY; m];
    let mut chosen = vec![false; m];
    let mut out = Vec::with_capacity(k_i);
    let mut next = rng.below(m);
    for _ in 0..k_i {
        chosen[next] = true;
        out.push(cand[next]);
        let c = x[next * kq..(next + 1) * kq].to_vec();
        dist.par_iter_mut()
            .zip(x.par_chunks(kq.max(1)))
            .for_each(|(d, v)| {
                let e: f32 = v.iter().zip(&c).map(|(a, b)| (a - b) * (a - b)).sum();
                *d = d.min(e);
            });
        let total: f64 = dist
            .iter()
            .zip(&chosen)
            .filter(|(_, &ch)| !ch)
            .map(|(&d, _)| d as f64)
            .sum();
        let unchosen = chosen.iter().filter(|&&c| !c).count();
        if unchosen == 0 {
            break;
        }
        next = if total > 0.0 && total.is_finite() {
            // D² sampling.
            let target = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64 * total;
            let mut acc = 0.0;
            let mut pick = None;
            for (t, (&d, &ch)) in dist.iter().zip(&chosen).enumerate() {
                if ch {
                    continue;
                }
                acc += d as f64;
                pick = Some(t);
                if acc > target {
                    break;
                }
            }
            pick.unwrap_or(0)
        } else {
            // All remaining candidates coincide with chosen ones: uniform.
            let nth = rng.below(unchosen);
            (0..m).filter(|&t| !chosen[t]).nth(nth).unwrap_or(0)
        };
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::linalg::intersection_pinv;
    use super::super::testutil::low_rank;
    use super::*;

    #[test]
    fn every_strategy_returns_distinct_valid_items_in_a_stable_order() {
        let r = low_rank(40, 300, 8, 0.05, 3);
        for strategy in [
            AnchorStrategy::Random,
            AnchorStrategy::TopScoring,
            AnchorStrategy::KMeansPP,
            AnchorStrategy::L2Greedy,
            AnchorStrategy::KMeans,
        ] {
            let a = select_anchor_items(&r, 25, strategy, 7).unwrap();
            assert_eq!(a.len(), 25, "{strategy}");
            let set: HashSet<usize> = a.iter().copied().collect();
            assert_eq!(set.len(), 25, "{strategy}: distinct");
            assert!(a.iter().all(|&j| j < 300), "{strategy}");
            assert_eq!(
                a,
                select_anchor_items(&r, 25, strategy, 7).unwrap(),
                "{strategy}: seeded"
            );
            assert_eq!(
                strategy.to_string().parse::<AnchorStrategy>().unwrap(),
                strategy
            );
        }
    }

    #[test]
    fn l2_greedy_spans_the_index_with_its_first_columns() {
        // Rank 6 plus tiny noise: six greedy columns already carry every direction,
        // so the intersection's rank is 6 and its conditioning far better than random.
        let r = low_rank(30, 400, 6, 1e-4, 11);
        let greedy = select_anchor_items(&r, 6, AnchorStrategy::L2Greedy, 0).unwrap();
        let p = intersection_pinv(&r, &greedy).unwrap();
        let sv = &p.singular_values;
        assert_eq!(p.rank, 6);
        let cond_greedy = sv[0] / sv[5];
        let random = select_anchor_items(&r, 6, AnchorStrategy::Random, 0).unwrap();
        let pr = intersection_pinv(&r, &random).unwrap();
        let cond_random = pr.singular_values[0] / pr.singular_values[5];
        assert!(
            cond_greedy <= cond_random,
            "greedy {cond_greedy} vs random {cond_random}"
        );
        // The first pick is the column of largest norm.
        let norm = |j: usize| (0..r.rows()).map(|i| r.get(i, j).powi(2)).sum::<f32>();
        let best = (0..400)
            .max_by(|&a, &b| norm(a).total_cmp(&norm(b)))
            .unwrap();
        assert_eq!(greedy[0], best);
    }

    #[test]
    fn unknown_strategies_list_the_known_ones() {
        let err = "nearest".parse::<AnchorStrategy>().unwrap_err().to_string();
        assert!(err.contains("l2greedy") && err.contains("kmeans"), "{err}");
    }
}
