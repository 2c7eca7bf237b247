//! The fused ops against plain candle ops: the CPU implementations always, and the
//! CUDA kernels against them where a GPU is present.

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
    let reference =
        candle_nn::ops::layer_norm(&summed, &params.i(1).unwrap(), &params.i(2).unwrap(), 1e-12)
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
    let idx = Tensor::from_vec(vec![1u32, 4, 9, 5, 6, 7, 8, 8, 2], (3, 3), &Device::Cpu).unwrap();
    let fused = embed_layer_norm(&idx, &table, &params, 1e-12).unwrap();
    let pick = |i: u32| table.i(i as usize).unwrap();
    let rows: Vec<Tensor> = (0..3)
        .map(|r| {
            let i = |k: usize| idx.i((k, r)).unwrap().to_scalar::<u32>().unwrap();
            ((pick(i(0)) + pick(i(1))).unwrap() + pick(i(2))).unwrap()
        })
        .collect();
    let summed = Tensor::stack(&rows, 0).unwrap();
    let reference =
        candle_nn::ops::layer_norm(&summed, &params.i(1).unwrap(), &params.i(2).unwrap(), 1e-12)
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
    assert!(bias_residual_layer_norm(&x, &rand(&[2, 5], 12), &rand(&[3, 6], 13), 1e-5).is_err());
    assert!(qkv_split(&x, &rand(&[6], 14), 1, 2, 1, 3).is_err()); // 3·1·3 = 9 columns, not 6
    assert!(qkv_split(&x, &rand(&[6], 14), 1, 2, 1, 2).is_ok());
    assert!(masked_softmax(
        &rand(&[1, 1, 2, 6], 15),
        &rand(&[1, 6], 16).to_dtype(DType::F16).unwrap()
    )
    .is_err());
}
