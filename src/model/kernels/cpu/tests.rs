//! Each fused CPU kernel against candle's own ops on random inputs.

use super::*;
use candle_core::Device;

/// Deterministic, non-trivial test values.
fn values(n: usize, seed: u32) -> Vec<f32> {
    (0..n)
        .map(|i| {
            (((i as u32).wrapping_mul(2654435761).wrapping_add(seed) >> 8) % 2000) as f32 / 1000.0
                - 1.0
        })
        .collect()
}

/// Softmax in f64 over the unmasked entries, the reference for both dispatch paths.
fn softmax_reference(row: &[f32], mask: &[f32]) -> Vec<f64> {
    let max = row
        .iter()
        .zip(mask)
        .filter(|(_, &m)| m != 0.0)
        .map(|(&v, _)| v as f64)
        .fold(f64::NEG_INFINITY, f64::max);
    let e: Vec<f64> = row
        .iter()
        .zip(mask)
        .map(|(&v, &m)| {
            if m != 0.0 {
                (v as f64 - max).exp()
            } else {
                0.0
            }
        })
        .collect();
    let z: f64 = e.iter().sum();
    e.iter().map(|v| v / z).collect()
}

#[test]
fn masked_softmax_matches_reference_on_both_paths_and_long_rows() {
    // Lengths around and past the 16-lane blocks: remainders, exact multiples, and
    // rows long enough (≥ 33) to run several vector iterations.
    for len in [1usize, 15, 16, 17, 31, 32, 33, 47, 64, 100, 257] {
        let row: Vec<f32> = values(len, len as u32).iter().map(|v| v * 8.0).collect();
        let mut mask = vec![1f32; len];
        for (i, m) in mask.iter_mut().enumerate() {
            if i % 7 == 3 && len > 1 {
                *m = 0.0;
            }
        }
        let want = softmax_reference(&row, &mask);
        let mut generic = row.clone();
        softmax_masked_impl(&mut generic, &mask);
        let mut dispatched = row.clone();
        softmax_masked(&mut dispatched, &mask);
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            let mut vector = row.clone();
            // SAFETY: the CPU supports AVX2 and FMA (checked just above).
            unsafe { softmax_masked_avx2(&mut vector, &mask) };
            for (g, w) in vector.iter().zip(&want) {
                assert!((*g as f64 - w).abs() < 1e-6, "avx2 len {len}: {g} vs {w}");
            }
        }
        for (got, path) in [(&generic, "generic"), (&dispatched, "dispatched")] {
            let total: f64 = got.iter().map(|&v| v as f64).sum();
            assert!(
                (total - 1.0).abs() < 1e-5,
                "{path} len {len}: sums to {total}"
            );
            for (i, (g, w)) in got.iter().zip(&want).enumerate() {
                assert!(
                    (*g as f64 - w).abs() < 1e-6,
                    "{path} len {len} [{i}]: {g} vs {w}"
                );
                if mask[i] == 0.0 {
                    assert_eq!(*g, 0.0, "{path} len {len}: masked key {i} got weight");
                }
            }
        }
    }
}

#[test]
fn matmul_rejects_operands_shorter_than_their_extent() {
    let a = vec![1f32; 6];
    let b = vec![1f32; 6];
    let mut dst = vec![0f32; 4];
    // 2×3 · 3×2 fits exactly.
    matmul(
        2,
        2,
        3,
        &mut dst,
        2,
        false,
        &a,
        3,
        1,
        &b,
        2,
        1,
        gemm::Parallelism::None,
    )
    .unwrap();
    assert_eq!(dst, vec![3.0; 4]);
    // One value short in each operand in turn: an error, not an out-of-bounds access.
    let err = matmul(
        2,
        2,
        3,
        &mut dst,
        2,
        false,
        &a[..5],
        3,
        1,
        &b,
        2,
        1,
        gemm::Parallelism::None,
    )
    .unwrap_err();
    assert!(err.to_string().contains("matmul lhs"), "{err}");
    let err = matmul(
        2,
        2,
        3,
        &mut dst,
        2,
        false,
        &a,
        3,
        1,
        &b[..5],
        2,
        1,
        gemm::Parallelism::None,
    )
    .unwrap_err();
    assert!(err.to_string().contains("matmul rhs"), "{err}");
    let err = matmul(
        2,
        2,
        3,
        &mut dst[..3],
        2,
        false,
        &a,
        3,
        1,
        &b,
        2,
        1,
        gemm::Parallelism::None,
    )
    .unwrap_err();
    assert!(err.to_string().contains("matmul dst"), "{err}");
}

#[test]
fn linear_rejects_weights_that_do_not_fit_its_dimensions() {
    let w_t = values(5 * 3, 1);
    let bias = values(3, 2);
    let x = Tensor::from_vec(values(2 * 4, 3), (2, 4), &Device::Cpu).unwrap();
    // Claims in_dim 4 but holds 5 × 3 weights: refused before any GEMM runs.
    let p = LinearParams {
        w_t: &w_t,
        bias: &bias,
        in_dim: 4,
        out_dim: 3,
        act: Act::None,
    };
    let err = linear(&x, &p, None).unwrap_err().to_string();
    assert!(err.contains("weights have 15 values"), "{err}");
    let short_bias = &bias[..2];
    let p = LinearParams {
        w_t: &w_t[..12],
        bias: short_bias,
        in_dim: 4,
        out_dim: 3,
        act: Act::None,
    };
    assert!(linear(&x, &p, None).is_err());
    let p = LinearParams {
        w_t: &w_t[..12],
        bias: &bias,
        in_dim: 4,
        out_dim: 3,
        act: Act::None,
    };
    let short_residual = Tensor::from_vec(values(5, 4), (5,), &Device::Cpu).unwrap();
    assert!(linear(&x, &p, Some(&short_residual)).is_err());
    assert_eq!(linear(&x, &p, None).unwrap().dims(), &[2, 3]);
}

#[test]
fn polynomial_exp_is_within_a_few_ulp() {
    let mut worst = 0f32;
    for i in 0..=200_000 {
        let x = -(i as f32) / 2000.0; // [-100, 0]
        let exact = x.exp();
        let got = exp_neg(x);
        if exact > 1e-30 {
            worst = worst.max(((got - exact) / exact).abs());
        } else {
            assert!(got < 1e-29);
        }
    }
    assert!(worst < 5e-7, "max relative error {worst}");
}

#[test]
fn rational_gelu_matches_the_exact_erf() {
    let mut worst = 0f32;
    for i in -20000..=20000 {
        let x = i as f32 / 2000.0; // [-10, 10]
        let exact =
            (candle_core::cpu::erf::erf_f32(x * std::f32::consts::FRAC_1_SQRT_2) + 1.0) * 0.5 * x;
        let mut v = [x];
        gelu_erf_slice(&mut v);
        worst = worst.max((v[0] - exact).abs());
    }
    assert!(worst < 2e-6, "max abs error {worst}");
}

#[test]
fn linear_matches_naive_with_residual_and_gelu() {
    let (m, k, n) = (37, 19, 23);
    let x = values(m * k, 1);
    let w_t = values(k * n, 2);
    let bias = values(n, 3);
    let res = values(m * n, 4);
    let p = LinearParams {
        w_t: &w_t,
        bias: &bias,
        in_dim: k,
        out_dim: n,
        act: Act::GeluErf,
    };
    let xt = Tensor::from_vec(x.clone(), (m, k), &Device::Cpu).unwrap();
    let rt = Tensor::from_vec(res.clone(), (m, n), &Device::Cpu).unwrap();
    let got: Vec<f32> = linear(&xt, &p, Some(&rt))
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1()
        .unwrap();
    for i in 0..m {
        for j in 0..n {
            let mut acc = bias[j] as f64 + res[i * n + j] as f64;
            for t in 0..k {
                acc += x[i * k + t] as f64 * w_t[t * n + j] as f64;
            }
            let v = acc as f32;
            let want = (candle_core::cpu::erf::erf_f32(v * std::f32::consts::FRAC_1_SQRT_2) + 1.0)
                * 0.5
                * v;
            assert!(
                (got[i * n + j] - want).abs() < 1e-5,
                "({i},{j}) {} vs {want}",
                got[i * n + j]
            );
        }
    }
}

#[test]
fn attention_matches_naive_and_ignores_masked_keys() {
    let (b, l, nh, hd) = (3, 7, 2, 4);
    let h = nh * hd;
    let qkv = values(b * l * 3 * h, 5);
    let mut mask = vec![1f32; b * l];
    mask[l - 2..l].fill(0.0); // padded tail of sequence 0
    mask[l + 3] = 0.0; // a pad in the middle of sequence 1
    let qt = Tensor::from_vec(qkv.clone(), (b * l, 3 * h), &Device::Cpu).unwrap();
    let mt = Tensor::from_vec(mask.clone(), (b, l), &Device::Cpu).unwrap();
    let full: Vec<f32> = attention(&qt, &mt, b, l, nh, hd, false)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1()
        .unwrap();
    let first: Vec<f32> = attention(&qt, &mt, b, l, nh, hd, true)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1()
        .unwrap();
    let at = |bi: usize, t: usize, part: usize, hi: usize, d: usize| {
        qkv[(bi * l + t) * 3 * h + part * h + hi * hd + d] as f64
    };
    for bi in 0..b {
        for hi in 0..nh {
            for i in 0..l {
                let scores: Vec<f64> = (0..l)
                    .map(|j| {
                        if mask[bi * l + j] == 0.0 {
                            f64::NEG_INFINITY
                        } else {
                            (0..hd)
                                .map(|d| at(bi, i, 0, hi, d) * at(bi, j, 1, hi, d))
                                .sum()
                        }
                    })
                    .collect();
                let max = scores.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                let z: f64 = scores.iter().map(|s| (s - max).exp()).sum();
                for d in 0..hd {
                    let want: f64 = (0..l)
                        .map(|j| (scores[j] - max).exp() / z * at(bi, j, 2, hi, d))
                        .sum();
                    let got = full[(bi * l + i) * h + hi * hd + d] as f64;
                    assert!(
                        (got - want).abs() < 1e-5,
                        "b{bi} h{hi} i{i} d{d}: {got} vs {want}"
                    );
                    if i == 0 {
                        assert!((first[bi * h + hi * hd + d] as f64 - want).abs() < 1e-5);
                    }
                }
            }
        }
    }
}
