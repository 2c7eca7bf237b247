//! The linear algebra behind the CUR approximations: the truncated-SVD pseudo-inverse,
//! the least-squares CUR weights, and the parallel weighted row sum `w · M` that turns
//! them into scores for every item. Dense `f64` for the small systems, `f32` for the
//! large matrices.

use faer::Mat;
use rayon::prelude::*;

use super::{check_indices, ApproxError, Matrix, Result};

/// Singular values below `PINV_RELATIVE_CUTOFF · σ_max` are treated as zero
/// in the pseudo-inverse. `1e-6` is far above `f64` round-off (≈1e-16 · dims)
/// yet keeps every direction an `f32` score matrix can actually carry (its
/// entries have ≈7 significant digits), so exactly low-rank inputs are
/// recovered while numerically-zero directions cannot explode the result.
pub const PINV_RELATIVE_CUTOFF: f64 = 1e-6;

/// Columns per work unit in the parallel products over items: 4096 `f32`
/// (16 KiB) output values stay in L1 while rows of `E`/`R` stream through.
pub(crate) const COL_CHUNK: usize = 4096;

/// Result of a truncated-SVD pseudo-inverse.
#[derive(Clone, Debug)]
pub struct Pinv {
    /// `pinv(A)`, `cols(A) × rows(A)`, row-major.
    pub data: Vec<f64>,
    pub rows: usize,
    pub cols: usize,
    /// Singular values of `A`, descending.
    pub singular_values: Vec<f64>,
    /// Number of singular values kept (`σ ≥ cutoff · σ_max`).
    pub rank: usize,
}

/// Moore–Penrose pseudo-inverse of the row-major `m × n` matrix `a` via a thin
/// SVD in `f64`, dropping singular values below
/// [`PINV_RELATIVE_CUTOFF`]` · σ_max`.
pub fn pinv_f64(m: usize, n: usize, a: &[f64]) -> Result<Pinv> {
    if a.len() != m * n {
        return Err(ApproxError::Shape(format!(
            "{} values for a {m} × {n} matrix",
            a.len()
        )));
    }
    if let Some(p) = a.iter().position(|x| !x.is_finite()) {
        return Err(ApproxError::InvalidInput(format!(
            "non-finite value {} at ({}, {}) of the matrix to invert",
            a[p],
            p / n.max(1),
            p % n.max(1)
        )));
    }
    let p = m.min(n);
    if p == 0 {
        return Ok(Pinv {
            data: vec![0.0; m * n],
            rows: n,
            cols: m,
            singular_values: Vec::new(),
            rank: 0,
        });
    }
    let mat = Mat::<f64>::from_fn(m, n, |i, j| a[i * n + j]);
    let svd = mat
        .thin_svd()
        .map_err(|e| ApproxError::Linalg(format!("SVD did not converge: {e:?}")))?;
    let (u, v) = (svd.U(), svd.V());
    let s: Vec<f64> = svd.S().column_vector().iter().copied().collect();
    let smax = s.iter().copied().fold(0.0, f64::max);
    let tol = PINV_RELATIVE_CUTOFF * smax;
    let kept: Vec<usize> = (0..p).filter(|&t| smax > 0.0 && s[t] >= tol).collect();
    // pinv = V · diag(1/σ) · Uᵀ  (n × m)
    let mut data = vec![0.0; n * m];
    for &t in &kept {
        let inv = 1.0 / s[t];
        for i in 0..n {
            let vi = v[(i, t)] * inv;
            if vi == 0.0 {
                continue;
            }
            let row = &mut data[i * m..(i + 1) * m];
            for (j, x) in row.iter_mut().enumerate() {
                *x += vi * u[(j, t)];
            }
        }
    }
    Ok(Pinv {
        data,
        rows: n,
        cols: m,
        singular_values: s,
        rank: kept.len(),
    })
}

/// `Σ_j w_j · M[j, :]` for a row-major matrix `M`, computed in parallel over
/// column chunks; each chunk's accumulator stays in L1 while four rows at a
/// time stream through (one load/store of the accumulator per four rows).
/// On x86-64 CPUs with AVX2 the same loop is compiled for 8-wide vectors
/// (chosen at run time, as the default target only assumes SSE2); this
/// matters because with SSE2 the loop is compute- rather than memory-bound.
pub(crate) fn combine_rows(m: &Matrix, w: &[f32]) -> Vec<f32> {
    let n = m.cols();
    let data = m.data();
    let mut out = vec![0.0f32; n];
    #[cfg(target_arch = "x86_64")]
    let avx2 = std::is_x86_feature_detected!("avx2");
    out.par_chunks_mut(COL_CHUNK)
        .enumerate()
        .for_each(|(ci, acc)| {
            let lo = ci * COL_CHUNK;
            #[cfg(target_arch = "x86_64")]
            if avx2 {
                // SAFETY: the CPU supports AVX2 (checked above); the function
                // has no other safety requirements.
                unsafe { combine_chunk_avx2(acc, data, n, lo, w) };
                return;
            }
            combine_chunk(acc, data, n, lo, w);
        });
    out
}

/// `acc[t] += Σ_j w[j] · data[j * n + lo + t]`.
#[inline(always)]
fn combine_chunk(acc: &mut [f32], data: &[f32], n: usize, lo: usize, w: &[f32]) {
    let hi = lo + acc.len();
    let row = |j: usize| &data[j * n + lo..j * n + hi];
    let mut j = 0;
    while j + 4 <= w.len() {
        let (w0, w1, w2, w3) = (w[j], w[j + 1], w[j + 2], w[j + 3]);
        let (r0, r1, r2, r3) = (row(j), row(j + 1), row(j + 2), row(j + 3));
        for t in 0..acc.len() {
            acc[t] += w0 * r0[t] + w1 * r1[t] + w2 * r2[t] + w3 * r3[t];
        }
        j += 4;
    }
    for (jj, &wj) in w.iter().enumerate().skip(j) {
        for (a, &x) in acc.iter_mut().zip(row(jj)) {
            *a += wj * x;
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn combine_chunk_avx2(acc: &mut [f32], data: &[f32], n: usize, lo: usize, w: &[f32]) {
    combine_chunk(acc, data, n, lo, w)
}

/// `R[:, items]` (`k_q × len(items)`) as row-major `f64`.
fn intersection(r: &Matrix, items: &[usize]) -> Result<Vec<f64>> {
    check_indices(items, r.cols(), "item")?;
    let (kq, k) = (r.rows(), items.len());
    let mut a = vec![0.0f64; kq * k];
    for i in 0..kq {
        let row = r.row(i);
        for (t, &j) in items.iter().enumerate() {
            a[i * k + t] = row[j] as f64;
        }
    }
    Ok(a)
}

/// `pinv(R[:, items])` (`len(items) × k_q`), from the `f32` index matrix.
pub(crate) fn intersection_pinv(r: &Matrix, items: &[usize]) -> Result<Pinv> {
    pinv_f64(r.rows(), items.len(), &intersection(r, items)?)
}

/// Coefficients `w = c · pinv(R[:, items])` (length `k_q`) of the query in the
/// row space of `R`: `s̃ = w · R`. This is the least-squares (min-norm)
/// solution of `w · R[:, items] ≈ c`, used by ADACUR (where `items` keeps
/// growing, so no `E` is cached) and by the per-item convergence plot.
///
/// Computed from the SVD `R[:, items] = U Σ Vᵀ` as `((c · V) Σ⁺) Uᵀ` without
/// forming the pseudo-inverse (same cut-off as [`pinv_f64`]). Returns `w` and
/// the numerical rank.
pub(crate) fn cur_weights(r: &Matrix, items: &[usize], c: &[f32]) -> Result<(Vec<f64>, usize)> {
    if c.len() != items.len() {
        return Err(ApproxError::Shape(format!(
            "{} scores for {} items",
            c.len(),
            items.len()
        )));
    }
    let (kq, k) = (r.rows(), items.len());
    let a = intersection(r, items)?;
    if kq == 0 || k == 0 {
        return Ok((vec![0.0; kq], 0));
    }
    let mat = Mat::<f64>::from_fn(kq, k, |i, j| a[i * k + j]);
    let svd = mat
        .thin_svd()
        .map_err(|e| ApproxError::Linalg(format!("SVD did not converge: {e:?}")))?;
    let (u, v) = (svd.U(), svd.V());
    let s: Vec<f64> = svd.S().column_vector().iter().copied().collect();
    let smax = s.iter().copied().fold(0.0, f64::max);
    let mut w = vec![0.0f64; kq];
    let mut rank = 0;
    for (t, &st) in s.iter().enumerate() {
        if smax <= 0.0 || st < PINV_RELATIVE_CUTOFF * smax {
            continue;
        }
        rank += 1;
        let y: f64 = c
            .iter()
            .enumerate()
            .map(|(j, &cj)| cj as f64 * v[(j, t)])
            .sum::<f64>()
            / st;
        for (i, wi) in w.iter_mut().enumerate() {
            *wi += y * u[(i, t)];
        }
    }
    Ok((w, rank))
}
