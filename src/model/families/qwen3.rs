//! Qwen3-Reranker-style LLM rerankers: a Qwen3 decoder (`Qwen3ForCausalLM`) whose score
//! is read from its next-token logits after the reranker prompt (see [`crate::model::input::prompt`]).
//!
//! A port of transformers' `modeling_qwen3.py` for scoring: RMSNorm, grouped-query
//! attention with per-head q/k RMSNorm, rotary embeddings, SwiGLU, causal attention.
//! Only the last token's hidden state is read, and of the LM head only the "yes" and "no"
//! rows. The score is `logit(yes) - logit(no)`; the model card's probability
//! `softmax([no, yes])[yes]` is exactly its sigmoid, which relex reports as the activation.
//!
//! Batches are padded on the right: under the causal mask a real token never sees the
//! pads after it, so each row computes exactly what it computes alone (the model card's
//! left padding gives the same numbers because rotary attention depends only on relative
//! positions).

use candle_core::{DType, Tensor};
use serde::Deserialize;

use crate::model::config::{Activation, Family, Pooling};
use crate::model::encoder::{select_rows, Encoder};
use crate::model::families::bert::{Dense, OutputRows};
use crate::model::heads::ScoreHead;
use crate::model::input::pair::PairEncoder;
use crate::model::input::prompt::PromptEncoder;
use crate::model::kernels::layers::{
    attention, attention_bias, fused_dense, KeyWindow, RmsNorm, Rope,
};
use crate::model::load::{choose_max_length, default_item_template, Facts, FolderFiles, Parts};
use crate::model::weights::Weights;
use crate::model::{Input, LoadOptions, ModelError, Runner};

#[derive(Debug, Clone, Deserialize)]
struct RopeParameters {
    rope_theta: Option<f64>,
}

/// The keys of transformers' `Qwen3Config` that scoring needs.
#[derive(Debug, Clone, Deserialize)]
pub struct Qwen3Config {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub intermediate_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub num_key_value_heads: Option<usize>,
    pub head_dim: Option<usize>,
    #[serde(default = "default_rms_eps")]
    pub rms_norm_eps: f64,
    pub rope_theta: Option<f64>,
    rope_parameters: Option<RopeParameters>,
    pub max_position_embeddings: usize,
    #[serde(default)]
    pub tie_word_embeddings: bool,
    #[serde(default)]
    pub use_sliding_window: bool,
    pub hidden_act: Option<String>,
    /// relex extension: the reranker instruction (default: the model card's web search one).
    pub relex_instruction: Option<String>,
    pub relex_max_length: Option<usize>,
    pub relex_item_template: Option<String>,
}

fn default_rms_eps() -> f64 {
    1e-6
}

impl Qwen3Config {
    fn head_dim(&self) -> usize {
        self.head_dim
            .unwrap_or(self.hidden_size / self.num_attention_heads)
    }

    fn kv_heads(&self) -> usize {
        self.num_key_value_heads.unwrap_or(self.num_attention_heads)
    }

    fn rope_theta(&self) -> f64 {
        self.rope_theta
            .or_else(|| self.rope_parameters.as_ref().and_then(|r| r.rope_theta))
            .unwrap_or(10_000.0)
    }
}

struct Layer {
    input_norm: RmsNorm,
    /// Fused q | k | v projection.
    qkv: Dense,
    /// q_norm with the 1/sqrt(head_dim) attention scale folded into its weight.
    q_norm: RmsNorm,
    k_norm: RmsNorm,
    o_proj: Dense,
    post_norm: RmsNorm,
    /// Fused gate | up projection.
    gate_up: Dense,
    down: Dense,
}

/// The Qwen3 decoder stack.
pub struct Qwen3Encoder {
    embed: Tensor,
    layers: Vec<Layer>,
    norm: RmsNorm,
    rope: Rope,
    heads: usize,
    kv_heads: usize,
    head_dim: usize,
    hidden: usize,
    intermediate: usize,
}

impl Qwen3Encoder {
    /// `w` is prefixed so that `embed_tokens.weight` resolves (`model.` in the file).
    pub fn load(w: &Weights, cfg: &Qwen3Config) -> Result<Self, ModelError> {
        let (h, hd, nh, nkv, inter) = (
            cfg.hidden_size,
            cfg.head_dim(),
            cfg.num_attention_heads,
            cfg.kv_heads(),
            cfg.intermediate_size,
        );
        let eps = cfg.rms_norm_eps;
        let scale = 1.0 / (hd as f64).sqrt();
        let mut layers = Vec::with_capacity(cfg.num_hidden_layers);
        for i in 0..cfg.num_hidden_layers {
            let p = format!("layers.{i}");
            let a = format!("{p}.self_attn");
            let m = format!("{p}.mlp");
            layers.push(Layer {
                input_norm: RmsNorm::load(w, &format!("{p}.input_layernorm.weight"), h, eps, 1.0)?,
                qkv: fused_dense(
                    w,
                    &[
                        (&format!("{a}.q_proj"), nh * hd, 1.0),
                        (&format!("{a}.k_proj"), nkv * hd, 1.0),
                        (&format!("{a}.v_proj"), nkv * hd, 1.0),
                    ],
                    h,
                )?,
                q_norm: RmsNorm::load(w, &format!("{a}.q_norm.weight"), hd, eps, scale)?,
                k_norm: RmsNorm::load(w, &format!("{a}.k_norm.weight"), hd, eps, 1.0)?,
                o_proj: fused_dense(w, &[(&format!("{a}.o_proj"), h, 1.0)], nh * hd)?,
                post_norm: RmsNorm::load(
                    w,
                    &format!("{p}.post_attention_layernorm.weight"),
                    h,
                    eps,
                    1.0,
                )?,
                gate_up: fused_dense(
                    w,
                    &[
                        (&format!("{m}.gate_proj"), inter, 1.0),
                        (&format!("{m}.up_proj"), inter, 1.0),
                    ],
                    h,
                )?,
                down: fused_dense(w, &[(&format!("{m}.down_proj"), h, 1.0)], inter)?,
            });
        }
        Ok(Self {
            embed: w.get("embed_tokens.weight", &[cfg.vocab_size, h])?,
            layers,
            norm: RmsNorm::load(w, "norm.weight", h, eps, 1.0)?,
            rope: Rope::new(hd, cfg.rope_theta(), cfg.max_position_embeddings),
            heads: nh,
            kv_heads: nkv,
            head_dim: hd,
            hidden: h,
            intermediate: inter,
        })
    }

    fn layer_forward(
        &self,
        layer: &Layer,
        x: &Tensor,
        bias: &Tensor,
        b: usize,
        l: usize,
    ) -> candle_core::Result<Tensor> {
        let (nh, nkv, hd) = (self.heads, self.kv_heads, self.head_dim);
        let rows = b * l;
        let qkv = layer.qkv.forward(&layer.input_norm.forward(x)?)?;
        // q_norm / k_norm act on each head vector, before the rotation.
        let q = layer
            .q_norm
            .forward(&qkv.narrow(1, 0, nh * hd)?.reshape((rows * nh, hd))?)?;
        let k = layer.k_norm.forward(
            &qkv.narrow(1, nh * hd, nkv * hd)?
                .reshape((rows * nkv, hd))?,
        )?;
        let v = qkv.narrow(1, (nh + nkv) * hd, nkv * hd)?.contiguous()?;
        let rotate = |t: Tensor, heads: usize| -> candle_core::Result<Tensor> {
            let mut data = t.flatten_all()?.to_vec1::<f32>()?;
            self.rope.apply(&mut data, heads * hd, 0, heads, l)?;
            Tensor::from_vec(data, (rows, heads * hd), x.device())
        };
        let (q, k) = (rotate(q, nh)?, rotate(k, nkv)?);
        let ctx = attention(&q, &k, &v, bias, b, l, nh, nkv, hd)?;
        let x = layer.o_proj.forward_residual(&ctx, x)?;
        // Qwen3MLP: down(silu(gate(x)) * up(x))
        let gu = layer.gate_up.forward(&layer.post_norm.forward(&x)?)?;
        let inter = self.intermediate;
        let act = (gu.narrow(1, 0, inter)?.silu()? * gu.narrow(1, inter, inter)?)?;
        layer.down.forward_residual(&act, &x)
    }
}

impl Encoder for Qwen3Encoder {
    fn forward(
        &self,
        input_ids: &Tensor,
        _type_ids: &Tensor,
        mask: &Tensor,
        rows: OutputRows,
    ) -> candle_core::Result<Tensor> {
        let (b, l) = input_ids.dims2()?;
        let mut x = self.embed.index_select(&input_ids.flatten_all()?, 0)?;
        let bias = attention_bias(mask, KeyWindow::Causal)?;
        for layer in &self.layers {
            x = self.layer_forward(layer, &x, &bias, b, l)?;
        }
        let picked = select_rows(&x.reshape((b, l, self.hidden))?, mask, rows)?;
        self.norm.forward(&picked)
    }

    fn max_positions(&self) -> usize {
        self.rope.max_positions()
    }
}

/// `logit(yes) - logit(no)` of the last token, from the two LM-head rows.
pub struct YesNoHead {
    /// Rows [no, yes] of the LM head.
    lm_rows: Dense,
}

impl ScoreHead for YesNoHead {
    fn rows(&self) -> OutputRows {
        OutputRows::Last
    }

    fn scores(&self, hidden: &Tensor, _ids: &[&[u32]]) -> Result<Vec<f32>, ModelError> {
        let logits = self.lm_rows.forward(hidden)?.to_vec2::<f32>()?;
        Ok(logits.iter().map(|r| r[1] - r[0]).collect())
    }
}

/// Loads a Qwen3-Reranker folder.
pub(crate) fn load(files: &FolderFiles<'_>, opts: &LoadOptions) -> Result<Parts, ModelError> {
    let config_path = files.config;
    let cfg: Qwen3Config = files.parse_config()?;
    let bad = |message: String| files.config_error(message);
    if cfg.use_sliding_window {
        return Err(bad(
            "use_sliding_window is true; relex runs Qwen3 with full causal attention only".into(),
        ));
    }
    if let Some(act) = cfg.hidden_act.as_deref().filter(|a| *a != "silu") {
        return Err(bad(format!(
            "hidden_act \"{act}\" (relex runs Qwen3's silu)"
        )));
    }
    if !cfg.num_attention_heads.is_multiple_of(cfg.kv_heads()) {
        return Err(bad(format!(
            "num_attention_heads {} is not a multiple of num_key_value_heads {}",
            cfg.num_attention_heads,
            cfg.kv_heads()
        )));
    }
    let mut weights = Weights::load(files.weights, None, "")?;
    weights.set_prefix("model.");
    weights.check_layer_count("layers.", cfg.num_hidden_layers, config_path)?;
    let encoder = Qwen3Encoder::load(&weights, &cfg)?;
    let max_length = choose_max_length(
        opts,
        cfg.relex_max_length,
        cfg.max_position_embeddings,
        encoder.max_positions(),
    );
    let tokens = PairEncoder::from_folder(files.dir, max_length, false)?;
    let id = |t: &str| {
        tokens.token_to_id(t).ok_or_else(|| ModelError::Tokenizer {
            path: files.dir.join("tokenizer.json"),
            message: format!(
                "an LLM reranker is scored by its \"yes\"/\"no\" logits, but the vocabulary has no \"{t}\" token"
            ),
        })
    };
    let (no, yes) = (id("no")?, id("yes")?);
    weights.set_prefix("");
    let lm_name = if weights.contains("lm_head.weight") {
        "lm_head.weight"
    } else if cfg.tie_word_embeddings {
        "model.embed_tokens.weight"
    } else {
        return Err(ModelError::MissingTensor {
            path: files.weights.to_path_buf(),
            name: "lm_head.weight".into(),
        });
    };
    let lm = weights.get(lm_name, &[cfg.vocab_size, cfg.hidden_size])?;
    let rows = lm.index_select(&Tensor::new(&[no, yes], lm.device())?, 0)?;
    let head = YesNoHead {
        lm_rows: Dense::from_parts(&rows, &Tensor::zeros(2, DType::F32, lm.device())?)?,
    };
    let prompt = PromptEncoder::qwen3(&tokens, max_length, cfg.relex_instruction.clone())?;
    let item_template = cfg
        .relex_item_template
        .clone()
        .unwrap_or_else(|| default_item_template(Family::Qwen3Reranker).to_string());
    // The prompt (instruction included) changes every score: part of the fingerprint.
    let settings = format!(
        "qwen3-reranker|template={item_template}|instruction={:?}",
        cfg.relex_instruction
    );
    Ok(Parts {
        runner: Runner::Host {
            encoder: Box::new(encoder),
            head: Box::new(head),
        },
        device: "cpu".into(),
        tokens,
        input: Input::Prompt(Box::new(prompt)),
        facts: Facts {
            family: Family::Qwen3Reranker,
            pooling: Pooling::LastToken,
            // softmax over [no, yes] of the last token = sigmoid(yes - no): the model card's score.
            activation: Activation::Sigmoid,
            num_labels: 1,
            label: 0,
            max_length,
            hidden_size: cfg.hidden_size,
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
