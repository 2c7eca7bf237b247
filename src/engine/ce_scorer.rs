//! The cross-encoder as the [`PairScorer`] of the approximations: scores the prepared
//! query against item indices, reuses scores already known for the query, records
//! every score it hands out, and stops when its job is cancelled.

use std::ops::ControlFlow;

use crate::approx::{ApproxError, PairScorer};
use crate::cancel::CancelToken;
use crate::model::{ModelError, PairModel, PairScore, PreparedQuery, ScoreOptions};

pub struct CeScorer<'a> {
    model: &'a dyn PairModel,
    /// Item texts exactly as the model sees them (template applied), by item index.
    texts: &'a [String],
    query: &'a PreparedQuery,
    cancel: &'a CancelToken,
    /// Scores known for this query, by item index: read instead of running the model,
    /// and filled with every new score (the engine's cache row, or a fresh one).
    known: &'a mut [Option<PairScore>],
    /// Every score newly computed by the model, in order, for the caller to forward.
    pub fresh: Vec<(usize, PairScore)>,
}

impl<'a> CeScorer<'a> {
    /// `known` must have one slot per text.
    pub fn new(
        model: &'a dyn PairModel,
        texts: &'a [String],
        query: &'a PreparedQuery,
        cancel: &'a CancelToken,
        known: &'a mut [Option<PairScore>],
    ) -> Self {
        debug_assert_eq!(texts.len(), known.len());
        Self {
            model,
            texts,
            query,
            cancel,
            known,
            fresh: Vec::new(),
        }
    }
}

impl PairScorer for CeScorer<'_> {
    fn score_items(&mut self, items: &[usize]) -> Result<Vec<f32>, ApproxError> {
        if self.cancel.is_cancelled() {
            return Err(ApproxError::Cancelled);
        }
        let mut out = vec![0f32; items.len()];
        let mut todo = Vec::new();
        for (slot, &i) in items.iter().enumerate() {
            match self.known.get(i) {
                Some(Some(s)) => out[slot] = s.logit,
                Some(None) => todo.push(slot),
                None => {
                    return Err(ApproxError::InvalidInput(format!(
                        "item {i} out of range for {} items",
                        self.texts.len()
                    )))
                }
            }
        }
        if todo.is_empty() {
            return Ok(out);
        }
        let texts: Vec<&str> = todo
            .iter()
            .map(|&slot| self.texts[items[slot]].as_str())
            .collect();
        let cancel = self.cancel;
        let mut got = Vec::with_capacity(todo.len());
        let res = self.model.score_prepared(
            self.query,
            &texts,
            &ScoreOptions::default(),
            &mut |batch, _| {
                got.extend_from_slice(batch);
                if cancel.is_cancelled() {
                    ControlFlow::Break(())
                } else {
                    ControlFlow::Continue(())
                }
            },
        );
        // Scores delivered before a cancel are still real: keep them.
        for (k, s) in got {
            let (slot, item) = (todo[k], items[todo[k]]);
            out[slot] = s.logit;
            self.known[item] = Some(s);
            self.fresh.push((item, s));
        }
        match res {
            Ok(()) => Ok(out),
            Err(ModelError::Cancelled) => Err(ApproxError::Cancelled),
            Err(e) => Err(ApproxError::Scorer(e.to_string())),
        }
    }
}
