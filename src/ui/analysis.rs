//! Data derived from a search for the table and the plots: ranks under each score,
//! the exact-vs-approximate scatter, Spearman ρ, top-k recall and a histogram.
//! Pure functions over slices, recomputed only when the scores change (throttled by the
//! app), never per frame.

use std::collections::HashSet;

use egui_plot::PlotPoint;

use crate::approx::metrics;

use super::session::SearchState;

/// Marks "no rank" in rank vectors.
pub const NO_RANK: u32 = u32::MAX;

/// At most this many points are drawn in the scatter (statistics use all of them).
pub const MAX_SCATTER_POINTS: usize = 20_000;

/// 1-based ranks of `scores` in descending order (ties by lower index); `NO_RANK` where
/// a score is missing or NaN.
pub fn descending_ranks(scores: &[Option<f32>]) -> Vec<u32> {
    let mut order: Vec<u32> = (0..scores.len() as u32)
        .filter(|&i| scores[i as usize].is_some_and(|s| !s.is_nan()))
        .collect();
    order.sort_unstable_by(|&a, &b| {
        let (sa, sb) = (
            scores[a as usize].unwrap_or(f32::NEG_INFINITY),
            scores[b as usize].unwrap_or(f32::NEG_INFINITY),
        );
        sb.total_cmp(&sa).then(a.cmp(&b))
    });
    let mut ranks = vec![NO_RANK; scores.len()];
    for (pos, &i) in order.iter().enumerate() {
        ranks[i as usize] = pos as u32 + 1;
    }
    ranks
}

/// Equal-width histogram of `values`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Histogram {
    pub lo: f64,
    pub width: f64,
    pub counts: Vec<u32>,
}

impl Histogram {
    pub fn new(values: &[f32], bins: usize) -> Self {
        let finite = values.iter().copied().filter(|v| v.is_finite());
        let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
        for v in finite.clone() {
            lo = lo.min(v as f64);
            hi = hi.max(v as f64);
        }
        if !lo.is_finite() || bins == 0 {
            return Self::default();
        }
        let span = (hi - lo).max(1e-6);
        let width = span / bins as f64;
        let mut counts = vec![0u32; bins];
        for v in finite {
            let b = (((v as f64 - lo) / width) as usize).min(bins - 1);
            counts[b] += 1;
        }
        Self { lo, width, counts }
    }

    /// Centre of bin `b`.
    pub fn centre(&self, b: usize) -> f64 {
        self.lo + (b as f64 + 0.5) * self.width
    }

    pub fn total(&self) -> u64 {
        self.counts.iter().map(|&c| c as u64).sum()
    }
}

/// Fraction of `values` strictly below `v` (the item's percentile in the distribution).
pub fn fraction_below(values: &[f32], v: f32) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.iter().filter(|&&x| x < v).count() as f64 / values.len() as f64
}

/// Derived data of the current search.
#[derive(Debug, Default)]
pub struct Analysis {
    /// The search version this was computed from (0: nothing).
    pub version: u64,
    /// The job it belongs to.
    pub job: u64,
    pub exact_rank: Vec<u32>,
    pub approx_rank: Vec<u32>,
    /// Scatter points (exact, approx) for items with both, at most `MAX_SCATTER_POINTS`.
    pub scatter: Vec<PlotPoint>,
    /// The item of each scatter point.
    pub scatter_items: Vec<u32>,
    /// Smallest and largest coordinate over both axes (for the y = x line).
    pub scatter_range: Option<(f64, f64)>,
    /// Items with both scores (all of them, not only the drawn ones).
    pub pairs: usize,
    pub spearman: Option<f64>,
    /// (k, recall of the method's ranking against the exact top-k, exact scoring complete)
    pub recall: Option<(usize, f64, bool)>,
    /// Exact logits of all scored items (for percentiles) and their histogram.
    pub exact_values: Vec<f32>,
    pub histogram: Histogram,
}

/// A copy of what the analysis needs, so it can run off the UI thread.
#[derive(Debug, Clone)]
pub struct AnalysisInput {
    pub job: u64,
    pub version: u64,
    pub exact: Vec<Option<f32>>,
    pub approx: Option<Vec<f32>>,
    /// The method's returned ranking (item indices, best first).
    pub ranking: Option<Vec<usize>>,
    pub top_k: usize,
    pub complete: bool,
}

impl AnalysisInput {
    pub fn from_search(search: &SearchState) -> Self {
        Self {
            job: search.job,
            version: search.version,
            exact: search.exact.iter().map(|s| s.map(|s| s.logit)).collect(),
            approx: search.approx_scores().map(<[f32]>::to_vec),
            ranking: search
                .result
                .as_ref()
                .map(|r| r.ranking.iter().map(|x| x.item).collect()),
            top_k: search.request.top_k,
            complete: search.exact_complete(),
        }
    }
}

impl Analysis {
    pub fn compute(input: &AnalysisInput) -> Self {
        let exact = &input.exact;
        let n = exact.len();
        let approx = input.approx.as_deref().filter(|a| a.len() == n);
        let exact_rank = descending_ranks(exact);
        let approx_rank = match (approx, &input.ranking) {
            (Some(a), _) => descending_ranks(&a.iter().map(|&v| Some(v)).collect::<Vec<_>>()),
            (None, Some(r)) => {
                // No approximate score vector: the method's own ranking is all there is.
                let mut ranks = vec![NO_RANK; n];
                for (pos, &item) in r.iter().enumerate() {
                    if let Some(slot) = ranks.get_mut(item) {
                        *slot = pos as u32 + 1;
                    }
                }
                ranks
            }
            _ => vec![NO_RANK; n],
        };

        let mut xs = Vec::new();
        let mut ys = Vec::new();
        let mut items = Vec::new();
        if let Some(a) = approx {
            for (i, (e, &ap)) in exact.iter().zip(a).enumerate() {
                if let Some(e) = e {
                    if e.is_finite() && ap.is_finite() {
                        xs.push(*e);
                        ys.push(ap);
                        items.push(i as u32);
                    }
                }
            }
        }
        let pairs = xs.len();
        let scatter_range = xs
            .iter()
            .chain(&ys)
            .fold(None, |acc: Option<(f64, f64)>, &v| {
                let v = v as f64;
                Some(acc.map_or((v, v), |(lo, hi)| (lo.min(v), hi.max(v))))
            });
        let spearman = (pairs >= 3)
            .then(|| metrics::spearman(&xs, &ys).ok())
            .flatten();
        let stride = pairs.div_ceil(MAX_SCATTER_POINTS).max(1);
        let scatter: Vec<PlotPoint> = (0..pairs)
            .step_by(stride)
            .map(|j| PlotPoint::new(xs[j], ys[j]))
            .collect();
        let scatter_items: Vec<u32> = (0..pairs).step_by(stride).map(|j| items[j]).collect();

        let known = exact.iter().any(Option::is_some);
        let recall = input.ranking.as_ref().and_then(|returned| {
            if returned.is_empty() || !known {
                return None;
            }
            let k = input.top_k.max(1).min(n);
            let full: Vec<f32> = exact
                .iter()
                .map(|s| s.unwrap_or(f32::NEG_INFINITY))
                .collect();
            Some((k, metrics::top_k_recall(returned, &full, k), input.complete))
        });

        let exact_values: Vec<f32> = exact.iter().flatten().copied().collect();
        let histogram = Histogram::new(&exact_values, 40);
        Self {
            version: input.version,
            job: input.job,
            exact_rank,
            approx_rank,
            scatter,
            scatter_items,
            scatter_range,
            pairs,
            spearman,
            recall,
            exact_values,
            histogram,
        }
    }
}

/// Indices of the items whose id, title or text contains `needle` (case-insensitive;
/// an empty needle matches everything).
pub fn filter_items(items: &[crate::items::Item], needle: &str) -> Vec<u32> {
    let needle = needle.trim().to_lowercase();
    if needle.is_empty() {
        return (0..items.len() as u32).collect();
    }
    items
        .iter()
        .enumerate()
        .filter(|(_, it)| {
            contains_ci(&it.id, &needle)
                || it.title.as_deref().is_some_and(|t| contains_ci(t, &needle))
                || contains_ci(&it.text, &needle)
        })
        .map(|(i, _)| i as u32)
        .collect()
}

fn contains_ci(hay: &str, lower_needle: &str) -> bool {
    if hay.is_ascii() && lower_needle.is_ascii() {
        let (h, n) = (hay.as_bytes(), lower_needle.as_bytes());
        n.len() <= h.len() && h.windows(n.len()).any(|w| w.eq_ignore_ascii_case(n))
    } else {
        hay.to_lowercase().contains(lower_needle)
    }
}

/// Item indices whose id is one of `ids`.
pub fn indices_of_ids(items: &[crate::items::Item], ids: &[String]) -> HashSet<usize> {
    let wanted: HashSet<&str> = ids.iter().map(String::as_str).collect();
    items
        .iter()
        .enumerate()
        .filter(|(_, it)| wanted.contains(it.id.as_str()))
        .map(|(i, _)| i)
        .collect()
}

/// What the table's "act." column shows for a model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActivationColumn {
    /// The model's own activation of the logit (a sigmoid for one-label cross-encoders
    /// trained with it).
    Activation,
    /// The exact score's percentile among the items scored so far: for models trained
    /// listwise (a softmax over each query's candidates, as the w_embeds models are), the
    /// logits share an offset that carries no meaning, and a sigmoid reads ~0.97–0.99
    /// for nearly every item.
    Percentile,
}

impl ActivationColumn {
    pub fn of(model: &crate::model::ModelInfo) -> Self {
        if model.pooling == crate::model::Pooling::WEmbeds {
            Self::Percentile
        } else {
            Self::Activation
        }
    }

    /// Why the column shows what it shows (the model panel and the column's tooltip).
    pub fn explanation(self) -> &'static str {
        match self {
            Self::Activation => "act. = the model's activation of the logit (its sigmoid, as trained)",
            Self::Percentile => "act. = percentile of the exact score among the scored items: this model was trained listwise (softmax over candidates), so its logits share an offset and their sigmoid is ~0.98 for nearly every item",
        }
    }

    /// The cell's text for an item of exact rank `rank` (1 = best) among `scored` items.
    pub fn cell(self, activation: f64, rank: u32, scored: usize) -> Option<String> {
        match self {
            Self::Activation => Some(format!("{activation:.3}")),
            Self::Percentile if rank != NO_RANK && scored > 0 => Some(format!(
                "{:.1}",
                100.0 * (scored - (rank as usize).min(scored)) as f64 / scored as f64
            )),
            Self::Percentile => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_activation_column_shows_percentiles_for_listwise_models() {
        let c = ActivationColumn::Percentile;
        assert_eq!(c.cell(0.98, 1, 200).as_deref(), Some("99.5"));
        assert_eq!(c.cell(0.98, 200, 200).as_deref(), Some("0.0"));
        assert_eq!(c.cell(0.98, NO_RANK, 200), None);
        assert_eq!(
            ActivationColumn::Activation
                .cell(0.98123, 1, 200)
                .as_deref(),
            Some("0.981")
        );
    }

    #[test]
    fn ranks_descend_and_skip_missing() {
        let r = descending_ranks(&[Some(0.5), None, Some(2.0), Some(0.5)]);
        assert_eq!(r, vec![2, NO_RANK, 1, 3]);
    }

    #[test]
    fn histogram_counts_everything() {
        let h = Histogram::new(&[0.0, 1.0, 2.0, 3.0, f32::NAN], 3);
        assert_eq!(h.total(), 4);
        assert_eq!(h.counts, vec![1, 1, 2]);
        assert!(Histogram::new(&[], 5).counts.is_empty());
    }

    #[test]
    fn filter_is_case_insensitive() {
        let items = vec![
            crate::items::Item::new("a", "River Bank"),
            crate::items::Item::new("b", "money").with_title("Bank"),
            crate::items::Item::new("c", "tree"),
        ];
        assert_eq!(filter_items(&items, "BANK"), vec![0, 1]);
        assert_eq!(filter_items(&items, " "), vec![0, 1, 2]);
        assert_eq!(fraction_below(&[1.0, 2.0, 3.0], 2.5), 2.0 / 3.0);
    }
}
