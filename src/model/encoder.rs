//! The seam between the scoring loop and a model family: an [`Encoder`] turns a padded
//! batch into the hidden rows its [`ScoreHead`](super::heads::ScoreHead) reads, so the
//! engine, the index and the app never learn which family runs.

use candle_core::{IndexOp, Tensor};

use crate::model::families::bert::{BertEncoder, OutputRows};

/// A transformer stack of one family. Inputs are right-padded: `input_ids`, `type_ids`
/// [B, L] u32 and `mask` [B, L] f32 with 1 for real tokens (the attended tokens of a row
/// come first). Returns [B, L, H] for `OutputRows::All` and [B, H] otherwise.
pub trait Encoder: Send + Sync {
    fn forward(
        &self,
        input_ids: &Tensor,
        type_ids: &Tensor,
        mask: &Tensor,
        rows: OutputRows,
    ) -> candle_core::Result<Tensor>;

    /// The longest input, in tokens, the model can take.
    fn max_positions(&self) -> usize;
}

impl Encoder for BertEncoder {
    fn forward(
        &self,
        input_ids: &Tensor,
        type_ids: &Tensor,
        mask: &Tensor,
        rows: OutputRows,
    ) -> candle_core::Result<Tensor> {
        BertEncoder::forward(self, input_ids, type_ids, mask, rows)
    }

    fn max_positions(&self) -> usize {
        BertEncoder::max_positions(self)
    }
}

/// Picks the rows a head reads from full hidden states `x` [B, L, H] under `mask` [B, L].
pub fn select_rows(x: &Tensor, mask: &Tensor, rows: OutputRows) -> candle_core::Result<Tensor> {
    let (b, _l, _h) = x.dims3()?;
    match rows {
        OutputRows::All => Ok(x.clone()),
        OutputRows::FirstOnly => x.i((.., 0, ..))?.contiguous(),
        OutputRows::Last => {
            let mask = mask.to_vec2::<f32>()?;
            let picked = (0..b)
                .map(|i| {
                    let last = mask[i].iter().rposition(|&m| m != 0.0).unwrap_or(0);
                    x.i((i, last, ..))?.unsqueeze(0)
                })
                .collect::<candle_core::Result<Vec<_>>>()?;
            Tensor::cat(&picked, 0)
        }
        OutputRows::Mean => {
            // modeling_modernbert.py: (h * mask[..., None]).sum(1) / mask.sum(1, keepdim)
            let summed = x.broadcast_mul(&mask.unsqueeze(2)?)?.sum(1)?;
            summed.broadcast_div(&mask.sum_keepdim(1)?)
        }
    }
}
