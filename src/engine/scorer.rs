//! The cross-encoder behind `approx::PairScorer`: scores the current query against
//! item indices, reusing scores already known, stopping when the job is superseded.

use std::ops::ControlFlow;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::approx::{ApproxError, PairScorer};
use crate::model::{CrossEncoder, ModelError, PairScore, ScoreOptions};

pub struct CeScorer<'a> {
    pub model: &'a CrossEncoder,
    pub texts: &'a [String],
    pub query: &'a str,
    pub generation: &'a AtomicU64,
    pub job: u64,
    /// Scores known before the search (the cache); used instead of running the model.
    pub known: Option<&'a [Option<PairScore>]>,
    /// Every score handed out, for the caller to keep.
    pub scored: Vec<(usize, PairScore)>,
}

impl CeScorer<'_> {
    pub fn cancelled(&self) -> bool {
        self.generation.load(Ordering::SeqCst) != self.job
    }
}

impl PairScorer for CeScorer<'_> {
    fn score_items(&mut self, items: &[usize]) -> Result<Vec<f32>, ApproxError> {
        let mut out = vec![0f32; items.len()];
        let mut todo = Vec::new();
        for (slot, &i) in items.iter().enumerate() {
            match self.known.and_then(|k| k.get(i).copied().flatten()) {
                Some(s) => {
                    out[slot] = s.logit;
                    self.scored.push((i, s));
                }
                None => todo.push(slot),
            }
        }
        if todo.is_empty() {
            return Ok(out);
        }
        let texts: Vec<&str> = todo
            .iter()
            .map(|&slot| {
                self.texts
                    .get(items[slot])
                    .map(String::as_str)
                    .ok_or_else(|| {
                        ApproxError::InvalidInput(format!("item {} out of range", items[slot]))
                    })
            })
            .collect::<Result<_, _>>()?;
        let pairs = self
            .model
            .encode(self.query, &texts)
            .map_err(|e| ApproxError::Scorer(e.to_string()))?;
        let (generation, job) = (self.generation, self.job);
        let mut got = Vec::with_capacity(todo.len());
        let res = self
            .model
            .score_encoded(&pairs, &ScoreOptions::default(), &mut |batch, _| {
                got.extend_from_slice(batch);
                if generation.load(Ordering::SeqCst) != job {
                    ControlFlow::Break(())
                } else {
                    ControlFlow::Continue(())
                }
            });
        match res {
            Ok(()) => {}
            Err(ModelError::Cancelled) => return Err(ApproxError::Scorer("cancelled".into())),
            Err(e) => return Err(ApproxError::Scorer(e.to_string())),
        }
        for (k, s) in got {
            let slot = todo[k];
            out[slot] = s.logit;
            self.scored.push((items[slot], s));
        }
        Ok(out)
    }
}
