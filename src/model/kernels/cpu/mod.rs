//! Fused CPU kernels behind candle custom ops.
//!
//! candle's own path for a BERT layer costs several times PyTorch's on CPU (candle issues
//! #2877, #2204): each bias add, GELU and residual is a separate single-threaded pass, and
//! attention runs B×heads tiny GEMMs each with thread-pool start-up, plus transposes to
//! make Q, K and V contiguous. These kernels keep candle as the tensor framework but do
//! the work in fewer passes:
//! - [`linear`]: the output is pre-filled with bias (+ residual), then one GEMM
//!   accumulates into it (`dst = dst + x·W`), and GELU, if any, runs in the same parallel
//!   sweep that reads the result;
//! - [`attention`]: one parallel task per (sequence, head) reads Q, K, V straight out of
//!   the fused QKV projection (no transposes), masks, softmaxes and multiplies by V with
//!   single-threaded GEMMs, writing the context in [B·L, H] layout.

use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, CustomOp1, CustomOp2, Layout, Shape, Tensor, WithDType};
use rayon::prelude::*;

/// Rows per parallel task in elementwise sweeps: big enough to amortise scheduling.
const ROWS_PER_TASK: usize = 16;

/// The values of a contiguous CPU tensor of element type `T`; `what` names it in errors.
pub(crate) fn contiguous<'a, T: WithDType>(
    s: &'a CpuStorage,
    l: &Layout,
    what: &str,
) -> candle_core::Result<&'a [T]> {
    let Ok(data) = s.as_slice::<T>() else {
        candle_core::bail!(
            "{what}: expected {:?} storage, not {:?}",
            T::DTYPE,
            s.dtype()
        );
    };
    match l.contiguous_offsets() {
        Some((a, b)) => Ok(&data[a..b]),
        None => candle_core::bail!("{what}: expected a contiguous tensor"),
    }
}

std::thread_local! {
    /// Threads one matmul may use on this thread, when batches run side by side.
    static GEMM_THREADS: std::cell::Cell<Option<usize>> = const { std::cell::Cell::new(None) };
}

/// Runs `f` with this thread's matmuls limited to `threads` threads (batches scored side
/// by side each take their share of the cores instead of all of them).
pub fn with_gemm_threads<R>(threads: usize, f: impl FnOnce() -> R) -> R {
    /// Restores the previous limit, also when `f` panics.
    struct Restore(Option<usize>);
    impl Drop for Restore {
        fn drop(&mut self) {
            GEMM_THREADS.with(|t| t.set(self.0));
        }
    }
    let _restore = Restore(GEMM_THREADS.with(|t| t.replace(Some(threads))));
    f()
}

fn gemm_parallelism(m: usize, n: usize, k: usize) -> gemm::Parallelism {
    let threads = GEMM_THREADS
        .with(|t| t.get())
        .unwrap_or_else(rayon::current_num_threads);
    // Below ~1 MFLOP the thread hand-off costs more than it saves.
    if threads > 1 && m * n * k >= 1 << 18 {
        gemm::Parallelism::Rayon(threads)
    } else {
        gemm::Parallelism::None
    }
}

/// The largest flat index a row-major `rows × cols` operand with the given strides
/// touches, plus one: the length a slice must have to hold it.
fn extent(rows: usize, cols: usize, rs: usize, cs: usize) -> usize {
    if rows == 0 || cols == 0 {
        0
    } else {
        (rows - 1) * rs + (cols - 1) * cs + 1
    }
}

/// `dst[m×n] (+)= a[m×k] · b[k×n]` for row-major slices with explicit row strides.
/// Every operand's extent is checked against its slice, so a wrong size is an error,
/// never an out-of-bounds read or write.
#[allow(clippy::too_many_arguments)]
fn matmul(
    m: usize,
    n: usize,
    k: usize,
    dst: &mut [f32],
    dst_rs: usize,
    accumulate: bool,
    a: &[f32],
    a_rs: usize,
    a_cs: usize,
    b: &[f32],
    b_rs: usize,
    b_cs: usize,
    parallelism: gemm::Parallelism,
) -> candle_core::Result<()> {
    check_extent("matmul lhs", a.len(), extent(m, k, a_rs, a_cs))?;
    check_extent("matmul rhs", b.len(), extent(k, n, b_rs, b_cs))?;
    check_extent("matmul dst", dst.len(), extent(m, n, dst_rs, 1))?;
    // SAFETY: the three extents were just checked against the slices' lengths, and `dst`
    // is a unique borrow, so it aliases neither `a` nor `b`.
    unsafe {
        gemm_raw(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            dst_rs,
            accumulate,
            a,
            a_rs,
            a_cs,
            b,
            b_rs,
            b_cs,
            parallelism,
        );
    }
    Ok(())
}

fn check_extent(what: &str, len: usize, needed: usize) -> candle_core::Result<()> {
    if needed > len {
        candle_core::bail!("{what}: the operand needs {needed} values, the buffer has {len}");
    }
    Ok(())
}

/// The GEMM call itself, writing through a raw pointer so that tasks which write
/// interleaved (but disjoint) blocks of one buffer never hold overlapping `&mut` slices.
///
/// # Safety
/// `dst` must be valid for writes at every `i * dst_rs + j` (`i < m`, `j < n`), those
/// elements must not be accessed by anyone else during the call, and `a`, `b` must hold
/// their operands' extents (see [`extent`]).
#[allow(clippy::too_many_arguments)]
unsafe fn gemm_raw(
    m: usize,
    n: usize,
    k: usize,
    dst: *mut f32,
    dst_rs: usize,
    accumulate: bool,
    a: &[f32],
    a_rs: usize,
    a_cs: usize,
    b: &[f32],
    b_rs: usize,
    b_cs: usize,
    parallelism: gemm::Parallelism,
) {
    debug_assert!(a.len() >= extent(m, k, a_rs, a_cs) && b.len() >= extent(k, n, b_rs, b_cs));
    // SAFETY: guaranteed by this function's contract.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst,
            1,
            dst_rs as isize,
            accumulate,
            a.as_ptr(),
            a_cs as isize,
            a_rs as isize,
            b.as_ptr(),
            b_cs as isize,
            b_rs as isize,
            if accumulate { 1.0 } else { 0.0 },
            1.0,
            false,
            false,
            false,
            parallelism,
        )
    }
}

/// erf as a branch-free rational function (the approximation Eigen and XLA use for f32:
/// odd degree-13 numerator over even degree-8 denominator on [-4, 4], where erf reaches
/// 1 in f32). A few ulp from the exact value, and it vectorises, unlike libm's erff,
/// which made GELU a quarter of a BERT forward pass.
#[inline(always)]
fn erf_rational(x: f32) -> f32 {
    let x = x.clamp(-4.0, 4.0);
    let x2 = x * x;
    let mut p = x2.mul_add(-2.726_142_3e-10, 2.770_681_4e-8);
    p = x2.mul_add(p, -2.101_024e-6);
    p = x2.mul_add(p, -5.692_506_4e-5);
    p = x2.mul_add(p, -7.349_906_3e-4);
    p = x2.mul_add(p, -2.954_600_1e-3);
    p = x2.mul_add(p, -1.609_603_3e-2);
    p *= x;
    let mut q = x2.mul_add(-1.456_607_2e-5, -2.133_740_6e-4);
    q = x2.mul_add(q, -1.682_827e-3);
    q = x2.mul_add(q, -7.373_329_2e-3);
    q = x2.mul_add(q, -1.426_473_9e-2);
    p / q
}

#[inline(always)]
fn gelu_erf(v: f32) -> f32 {
    // transformers' "gelu": x·Φ(x) = x·(1 + erf(x/√2))/2.
    (erf_rational(v * std::f32::consts::FRAC_1_SQRT_2) + 1.0) * 0.5 * v
}

fn gelu_erf_generic(xs: &mut [f32]) {
    xs.iter_mut().for_each(|v| *v = gelu_erf(*v));
}

/// The same loop compiled for AVX2 + FMA, chosen at run time: the default x86-64 target
/// only assumes SSE2, and `mul_add` without FMA hardware is a slow library call.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn gelu_erf_avx2(xs: &mut [f32]) {
    xs.iter_mut().for_each(|v| *v = gelu_erf(*v));
}

fn gelu_erf_slice(xs: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
        // SAFETY: the CPU supports the features the function was compiled for.
        unsafe { gelu_erf_avx2(xs) };
        return;
    }
    gelu_erf_generic(xs)
}

#[inline]
fn gelu_tanh(v: f32) -> f32 {
    0.5 * v * (1.0 + ((2.0 / std::f32::consts::PI).sqrt() * (v + 0.044715 * v * v * v)).tanh())
}

/// The activation fused into a linear layer's output sweep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Act {
    None,
    GeluErf,
    GeluTanh,
    Relu,
}

/// A dense layer's parameters as plain slices: `w_t` is [in, out] row-major.
pub struct LinearParams<'a> {
    pub w_t: &'a [f32],
    pub bias: &'a [f32],
    pub in_dim: usize,
    pub out_dim: usize,
    pub act: Act,
}

impl LinearParams<'_> {
    fn run(&self, x: &[f32], residual: Option<&[f32]>) -> candle_core::Result<Vec<f32>> {
        let (k, n) = (self.in_dim, self.out_dim);
        if k == 0 || n == 0 || !x.len().is_multiple_of(k) {
            candle_core::bail!(
                "linear: input of {} values is not a multiple of in_dim {k}",
                x.len()
            );
        }
        if self.w_t.len() != k * n || self.bias.len() != n {
            candle_core::bail!(
                "linear: weights have {} values and bias {}, expected {} ({k} × {n}) and {n}",
                self.w_t.len(),
                self.bias.len(),
                k * n
            );
        }
        let m = x.len() / k;
        if let Some(res) = residual {
            if res.len() != m * n {
                candle_core::bail!(
                    "linear: residual has {} values, expected {}",
                    res.len(),
                    m * n
                );
            }
        }
        let mut out = vec![0f32; m * n];
        out.par_chunks_mut(n * ROWS_PER_TASK)
            .enumerate()
            .for_each(|(c, chunk)| {
                for (r, row) in chunk.chunks_mut(n).enumerate() {
                    row.copy_from_slice(self.bias);
                    if let Some(res) = residual {
                        let i = c * ROWS_PER_TASK + r;
                        for (o, v) in row.iter_mut().zip(&res[i * n..(i + 1) * n]) {
                            *o += v;
                        }
                    }
                }
            });
        matmul(
            m,
            n,
            k,
            &mut out,
            n,
            true,
            x,
            k,
            1,
            self.w_t,
            n,
            1,
            gemm_parallelism(m, n, k),
        )?;
        let f: Option<fn(&mut [f32])> = match self.act {
            Act::None => None,
            Act::GeluErf => Some(gelu_erf_slice),
            Act::GeluTanh => Some(|xs: &mut [f32]| xs.iter_mut().for_each(|v| *v = gelu_tanh(*v))),
            Act::Relu => Some(|xs: &mut [f32]| xs.iter_mut().for_each(|v| *v = v.max(0.0))),
        };
        if let Some(f) = f {
            out.par_chunks_mut(n * ROWS_PER_TASK).for_each(f);
        }
        Ok(out)
    }
}

struct LinearOp<'a>(&'a LinearParams<'a>);

impl CustomOp1 for LinearOp<'_> {
    fn name(&self) -> &'static str {
        "relex-linear"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let x = contiguous(s, l, "linear input")?;
        let out = self.0.run(x, None)?;
        let rows = out.len() / self.0.out_dim;
        Ok((CpuStorage::F32(out), Shape::from((rows, self.0.out_dim))))
    }
}

struct LinearResidualOp<'a>(&'a LinearParams<'a>);

impl CustomOp2 for LinearResidualOp<'_> {
    fn name(&self) -> &'static str {
        "relex-linear-residual"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let x = contiguous(s1, l1, "linear input")?;
        let res = contiguous(s2, l2, "linear residual")?;
        let rows = x.len() / self.0.in_dim;
        if res.len() != rows * self.0.out_dim {
            candle_core::bail!(
                "linear residual: {} values, expected {}",
                res.len(),
                rows * self.0.out_dim
            );
        }
        let out = self.0.run(x, Some(res))?;
        Ok((CpuStorage::F32(out), Shape::from((rows, self.0.out_dim))))
    }
}

/// `act(x · W + b (+ residual))` for `x` [rows, in] contiguous f32; returns [rows, out].
pub fn linear(
    x: &Tensor,
    p: &LinearParams<'_>,
    residual: Option<&Tensor>,
) -> candle_core::Result<Tensor> {
    match residual {
        None => x.apply_op1_no_bwd(&LinearOp(p)),
        Some(r) => x.apply_op2_no_bwd(r, &LinearResidualOp(p)),
    }
}

/// `e^x` for x ≤ 0 as a branch-free polynomial (Cephes expf: range reduction by ln 2, a
/// degree-6 polynomial, exponent bits set directly), 1–2 ulp, and vectorisable; libm's
/// expf was a fifth of the forward pass on long pairs (L² exponentials per head).
#[inline(always)]
fn exp_neg(x: f32) -> f32 {
    let x = x.max(-87.0);
    let n = (x * std::f32::consts::LOG2_E + 0.5).floor();
    let r = n.mul_add(2.121_944_4e-4, n.mul_add(-0.693_359_4, x));
    let mut p = r.mul_add(1.987_569_1e-4, 1.398_199_9e-3);
    p = p.mul_add(r, 8.333_452e-3);
    p = p.mul_add(r, 4.166_579_6e-2);
    p = p.mul_add(r, 1.666_666_5e-1);
    p = p.mul_add(r, 0.5);
    let e = p.mul_add(r * r, r) + 1.0;
    e * f32::from_bits(((n as i32 + 127) as u32) << 23)
}

/// Lanes of the manual reductions below: fixed-width partial results let the compiler
/// vectorise max and sum, which it may not reorder on its own.
const LANES: usize = 16;

#[inline(always)]
fn softmax_masked_impl(row: &mut [f32], mask: &[f32]) {
    let mut maxes = [f32::NEG_INFINITY; LANES];
    let mut rc = row.chunks_exact(LANES);
    let mut mc = mask.chunks_exact(LANES);
    for (r, m) in (&mut rc).zip(&mut mc) {
        for i in 0..LANES {
            let v = if m[i] != 0.0 { r[i] } else { f32::NEG_INFINITY };
            maxes[i] = maxes[i].max(v);
        }
    }
    let mut max = maxes.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    for (&v, &k) in rc.remainder().iter().zip(mc.remainder()) {
        if k != 0.0 {
            max = max.max(v);
        }
    }
    let mut sums = [0f32; LANES];
    let mut rc = row.chunks_exact_mut(LANES);
    let mut mc = mask.chunks_exact(LANES);
    for (r, m) in (&mut rc).zip(&mut mc) {
        for i in 0..LANES {
            let e = if m[i] != 0.0 {
                exp_neg(r[i] - max)
            } else {
                0.0
            };
            r[i] = e;
            sums[i] += e;
        }
    }
    let mut sum: f32 = sums.iter().sum();
    for (v, &k) in rc.into_remainder().iter_mut().zip(mc.remainder()) {
        *v = if k != 0.0 { exp_neg(*v - max) } else { 0.0 };
        sum += *v;
    }
    let inv = 1.0 / sum;
    row.iter_mut().for_each(|v| *v *= inv);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn softmax_masked_avx2(row: &mut [f32], mask: &[f32]) {
    softmax_masked_impl(row, mask)
}

/// Softmax of one score row over the keys whose mask is 1 (the others get 0).
fn softmax_masked(row: &mut [f32], mask: &[f32]) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
        // SAFETY: the CPU supports the features the function was compiled for.
        unsafe { softmax_masked_avx2(row, mask) };
        return;
    }
    softmax_masked_impl(row, mask)
}

/// Multi-head self-attention over a fused QKV projection.
struct AttentionOp {
    batch: usize,
    seq: usize,
    heads: usize,
    head_dim: usize,
    /// Compute only the query at position 0 of each sequence (output [B, H]).
    first_only: bool,
}

/// A raw pointer that may be shared across rayon tasks writing disjoint regions.
#[derive(Clone, Copy)]
struct SharedOut(*mut f32);
// SAFETY: the pointer is only written through by `AttentionOp::cpu_fwd`, whose tasks
// write disjoint (sequence, head) blocks of the output while the buffer outlives them.
unsafe impl Send for SharedOut {}
// SAFETY: as for `Send`: no two tasks touch the same element.
unsafe impl Sync for SharedOut {}

impl CustomOp2 for AttentionOp {
    fn name(&self) -> &'static str {
        "relex-attention"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let qkv = contiguous(s1, l1, "attention qkv")?;
        let mask = contiguous(s2, l2, "attention mask")?;
        let (b, l, nh, hd) = (self.batch, self.seq, self.heads, self.head_dim);
        let h = nh * hd;
        if qkv.len() != b * l * 3 * h || mask.len() != b * l {
            candle_core::bail!(
                "attention: qkv has {} values, mask {}; expected {} and {}",
                qkv.len(),
                mask.len(),
                b * l * 3 * h,
                b * l
            );
        }
        let lq = if self.first_only { 1 } else { l };
        let mut out = vec![0f32; b * lq * h];
        let out_len = out.len();
        let out_ptr = SharedOut(out.as_mut_ptr());
        let row = 3 * h;
        (0..b * nh).into_par_iter().try_for_each_init(
            || vec![0f32; lq * l],
            |scores, task| -> candle_core::Result<()> {
                let (bi, hi) = (task / nh, task % nh);
                let base = bi * l * row;
                // Q, K and V of this head start at these offsets; each row of them is
                // `row` values further on (extents checked by `matmul`).
                let q = &qkv[base + hi * hd..];
                let k = &qkv[base + h + hi * hd..];
                let v = &qkv[base + 2 * h + hi * hd..];
                // scores = Q·Kᵀ (the 1/√d scale is folded into Q's weights).
                matmul(
                    lq,
                    l,
                    hd,
                    scores,
                    l,
                    false,
                    q,
                    row,
                    1,
                    k,
                    1,
                    row,
                    gemm::Parallelism::None,
                )?;
                let m = &mask[bi * l..(bi + 1) * l];
                for srow in scores.chunks_mut(l) {
                    softmax_masked(srow, m);
                }
                check_extent("attention values", v.len(), extent(l, hd, row, 1))?;
                check_extent("attention scores", scores.len(), extent(lq, l, l, 1))?;
                let offset = bi * lq * h + hi * hd;
                check_extent("attention output", out_len, offset + extent(lq, hd, h, 1))?;
                let p = out_ptr;
                // SAFETY: `out` has b·lq·h values and outlives the parallel loop; this
                // task alone writes rows bi·lq .. bi·lq+lq, columns hi·hd .. hi·hd+hd
                // (no two tasks share a (bi, hi)); the extent of that block is
                // offset + (lq−1)·h + hd ≤ b·lq·h. `scores` and `v` were checked above.
                unsafe {
                    gemm_raw(
                        lq,
                        hd,
                        l,
                        p.0.add(offset),
                        h,
                        false,
                        scores,
                        l,
                        1,
                        v,
                        row,
                        1,
                        gemm::Parallelism::None,
                    );
                }
                Ok(())
            },
        )?;
        Ok((CpuStorage::F32(out), Shape::from((b * lq, h))))
    }
}

/// Attention of `qkv` [B·L, 3H] (Q pre-scaled) under `mask` [B, L] (1 = attend).
/// Returns the context [B·L, H], or [B, H] when `first_only`.
pub fn attention(
    qkv: &Tensor,
    mask: &Tensor,
    batch: usize,
    seq: usize,
    heads: usize,
    head_dim: usize,
    first_only: bool,
) -> candle_core::Result<Tensor> {
    qkv.apply_op2_no_bwd(
        mask,
        &AttentionOp {
            batch,
            seq,
            heads,
            head_dim,
            first_only,
        },
    )
}
#[cfg(test)]
mod tests;
