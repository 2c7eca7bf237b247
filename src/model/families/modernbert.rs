//! ModernBERT cross-encoders (`ModernBertForSequenceClassification`, e.g.
//! gte-reranker-modernbert-base).
//!
//! A port of transformers' `modeling_modernbert.py`: token embeddings + LayerNorm,
//! pre-norm layers (layer 0 without attention norm) with fused Wqkv, rotary embeddings
//! (one theta for global layers, one for local), GeGLU MLP, and every
//! `global_attn_every_n_layers`-th layer global while the others see only keys within
//! `local_attention / 2` positions; then the final norm, the pooling ("cls" or "mean"),
//! the prediction head (dense → activation → norm) and the classifier. relex scores the
//! classifier's logit itself: no softmax (which would turn a one-label reranker into a
//! constant 1.0, as candle-transformers' port does).
//!
//! Global layers, and local layers on inputs no longer than the window, run on the fused
//! attention kernel BERT uses; longer inputs of local layers use an explicit window mask.

use candle_core::Tensor;
use serde::Deserialize;

use crate::model::config::{Activation, Family, Pooling};
use crate::model::encoder::{select_rows, Encoder};
use crate::model::families::bert::{Dense, OutputRows};
use crate::model::heads::ScoreHead;
use crate::model::input::pair::PairEncoder;
use crate::model::kernels::cpu as kernels;
use crate::model::kernels::layers::{
    attention, attention_bias, dense, fused_dense, KeyWindow, Norm, Rope,
};
use crate::model::load::{choose_max_length, default_item_template, Facts, FolderFiles, Parts};
use crate::model::weights::Weights;
use crate::model::{Input, LoadOptions, ModelError, Runner};

#[derive(Debug, Clone, Deserialize)]
struct RopeTheta {
    rope_theta: Option<f64>,
}

/// transformers ≥ 5 writes `rope_parameters` per layer type and `layer_types`; older
/// configs (the hub's) write `global_rope_theta`, `local_rope_theta` and
/// `global_attn_every_n_layers`. Both are read.
#[derive(Debug, Clone, Deserialize)]
struct RopeParameters {
    full_attention: Option<RopeTheta>,
    sliding_attention: Option<RopeTheta>,
}

/// The keys of transformers' `ModernBertConfig` that scoring needs.
#[derive(Debug, Clone, Deserialize)]
pub struct ModernBertConfig {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub intermediate_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    #[serde(default = "default_act")]
    pub hidden_activation: String,
    pub max_position_embeddings: usize,
    #[serde(default = "default_eps")]
    pub norm_eps: f64,
    pub global_attn_every_n_layers: Option<usize>,
    pub global_rope_theta: Option<f64>,
    pub local_rope_theta: Option<f64>,
    layer_types: Option<Vec<String>>,
    rope_parameters: Option<RopeParameters>,
    #[serde(default = "default_local")]
    pub local_attention: usize,
    #[serde(default = "default_pooling")]
    pub classifier_pooling: String,
    #[serde(default = "default_act")]
    pub classifier_activation: String,
    pub num_labels: Option<usize>,
    pub id2label: Option<serde_json::Map<String, serde_json::Value>>,
    pub pad_token_id: Option<u32>,
    pub relex_max_length: Option<usize>,
    pub relex_item_template: Option<String>,
}

fn default_act() -> String {
    "gelu".into()
}
fn default_eps() -> f64 {
    1e-5
}
fn default_local() -> usize {
    128
}
fn default_pooling() -> String {
    "cls".into()
}

impl ModernBertConfig {
    /// Whether layer `i` is a local (sliding-window) layer.
    fn is_local(&self, i: usize) -> bool {
        match &self.layer_types {
            Some(t) => t.get(i).is_some_and(|s| s == "sliding_attention"),
            None => !i.is_multiple_of(self.global_attn_every_n_layers.unwrap_or(3).max(1)),
        }
    }

    fn thetas(&self) -> (f64, f64) {
        let from_params = |pick: fn(&RopeParameters) -> Option<&RopeTheta>| {
            self.rope_parameters
                .as_ref()
                .and_then(pick)
                .and_then(|r| r.rope_theta)
        };
        (
            self.global_rope_theta
                .or_else(|| from_params(|p| p.full_attention.as_ref()))
                .unwrap_or(160_000.0),
            self.local_rope_theta
                .or_else(|| from_params(|p| p.sliding_attention.as_ref()))
                .unwrap_or(10_000.0),
        )
    }

    fn num_labels(&self) -> usize {
        self.num_labels
            .or_else(|| self.id2label.as_ref().map(|m| m.len()))
            .unwrap_or(1)
    }
}

/// The activations transformers' ACT2FN names that these models use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nonlinearity {
    GeluErf,
    GeluTanh,
    Relu,
    Silu,
    Tanh,
}

impl Nonlinearity {
    pub fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "gelu" => Nonlinearity::GeluErf,
            "gelu_new" | "gelu_pytorch_tanh" | "gelu_fast" => Nonlinearity::GeluTanh,
            "relu" => Nonlinearity::Relu,
            "silu" | "swish" => Nonlinearity::Silu,
            "tanh" => Nonlinearity::Tanh,
            _ => return None,
        })
    }

    pub fn apply(self, x: &Tensor) -> candle_core::Result<Tensor> {
        match self {
            Nonlinearity::GeluErf => x.gelu_erf(),
            Nonlinearity::GeluTanh => x.gelu(),
            Nonlinearity::Relu => x.relu(),
            Nonlinearity::Silu => x.silu(),
            Nonlinearity::Tanh => x.tanh(),
        }
    }
}

struct Layer {
    attn_norm: Option<Norm>,
    /// Wqkv with the query rows pre-scaled by 1/sqrt(head_dim).
    qkv: Dense,
    wo: Dense,
    mlp_norm: Norm,
    wi: Dense,
    mlp_out: Dense,
    local: bool,
}

/// The ModernBERT encoder stack.
pub struct ModernBertEncoder {
    embed: Tensor,
    emb_norm: Norm,
    layers: Vec<Layer>,
    final_norm: Norm,
    global_rope: Rope,
    local_rope: Rope,
    act: Nonlinearity,
    heads: usize,
    head_dim: usize,
    hidden: usize,
    intermediate: usize,
    half_window: usize,
}

impl ModernBertEncoder {
    /// `w` is prefixed so that `embeddings.tok_embeddings.weight` resolves.
    pub fn load(
        w: &Weights,
        cfg: &ModernBertConfig,
        path: &std::path::Path,
    ) -> Result<Self, ModelError> {
        let (h, nh, inter) = (
            cfg.hidden_size,
            cfg.num_attention_heads,
            cfg.intermediate_size,
        );
        if h % nh != 0 {
            return Err(ModelError::Config {
                path: path.to_path_buf(),
                message: format!("hidden_size {h} is not a multiple of num_attention_heads {nh}"),
            });
        }
        let act =
            Nonlinearity::parse(&cfg.hidden_activation).ok_or_else(|| ModelError::Config {
                path: path.to_path_buf(),
                message: format!(
                    "hidden_activation \"{}\" is not supported",
                    cfg.hidden_activation
                ),
            })?;
        let hd = h / nh;
        let eps = cfg.norm_eps;
        let scale = 1.0 / (hd as f64).sqrt();
        let mut layers = Vec::with_capacity(cfg.num_hidden_layers);
        for i in 0..cfg.num_hidden_layers {
            let p = format!("layers.{i}");
            // Wqkv is [3H, H]; its first H rows are the query.
            let wqkv = w.get(&format!("{p}.attn.Wqkv.weight"), &[3 * h, h])?;
            let row_scale = Tensor::cat(
                &[
                    Tensor::full(scale as f32, (h, 1), wqkv.device())?,
                    Tensor::ones((2 * h, 1), candle_core::DType::F32, wqkv.device())?,
                ],
                0,
            )?;
            let bias_name = format!("{p}.attn.Wqkv.bias");
            let bias = if w.contains(&bias_name) {
                (w.get(&bias_name, &[3 * h])? * row_scale.flatten_all()?)?
            } else {
                Tensor::zeros(3 * h, candle_core::DType::F32, wqkv.device())?
            };
            let qkv = Dense::from_parts(&wqkv.broadcast_mul(&row_scale)?, &bias)?;
            let attn_norm_name = format!("{p}.attn_norm");
            layers.push(Layer {
                attn_norm: if w.contains(&format!("{attn_norm_name}.weight")) {
                    Some(Norm::load(w, &attn_norm_name, h, eps)?)
                } else {
                    None
                },
                qkv,
                wo: dense(w, &format!("{p}.attn.Wo"), h, h)?,
                mlp_norm: Norm::load(w, &format!("{p}.mlp_norm"), h, eps)?,
                wi: dense(w, &format!("{p}.mlp.Wi"), h, 2 * inter)?,
                mlp_out: fused_dense(w, &[(&format!("{p}.mlp.Wo"), h, 1.0)], inter)?,
                local: cfg.is_local(i),
            });
        }
        let (global_theta, local_theta) = cfg.thetas();
        Ok(Self {
            embed: w.get("embeddings.tok_embeddings.weight", &[cfg.vocab_size, h])?,
            emb_norm: Norm::load(w, "embeddings.norm", h, eps)?,
            layers,
            final_norm: Norm::load(w, "final_norm", h, eps)?,
            global_rope: Rope::new(hd, global_theta, cfg.max_position_embeddings),
            local_rope: Rope::new(hd, local_theta, cfg.max_position_embeddings),
            act,
            heads: nh,
            head_dim: hd,
            hidden: h,
            intermediate: inter,
            half_window: cfg.local_attention / 2,
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn layer_forward(
        &self,
        layer: &Layer,
        x: &Tensor,
        mask: &Tensor,
        window_bias: Option<&Tensor>,
        b: usize,
        l: usize,
    ) -> candle_core::Result<Tensor> {
        let (h, nh, hd) = (self.hidden, self.heads, self.head_dim);
        let normed = match &layer.attn_norm {
            Some(n) => n.forward(x)?,
            None => x.clone(),
        };
        let mut qkv = layer
            .qkv
            .forward(&normed)?
            .flatten_all()?
            .to_vec1::<f32>()?;
        let rope = if layer.local {
            &self.local_rope
        } else {
            &self.global_rope
        };
        rope.apply(&mut qkv, 3 * h, 0, nh, l)?;
        rope.apply(&mut qkv, 3 * h, h, nh, l)?;
        let qkv = Tensor::from_vec(qkv, (b * l, 3 * h), x.device())?;
        let ctx = match (layer.local, window_bias) {
            (true, Some(bias)) => attention(
                &qkv.narrow(1, 0, h)?,
                &qkv.narrow(1, h, h)?,
                &qkv.narrow(1, 2 * h, h)?,
                bias,
                b,
                l,
                nh,
                nh,
                hd,
            )?,
            // Global layers, or every key within the window anyway.
            _ => kernels::attention(&qkv, mask, b, l, nh, hd, false)?,
        };
        let x = layer.wo.forward_residual(&ctx, x)?;
        // ModernBertMLP: Wo(act(input) * gate), input | gate = Wi(x).chunk(2)
        let wi = layer.wi.forward(&layer.mlp_norm.forward(&x)?)?;
        let inter = self.intermediate;
        let glu = (self.act.apply(&wi.narrow(1, 0, inter)?)? * wi.narrow(1, inter, inter)?)?;
        layer.mlp_out.forward_residual(&glu, &x)
    }
}

impl Encoder for ModernBertEncoder {
    fn forward(
        &self,
        input_ids: &Tensor,
        _type_ids: &Tensor,
        mask: &Tensor,
        rows: OutputRows,
    ) -> candle_core::Result<Tensor> {
        let (b, l) = input_ids.dims2()?;
        let mask = mask.contiguous()?;
        let mut x = self
            .emb_norm
            .forward(&self.embed.index_select(&input_ids.flatten_all()?, 0)?)?;
        let window_bias = if l > self.half_window + 1 {
            Some(attention_bias(
                &mask,
                KeyWindow::Sliding {
                    half_width: self.half_window,
                },
            )?)
        } else {
            None
        };
        for layer in &self.layers {
            x = self.layer_forward(layer, &x, &mask, window_bias.as_ref(), b, l)?;
        }
        let x = self.final_norm.forward(&x)?;
        select_rows(&x.reshape((b, l, self.hidden))?, &mask, rows)
    }

    fn max_positions(&self) -> usize {
        self.global_rope.max_positions()
    }
}

/// ModernBertForSequenceClassification after pooling: dense → activation → norm →
/// classifier, one chosen logit.
pub struct ModernBertHead {
    rows: OutputRows,
    dense: Dense,
    act: Nonlinearity,
    norm: Norm,
    classifier: Dense,
    label: usize,
}

impl ScoreHead for ModernBertHead {
    fn rows(&self) -> OutputRows {
        self.rows
    }

    fn scores(&self, hidden: &Tensor, _ids: &[&[u32]]) -> Result<Vec<f32>, ModelError> {
        let x = self
            .norm
            .forward(&self.act.apply(&self.dense.forward(hidden)?)?)?;
        let logits = self.classifier.forward(&x)?.to_vec2::<f32>()?;
        Ok(logits.iter().map(|r| r[self.label]).collect())
    }
}

/// Loads a ModernBERT cross-encoder folder.
pub(crate) fn load(files: &FolderFiles<'_>, opts: &LoadOptions) -> Result<Parts, ModelError> {
    let config_path = files.config;
    let cfg: ModernBertConfig = files.parse_config()?;
    let bad = |message: String| files.config_error(message);
    let mut weights = Weights::load(files.weights, None, "")?;
    weights.set_prefix("model.");
    weights.check_layer_count("layers.", cfg.num_hidden_layers, config_path)?;
    let encoder = ModernBertEncoder::load(&weights, &cfg, config_path)?;
    weights.set_prefix("");
    let num_labels = cfg.num_labels();
    let label = opts.label.unwrap_or(num_labels.saturating_sub(1));
    if label >= num_labels {
        return Err(bad(format!(
            "label {label} requested, but the model has {num_labels} labels"
        )));
    }
    let pooling = match opts.pooling {
        Some(p @ (Pooling::Cls | Pooling::Mean)) => p,
        Some(p) => {
            return Err(bad(format!(
                "{p} pooling is not available for modernbert models"
            )))
        }
        None => match cfg.classifier_pooling.as_str() {
            "cls" => Pooling::Cls,
            "mean" => Pooling::Mean,
            other => {
                return Err(bad(format!(
                    "classifier_pooling \"{other}\" is not supported"
                )))
            }
        },
    };
    let h = cfg.hidden_size;
    let head = ModernBertHead {
        rows: if pooling == Pooling::Mean {
            OutputRows::Mean
        } else {
            OutputRows::FirstOnly
        },
        dense: dense(&weights, "head.dense", h, h)?,
        act: Nonlinearity::parse(&cfg.classifier_activation).ok_or_else(|| {
            bad(format!(
                "classifier_activation \"{}\" is not supported",
                cfg.classifier_activation
            ))
        })?,
        norm: Norm::load(&weights, "head.norm", h, cfg.norm_eps)?,
        classifier: dense(&weights, "classifier", h, num_labels)?,
        label,
    };
    let max_length = choose_max_length(
        opts,
        cfg.relex_max_length,
        cfg.max_position_embeddings,
        encoder.max_positions(),
    );
    let mut tokens = PairEncoder::from_folder(files.dir, max_length, false)?;
    if let Some(pad) = cfg.pad_token_id {
        tokens.set_pad_id(pad);
    }
    let item_template = cfg
        .relex_item_template
        .clone()
        .unwrap_or_else(|| default_item_template(Family::ModernBert).to_string());
    let settings = format!("modernbert|template={item_template}|pooling={pooling}|label={label}");
    Ok(Parts {
        runner: Runner::Host {
            encoder: Box::new(encoder),
            head: Box::new(head),
        },
        device: "cpu".into(),
        tokens,
        input: Input::Pair,
        facts: Facts {
            family: Family::ModernBert,
            pooling,
            activation: if num_labels == 1 {
                Activation::Sigmoid
            } else {
                Activation::Identity
            },
            num_labels,
            label,
            max_length,
            hidden_size: h,
            layers: cfg.num_hidden_layers,
            parameters: weights.parameter_count(),
            item_template,
            untitled_item_template: crate::items::UNTITLED_TEMPLATE.into(),
            mention_markers: None,
        },
        scoring_files: files.scoring_files(),
        settings,
    })
}
