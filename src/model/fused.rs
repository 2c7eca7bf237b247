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

use super::kernels::contiguous;

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
            cuda::launch_elements(
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
        let scalars = cuda::Scalars {
            u32s: vec![rows as u32, cols as u32],
            f32s: vec![self.eps],
        };
        let grid = cuda::Grid::WarpPerRow { rows, cols };
        let inputs = [(s1, l1), (s2, l2), (s3, l3)];
        let out = cuda::launch(
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
        let scalars = cuda::Scalars {
            u32s: vec![rows as u32, cols as u32],
            f32s: vec![self.eps],
        };
        let grid = cuda::Grid::WarpPerRow { rows, cols };
        let inputs = [(s1, l1), (s2, l2), (s3, l3)];
        let out = cuda::launch("embed_layer_norm", &inputs, 1, rows * cols, grid, scalars)?;
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
            cuda::launch_elements("qkv_split", &inputs, n, rows, &[self.head_dim], |vectors| {
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
        let scalars = cuda::Scalars {
            u32s: vec![rows as u32, (heads * q_rows) as u32, len as u32],
            f32s: vec![],
        };
        let grid = cuda::Grid::WarpPerRow { rows, cols: len };
        let out = cuda::launch(
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
            cuda::launch_elements("merge_heads", &inputs, n, batch * len, &[hd], |vectors| {
                match vectors {
                    Some(vectors) => vec![vectors, len as u32, heads as u32, hd as u32],
                    None => [batch, len, heads, hd].map(|d| d as u32).to_vec(),
                }
            })?;
        Ok((out, Shape::from((batch * len, heads * hd))))
    }
}

#[cfg(feature = "cuda")]
mod cuda {
    //! Launches of the kernels in `fused.cu`: inputs passed as device pointers in order,
    //! then one output buffer (of the type of input `out_like`), then the scalars.
    use candle_core::cuda_backend::cudarc::driver::{
        CudaView, LaunchArgs, LaunchConfig, PushKernelArg,
    };
    use candle_core::cuda_backend::{CudaStorageSlice, WrapErr};
    use candle_core::{bail, CudaStorage, Layout, Result};

    const PTX: &str = include_str!(concat!(env!("OUT_DIR"), "/fused.ptx"));
    const MODULE: &str = "relex_fused";
    /// Threads per block.
    const BLOCK: u32 = 256;
    /// The widest row kernel holds 32·64 values per row (`INSTANTIATE_ROWS` in fused.cu).
    const MAX_VALUES_PER_LANE: usize = 64;

    /// How the kernel spreads over the output.
    pub enum Grid {
        /// One block per row (element kernels).
        BlockPerRow { rows: usize },
        /// One warp per row of `cols` values held in registers (normalising kernels).
        WarpPerRow { rows: usize, cols: usize },
        /// Grid-stride over `n` 16-byte vectors (the `_vec` element kernels).
        Vectors { n: usize },
    }

    /// Values per 16-byte vector when every input starts on a vector boundary (candle's
    /// buffers are aligned, views may not be), every width in `widths` (rows, heads) is
    /// whole vectors and `n` elements make fewer than 2³² vectors.
    fn vector_len(inputs: &[(&CudaStorage, &Layout)], widths: &[usize], n: usize) -> Option<usize> {
        use candle_core::backend::BackendStorage;
        let v = 16 / inputs[0].0.dtype().size_in_bytes();
        let aligned = inputs.iter().all(|(_, l)| l.start_offset() % v == 0);
        (aligned && widths.iter().all(|w| w % v == 0) && n / v < u32::MAX as usize).then_some(v)
    }

    /// An element kernel writing `n` values of input 0's type: its `_vec` twin over
    /// 16-byte vectors where [`vector_len`] allows, else the plain kernel with one block
    /// per row. `scalars(Some(vector count))` or `scalars(None)` lists the chosen
    /// kernel's scalar arguments.
    pub fn launch_elements(
        kernel: &str,
        inputs: &[(&CudaStorage, &Layout)],
        n: usize,
        rows: usize,
        widths: &[usize],
        scalars: impl FnOnce(Option<u32>) -> Vec<u32>,
    ) -> Result<CudaStorage> {
        let (name, grid, u32s) = match vector_len(inputs, widths, n) {
            Some(v) => (
                format!("{kernel}_vec"),
                Grid::Vectors { n: n / v },
                scalars(Some((n / v) as u32)),
            ),
            None => (
                kernel.to_string(),
                Grid::BlockPerRow { rows },
                scalars(None),
            ),
        };
        let scalars = Scalars { u32s, f32s: vec![] };
        launch(&name, inputs, 0, n, grid, scalars)
    }

    /// A launch's scalar arguments, kept alive until the launch is queued.
    #[derive(Default)]
    pub struct Scalars {
        pub u32s: Vec<u32>,
        pub f32s: Vec<f32>,
    }

    pub fn launch(
        kernel: &str,
        inputs: &[(&CudaStorage, &Layout)],
        out_like: usize,
        n_out: usize,
        grid: Grid,
        scalars: Scalars,
    ) -> Result<CudaStorage> {
        let dev = inputs[out_like].0.device.clone();
        let suffix = match &inputs[out_like].0.slice {
            CudaStorageSlice::F32(_) => "f32",
            CudaStorageSlice::F16(_) => "f16",
            CudaStorageSlice::BF16(_) => "bf16",
            _ => bail!("{kernel}: fused ops take f32, f16 or bf16"),
        };
        let (name, blocks) = match grid {
            Grid::BlockPerRow { rows } => (format!("{kernel}_{suffix}"), rows),
            Grid::WarpPerRow { rows, cols } => {
                let per_lane = cols.div_ceil(32).max(1).next_power_of_two();
                if per_lane > MAX_VALUES_PER_LANE {
                    bail!("{kernel}: rows of {cols} values are longer than the GPU kernels hold (2048)");
                }
                let warps = (BLOCK / 32) as usize;
                (
                    format!("{kernel}_{suffix}_{per_lane}"),
                    rows.div_ceil(warps),
                )
            }
            Grid::Vectors { n } => (
                format!("{kernel}_{suffix}"),
                n.div_ceil(BLOCK as usize).min(65_535),
            ),
        };
        if blocks == 0 || n_out == 0 {
            bail!("{kernel}: empty input");
        }
        let func = dev.get_or_load_custom_func(&name, MODULE, PTX)?;
        let cfg = LaunchConfig {
            grid_dim: (
                u32::try_from(blocks)
                    .map_err(|_| candle_core::Error::Msg(format!("{kernel}: too many rows")))?,
                1,
                1,
            ),
            block_dim: (BLOCK, 1, 1),
            shared_mem_bytes: 0,
        };
        let views = inputs
            .iter()
            .map(|(st, l)| View::of(st, l))
            .collect::<Result<Vec<_>>>()?;
        let mut builder = func.builder();
        for v in &views {
            v.push(&mut builder);
        }
        macro_rules! run {
            ($t:ty) => {{
                // SAFETY: every element is written by the kernel before it is read.
                let out = unsafe { dev.alloc::<$t>(n_out)? };
                builder.arg(&out);
                for v in &scalars.u32s {
                    builder.arg(v);
                }
                for v in &scalars.f32s {
                    builder.arg(v);
                }
                // SAFETY: the argument list matches the kernel's signature in fused.cu.
                unsafe { builder.launch(cfg) }.w()?;
                CudaStorage::wrap_cuda_slice(out, dev.clone())
            }};
        }
        Ok(match suffix {
            "f32" => run!(f32),
            "f16" => run!(half::f16),
            _ => run!(half::bf16),
        })
    }

    /// A contiguous input, narrowed to its layout's offsets.
    enum View<'a> {
        F32(CudaView<'a, f32>),
        F16(CudaView<'a, half::f16>),
        BF16(CudaView<'a, half::bf16>),
        U32(CudaView<'a, u32>),
    }

    impl<'a> View<'a> {
        fn of(s: &'a CudaStorage, l: &Layout) -> Result<Self> {
            let Some((start, end)) = l.contiguous_offsets() else {
                bail!("fused ops take contiguous inputs");
            };
            Ok(match &s.slice {
                CudaStorageSlice::F32(x) => View::F32(x.slice(start..end)),
                CudaStorageSlice::F16(x) => View::F16(x.slice(start..end)),
                CudaStorageSlice::BF16(x) => View::BF16(x.slice(start..end)),
                CudaStorageSlice::U32(x) => View::U32(x.slice(start..end)),
                _ => bail!("fused ops take f32, f16, bf16 or u32 inputs"),
            })
        }

        fn push<'b>(&'b self, builder: &mut LaunchArgs<'b>) {
            match self {
                View::F32(v) => builder.arg(v),
                View::F16(v) => builder.arg(v),
                View::BF16(v) => builder.arg(v),
                View::U32(v) => builder.arg(v),
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, IndexOp, D};

    fn rand(shape: &[usize], seed: u64) -> Tensor {
        // A fixed pseudo-random fill (xorshift) in [-2, 2).
        let n: usize = shape.iter().product();
        let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        let v: Vec<f32> = (0..n)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                (s >> 40) as f32 / (1u64 << 24) as f32 * 4.0 - 2.0
            })
            .collect();
        Tensor::from_vec(v, shape, &Device::Cpu).unwrap()
    }

    fn max_diff(a: &Tensor, b: &Tensor) -> f32 {
        (a.to_dtype(DType::F32).unwrap() - b.to_dtype(DType::F32).unwrap())
            .unwrap()
            .abs()
            .unwrap()
            .flatten_all()
            .unwrap()
            .max(0)
            .unwrap()
            .to_scalar::<f32>()
            .unwrap()
    }

    #[test]
    fn bias_act_matches_candles_separate_ops() {
        let (x, bias) = (rand(&[5, 12], 1), rand(&[12], 2));
        let added = x.broadcast_add(&bias).unwrap();
        for (act, reference) in [
            (Act::Identity, added.clone()),
            (Act::GeluErf, added.gelu_erf().unwrap()),
            (Act::GeluTanh, added.gelu().unwrap()),
            (Act::Relu, added.relu().unwrap()),
            (Act::Tanh, added.tanh().unwrap()),
        ] {
            let fused = bias_act(&x, &bias, act).unwrap();
            assert!(max_diff(&fused, &reference) < 1e-5, "{act:?}");
        }
        // Other storage types round once, at the end.
        let half = bias_act(
            &x.to_dtype(DType::F16).unwrap(),
            &bias.to_dtype(DType::F16).unwrap(),
            Act::GeluErf,
        )
        .unwrap();
        assert_eq!(half.dtype(), DType::F16);
        assert!(max_diff(&half, &added.gelu_erf().unwrap()) < 1e-2);
    }

    #[test]
    fn bias_residual_layer_norm_matches_candles_layer_norm() {
        let (x, res) = (rand(&[4, 16], 3), rand(&[4, 16], 4));
        let params = rand(&[3, 16], 5);
        let fused = bias_residual_layer_norm(&x, &res, &params, 1e-12).unwrap();
        let summed = (x.broadcast_add(&params.i(0).unwrap()).unwrap() + &res).unwrap();
        let reference = candle_nn::ops::layer_norm(
            &summed,
            &params.i(1).unwrap(),
            &params.i(2).unwrap(),
            1e-12,
        )
        .unwrap();
        assert!(max_diff(&fused, &reference) < 1e-5);
        let mean = fused
            .i(0)
            .unwrap()
            .mean_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap();
        assert!(mean.is_finite());
    }

    #[test]
    fn embed_layer_norm_sums_the_three_rows_of_each_token_then_normalises() {
        let table = rand(&[10, 8], 17);
        let params = rand(&[3, 8], 18);
        let idx =
            Tensor::from_vec(vec![1u32, 4, 9, 5, 6, 7, 8, 8, 2], (3, 3), &Device::Cpu).unwrap();
        let fused = embed_layer_norm(&idx, &table, &params, 1e-12).unwrap();
        let pick = |i: u32| table.i(i as usize).unwrap();
        let rows: Vec<Tensor> = (0..3)
            .map(|r| {
                let i = |k: usize| idx.i((k, r)).unwrap().to_scalar::<u32>().unwrap();
                ((pick(i(0)) + pick(i(1))).unwrap() + pick(i(2))).unwrap()
            })
            .collect();
        let summed = Tensor::stack(&rows, 0).unwrap();
        let reference = candle_nn::ops::layer_norm(
            &summed,
            &params.i(1).unwrap(),
            &params.i(2).unwrap(),
            1e-12,
        )
        .unwrap();
        assert!(max_diff(&fused, &reference) < 1e-5);
        let outside =
            Tensor::from_vec(vec![1u32, 4, 10, 5, 6, 7, 8, 8, 2], (3, 3), &Device::Cpu).unwrap();
        let err = embed_layer_norm(&outside, &table, &params, 1e-12)
            .unwrap_err()
            .to_string();
        assert!(err.contains("embedding index 10"), "{err}");
    }

    #[test]
    fn qkv_split_puts_every_head_where_the_transposes_would() {
        let (b, l, nh, hd) = (2, 3, 4, 5);
        let x = rand(&[b * l, 3 * nh * hd], 6);
        let bias = rand(&[3 * nh * hd], 7);
        let fused = qkv_split(&x, &bias, b, l, nh, hd).unwrap();
        let with_bias = x
            .broadcast_add(&bias)
            .unwrap()
            .reshape((b, l, 3, nh, hd))
            .unwrap();
        for k in 0..3 {
            let reference = with_bias.i((.., .., k)).unwrap().transpose(1, 2).unwrap();
            assert_eq!(max_diff(&fused.i(k).unwrap(), &reference), 0.0);
        }
    }

    #[test]
    fn masked_softmax_ignores_padding_and_sums_to_one() {
        let scores = rand(&[2, 3, 4, 6], 8);
        let mut keep = vec![0f32; 12];
        keep[4..6].fill(-1e9); // the first pair has 4 tokens, the second 6
        let mask = Tensor::from_vec(keep.clone(), (2, 6), &Device::Cpu).unwrap();
        let fused = masked_softmax(&scores, &mask).unwrap();
        let reference = candle_nn::ops::softmax_last_dim(
            &scores
                .broadcast_add(&mask.reshape((2, 1, 1, 6)).unwrap())
                .unwrap(),
        )
        .unwrap();
        assert!(max_diff(&fused, &reference) < 1e-6);
        let padded = fused.i((0, .., .., 4..)).unwrap();
        assert_eq!(
            padded
                .abs()
                .unwrap()
                .flatten_all()
                .unwrap()
                .max(0)
                .unwrap()
                .to_scalar::<f32>()
                .unwrap(),
            0.0
        );
        let sums = fused.sum(D::Minus1).unwrap();
        assert!(max_diff(&sums, &sums.ones_like().unwrap()) < 1e-6);
    }

    #[test]
    fn merge_heads_is_the_transpose_back() {
        let x = rand(&[2, 4, 3, 5], 9);
        let fused = merge_heads(&x).unwrap();
        let reference = x.transpose(1, 2).unwrap().reshape((6, 20)).unwrap();
        assert_eq!(max_diff(&fused, &reference), 0.0);
    }

    #[test]
    fn shapes_are_checked_before_any_work() {
        let x = rand(&[2, 6], 10);
        assert!(bias_act(&x, &rand(&[5], 11), Act::Relu).is_err());
        assert!(
            bias_residual_layer_norm(&x, &rand(&[2, 5], 12), &rand(&[3, 6], 13), 1e-5).is_err()
        );
        assert!(qkv_split(&x, &rand(&[6], 14), 1, 2, 1, 3).is_err()); // 3·1·3 = 9 columns, not 6
        assert!(qkv_split(&x, &rand(&[6], 14), 1, 2, 1, 2).is_ok());
        assert!(masked_softmax(
            &rand(&[1, 1, 2, 6], 15),
            &rand(&[1, 6], 16).to_dtype(DType::F16).unwrap()
        )
        .is_err());
    }
}
