//! Scoring heads: what turns the encoder's hidden states into one number per pair.
//!
//! candle-transformers has no BERT pooler or classification head, so they live here,
//! behind a small trait so that other poolings plug in beside them.

use candle_core::{IndexOp, Tensor};

use super::ModelError;
use crate::model::families::bert::{Dense, OutputRows};

/// One scoring head. `hidden` is [B, H] when `rows()` is `FirstOnly`, else [B, L, H];
/// `ids` holds each pair's (padded) input ids, for heads that read special tokens.
pub trait ScoreHead: Send + Sync {
    fn rows(&self) -> OutputRows;
    fn scores(&self, hidden: &Tensor, ids: &[&[u32]]) -> Result<Vec<f32>, ModelError>;
}

/// `[CLS]` → optional pooler (dense + tanh) → linear → one chosen output.
/// Covers transformers' `BertForSequenceClassification` (pooler + classifier), models
/// saved without a pooler ("cls"), and the reference code's "cls_w_lin"
/// (pooler + `additional_linear`).
pub struct ClassifierHead {
    pub pooler: Option<Dense>,
    pub classifier: Dense,
    pub label: usize,
}

impl ScoreHead for ClassifierHead {
    fn rows(&self) -> OutputRows {
        OutputRows::FirstOnly
    }

    fn scores(&self, hidden: &Tensor, _ids: &[&[u32]]) -> Result<Vec<f32>, ModelError> {
        // modeling_bert.py BertPooler: dense(hidden[:, 0]).tanh()
        let pooled = match &self.pooler {
            Some(p) => p.forward(hidden)?.tanh()?,
            None => hidden.clone(),
        };
        let logits = self.classifier.forward(&pooled)?;
        Ok(logits.i((.., self.label))?.to_vec1::<f32>()?)
    }
}

/// The reference code's "w_embeds" pooling: the query is summarised by the mean of the
/// final embeddings at its two mention markers, the item by the embedding at its item
/// marker, and the score is their dot product.
pub struct SpecialTokenHead {
    pub mention_start: u32,
    pub mention_end: u32,
    pub item_marker: u32,
}

impl SpecialTokenHead {
    /// Where pair `row`'s mention-start, mention-end and item markers sit in `seq`.
    pub fn marker_positions(&self, row: usize, seq: &[u32]) -> Result<[usize; 3], ModelError> {
        let find = |tok: u32, name: &str| {
            seq.iter()
                .position(|&t| t == tok)
                .ok_or_else(|| ModelError::Input {
                    message: format!(
                        "w_embeds pooling needs the {name} token (id {tok}) in every pair; pair {row} has none"
                    ),
                })
        };
        Ok([
            find(self.mention_start, "mention-start")?,
            find(self.mention_end, "mention-end")?,
            find(self.item_marker, "item-marker")?,
        ])
    }
}

impl ScoreHead for SpecialTokenHead {
    fn rows(&self) -> OutputRows {
        OutputRows::All
    }

    fn scores(&self, hidden: &Tensor, ids: &[&[u32]]) -> Result<Vec<f32>, ModelError> {
        let mut out = Vec::with_capacity(ids.len());
        for (b, seq) in ids.iter().enumerate() {
            let [s, e, m] = self.marker_positions(b, seq)?;
            let row = hidden.i(b)?;
            let query = ((row.i(s)? + row.i(e)?)? * 0.5)?;
            let item = row.i(m)?;
            out.push((query * item)?.sum_all()?.to_scalar::<f32>()?);
        }
        Ok(out)
    }
}
