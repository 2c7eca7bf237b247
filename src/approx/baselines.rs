//! Reference points for the CUR methods at the same CE budget.
//!
//! * [`exact_search`]: every item scored, the ground truth (budget `N`).
//! * [`random_search`]: `budget` uniformly random items scored exactly; the
//!   floor any method must beat (expected Top-k recall `≈ budget / N`).
//! * [`tfidf_search`]: lexical retrieve-then-rerank, the classic cheap
//!   first stage: retrieve the `budget` best items by TF-IDF cosine, score
//!   them exactly, return the exact top-k.

use std::collections::HashMap;

use rayon::prelude::*;

use super::cur::score_checked;
use super::{
    rank_scored, sample_without_replacement, top_k_indices, ApproxError, PairScorer, Result,
    SearchResult, SplitMix64,
};

/// Lower-cased maximal runs of alphanumeric characters (Unicode-aware).
pub fn tokenize(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|t| !t.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// A TF-IDF index over item texts with cosine retrieval.
///
/// Weighting (as scikit-learn's `TfidfVectorizer(sublinear_tf=True)`):
/// `tf = 1 + ln(count)`, `idf = ln((1 + n_docs) / (1 + df)) + 1` (smoothed, so
/// no term gets zero or infinite weight), vectors L2-normalised; cosine
/// similarity is then a sparse dot product, computed through an inverted
/// index so only items sharing a term with the query are touched.
#[derive(Clone, Debug)]
pub struct TfIdfIndex {
    vocab: HashMap<String, usize>,
    idf: Vec<f32>,
    /// term → (item, normalised weight)
    postings: Vec<Vec<(u32, f32)>>,
    n_items: usize,
}

impl TfIdfIndex {
    /// Indexes `items` (item `j` = `items[j]`).
    pub fn build(items: &[String]) -> Result<Self> {
        if items.len() > u32::MAX as usize {
            return Err(ApproxError::InvalidInput(
                "too many items for TF-IDF".into(),
            ));
        }
        let docs: Vec<HashMap<String, u32>> = items
            .par_iter()
            .map(|t| {
                let mut counts = HashMap::new();
                for tok in tokenize(t) {
                    *counts.entry(tok).or_insert(0u32) += 1;
                }
                counts
            })
            .collect();
        let mut vocab: HashMap<String, usize> = HashMap::new();
        let mut df: Vec<u32> = Vec::new();
        // Terms in sorted order, not the hash maps' (random per map): term ids, and with
        // them every float sum below, are then the same from run to run.
        for d in &docs {
            let mut terms: Vec<&String> = d.keys().collect();
            terms.sort_unstable();
            for term in terms {
                let next = vocab.len();
                let id = *vocab.entry(term.clone()).or_insert(next);
                if id == df.len() {
                    df.push(0);
                }
                df[id] += 1;
            }
        }
        let n = items.len() as f64;
        let idf: Vec<f32> = df
            .iter()
            .map(|&d| (((1.0 + n) / (1.0 + d as f64)).ln() + 1.0) as f32)
            .collect();
        let mut postings = vec![Vec::new(); vocab.len()];
        for (j, d) in docs.iter().enumerate() {
            let mut w: Vec<(usize, f32)> = d
                .iter()
                .map(|(t, &c)| {
                    let id = vocab[t];
                    (id, (1.0 + (c as f32).ln()) * idf[id])
                })
                .collect();
            w.sort_unstable_by_key(|&(id, _)| id);
            normalize(&mut w);
            for (id, x) in w {
                postings[id].push((j as u32, x));
            }
        }
        Ok(Self {
            vocab,
            idf,
            postings,
            n_items: items.len(),
        })
    }

    pub fn n_items(&self) -> usize {
        self.n_items
    }

    /// The normalised sparse TF-IDF vector of `text` (unknown terms dropped).
    fn query_vector(&self, text: &str) -> Vec<(usize, f32)> {
        let mut counts: HashMap<usize, u32> = HashMap::new();
        for tok in tokenize(text) {
            if let Some(&id) = self.vocab.get(&tok) {
                *counts.entry(id).or_insert(0) += 1;
            }
        }
        let mut w: Vec<(usize, f32)> = counts
            .into_iter()
            .map(|(id, c)| (id, (1.0 + (c as f32).ln()) * self.idf[id]))
            .collect();
        // In term order, not the hash map's (random per map): float sums depend on their
        // order, and near-ties then ranked differently from run to run.
        w.sort_unstable_by_key(|&(id, _)| id);
        normalize(&mut w);
        w
    }

    /// Cosine similarity of `query` with every item (0 for items sharing no
    /// term with it).
    pub fn scores(&self, query: &str) -> Vec<f32> {
        let mut s = vec![0.0f32; self.n_items];
        for (id, qw) in self.query_vector(query) {
            for &(j, x) in &self.postings[id] {
                s[j as usize] += qw * x;
            }
        }
        s
    }
}

fn normalize(w: &mut [(usize, f32)]) {
    let norm = w.iter().map(|(_, x)| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        w.iter_mut().for_each(|(_, x)| *x /= norm);
    }
}

/// TF-IDF retrieve-then-rerank: the `budget` items with the highest cosine
/// (ties, e.g. the many zero-similarity items, by lower index) are scored
/// exactly; returns their exact top-k, TF-IDF cosines as `approx`.
pub fn tfidf_search<S: PairScorer + ?Sized>(
    index: &TfIdfIndex,
    query: &str,
    scorer: &mut S,
    budget: usize,
    top_k: usize,
) -> Result<SearchResult> {
    let cos = index.scores(query);
    let items = top_k_indices(&cos, budget);
    let mut res = score_all(scorer, items, Some(&cos), top_k)?;
    res.approx_scores = Some(cos);
    Ok(res)
}

/// `budget` items drawn uniformly without replacement (seeded) and scored.
pub fn random_search<S: PairScorer + ?Sized>(
    n_items: usize,
    scorer: &mut S,
    budget: usize,
    top_k: usize,
    seed: u64,
) -> Result<SearchResult> {
    let items = sample_without_replacement(&mut SplitMix64::new(seed), n_items, budget);
    score_all(scorer, items, None, top_k)
}

/// Scores every item: the exact top-k, at a cost of `N` CE calls.
pub fn exact_search<S: PairScorer + ?Sized>(
    n_items: usize,
    scorer: &mut S,
    top_k: usize,
) -> Result<SearchResult> {
    score_all(scorer, (0..n_items).collect(), None, top_k)
}

fn score_all<S: PairScorer + ?Sized>(
    scorer: &mut S,
    items: Vec<usize>,
    approx: Option<&[f32]>,
    top_k: usize,
) -> Result<SearchResult> {
    let exact = if items.is_empty() {
        Vec::new()
    } else {
        score_checked(scorer, &items)?
    };
    Ok(SearchResult {
        ranking: rank_scored(&items, &exact, approx, top_k),
        ce_calls: items.len(),
        ..Default::default()
    })
}

#[cfg(test)]
mod tests {

    /// The same query gives bit-identical scores every time, and so does an index built
    /// again from the same texts (terms are numbered and summed in a fixed order), so
    /// rankings and sparse-index plans are reproducible from run to run.
    #[test]
    fn tfidf_scores_are_bit_identical_from_call_to_call() {
        let texts: Vec<String> = (0..200)
            .map(|i| {
                format!(
                    "alpha{} beta{} gamma{} delta{} epsilon{} zeta{} eta{}",
                    i % 7,
                    i % 11,
                    i % 13,
                    i % 5,
                    i % 3,
                    i % 17,
                    i % 19
                )
            })
            .collect();
        let index = TfIdfIndex::build(&texts).unwrap();
        let q = "alpha1 beta2 gamma3 delta4 epsilon0 zeta5 eta6 alpha1 beta7 gamma8";
        let first: Vec<u32> = index.scores(q).iter().map(|x| x.to_bits()).collect();
        for _ in 0..20 {
            let again: Vec<u32> = index.scores(q).iter().map(|x| x.to_bits()).collect();
            assert_eq!(again, first);
            let rebuilt = TfIdfIndex::build(&texts).unwrap();
            let again: Vec<u32> = rebuilt.scores(q).iter().map(|x| x.to_bits()).collect();
            assert_eq!(again, first, "a rebuilt index");
        }
    }

    use super::super::MatrixRowScorer;
    use super::*;

    fn corpus() -> Vec<String> {
        [
            "The cat sat on the mat.",
            "Dogs are loyal animals; a dog guards the house.",
            "Rust is a systems programming language.",
            "Matrix factorisation: CUR decomposition of a score matrix.",
            "The quick brown fox jumps over the lazy dog.",
            "Cats and dogs: cat food, dog food.",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    }

    #[test]
    fn tokenizer_lowercases_and_splits() {
        assert_eq!(tokenize("Héllo, WORLD-42!"), vec!["héllo", "world", "42"]);
        assert!(tokenize(" ,;").is_empty());
    }

    #[test]
    fn tfidf_ranks_lexical_matches_first() {
        let idx = TfIdfIndex::build(&corpus()).unwrap();
        let s = idx.scores("rust programming");
        assert_eq!(top_k_indices(&s, 1), vec![2]);
        let s = idx.scores("CUR matrix decomposition");
        assert_eq!(top_k_indices(&s, 1), vec![3]);
        let s = idx.scores("cat");
        let top2 = top_k_indices(&s, 2);
        assert!(top2.contains(&0) && top2.contains(&5));
        assert!(idx.scores("zebra").iter().all(|&x| x == 0.0));
        // A document is its own best match, with cosine 1.
        let s = idx.scores(&corpus()[1]);
        assert!((s[1] - 1.0).abs() < 1e-5);
        assert!(s.iter().all(|&x| x <= 1.0 + 1e-5));
    }

    #[test]
    fn tfidf_search_reranks_exactly() {
        let idx = TfIdfIndex::build(&corpus()).unwrap();
        // "Exact" scores prefer item 5 over item 0 even though both match.
        let exact = [0.5, 0.0, 0.0, 0.0, 0.0, 0.9];
        let mut sc = MatrixRowScorer::from_slice(&exact);
        let res = tfidf_search(&idx, "cat", &mut sc, 2, 2).unwrap();
        assert_eq!(res.ce_calls, 2);
        assert_eq!(res.ranking[0].item, 5);
        assert_eq!(res.ranking[1].item, 0);
        assert!(res.ranking[0].approx.unwrap() > 0.0);
    }

    #[test]
    fn random_and_exact_baselines() {
        let exact: Vec<f32> = (0..100).map(|j| ((j * 37) % 100) as f32).collect();
        let mut sc = MatrixRowScorer::from_slice(&exact);
        let res = exact_search(100, &mut sc, 3).unwrap();
        assert_eq!(res.ce_calls, 100);
        let top: Vec<usize> = res.ranking.iter().map(|r| r.item).collect();
        assert_eq!(top, top_k_indices(&exact, 3));
        let mut sc = MatrixRowScorer::from_slice(&exact);
        let res = random_search(100, &mut sc, 10, 5, 1).unwrap();
        assert_eq!((res.ce_calls, sc.calls, res.ranking.len()), (10, 10, 5));
        let mut sc = MatrixRowScorer::from_slice(&exact);
        let res = random_search(100, &mut sc, 1000, 5, 1).unwrap();
        assert_eq!(res.ce_calls, 100);
    }
}
