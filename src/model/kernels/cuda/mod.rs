//! Fused operations of the tensor-op encoder (`device_bert.rs`), as candle custom ops:
//! a CUDA kernel each (`fused.cu`, compiled to PTX by build.rs with the `cuda` feature)
//! and a plain CPU implementation of the same arithmetic, which is what CI runs and
//! what the GPU's recorded scores are checked against.
//!
//! Why: in candle's own ops a BERT layer is ~25 kernels, most of them elementwise passes
//! over the same activations (bias add, residual add, head transposes, mask add) through
//! strided kernels; on an H200 they took 80 % of the time and cuBLAS 6 %. Fused, a layer
//! is five matmuls and five memory-bound kernels, each reading its inputs once.
//!
//! Every op computes in f32 whatever the storage type, and expects contiguous inputs.

use candle_core::backend::BackendStorage;
use candle_core::{
    bail, CpuStorage, CustomOp1, CustomOp2, CustomOp3, DType, Layout, Result, Shape, Tensor,
    WithDType,
};
use half::{bf16, f16};

use crate::model::kernels::cpu::contiguous;

/// The activation applied by [`bias_act`]; the codes match `fused.cu`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Act {
    Identity = 0,
    /// transformers' "gelu": x·Φ(x) with the exact erf.
    GeluErf = 1,
    /// "gelu_new" / "gelu_pytorch_tanh".
    GeluTanh = 2,
    Relu = 3,
    /// BertPooler's tanh.
    Tanh = 4,
}

impl Act {
    fn apply(self, v: f32) -> f32 {
        match self {
            Act::Identity => v,
            Act::GeluErf => {
                0.5 * v
                    * (1.0
                        + candle_core::cpu::erf::erf_f64(
                            f64::from(v) * std::f64::consts::FRAC_1_SQRT_2,
                        ) as f32)
            }
            Act::GeluTanh => {
                let inner = 0.797_884_6 * (v + 0.044715 * v * v * v);
                0.5 * v * (1.0 + inner.tanh())
            }
            Act::Relu => v.max(0.0),
            Act::Tanh => v.tanh(),
        }
    }
}

/// `act(x + bias)` for x [rows, cols] and bias [cols].
pub fn bias_act(x: &Tensor, bias: &Tensor, act: Act) -> Result<Tensor> {
    let (_, cols) = x.dims2()?;
    check_vector(bias, cols, "bias")?;
    x.apply_op2_no_bwd(bias, &BiasAct { act })
}

/// `LayerNorm(x + bias + residual)·gamma + beta` row by row; x and residual [rows, cols],
/// params [3, cols] = bias, gamma, beta.
pub fn bias_residual_layer_norm(
    x: &Tensor,
    residual: &Tensor,
    params: &Tensor,
    eps: f32,
) -> Result<Tensor> {
    let (_, cols) = x.dims2()?;
    if residual.dims() != x.dims() {
        bail!(
            "residual {:?} does not match {:?}",
            residual.dims(),
            x.dims()
        );
    }
    if params.dims() != [3, cols] {
        bail!(
            "LayerNorm params are {:?}, expected [3, {cols}]",
            params.dims()
        );
    }
    x.apply_op3_no_bwd(residual, params, &BiasResidualLayerNorm { eps })
}

/// BertEmbeddings in one pass: `LayerNorm(table[i₀] + table[i₁] + table[i₂])·gamma + beta`
/// per token, with the word, position and token-type tables stacked in `table` [rows, H]
/// and `indices` [3, N] (u32) already offset into it; params [3, H] = (unused), gamma,
/// beta as for [`bias_residual_layer_norm`].
pub fn embed_layer_norm(
    indices: &Tensor,
    table: &Tensor,
    params: &Tensor,
    eps: f32,
) -> Result<Tensor> {
    let (three, _) = indices.dims2()?;
    let (_, cols) = table.dims2()?;
    if three != 3 || indices.dtype() != DType::U32 {
        bail!(
            "embedding indices are {:?} {:?}, expected U32 [3, N]",
            indices.dtype(),
            indices.dims()
        );
    }
    if params.dims() != [3, cols] {
        bail!(
            "LayerNorm params are {:?}, expected [3, {cols}]",
            params.dims()
        );
    }
    indices.apply_op3_no_bwd(table, params, &EmbedLayerNorm { eps })
}

/// The fused Q|K|V matmul output x [batch·len, 3·heads·head_dim] plus its bias, as
/// [3, batch, heads, len, head_dim]: Q, K and V in the layout the attention matmuls read.
pub fn qkv_split(
    x: &Tensor,
    bias: &Tensor,
    batch: usize,
    len: usize,
    heads: usize,
    head_dim: usize,
) -> Result<Tensor> {
    let h3 = 3 * heads * head_dim;
    if x.dims() != [batch * len, h3] {
        bail!(
            "QKV rows are {:?}, expected [{}, {h3}]",
            x.dims(),
            batch * len
        );
    }
    check_vector(bias, h3, "QKV bias")?;
    x.apply_op2_no_bwd(
        bias,
        &QkvSplit {
            batch,
            len,
            heads,
            head_dim,
        },
    )
}

/// Softmax over the last dimension of scores [batch, heads, q_rows, len] after adding
/// mask[b] (f32 [batch, len]: 0 for tokens, a large negative number for padding).
pub fn masked_softmax(scores: &Tensor, mask: &Tensor) -> Result<Tensor> {
    let (batch, _, _, len) = scores.dims4()?;
    if mask.dims() != [batch, len] || mask.dtype() != DType::F32 {
        bail!(
            "mask is {:?} {:?}, expected F32 [{batch}, {len}]",
            mask.dtype(),
            mask.dims()
        );
    }
    scores.apply_op2_no_bwd(mask, &MaskedSoftmax)
}

/// x [batch, heads, len, head_dim] → [batch·len, heads·head_dim].
pub fn merge_heads(x: &Tensor) -> Result<Tensor> {
    x.apply_op1_no_bwd(&MergeHeads)
}

fn check_vector(t: &Tensor, n: usize, what: &str) -> Result<()> {
    if t.dims() != [n] {
        bail!("{what} is {:?}, expected [{n}]", t.dims());
    }
    Ok(())
}

struct BiasAct {
    act: Act,
}

struct BiasResidualLayerNorm {
    eps: f32,
}

struct EmbedLayerNorm {
    eps: f32,
}

struct QkvSplit {
    batch: usize,
    len: usize,
    heads: usize,
    head_dim: usize,
}

struct MaskedSoftmax;

struct MergeHeads;

// ---- CPU: the reference arithmetic, element by element in f32 ----

/// A float element type the ops accept.
trait Float: WithDType {
    fn f32(self) -> f32;
    fn of(v: f32) -> Self;
}

impl Float for f32 {
    fn f32(self) -> f32 {
        self
    }
    fn of(v: f32) -> Self {
        v
    }
}

impl Float for f16 {
    fn f32(self) -> f32 {
        self.to_f32()
    }
    fn of(v: f32) -> Self {
        f16::from_f32(v)
    }
}

impl Float for bf16 {
    fn f32(self) -> f32 {
        self.to_f32()
    }
    fn of(v: f32) -> Self {
        bf16::from_f32(v)
    }
}

/// Evaluates `$body` (a `Vec<$T>`) with `$T` bound to the storage's float type and
/// returns it as CPU storage.
macro_rules! with_float {
    ($dtype:expr, $T:ident => $body:expr) => {
        match $dtype {
            DType::F32 => {
                type $T = f32;
                <$T as WithDType>::to_cpu_storage_owned($body)
            }
            DType::F16 => {
                type $T = f16;
                <$T as WithDType>::to_cpu_storage_owned($body)
            }
            DType::BF16 => {
                type $T = bf16;
                <$T as WithDType>::to_cpu_storage_owned($body)
            }
            other => bail!("fused ops take f32, f16 or bf16, not {other:?}"),
        }
    };
}

impl CustomOp2 for BiasAct {
    fn name(&self) -> &'static str {
        "bias-act"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let out = with_float!(s1.dtype(), T => {
            let x = contiguous::<T>(s1, l1, "bias-act input")?;
            let bias = contiguous::<T>(s2, l2, "bias-act bias")?;
            x.chunks(bias.len())
                .flat_map(|row| {
                    row.iter()
                        .zip(bias)
                        .map(|(&v, &b)| T::of(self.act.apply(v.f32() + b.f32())))
                })
                .collect()
        });
        Ok((out, l1.shape().clone()))
    }

    #[cfg(feature = "cuda")]
    fn cuda_fwd(
        &self,
        s1: &candle_core::CudaStorage,
        l1: &Layout,
        s2: &candle_core::CudaStorage,
        l2: &Layout,
    ) -> Result<(candle_core::CudaStorage, Shape)> {
        let (rows, cols) = l1.shape().dims2()?;
        let inputs = [(s1, l1), (s2, l2)];
        let n = rows * cols;
        let act = self.act as u32;
        let out =
            launch::launch_elements(
                "bias_act",
                &inputs,
                n,
                rows,
                &[cols],
                |vectors| match vectors {
                    Some(vectors) => vec![vectors, cols as u32, act],
                    None => vec![cols as u32, act],
                },
            )?;
        Ok((out, l1.shape().clone()))
    }
}

impl CustomOp3 for BiasResidualLayerNorm {
    fn name(&self) -> &'static str {
        "bias-residual-layer-norm"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let out = with_float!(s1.dtype(), T => {
            let x = contiguous::<T>(s1, l1, "LayerNorm input")?;
            let res = contiguous::<T>(s2, l2, "LayerNorm residual")?;
            let params = contiguous::<T>(s3, l3, "LayerNorm params")?;
            let cols = params.len() / 3;
            let (bias, norm) = params.split_at(cols);
            let (gamma, beta) = norm.split_at(cols);
            let mut v = vec![0f32; cols];
            let mut out = Vec::with_capacity(x.len());
            for (xr, rr) in x.chunks(cols).zip(res.chunks(cols)) {
                for (c, slot) in v.iter_mut().enumerate() {
                    *slot = xr[c].f32() + bias[c].f32() + rr[c].f32();
                }
                out.extend(normalise(&v, gamma, beta, self.eps));
            }
            out
        });
        Ok((out, l1.shape().clone()))
    }

    #[cfg(feature = "cuda")]
    fn cuda_fwd(
        &self,
        s1: &candle_core::CudaStorage,
        l1: &Layout,
        s2: &candle_core::CudaStorage,
        l2: &Layout,
        s3: &candle_core::CudaStorage,
        l3: &Layout,
    ) -> Result<(candle_core::CudaStorage, Shape)> {
        let (rows, cols) = l1.shape().dims2()?;
        let scalars = launch::Scalars {
            u32s: vec![rows as u32, cols as u32],
            f32s: vec![self.eps],
        };
        let grid = launch::Grid::WarpPerRow { rows, cols };
        let inputs = [(s1, l1), (s2, l2), (s3, l3)];
        let out = launch::launch(
            "bias_residual_layer_norm",
            &inputs,
            0,
            rows * cols,
            grid,
            scalars,
        )?;
        Ok((out, l1.shape().clone()))
    }
}

impl CustomOp3 for EmbedLayerNorm {
    fn name(&self) -> &'static str {
        "embed-layer-norm"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let idx = contiguous::<u32>(s1, l1, "embedding indices")?;
        let (n, cols) = (idx.len() / 3, l2.shape().dims2()?.1);
        let table_rows = l2.shape().dims2()?.0;
        if let Some(&bad) = idx.iter().find(|&&i| i as usize >= table_rows) {
            bail!("embedding index {bad} is outside the {table_rows} rows of the tables");
        }
        let out = with_float!(s2.dtype(), T => {
            let table = contiguous::<T>(s2, l2, "embedding tables")?;
            let params = contiguous::<T>(s3, l3, "LayerNorm params")?;
            let (gamma, beta) = params[cols..].split_at(cols);
            let mut v = vec![0f32; cols];
            let mut out = Vec::with_capacity(n * cols);
            for r in 0..n {
                let rows = [idx[r], idx[n + r], idx[2 * n + r]]
                    .map(|i| &table[i as usize * cols..][..cols]);
                for (c, slot) in v.iter_mut().enumerate() {
                    *slot = rows[0][c].f32() + rows[1][c].f32() + rows[2][c].f32();
                }
                out.extend(normalise(&v, gamma, beta, self.eps));
            }
            out
        });
        Ok((out, Shape::from((n, cols))))
    }

    #[cfg(feature = "cuda")]
    fn cuda_fwd(
        &self,
        s1: &candle_core::CudaStorage,
        l1: &Layout,
        s2: &candle_core::CudaStorage,
        l2: &Layout,
        s3: &candle_core::CudaStorage,
        l3: &Layout,
    ) -> Result<(candle_core::CudaStorage, Shape)> {
        let (_, rows) = l1.shape().dims2()?;
        let (_, cols) = l2.shape().dims2()?;
        let scalars = launch::Scalars {
            u32s: vec![rows as u32, cols as u32],
            f32s: vec![self.eps],
        };
        let grid = launch::Grid::WarpPerRow { rows, cols };
        let inputs = [(s1, l1), (s2, l2), (s3, l3)];
        let out = launch::launch("embed_layer_norm", &inputs, 1, rows * cols, grid, scalars)?;
        Ok((out, Shape::from((rows, cols))))
    }
}

/// `(v − mean)/√(var + eps)·gamma + beta`, in f32, rounded to T once.
fn normalise<'a, T: Float>(
    v: &'a [f32],
    gamma: &'a [T],
    beta: &'a [T],
    eps: f32,
) -> impl Iterator<Item = T> + 'a {
    let n = v.len() as f32;
    let mean = v.iter().sum::<f32>() / n;
    let var = v.iter().map(|a| (a - mean) * (a - mean)).sum::<f32>() / n;
    let inv = 1.0 / (var + eps).sqrt();
    v.iter()
        .zip(gamma.iter().zip(beta))
        .map(move |(a, (g, b))| T::of((a - mean) * inv * g.f32() + b.f32()))
}

impl CustomOp2 for QkvSplit {
    fn name(&self) -> &'static str {
        "qkv-split"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (batch, len, heads, hd) = (self.batch, self.len, self.heads, self.head_dim);
        let h = heads * hd;
        let out = with_float!(s1.dtype(), T => {
            let x = contiguous::<T>(s1, l1, "QKV rows")?;
            let bias = contiguous::<T>(s2, l2, "QKV bias")?;
            let mut out = vec![T::of(0.0); x.len()];
            for (row, xr) in x.chunks(3 * h).enumerate() {
                let (b, t) = (row / len, row % len);
                for (col, (&v, &bias)) in xr.iter().zip(bias).enumerate() {
                    let (which, c) = (col / h, col % h);
                    let (head, d) = (c / hd, c % hd);
                    out[(((which * batch + b) * heads + head) * len + t) * hd + d] =
                        T::of(v.f32() + bias.f32());
                }
            }
            out
        });
        Ok((out, self.shape()))
    }

    #[cfg(feature = "cuda")]
    fn cuda_fwd(
        &self,
        s1: &candle_core::CudaStorage,
        l1: &Layout,
        s2: &candle_core::CudaStorage,
        l2: &Layout,
    ) -> Result<(candle_core::CudaStorage, Shape)> {
        let n = l1.shape().elem_count();
        let inputs = [(s1, l1), (s2, l2)];
        let dims = [self.batch, self.len, self.heads, self.head_dim].map(|d| d as u32);
        let rows = self.batch * self.len;
        let out =
            launch::launch_elements("qkv_split", &inputs, n, rows, &[self.head_dim], |vectors| {
                match vectors {
                    Some(vectors) => [&[vectors][..], &dims].concat(),
                    None => dims.to_vec(),
                }
            })?;
        Ok((out, self.shape()))
    }
}

impl QkvSplit {
    fn shape(&self) -> Shape {
        Shape::from((3, self.batch, self.heads, self.len, self.head_dim))
    }
}

impl CustomOp2 for MaskedSoftmax {
    fn name(&self) -> &'static str {
        "masked-softmax"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (_, heads, q_rows, len) = l1.shape().dims4()?;
        let mask = contiguous::<f32>(s2, l2, "attention mask")?;
        let out = with_float!(s1.dtype(), T => {
            let x = contiguous::<T>(s1, l1, "attention scores")?;
            let mut out = Vec::with_capacity(x.len());
            for (row, xr) in x.chunks(len).enumerate() {
                let m = &mask[(row / (heads * q_rows)) * len..][..len];
                let v: Vec<f32> = xr.iter().zip(m).map(|(a, b)| a.f32() + b).collect();
                let max = v.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                let sum: f32 = v.iter().map(|a| (a - max).exp()).sum();
                out.extend(v.iter().map(|a| T::of((a - max).exp() / sum)));
            }
            out
        });
        Ok((out, l1.shape().clone()))
    }

    #[cfg(feature = "cuda")]
    fn cuda_fwd(
        &self,
        s1: &candle_core::CudaStorage,
        l1: &Layout,
        s2: &candle_core::CudaStorage,
        l2: &Layout,
    ) -> Result<(candle_core::CudaStorage, Shape)> {
        let (_, heads, q_rows, len) = l1.shape().dims4()?;
        let rows = l1.shape().elem_count() / len;
        let scalars = launch::Scalars {
            u32s: vec![rows as u32, (heads * q_rows) as u32, len as u32],
            f32s: vec![],
        };
        let grid = launch::Grid::WarpPerRow { rows, cols: len };
        let out = launch::launch(
            "masked_softmax",
            &[(s1, l1), (s2, l2)],
            0,
            rows * len,
            grid,
            scalars,
        )?;
        Ok((out, l1.shape().clone()))
    }
}

impl CustomOp1 for MergeHeads {
    fn name(&self) -> &'static str {
        "merge-heads"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> Result<(CpuStorage, Shape)> {
        let (batch, heads, len, hd) = l.shape().dims4()?;
        let out = with_float!(s.dtype(), T => {
            let x = contiguous::<T>(s, l, "attention context")?;
            let mut out = Vec::with_capacity(x.len());
            for b in 0..batch {
                for t in 0..len {
                    for head in 0..heads {
                        let at = ((b * heads + head) * len + t) * hd;
                        out.extend_from_slice(&x[at..at + hd]);
                    }
                }
            }
            out
        });
        Ok((out, Shape::from((batch * len, heads * hd))))
    }

    #[cfg(feature = "cuda")]
    fn cuda_fwd(
        &self,
        s: &candle_core::CudaStorage,
        l: &Layout,
    ) -> Result<(candle_core::CudaStorage, Shape)> {
        let (batch, heads, len, hd) = l.shape().dims4()?;
        let n = l.shape().elem_count();
        let inputs = [(s, l)];
        let out =
            launch::launch_elements("merge_heads", &inputs, n, batch * len, &[hd], |vectors| {
                match vectors {
                    Some(vectors) => vec![vectors, len as u32, heads as u32, hd as u32],
                    None => [batch, len, heads, hd].map(|d| d as u32).to_vec(),
                }
            })?;
        Ok((out, Shape::from((batch * len, heads * hd))))
    }
}

#[cfg(feature = "cuda")]
mod launch;

#[cfg(test)]
mod tests;
