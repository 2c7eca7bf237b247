//! The BERT encoder, written for inference speed on CPU.
//!
//! A port of transformers' `modeling_bert.py` (BertEmbeddings, BertSelfAttention,
//! BertSelfOutput, BertIntermediate, BertOutput) with three changes that keep the numbers
//! but save time: Q, K and V are one fused matmul; the 1/sqrt(head_dim) scale is folded
//! into the query weights at load; and the last layer can compute only the rows the head
//! reads (the `[CLS]` row for classifier heads), since nothing else is ever looked at.

use candle_core::{DType, Device, Tensor};

use super::bert_device::{DeviceBert, DeviceHead, Linear};
use super::xlm_roberta;
use crate::model::config::{BertConfig, Family, HiddenAct, Pooling};
use crate::model::device::{Backend, Precision};
use crate::model::heads::{ClassifierHead, ScoreHead, SpecialTokenHead};
use crate::model::input::pair::PairEncoder;
use crate::model::kernels::cpu::{self as kernels, Act, LinearParams};
use crate::model::load::{
    choose_max_length, default_item_template, device_label, special_token_head, Facts, FolderFiles,
    Parts,
};
use crate::model::weights::Weights;
use crate::model::{Input, LoadOptions, ModelError, Runner};

/// The token that marks where an item starts, for w_embeds pooling.
const ITEM_MARKER: &str = "[unused2]";

/// Which rows of the final hidden states the caller needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputRows {
    /// Every position (special-token pooling reads arbitrary positions).
    All,
    /// Only position 0 (`[CLS]`): the last layer skips the other rows' queries and FFN.
    FirstOnly,
    /// The last attended position of each row ([B, H]): decoders scored on their last token.
    Last,
    /// The mean over attended positions of each row ([B, H]): mean-pooling heads.
    Mean,
}

/// A dense layer with its weight stored transposed ([in, out], row-major), the layout the
/// GEMM reads fastest for `x · W`, and an activation fused into its output sweep.
#[derive(Clone)]
pub struct Dense {
    w_t: Vec<f32>,
    bias: Vec<f32>,
    in_dim: usize,
    out_dim: usize,
    act: Act,
}

impl Dense {
    pub fn load(
        w: &Weights,
        prefix: &str,
        in_dim: usize,
        out_dim: usize,
    ) -> Result<Self, ModelError> {
        let weight = w.get(&format!("{prefix}.weight"), &[out_dim, in_dim])?;
        let bias = w.get(&format!("{prefix}.bias"), &[out_dim])?;
        Self::from_parts(&weight, &bias)
    }

    /// From a transformers-layout weight [out, in] and bias [out].
    pub fn from_parts(weight: &Tensor, bias: &Tensor) -> Result<Self, ModelError> {
        let (out_dim, in_dim) = weight.dims2()?;
        Ok(Self {
            w_t: weight.t()?.contiguous()?.flatten_all()?.to_vec1::<f32>()?,
            bias: bias.to_vec1::<f32>()?,
            in_dim,
            out_dim,
            act: Act::None,
        })
    }

    pub fn with_act(mut self, act: Act) -> Self {
        self.act = act;
        self
    }

    fn params(&self) -> LinearParams<'_> {
        LinearParams {
            w_t: &self.w_t,
            bias: &self.bias,
            in_dim: self.in_dim,
            out_dim: self.out_dim,
            act: self.act,
        }
    }

    /// `x` is [rows, in] contiguous; returns [rows, out].
    pub fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        kernels::linear(&x.contiguous()?, &self.params(), None)
    }

    /// `act(x·W + b + residual)`: the residual is added inside the same pass.
    pub fn forward_residual(&self, x: &Tensor, residual: &Tensor) -> candle_core::Result<Tensor> {
        kernels::linear(
            &x.contiguous()?,
            &self.params(),
            Some(&residual.contiguous()?),
        )
    }
}

#[derive(Clone)]
struct LayerNorm {
    weight: Tensor,
    bias: Tensor,
    eps: f32,
}

impl LayerNorm {
    fn load(w: &Weights, prefix: &str, dim: usize, eps: f64) -> Result<Self, ModelError> {
        Ok(Self {
            weight: w.get(&format!("{prefix}.weight"), &[dim])?,
            bias: w.get(&format!("{prefix}.bias"), &[dim])?,
            eps: eps as f32,
        })
    }

    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        candle_nn::ops::layer_norm(x, &self.weight, &self.bias, self.eps)
    }
}

struct Layer {
    /// Fused [H, 3H] projection for Q|K|V, Q pre-scaled by 1/sqrt(head_dim).
    qkv: Dense,
    attn_out: Dense,
    attn_ln: LayerNorm,
    intermediate: Dense,
    output: Dense,
    out_ln: LayerNorm,
}

/// How position ids are formed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Positions {
    /// BERT: 0, 1, 2, … for every row.
    Absolute,
    /// RoBERTa / XLM-RoBERTa (`create_position_ids_from_input_ids`): a token that is not
    /// `padding_idx` gets `padding_idx` + its 1-based index among such tokens, a pad gets
    /// `padding_idx`.
    Roberta { padding_idx: u32 },
}

impl Positions {
    /// The position ids of right-padded `ids` rows of length `l` (row-major [B, L]).
    pub fn ids(self, ids: &[u32], l: usize) -> Vec<u32> {
        match self {
            Positions::Absolute => (0..ids.len() / l.max(1))
                .flat_map(|_| 0..l as u32)
                .collect(),
            Positions::Roberta { padding_idx } => {
                let mut out = Vec::with_capacity(ids.len());
                for row in ids.chunks(l.max(1)) {
                    let mut n = 0;
                    for &t in row {
                        if t == padding_idx {
                            out.push(padding_idx);
                        } else {
                            n += 1;
                            out.push(padding_idx + n);
                        }
                    }
                }
                out
            }
        }
    }

    /// The longest input a position table of `table_len` rows allows.
    pub fn max_positions(self, table_len: usize) -> usize {
        match self {
            Positions::Absolute => table_len,
            Positions::Roberta { padding_idx } => {
                table_len.saturating_sub(padding_idx as usize + 1)
            }
        }
    }
}

/// BERT embeddings + encoder stack.
pub struct BertEncoder {
    positions: Positions,
    word: Tensor,
    position: Tensor,
    token_type: Tensor,
    emb_ln: LayerNorm,
    layers: Vec<Layer>,
    num_heads: usize,
    head_dim: usize,
    hidden: usize,
}

impl BertEncoder {
    /// `w` must already be prefixed so that `embeddings.word_embeddings.weight` resolves.
    pub fn load(w: &Weights, cfg: &BertConfig) -> Result<Self, ModelError> {
        let h = cfg.hidden_size;
        let word = w.get("embeddings.word_embeddings.weight", &[cfg.vocab_size, h])?;
        let position = w.get(
            "embeddings.position_embeddings.weight",
            &[cfg.max_position_embeddings, h],
        )?;
        let token_type = w.get(
            "embeddings.token_type_embeddings.weight",
            &[cfg.type_vocab_size, h],
        )?;
        let emb_ln = LayerNorm::load(w, "embeddings.LayerNorm", h, cfg.layer_norm_eps)?;
        let scale = 1.0 / (cfg.head_dim() as f64).sqrt();
        let mut layers = Vec::with_capacity(cfg.num_hidden_layers);
        for i in 0..cfg.num_hidden_layers {
            let p = format!("encoder.layer.{i}");
            let (qkv_w, qkv_b) = fused_qkv(w, &p, h, scale)?;
            let qkv = Dense::from_parts(&qkv_w, &qkv_b)?;
            let act = match cfg.hidden_act {
                HiddenAct::Gelu => Act::GeluErf,
                HiddenAct::GeluTanh => Act::GeluTanh,
                HiddenAct::Relu => Act::Relu,
            };
            layers.push(Layer {
                qkv,
                attn_out: Dense::load(w, &format!("{p}.attention.output.dense"), h, h)?,
                attn_ln: LayerNorm::load(
                    w,
                    &format!("{p}.attention.output.LayerNorm"),
                    h,
                    cfg.layer_norm_eps,
                )?,
                intermediate: Dense::load(
                    w,
                    &format!("{p}.intermediate.dense"),
                    h,
                    cfg.intermediate_size,
                )?
                .with_act(act),
                output: Dense::load(w, &format!("{p}.output.dense"), cfg.intermediate_size, h)?,
                out_ln: LayerNorm::load(
                    w,
                    &format!("{p}.output.LayerNorm"),
                    h,
                    cfg.layer_norm_eps,
                )?,
            });
        }
        Ok(Self {
            positions: Positions::Absolute,
            word,
            position,
            token_type,
            emb_ln,
            layers,
            num_heads: cfg.num_attention_heads,
            head_dim: cfg.head_dim(),
            hidden: h,
        })
    }

    /// Switches to RoBERTa position ids (XLM-RoBERTa shares everything else with BERT).
    pub fn with_positions(mut self, positions: Positions) -> Self {
        self.positions = positions;
        self
    }

    /// The longest input the position table allows.
    pub fn max_positions(&self) -> usize {
        self.positions.max_positions(self.position.dims()[0])
    }

    pub fn hidden_size(&self) -> usize {
        self.hidden
    }

    /// `input_ids`, `type_ids`: [B, L] u32; `mask`: [B, L] f32 with 1 for real tokens.
    /// Returns [B, L, H] for `OutputRows::All`, [B, H] for `OutputRows::FirstOnly`.
    pub fn forward(
        &self,
        input_ids: &Tensor,
        type_ids: &Tensor,
        mask: &Tensor,
        rows: OutputRows,
    ) -> candle_core::Result<Tensor> {
        let (b, l) = input_ids.dims2()?;
        // modeling_bert.py BertEmbeddings.forward: word + token_type + position, LayerNorm.
        let words = self.word.index_select(&input_ids.flatten_all()?, 0)?;
        // A single-row type table (RoBERTa) is all that type id 0 can read.
        let types = if self.token_type.dims()[0] == 1 {
            self.token_type.broadcast_as((b * l, self.hidden))?
        } else {
            self.token_type.index_select(&type_ids.flatten_all()?, 0)?
        };
        let x = match self.positions {
            Positions::Absolute => {
                let pos = self.position.narrow(0, 0, l)?;
                (words + types)?
                    .reshape((b, l, self.hidden))?
                    .broadcast_add(&pos)?
            }
            Positions::Roberta { .. } => {
                let ids = input_ids.flatten_all()?.to_vec1::<u32>()?;
                let pos_ids =
                    Tensor::from_vec(self.positions.ids(&ids, l), b * l, input_ids.device())?;
                let pos = self.position.index_select(&pos_ids, 0)?;
                ((words + types)? + pos)?.reshape((b, l, self.hidden))?
            }
        };
        let mut x = self.emb_ln.forward(&x)?.reshape((b * l, self.hidden))?;

        // get_extended_attention_mask adds finfo.min to masked keys; the attention kernel
        // skips them outright, which gives the same softmax.
        let mask = mask.contiguous()?;
        let n = self.layers.len();
        for (i, layer) in self.layers.iter().enumerate() {
            let first_only = rows == OutputRows::FirstOnly && i + 1 == n;
            x = self.layer_forward(layer, &x, &mask, b, l, first_only)?;
        }
        match rows {
            OutputRows::FirstOnly => Ok(x),
            _ => crate::model::encoder::select_rows(&x.reshape((b, l, self.hidden))?, &mask, rows),
        }
    }

    /// `x`: [B*L, H]. Returns [B*L, H], or [B, H] when `first_only`.
    fn layer_forward(
        &self,
        layer: &Layer,
        x: &Tensor,
        mask: &Tensor,
        b: usize,
        l: usize,
        first_only: bool,
    ) -> candle_core::Result<Tensor> {
        let h = self.hidden;
        // BertSelfAttention: softmax(q·kᵀ/√d + mask)·v, fused (see kernels.rs).
        let qkv = layer.qkv.forward(x)?;
        let ctx = kernels::attention(&qkv, mask, b, l, self.num_heads, self.head_dim, first_only)?;
        let residual = if first_only {
            x.reshape((b, l, h))?.narrow(1, 0, 1)?.reshape((b, h))?
        } else {
            x.clone()
        };
        // BertSelfOutput: dense + residual (one pass), LayerNorm.
        let attn = layer
            .attn_ln
            .forward(&layer.attn_out.forward_residual(&ctx, &residual)?)?;
        // BertIntermediate (dense + GELU, one pass) + BertOutput (dense + residual, LayerNorm).
        let inter = layer.intermediate.forward(&attn)?;
        layer
            .out_ln
            .forward(&layer.output.forward_residual(&inter, &attn)?)
    }
}

/// Layer `prefix`'s Q, K and V projections as one [3H, H] weight and [3H] bias, Q scaled
/// by `q_scale` (1/sqrt(head_dim), folded in f32 so it is rounded once).
pub fn fused_qkv(
    w: &Weights,
    prefix: &str,
    h: usize,
    q_scale: f64,
) -> Result<(Tensor, Tensor), ModelError> {
    let get = |name: &str, shape: &[usize]| w.get(&format!("{prefix}.{name}"), shape);
    let qw = (get("attention.self.query.weight", &[h, h])? * q_scale)?;
    let qb = (get("attention.self.query.bias", &[h])? * q_scale)?;
    let kw = get("attention.self.key.weight", &[h, h])?;
    let kb = get("attention.self.key.bias", &[h])?;
    let vw = get("attention.self.value.weight", &[h, h])?;
    let vb = get("attention.self.value.bias", &[h])?;
    Ok((
        Tensor::cat(&[&qw, &kw, &vw], 0)?,
        Tensor::cat(&[&qb, &kb, &vb], 0)?,
    ))
}

/// Builds the [B, L] input tensors from row-major u32 ids, type ids and a 0/1 mask.
pub fn batch_tensors(
    ids: Vec<u32>,
    type_ids: Vec<u32>,
    mask: Vec<f32>,
    b: usize,
    l: usize,
) -> candle_core::Result<(Tensor, Tensor, Tensor)> {
    let dev = Device::Cpu;
    Ok((
        Tensor::from_vec(ids, (b, l), &dev)?,
        Tensor::from_vec(type_ids, (b, l), &dev)?,
        Tensor::from_vec(mask, (b, l), &dev)?.to_dtype(DType::F32)?,
    ))
}

/// Loads a BERT or XLM-RoBERTa cross-encoder folder for `backend`: the same post-norm
/// encoder, told apart by their position ids, weight prefix and classification head
/// (see [`super::xlm_roberta`]). The CPU gets [`BertEncoder`] with a host head; a candle
/// device gets [`DeviceBert`] with its head on the device, and never an f32 host copy.
pub(crate) fn load(
    files: &FolderFiles<'_>,
    opts: &LoadOptions,
    family: Family,
    backend: Backend,
) -> Result<Parts, ModelError> {
    let config_path = files.config;
    let cfg = BertConfig::from_json(&files.raw.to_string(), config_path)?;
    let mut weights = Weights::load(files.weights, None, "")?;
    // BertForSequenceClassification saves the encoder under "bert."; a bare BertModel
    // (sentence-transformers) saves it at the top level; XLMRoberta… under "roberta.".
    for prefix in ["bert.", xlm_roberta::WEIGHT_PREFIX] {
        if weights.has_any_with_prefix(prefix) {
            weights.set_prefix(prefix);
        }
    }
    weights.check_layer_count("encoder.layer.", cfg.num_hidden_layers, config_path)?;
    let positions = match family {
        Family::XlmRoberta => xlm_roberta::positions(&cfg),
        _ => Positions::Absolute,
    };
    let encoder_positions = positions.max_positions(cfg.max_position_embeddings);
    let encoder_prefix = weights.prefix().to_string();
    let num_labels = cfg.num_labels();
    let label = opts.label.unwrap_or(num_labels.saturating_sub(1));
    if label >= num_labels {
        return Err(files.config_error(format!(
            "label {label} requested, but the model has {num_labels} labels"
        )));
    }
    weights.set_prefix("");
    let pooler_prefix = if weights.contains("bert.pooler.dense.weight") {
        Some("bert.pooler.dense")
    } else if weights.contains("pooler.dense.weight") {
        Some("pooler.dense")
    } else {
        None
    };
    let roberta_head = xlm_roberta::has_classification_head(&weights);
    let pooling =
        opts.pooling
            .or(cfg.relex_pooling)
            .unwrap_or(if pooler_prefix.is_some() || roberta_head {
                Pooling::ClsPooler
            } else {
                Pooling::Cls
            });
    let max_length = choose_max_length(
        opts,
        cfg.relex_max_length,
        cfg.max_position_embeddings,
        encoder_positions,
    );
    let mut tokens = PairEncoder::from_folder(files.dir, max_length, true)?;
    if family == Family::XlmRoberta {
        tokens.set_pad_id(cfg.pad_token_id);
    }
    let markers = cfg.relex_mention_markers.clone();
    if let Some([a, b]) = &markers {
        tokens.register_special_tokens(&[a, b, ITEM_MARKER])?;
    }
    let plan = match pooling {
        Pooling::ClsPooler if roberta_head => xlm_roberta::head_plan(label),
        Pooling::ClsPooler | Pooling::Cls | Pooling::ClsWLin => HeadPlan::Classifier {
            pooler: (pooling != Pooling::Cls).then_some(pooler_prefix.unwrap_or("pooler.dense")),
            classifier: "classifier",
            label,
        },
        Pooling::WEmbeds => {
            let [a, b] = markers
                .clone()
                .unwrap_or(["[unused0]".into(), "[unused1]".into()]);
            HeadPlan::SpecialTokens(special_token_head(&tokens, &a, &b, ITEM_MARKER)?)
        }
        Pooling::Mean | Pooling::LastToken => {
            return Err(files.config_error(format!(
                "{pooling} pooling is not available for {family} models"
            )))
        }
    };
    let h = cfg.hidden_size;
    let (runner, device) = match backend {
        Backend::Candle(dev) => {
            let dt = opts.precision;
            let head = plan.device(&weights, h, num_labels, &dev, dt)?;
            weights.set_prefix(&encoder_prefix);
            let model = DeviceBert::load(&weights, &cfg, positions, head, &dev, dt)?;
            weights.set_prefix("");
            let name = format!("{} ({dt})", device_label(&dev));
            (Runner::Device(Box::new(model)), name)
        }
        Backend::FusedCpu => {
            // The encoder first: a config that disagrees with the weights is reported
            // at the first encoder tensor, not at the head.
            weights.set_prefix(&encoder_prefix);
            let encoder = Box::new(BertEncoder::load(&weights, &cfg)?.with_positions(positions));
            weights.set_prefix("");
            let head = plan.host(&weights, h, num_labels)?;
            (Runner::Host { encoder, head }, "cpu".to_string())
        }
    };
    let item_template = cfg
        .relex_item_template
        .clone()
        .unwrap_or_else(|| default_item_template(family).to_string());
    let settings = format!(
        "{family}|template={item_template}|pooling={pooling}|label={label}|markers={markers:?}"
    );
    Ok(Parts {
        runner,
        device,
        tokens,
        input: Input::Pair,
        facts: Facts {
            family,
            pooling,
            activation: cfg.activation(),
            num_labels,
            label,
            max_length,
            hidden_size: h,
            layers: cfg.num_hidden_layers,
            parameters: weights.parameter_count(),
            item_template,
            // The w_embeds head reads the item marker's row: an item without a title
            // still gets the marker, as the reference code packs it (`[unused2] text`).
            untitled_item_template: if pooling == Pooling::WEmbeds {
                format!("{ITEM_MARKER} {{text}}")
            } else {
                crate::items::UNTITLED_TEMPLATE.into()
            },
            mention_markers: markers,
        },
        scoring_files: vec![config_path.to_path_buf(), files.weights.to_path_buf()],
        settings,
    })
}

/// Which head a BERT-family model has, before it is built for a backend.
pub(crate) enum HeadPlan {
    /// Optional pooler (dense + tanh, a weight prefix), then a linear (a weight prefix).
    Classifier {
        pooler: Option<&'static str>,
        classifier: &'static str,
        label: usize,
    },
    SpecialTokens(SpecialTokenHead),
}

impl HeadPlan {
    fn host(self, w: &Weights, h: usize, labels: usize) -> Result<Box<dyn ScoreHead>, ModelError> {
        Ok(match self {
            HeadPlan::Classifier {
                pooler,
                classifier,
                label,
            } => Box::new(ClassifierHead {
                pooler: pooler.map(|p| Dense::load(w, p, h, h)).transpose()?,
                classifier: Dense::load(w, classifier, h, labels)?,
                label,
            }),
            HeadPlan::SpecialTokens(head) => Box::new(head),
        })
    }

    fn device(
        self,
        w: &Weights,
        h: usize,
        labels: usize,
        dev: &Device,
        dt: Precision,
    ) -> Result<DeviceHead, ModelError> {
        Ok(match self {
            HeadPlan::Classifier {
                pooler,
                classifier,
                label,
            } => DeviceHead::Classifier {
                pooler: pooler
                    .map(|p| Linear::load(w, p, h, h, dev, dt))
                    .transpose()?,
                classifier: Linear::load(w, classifier, h, labels, dev, dt)?,
                label,
            },
            HeadPlan::SpecialTokens(head) => DeviceHead::SpecialTokens(head),
        })
    }
}
