//! The one entry point that runs any method for one query: [`search`].
//!
//! The CLI (`relex search`), the engine worker (the app's searches and its recall
//! curves) and the offline evaluation all call it, so a method means the same thing
//! everywhere: the same budget accounting, the same clamping of `k_i` and the budget to
//! what the item list allows, and the same warnings when the CUR system gets close to
//! square (which is where its error explodes).

use serde::{Deserialize, Serialize};

use super::adacur::{adacur_with_first, AdacurParams};
use super::axn::{axn_search, AxnIndex, AxnParams};
use super::baselines::{exact_search, random_search, tfidf_search, TfIdfIndex};
use super::cur::{anncur_search_with_factor, AnchorFactor, CurIndex};
use super::defaults;
use super::{AnchorStrategy, ApproxError, Method, PairScorer, Result, SearchResult, SplitMix64};

/// What a search costs and returns; the same for every method (some ignore some).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SearchParams {
    pub method: Method,
    /// CE calls for this query, anchor items included (`exact` ignores it).
    pub budget: usize,
    /// ANNCUR's anchor items (ADACUR's first round is `budget / rounds`).
    pub k_i: usize,
    /// Length of the returned ranking.
    pub top_k: usize,
    /// How anchor items (ANNCUR) or the first round (ADACUR) are chosen.
    pub anchor_strategy: AnchorStrategy,
    /// Seed of every random draw (anchor items, exploration, random baseline).
    pub seed: u64,
    pub adacur_rounds: usize,
    /// Exploration share of ADACUR's and AXN's later rounds.
    pub adacur_exploration: f32,
    /// ADACUR's ridge strength (see `approx::adacur`).
    pub adacur_ridge: f64,
    /// Share of ADACUR's first round seeded by TF-IDF's best items (0 to 1; needs the
    /// item texts and the query text, else ignored).
    pub adacur_tfidf_seed: f32,
    pub axn_rounds: usize,
}

impl Default for SearchParams {
    fn default() -> Self {
        Self {
            method: defaults::METHOD,
            budget: defaults::BUDGET,
            k_i: defaults::K_I,
            top_k: defaults::TOP_K,
            anchor_strategy: defaults::ANCHOR_STRATEGY,
            seed: defaults::SEED,
            adacur_rounds: defaults::ADACUR_ROUNDS,
            adacur_exploration: defaults::EXPLORATION,
            adacur_ridge: defaults::ADACUR_RIDGE,
            adacur_tfidf_seed: defaults::ADACUR_TFIDF_SEED,
            axn_rounds: defaults::AXN_ROUNDS,
        }
    }
}

/// What a search may need besides the scorer. A method whose part is missing fails
/// with an error that says what to provide.
#[derive(Clone, Copy, Debug, Default)]
pub struct SearchInputs<'a> {
    /// Number of items (columns).
    pub n_items: usize,
    /// The ANNCUR index (ANNCUR and ADACUR).
    pub index: Option<&'a CurIndex>,
    /// TF-IDF over the item texts, and the query's text (TF-IDF).
    pub tfidf: Option<&'a TfIdfIndex>,
    pub query_text: Option<&'a str>,
    /// A precomputed ANNCUR factor; without one the index's cached factor for
    /// `(k_i, anchor_strategy, seed)` is used. Evaluation passes one per anchor draw.
    pub anncur_factor: Option<&'a AnchorFactor>,
    /// ADACUR's first-round candidates, in order (topped up at random when short);
    /// evaluation passes each draw's ANNCUR anchors so both methods start alike.
    pub first_round: Option<&'a [usize]>,
    /// Evaluation gives every query its own random stream (its row number); searches
    /// for one query leave this `None` and draw from `seed` itself.
    pub stream: Option<u64>,
    /// The AXN item embeddings (AXN).
    pub axn: Option<&'a AxnIndex>,
}

/// Runs `params.method` for the scorer's query.
pub fn search<S: PairScorer + ?Sized>(
    inputs: &SearchInputs<'_>,
    params: &SearchParams,
    scorer: &mut S,
) -> Result<SearchResult> {
    let n = inputs.n_items;
    if n == 0 {
        return Err(ApproxError::InvalidInput(
            "there are no items to search".into(),
        ));
    }
    let top_k = params.top_k.max(1);
    if params.budget == 0 && params.method != Method::Exact {
        return Err(ApproxError::InvalidInput(format!(
            "{} needs a budget of at least one CE call",
            params.method
        )));
    }
    let mut warnings = Vec::new();
    let budget = params.budget.min(n);
    if budget < params.budget {
        warnings.push(format!(
            "budget {} is more than the {n} items: scoring all of them",
            params.budget
        ));
    }
    let needs_index = || {
        inputs.index.ok_or_else(|| {
            ApproxError::InvalidInput(format!(
                "{} needs an index (anchor-query scores): build or load one first",
                params.method
            ))
        })
    };
    let mut result = match params.method {
        // Every item, whatever the budget.
        Method::Exact => return exact_search(n, scorer, top_k),
        Method::Anncur => {
            let index = needs_index()?;
            let (factor, owned);
            match inputs.anncur_factor {
                Some(f) => factor = f,
                None => {
                    let k_i = params.k_i.clamp(1, budget);
                    if k_i < params.k_i {
                        warnings.push(format!(
                            "k_i {} anchor items do not fit a budget of {budget}: using {k_i}",
                            params.k_i
                        ));
                    }
                    owned = index.factor(k_i, params.anchor_strategy, params.seed)?;
                    factor = &owned;
                }
            }
            anncur_search_with_factor(factor, scorer, budget, top_k)?
        }
        Method::Adacur => {
            let index = needs_index()?;
            let adacur = AdacurParams {
                budget,
                top_k,
                rounds: params.adacur_rounds,
                exploration: params.adacur_exploration,
                first_round: params.anchor_strategy,
                seed: params.seed,
                ridge: params.adacur_ridge,
            };
            let rounds = super::round_sizes(budget, params.adacur_rounds);
            let anchors: Vec<usize> = match inputs.first_round {
                Some(f) => f.to_vec(),
                None => index
                    .anchor_items(rounds[0], params.anchor_strategy, params.seed)?
                    .to_vec(),
            };
            let first = tfidf_seeded(inputs, params.adacur_tfidf_seed, rounds[0], anchors);
            // Exploration draws from its own stream so it does not shift the first draw.
            let rng = SplitMix64::for_stream(params.seed, inputs.stream.unwrap_or(u64::MAX));
            adacur_with_first(index.r(), scorer, &first, &adacur, rng)?
        }
        Method::Tfidf => {
            let (Some(tfidf), Some(text)) = (inputs.tfidf, inputs.query_text) else {
                return Err(ApproxError::InvalidInput(
                    "tfidf needs the item texts and the query text".into(),
                ));
            };
            tfidf_search(tfidf, text, scorer, budget, top_k)?
        }
        Method::Axn => {
            let axn = inputs.axn.ok_or_else(|| {
                ApproxError::InvalidInput(
                    "axn needs an index (anchor-query scores): build or load one first".into(),
                )
            })?;
            // The first round scores the first stage's best items (TF-IDF when the
            // texts are there, else random items).
            let first: Vec<usize> = match (inputs.tfidf, inputs.query_text) {
                (Some(t), Some(text)) => {
                    let rounds = super::round_sizes(budget, params.axn_rounds);
                    super::top_k_indices(&t.scores(text), rounds[0])
                }
                _ => Vec::new(),
            };
            let seed = match inputs.stream {
                Some(s) => SplitMix64::stream_seed(params.seed, s),
                None => params.seed,
            };
            axn_search(
                axn,
                &first,
                scorer,
                &AxnParams {
                    budget,
                    top_k,
                    rounds: params.axn_rounds,
                    exploration: params.adacur_exploration,
                    seed,
                },
            )?
        }
        Method::Random => {
            let seed = match inputs.stream {
                Some(s) => SplitMix64::stream_seed(params.seed, s),
                None => params.seed,
            };
            random_search(n, scorer, budget, top_k, seed)?
        }
    };
    warnings.append(&mut result.warnings);
    result.warnings = warnings;
    Ok(result)
}

/// Column counts within this band around `k_q` make a CUR system nearly square: its
/// smallest singular values are tiny, the fit amplifies noise, and recall collapses
/// (well below or above `k_q` the system is under- or over-determined and fine).
pub const NEAR_SQUARE_BAND: (f64, f64) = (
    super::ILL_CONDITIONED_RATIO,
    1.0 / super::ILL_CONDITIONED_RATIO,
);

/// Warnings for a CUR approximation whose item columns (`columns`: ANNCUR's `k_i`,
/// ADACUR's scored items, up to its budget) are close to the `k_q` anchor queries.
/// The algorithms attach these to their results; `relex eval` prints them for its
/// settings before it runs (the demo index's relative error jumps to 0.65–0.72 there).
pub fn cur_size_warnings(method: Method, columns: usize, k_q: usize) -> Vec<String> {
    let ratio = columns as f64 / k_q.max(1) as f64;
    if !(NEAR_SQUARE_BAND.0..=NEAR_SQUARE_BAND.1).contains(&ratio) {
        return Vec::new();
    }
    let what = match method {
        Method::Adacur => format!("{columns} items scored (the budget)"),
        _ => format!("{columns} anchor items"),
    };
    vec![format!(
        "{method}: {what} vs {k_q} anchor queries: the CUR system is nearly square and \
         ill-conditioned here, so the approximation (not the exact re-ranking) degrades \
         sharply; stay well below or above k_q, or index more anchor queries"
    )]
}

/// ADACUR's first round with a share of it taken from TF-IDF's best items for the
/// query (the AXN paper's adaCUR seeded by TF-IDF), the rest from `anchors` in order,
/// no item twice. Without texts, or at share 0, the anchors alone.
fn tfidf_seeded(
    inputs: &SearchInputs<'_>,
    share: f32,
    round: usize,
    anchors: Vec<usize>,
) -> Vec<usize> {
    let (Some(tfidf), Some(text)) = (inputs.tfidf, inputs.query_text) else {
        return anchors;
    };
    let m = ((round as f32 * share.clamp(0.0, 1.0)).round() as usize).min(round);
    if m == 0 {
        return anchors;
    }
    let mut first = super::top_k_indices(&tfidf.scores(text), m);
    let mut seen: std::collections::HashSet<usize> = first.iter().copied().collect();
    first.extend(anchors.into_iter().filter(|a| seen.insert(*a)));
    first.truncate(round.max(m));
    first
}

#[cfg(test)]
mod tests {
    use super::super::testutil::low_rank;
    use super::super::{Matrix, MatrixRowScorer};
    use super::*;

    fn world() -> (Matrix, Vec<f32>) {
        let m = low_rank(61, 300, 6, 0.01, 7);
        let row = m.row(60).to_vec();
        (m.select_rows(&(0..60).collect::<Vec<_>>()).unwrap(), row)
    }

    /// A TF-IDF-seeded first round puts TF-IDF's best items first, then the anchors,
    /// with no item twice and the round's size kept; share 0 (or no texts) changes nothing.
    #[test]
    fn tfidf_seeding_leads_the_first_round_with_tfidfs_best_items() {
        let texts: Vec<String> = (0..50)
            .map(|i| {
                if i == 9 || i == 2 {
                    format!("rocket launch {i}")
                } else {
                    format!("bread {i}")
                }
            })
            .collect();
        let tfidf = TfIdfIndex::build(&texts).unwrap();
        let inputs = SearchInputs {
            n_items: 50,
            tfidf: Some(&tfidf),
            query_text: Some("rocket launch"),
            ..Default::default()
        };
        let anchors = vec![2, 30, 31, 32, 33, 34];
        let first = tfidf_seeded(&inputs, 0.34, 6, anchors.clone());
        assert_eq!(first.len(), 6);
        let mut head = first[..2].to_vec();
        head.sort();
        assert_eq!(head, vec![2, 9], "TF-IDF's two best lead: {first:?}");
        assert_eq!(
            &first[2..],
            &[30, 31, 32, 33],
            "then the anchors, 2 not twice"
        );
        assert_eq!(tfidf_seeded(&inputs, 0.0, 6, anchors.clone()), anchors);
        let no_text = SearchInputs {
            query_text: None,
            ..inputs
        };
        assert_eq!(tfidf_seeded(&no_text, 1.0, 6, anchors.clone()), anchors);
    }

    #[test]
    fn every_method_spends_exactly_its_budget() {
        let (r, exact) = world();
        let index = CurIndex::new(r, Vec::new()).unwrap();
        let texts: Vec<String> = (0..300).map(|i| format!("item {i}")).collect();
        let tfidf = TfIdfIndex::build(&texts).unwrap();
        let inputs = SearchInputs {
            n_items: 300,
            index: Some(&index),
            tfidf: Some(&tfidf),
            query_text: Some("item 7"),
            ..Default::default()
        };
        for method in [
            Method::Anncur,
            Method::Adacur,
            Method::Tfidf,
            Method::Random,
        ] {
            let mut sc = MatrixRowScorer::from_slice(&exact);
            let params = SearchParams {
                method,
                budget: 40,
                k_i: 20,
                ..Default::default()
            };
            let res = search(&inputs, &params, &mut sc).unwrap();
            assert_eq!(res.ce_calls, 40, "{method}");
            assert_eq!(sc.calls, 40, "{method}: the scorer saw the same calls");
            assert_eq!(res.ranking.len(), 10, "{method}");
        }
        let mut sc = MatrixRowScorer::from_slice(&exact);
        let params = SearchParams {
            method: Method::Exact,
            ..Default::default()
        };
        assert_eq!(search(&inputs, &params, &mut sc).unwrap().ce_calls, 300);
    }

    #[test]
    fn k_i_and_budget_are_clamped_once_with_a_warning() {
        let (r, exact) = world();
        let index = CurIndex::new(r, Vec::new()).unwrap();
        let inputs = SearchInputs {
            n_items: 300,
            index: Some(&index),
            ..Default::default()
        };
        let mut sc = MatrixRowScorer::from_slice(&exact);
        let params = SearchParams {
            method: Method::Anncur,
            budget: 10,
            k_i: 25,
            ..Default::default()
        };
        let res = search(&inputs, &params, &mut sc).unwrap();
        assert_eq!(res.ce_calls, 10);
        assert_eq!(res.anchor_items.len(), 10);
        assert!(
            res.warnings.iter().any(|w| w.contains("using 10")),
            "{:?}",
            res.warnings
        );
        let mut sc = MatrixRowScorer::from_slice(&exact);
        let params = SearchParams {
            method: Method::Random,
            budget: 1000,
            ..Default::default()
        };
        let res = search(&inputs, &params, &mut sc).unwrap();
        assert_eq!(res.ce_calls, 300);
        assert!(res
            .warnings
            .iter()
            .any(|w| w.contains("more than the 300 items")));
    }

    #[test]
    fn near_square_cur_systems_are_flagged() {
        assert!(cur_size_warnings(Method::Anncur, 10, 60).is_empty());
        assert!(cur_size_warnings(Method::Anncur, 47, 60).is_empty());
        assert!(cur_size_warnings(Method::Anncur, 50, 60)[0].contains("50 anchor items vs 60"));
        assert!(cur_size_warnings(Method::Adacur, 60, 60)[0].contains("ill-conditioned"));
        assert!(cur_size_warnings(Method::Adacur, 75, 60)[0].contains("75 items scored"));
        assert!(cur_size_warnings(Method::Adacur, 76, 60).is_empty());
        let (r, exact) = world();
        let index = CurIndex::new(r, Vec::new()).unwrap();
        let inputs = SearchInputs {
            n_items: 300,
            index: Some(&index),
            ..Default::default()
        };
        let mut sc = MatrixRowScorer::from_slice(&exact);
        // ADACUR warns only for its plain min-norm fit; the default ridge fit is
        // stable near k_q (approx::adacur).
        let params = SearchParams {
            method: Method::Adacur,
            budget: 60,
            adacur_ridge: 0.0,
            ..Default::default()
        };
        let res = search(&inputs, &params, &mut sc).unwrap();
        assert!(
            res.warnings.iter().any(|w| w.contains("ill-conditioned")),
            "{:?}",
            res.warnings
        );
        let mut sc = MatrixRowScorer::from_slice(&exact);
        let ridged = SearchParams {
            adacur_ridge: defaults::ADACUR_RIDGE,
            ..params
        };
        let res = search(&inputs, &ridged, &mut sc).unwrap();
        assert!(res.warnings.is_empty(), "{:?}", res.warnings);
    }

    #[test]
    fn methods_without_their_inputs_say_what_is_missing() {
        let exact = vec![0.0f32; 5];
        let inputs = SearchInputs {
            n_items: 5,
            ..Default::default()
        };
        for (method, needle) in [
            (Method::Anncur, "needs an index"),
            (Method::Tfidf, "item texts"),
        ] {
            let mut sc = MatrixRowScorer::from_slice(&exact);
            let params = SearchParams {
                method,
                ..Default::default()
            };
            let err = search(&inputs, &params, &mut sc).unwrap_err().to_string();
            assert!(err.contains(needle), "{method}: {err}");
        }
        let mut sc = MatrixRowScorer::from_slice(&exact);
        let err = search(&SearchInputs::default(), &SearchParams::default(), &mut sc).unwrap_err();
        assert!(err.to_string().contains("no items"));
    }
}
