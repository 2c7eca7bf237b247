//! Building blocks the newer families share: bias-optional layer norm, rotary position
//! embeddings, and attention under an arbitrary additive mask (sliding window, causal).
//! Dense layers are [`Dense`](crate::model::families::bert::Dense), the fused-kernel linear of BERT.

use candle_core::{Device, Tensor};

use crate::model::families::bert::Dense;
use crate::model::weights::Weights;
use crate::model::ModelError;

/// A large negative score for masked keys: finite, so that a row whose keys are all
/// masked (a padding row) gives a uniform softmax instead of NaNs that would spread.
const MASKED: f32 = -1e30;

/// A linear layer `[out, in]` whose bias may be absent (the newer families have none).
pub fn dense(
    w: &Weights,
    prefix: &str,
    in_dim: usize,
    out_dim: usize,
) -> Result<Dense, ModelError> {
    let weight = w.get(&format!("{prefix}.weight"), &[out_dim, in_dim])?;
    let bias_name = format!("{prefix}.bias");
    let bias = if w.contains(&bias_name) {
        w.get(&bias_name, &[out_dim])?
    } else {
        Tensor::zeros(out_dim, candle_core::DType::F32, &Device::Cpu)?
    };
    Dense::from_parts(&weight, &bias)
}

/// Several linear layers over the same input fused into one (`[out_1 + out_2 + …, in]`),
/// with row blocks scaled (a pre-scaled query), biases zero where absent.
pub fn fused_dense(
    w: &Weights,
    parts: &[(&str, usize, f64)],
    in_dim: usize,
) -> Result<Dense, ModelError> {
    let mut weights = Vec::with_capacity(parts.len());
    let mut biases = Vec::with_capacity(parts.len());
    for &(prefix, out_dim, scale) in parts {
        let weight = (w.get(&format!("{prefix}.weight"), &[out_dim, in_dim])? * scale)?;
        let bias_name = format!("{prefix}.bias");
        let bias = if w.contains(&bias_name) {
            (w.get(&bias_name, &[out_dim])? * scale)?
        } else {
            Tensor::zeros(out_dim, candle_core::DType::F32, &Device::Cpu)?
        };
        weights.push(weight);
        biases.push(bias);
    }
    Dense::from_parts(&Tensor::cat(&weights, 0)?, &Tensor::cat(&biases, 0)?)
}

/// `nn.LayerNorm`, with or without a bias.
#[derive(Clone)]
pub struct Norm {
    weight: Tensor,
    bias: Tensor,
    eps: f32,
}

impl Norm {
    pub fn load(w: &Weights, prefix: &str, dim: usize, eps: f64) -> Result<Self, ModelError> {
        let bias_name = format!("{prefix}.bias");
        Ok(Self {
            weight: w.get(&format!("{prefix}.weight"), &[dim])?,
            bias: if w.contains(&bias_name) {
                w.get(&bias_name, &[dim])?
            } else {
                Tensor::zeros(dim, candle_core::DType::F32, &Device::Cpu)?
            },
            eps: eps as f32,
        })
    }

    pub fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        candle_nn::ops::layer_norm(&x.contiguous()?, &self.weight, &self.bias, self.eps)
    }
}

/// RMSNorm (Qwen3RMSNorm: `w · x / sqrt(mean(x²) + eps)`), optionally with a constant
/// folded into the weight.
#[derive(Clone)]
pub struct RmsNorm {
    weight: Tensor,
    eps: f32,
}

impl RmsNorm {
    pub fn load(
        w: &Weights,
        name: &str,
        dim: usize,
        eps: f64,
        scale: f64,
    ) -> Result<Self, ModelError> {
        Ok(Self {
            weight: (w.get(name, &[dim])? * scale)?,
            eps: eps as f32,
        })
    }

    /// Normalises over the last dimension of `x`.
    pub fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        candle_nn::ops::rms_norm(&x.contiguous()?, &self.weight, self.eps)
    }
}

/// Rotary position embeddings in the rotate-half layout of transformers'
/// `apply_rotary_pos_emb`, tables precomputed as the f32 `cos`/`sin` it computes.
pub struct Rope {
    cos: Vec<f32>,
    sin: Vec<f32>,
    half: usize,
    max_positions: usize,
}

impl Rope {
    pub fn new(head_dim: usize, theta: f64, max_positions: usize) -> Self {
        let half = head_dim / 2;
        // inv_freq = 1 / theta^(2i/d) in f32; freqs = position · inv_freq in f32.
        let inv_freq: Vec<f32> = (0..half)
            .map(|i| (1.0 / theta.powf((2 * i) as f64 / head_dim as f64)) as f32)
            .collect();
        let mut cos = Vec::with_capacity(max_positions * half);
        let mut sin = Vec::with_capacity(max_positions * half);
        for p in 0..max_positions {
            for &f in &inv_freq {
                let a = p as f32 * f;
                cos.push(a.cos());
                sin.push(a.sin());
            }
        }
        Self {
            cos,
            sin,
            half,
            max_positions,
        }
    }

    pub fn max_positions(&self) -> usize {
        self.max_positions
    }

    /// Rotates, in place, `heads` consecutive head vectors starting at column `col` of
    /// every row of `x` ([rows, stride] row-major); row `r` is at position `r % seq`.
    pub fn apply(
        &self,
        x: &mut [f32],
        stride: usize,
        col: usize,
        heads: usize,
        seq: usize,
    ) -> candle_core::Result<()> {
        if seq > self.max_positions {
            candle_core::bail!(
                "rope: {seq} positions, the table has {}",
                self.max_positions
            );
        }
        let (half, d) = (self.half, 2 * self.half);
        for (r, row) in x.chunks_mut(stride).enumerate() {
            let p = r % seq;
            let (cos, sin) = (
                &self.cos[p * half..(p + 1) * half],
                &self.sin[p * half..(p + 1) * half],
            );
            for h in 0..heads {
                let v = &mut row[col + h * d..col + (h + 1) * d];
                let (a, b) = v.split_at_mut(half);
                for i in 0..half {
                    let (x1, x2) = (a[i], b[i]);
                    a[i] = x1 * cos[i] - x2 * sin[i];
                    b[i] = x2 * cos[i] + x1 * sin[i];
                }
            }
        }
        Ok(())
    }
}

/// Which keys a query may see, beside the padding mask.
#[derive(Debug, Clone, Copy)]
pub enum KeyWindow {
    /// Keys within `|i - j| <= half_width` (ModernBERT local attention).
    Sliding { half_width: usize },
    /// Keys at or before the query (decoders).
    Causal,
}

/// The additive mask [B, 1, L, L] for `mask` [B, L] (1 = real token) and a window.
pub fn attention_bias(mask: &Tensor, window: KeyWindow) -> candle_core::Result<Tensor> {
    let (b, l) = mask.dims2()?;
    let m = mask.to_vec2::<f32>()?;
    let mut bias = vec![0f32; b * l * l];
    for (bi, row) in m.iter().enumerate() {
        for i in 0..l {
            for (j, &mj) in row.iter().enumerate() {
                let visible = mj != 0.0
                    && match window {
                        KeyWindow::Sliding { half_width } => i.abs_diff(j) <= half_width,
                        KeyWindow::Causal => j <= i,
                    };
                if !visible {
                    bias[(bi * l + i) * l + j] = MASKED;
                }
            }
        }
    }
    Tensor::from_vec(bias, (b, 1, l, l), mask.device())
}

/// Multi-head attention with grouped key/value heads: `q` [B·L, nh·d] (pre-scaled),
/// `k`, `v` [B·L, nkv·d], `bias` [B, 1, L, L] additive. Returns the context [B·L, nh·d].
#[allow(clippy::too_many_arguments)]
pub fn attention(
    q: &Tensor,
    k: &Tensor,
    v: &Tensor,
    bias: &Tensor,
    b: usize,
    l: usize,
    heads: usize,
    kv_heads: usize,
    head_dim: usize,
) -> candle_core::Result<Tensor> {
    let split = |t: &Tensor, n: usize| -> candle_core::Result<Tensor> {
        t.reshape((b, l, n, head_dim))?
            .transpose(1, 2)?
            .contiguous()
    };
    let q = split(q, heads)?;
    let (mut k, mut v) = (split(k, kv_heads)?, split(v, kv_heads)?);
    if heads != kv_heads {
        // repeat_kv: each key/value head serves heads / kv_heads query heads.
        let rep = heads / kv_heads;
        let expand = |t: &Tensor| -> candle_core::Result<Tensor> {
            t.unsqueeze(2)?
                .broadcast_as((b, kv_heads, rep, l, head_dim))?
                .reshape((b, heads, l, head_dim))
        };
        k = expand(&k)?;
        v = expand(&v)?;
    }
    let scores = q.matmul(&k.t()?.contiguous()?)?.broadcast_add(bias)?;
    let probs = candle_nn::ops::softmax_last_dim(&scores)?;
    probs
        .matmul(&v)?
        .transpose(1, 2)?
        .reshape((b * l, heads * head_dim))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rope_rotates_each_half_pair_by_position() {
        let rope = Rope::new(4, 10_000.0, 8);
        // one head of dim 4, three positions
        let mut x: Vec<f32> = [1.0, 0.0, 0.0, 0.0].repeat(3);
        rope.apply(&mut x, 4, 0, 1, 3).unwrap();
        // position 0 is the identity; position p rotates (x1, x2) by p·inv_freq
        assert_eq!(&x[..4], &[1.0, 0.0, 0.0, 0.0]);
        assert!((x[4] - 1f32.cos()).abs() < 1e-6 && (x[6] - 1f32.sin()).abs() < 1e-6);
        assert!((x[8] - 2f32.cos()).abs() < 1e-6 && (x[10] - 2f32.sin()).abs() < 1e-6);
    }

    #[test]
    fn bias_masks_padding_windows_and_the_future() {
        let mask = Tensor::from_vec(vec![1f32, 1.0, 1.0, 0.0], (1, 4), &Device::Cpu).unwrap();
        let b: Vec<f32> = attention_bias(&mask, KeyWindow::Causal)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        assert_eq!(b[1], MASKED); // query 0 cannot see key 1
        assert_eq!(b[2 * 4 + 1], 0.0);
        assert_eq!(b[3 * 4 + 3], MASKED); // padding key
        let w: Vec<f32> = attention_bias(&mask, KeyWindow::Sliding { half_width: 1 })
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        assert_eq!(w[2], MASKED); // |0 - 2| > 1
        assert_eq!(w[4 + 2], 0.0);
    }
}
