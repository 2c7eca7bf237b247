//! The seam between a cross-encoder and everything that scores with one (the engine,
//! the index builder, the approximations): [`PairModel`]. The engine's tests run it
//! with a fake model; relex's [`CrossEncoder`] implements it for real.

use rayon::prelude::*;

use super::scoring::{BatchSink, ScoreProgress};
use super::{CrossEncoder, Input, InputMode, ModelError, ModelInfo, ScoreOptions};
use crate::model::families::zeshel::ZeshelContext;
use crate::model::input::pair::{EncodedItem, EncodedQuery};

/// A query made ready to be paired with many items: its mention brackets turned into
/// the model's markers and, for relex's models, tokenised once (ADACUR scores one query
/// in several rounds; the index builder scores each anchor query against every item).
pub struct PreparedQuery {
    text: String,
    tokens: Option<QueryTokens>,
}

enum QueryTokens {
    Pair(EncodedQuery),
    Zeshel(ZeshelContext),
}

impl PreparedQuery {
    /// A query carrying only its text, for models that tokenise on their own.
    pub fn plain(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            tokens: None,
        }
    }

    /// The query text as the model sees it (markers in place).
    pub fn text(&self) -> &str {
        &self.text
    }
}

/// Items tokenised once, to be paired with many queries ([`PairModel::prepare_items`]).
pub struct PreparedItems {
    tokens: Option<Vec<EncodedItem>>,
}

impl PreparedItems {
    /// Nothing prepared: the model tokenises items with every query.
    pub fn none() -> Self {
        Self { tokens: None }
    }
}

/// What scoring code needs from a cross-encoder.
pub trait PairModel: Send + Sync {
    fn info(&self) -> &ModelInfo;

    /// Prepares `query` (as a user typed it) for [`PairModel::score_prepared`].
    fn prepare(&self, query: &str) -> Result<PreparedQuery, ModelError>;

    /// Scores the query against `items` batch by batch; `on_batch` receives
    /// `(index into items, score)` pairs and the progress, and stops the scoring with
    /// `ModelError::Cancelled` by returning `Break`.
    fn score_prepared(
        &self,
        query: &PreparedQuery,
        items: &[&str],
        opts: &ScoreOptions,
        on_batch: &mut BatchSink<'_>,
    ) -> Result<(), ModelError>;

    /// Tokenises `items` once for [`PairModel::score_prepared_items`]. The default
    /// prepares nothing.
    fn prepare_items(&self, _items: &[&str]) -> Result<PreparedItems, ModelError> {
        Ok(PreparedItems::none())
    }

    /// [`PairModel::score_prepared`] with the items' tokens from `prepare_items` (which
    /// must have been given the same `items`).
    fn score_prepared_items(
        &self,
        query: &PreparedQuery,
        items: &[&str],
        _prepared: &PreparedItems,
        opts: &ScoreOptions,
        on_batch: &mut BatchSink<'_>,
    ) -> Result<(), ModelError> {
        self.score_prepared(query, items, opts, on_batch)
    }

    /// Scores every query against every item (`prepared` from `prepare_items` on the same
    /// items): `on_batch` gets `(query index × items.len() + item index, score)` and the
    /// progress over all pairs. The default scores one query after another; a model on a
    /// GPU scores them as one stream, so the device never waits between queries.
    fn score_grid(
        &self,
        queries: &[PreparedQuery],
        items: &[&str],
        prepared: &PreparedItems,
        opts: &ScoreOptions,
        on_batch: &mut BatchSink<'_>,
    ) -> Result<(), ModelError> {
        score_in_turn(self, queries, items, prepared, opts, on_batch)
    }
}

impl PairModel for CrossEncoder {
    fn info(&self) -> &ModelInfo {
        CrossEncoder::info(self)
    }

    fn prepare(&self, query: &str) -> Result<PreparedQuery, ModelError> {
        let text = self.prepare_query(query);
        let tokens = self.query_tokens(&text)?;
        Ok(PreparedQuery { text, tokens })
    }

    fn score_prepared(
        &self,
        query: &PreparedQuery,
        items: &[&str],
        opts: &ScoreOptions,
        on_batch: &mut BatchSink<'_>,
    ) -> Result<(), ModelError> {
        let pairs = self.encode_prepared(query, items)?;
        self.score_encoded(&pairs, opts, on_batch)
    }

    fn prepare_items(&self, items: &[&str]) -> Result<PreparedItems, ModelError> {
        if self.info().input_mode != InputMode::Pair {
            return Ok(PreparedItems::none());
        }
        let tok = self.pair_encoder();
        let tokens = items
            .par_iter()
            .map(|it| tok.encode_item(it))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(PreparedItems {
            tokens: Some(tokens),
        })
    }

    fn score_prepared_items(
        &self,
        query: &PreparedQuery,
        items: &[&str],
        prepared: &PreparedItems,
        opts: &ScoreOptions,
        on_batch: &mut BatchSink<'_>,
    ) -> Result<(), ModelError> {
        match (&query.tokens, &prepared.tokens) {
            (Some(QueryTokens::Pair(q)), Some(item_tokens)) if item_tokens.len() == items.len() => {
                let tok = self.pair_encoder();
                let pairs = item_tokens
                    .par_iter()
                    .map(|it| tok.pair(q, it))
                    .collect::<Result<Vec<_>, _>>()?;
                self.score_encoded(&pairs, opts, on_batch)
            }
            _ => self.score_prepared(query, items, opts, on_batch),
        }
    }

    fn score_grid(
        &self,
        queries: &[PreparedQuery],
        items: &[&str],
        prepared: &PreparedItems,
        opts: &ScoreOptions,
        on_batch: &mut BatchSink<'_>,
    ) -> Result<(), ModelError> {
        let tok = self.pair_encoder();
        let pair_queries: Option<Vec<&EncodedQuery>> = queries
            .iter()
            .map(|q| match &q.tokens {
                Some(QueryTokens::Pair(t)) => Some(t),
                _ => None,
            })
            .collect();
        match (pair_queries, &prepared.tokens, self.is_on_device()) {
            (Some(qs), Some(item_tokens), true) if item_tokens.len() == items.len() => {
                let n = items.len();
                let pairs = (0..qs.len() * n)
                    .into_par_iter()
                    .map(|k| tok.pair(qs[k / n], &item_tokens[k % n]))
                    .collect::<Result<Vec<_>, _>>()?;
                self.score_encoded(&pairs, opts, on_batch)
            }
            // On the CPU (or for other inputs) one query at a time: a row of items already
            // makes enough batches to keep the cores busy, unless the list is short.
            _ => score_in_turn(self, queries, items, prepared, opts, on_batch),
        }
    }
}

impl CrossEncoder {
    /// The query's tokens, as this model pairs them with items; `None` for LLM
    /// rerankers, whose chat template interleaves query and item.
    fn query_tokens(&self, text: &str) -> Result<Option<QueryTokens>, ModelError> {
        Ok(Some(match self.input() {
            Input::Pair => QueryTokens::Pair(self.pair_encoder().encode_query(text)?),
            Input::Zeshel => QueryTokens::Zeshel(crate::model::families::zeshel::encode_context(
                self.pair_encoder(),
                text,
            )?),
            Input::Prompt(_) => return Ok(None),
        }))
    }

    /// Pairs a prepared query with every item (items tokenised in parallel).
    pub fn encode_prepared(
        &self,
        query: &PreparedQuery,
        items: &[&str],
    ) -> Result<Vec<super::EncodedPair>, ModelError> {
        let tok = self.pair_encoder();
        match (self.input(), &query.tokens) {
            (Input::Prompt(prompt), _) => items
                .par_iter()
                .map(|item| prompt.encode(query.text(), item))
                .collect(),
            (Input::Pair, Some(QueryTokens::Pair(q))) => {
                items.par_iter().map(|it| tok.encode_pair(q, it)).collect()
            }
            (Input::Zeshel, Some(QueryTokens::Zeshel(q))) => items
                .par_iter()
                .map(|it| crate::model::families::zeshel::encode_pair(tok, q, it))
                .collect(),
            // Prepared by someone else (plain text, or another model's tokens): prepared
            // here it carries this model's tokens, which the arms above take.
            _ => self.encode_prepared(&PairModel::prepare(self, query.text())?, items),
        }
    }
}

/// [`PairModel::score_grid`] one query after another.
fn score_in_turn<M: PairModel + ?Sized>(
    model: &M,
    queries: &[PreparedQuery],
    items: &[&str],
    prepared: &PreparedItems,
    opts: &ScoreOptions,
    on_batch: &mut BatchSink<'_>,
) -> Result<(), ModelError> {
    let (n, total) = (items.len(), queries.len() * items.len());
    for (k, query) in queries.iter().enumerate() {
        model.score_prepared_items(query, items, prepared, opts, &mut |batch, p| {
            let shifted: Vec<_> = batch.iter().map(|&(i, s)| (k * n + i, s)).collect();
            let progress = ScoreProgress {
                done: k * n + p.done,
                total,
            };
            on_batch(&shifted, progress)
        })?;
    }
    Ok(())
}
