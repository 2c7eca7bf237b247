//! BERT (and XLM-RoBERTa) with every scoring head, in candle tensor ops on any candle
//! device: the GPU path. The CPU path keeps its fused kernels (`bert.rs`); this one leans
//! on cuBLAS for the matmuls and candle's kernels for softmax, LayerNorm and GELU, which
//! accumulate in f32 whatever the storage type.
//!
//! The same modeling_bert.py modules as `bert.rs` (BertEmbeddings, BertSelfAttention,
//! BertSelfOutput, BertIntermediate, BertOutput, BertPooler) with the same load-time
//! changes: fused Q|K|V, 1/sqrt(head_dim) folded into Q, and a last layer that only
//! computes the rows the head reads. A batch is launched without waiting for it
//! ([`DeviceBert::launch`] returns logits still on the device), so the host prepares
//! the next batch while the GPU runs this one.

use candle_core::{DType, Device, IndexOp, Tensor, D};

use super::bert::{fused_qkv, Positions};
use super::config::{BertConfig, HiddenAct};
use super::device::Precision;
use super::heads::SpecialTokenHead;
use super::weights::Weights;
use super::ModelError;

/// The head, on the device. Logits come out as [B] f32.
pub enum DeviceHead {
    /// `[CLS]` → optional pooler (dense + tanh) → linear → output `label`.
    Classifier {
        pooler: Option<Linear>,
        classifier: Linear,
        label: usize,
    },
    /// "w_embeds": mean of the two mention-marker rows · the item-marker row.
    SpecialTokens(SpecialTokenHead),
}

/// `x · Wᵀ + b` with W stored transposed ([in, out]) so the matmul reads it directly.
pub struct Linear {
    w_t: Tensor,
    bias: Tensor,
}

impl Linear {
    /// From transformers' layout (weight [out, in], bias [out]), cast and moved: the
    /// weight to the matmul type, the bias to the activation type.
    fn from_parts(w: &Tensor, b: &Tensor, dev: &Device, p: Precision) -> candle_core::Result<Self> {
        Ok(Self {
            w_t: w
                .t()?
                .contiguous()?
                .to_dtype(p.gemm_dtype())?
                .to_device(dev)?,
            bias: b.to_dtype(p.act_dtype())?.to_device(dev)?,
        })
    }

    pub fn load(
        w: &Weights,
        prefix: &str,
        in_dim: usize,
        out_dim: usize,
        dev: &Device,
        p: Precision,
    ) -> Result<Self, ModelError> {
        let weight = w.get(&format!("{prefix}.weight"), &[out_dim, in_dim])?;
        let bias = w.get(&format!("{prefix}.bias"), &[out_dim])?;
        Ok(Self::from_parts(&weight, &bias, dev, p)?)
    }

    /// `x`: [N, in] → [N, out], in x's type (the matmul itself in the weight's).
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let y = x
            .to_dtype(self.w_t.dtype())?
            .matmul(&self.w_t)?
            .to_dtype(self.bias.dtype())?;
        // candle's broadcast add runs a strided kernel at a fraction of the memory
        // bandwidth (on an H200 2.5× slower than its contiguous add); a [N, 1] · [1, out]
        // product writes the bias rows contiguously, at full bandwidth, for a contiguous add.
        let ones = Tensor::ones((y.dim(0)?, 1), self.bias.dtype(), y.device())?;
        y + ones.matmul(&self.bias.unsqueeze(0)?)?
    }
}

struct LayerNorm {
    weight: Tensor,
    bias: Tensor,
    eps: f32,
}

impl LayerNorm {
    fn load(
        w: &Weights,
        prefix: &str,
        dim: usize,
        eps: f64,
        dev: &Device,
        p: Precision,
    ) -> Result<Self, ModelError> {
        let dt = p.act_dtype();
        let get = |n: &str| -> Result<Tensor, ModelError> {
            Ok(w.get(&format!("{prefix}.{n}"), &[dim])?
                .to_dtype(dt)?
                .to_device(dev)?)
        };
        Ok(Self {
            weight: get("weight")?,
            bias: get("bias")?,
            eps: eps as f32,
        })
    }

    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        candle_nn::ops::layer_norm(x, &self.weight, &self.bias, self.eps)
    }
}

struct Layer {
    qkv: Linear,
    attn_out: Linear,
    attn_ln: LayerNorm,
    intermediate: Linear,
    output: Linear,
    out_ln: LayerNorm,
}

/// The encoder and its head on one candle device.
pub struct DeviceBert {
    device: Device,
    precision: Precision,
    positions: Positions,
    word: Tensor,
    position: Tensor,
    token_type: Tensor,
    emb_ln: LayerNorm,
    layers: Vec<Layer>,
    act: HiddenAct,
    num_heads: usize,
    head_dim: usize,
    hidden: usize,
    head: DeviceHead,
}

/// One batch's inputs on the device.
struct DeviceInputs {
    ids: Tensor,
    type_ids: Option<Tensor>,
    pos_ids: Tensor,
    /// [B, 1, 1, L]: 0 for real tokens, a large negative number for padding; `None`
    /// when the batch has no padding.
    mask_bias: Option<Tensor>,
    /// `[B*3]` row numbers of the marker tokens (special-token heads).
    picks: Option<Tensor>,
}

/// The host side of one padded batch: row-major [B, L] ids, type ids and 0/1 mask.
pub struct HostBatch {
    pub ids: Vec<u32>,
    pub type_ids: Vec<u32>,
    pub mask: Vec<u8>,
    pub b: usize,
    pub l: usize,
}

impl DeviceBert {
    /// `w` must already be prefixed so that `embeddings.word_embeddings.weight` resolves;
    /// `head` is built by the caller (it reads unprefixed names).
    pub fn load(
        w: &Weights,
        cfg: &BertConfig,
        positions: Positions,
        head: DeviceHead,
        device: &Device,
        precision: Precision,
    ) -> Result<Self, ModelError> {
        let (dev, dt) = (device, precision);
        let h = cfg.hidden_size;
        let act = precision.act_dtype();
        let to = |t: Tensor| -> Result<Tensor, ModelError> { Ok(t.to_dtype(act)?.to_device(dev)?) };
        let word = to(w.get("embeddings.word_embeddings.weight", &[cfg.vocab_size, h])?)?;
        let position = to(w.get(
            "embeddings.position_embeddings.weight",
            &[cfg.max_position_embeddings, h],
        )?)?;
        let token_type = to(w.get(
            "embeddings.token_type_embeddings.weight",
            &[cfg.type_vocab_size, h],
        )?)?;
        let eps = cfg.layer_norm_eps;
        let emb_ln = LayerNorm::load(w, "embeddings.LayerNorm", h, eps, dev, dt)?;
        // Folded in f32, before the cast, so Q is rounded once.
        let scale = 1.0 / (cfg.head_dim() as f64).sqrt();
        let mut layers = Vec::with_capacity(cfg.num_hidden_layers);
        for i in 0..cfg.num_hidden_layers {
            let p = format!("encoder.layer.{i}");
            let (qkv_w, qkv_b) = fused_qkv(w, &p, h, scale)?;
            let qkv = Linear::from_parts(&qkv_w, &qkv_b, dev, dt)?;
            let inter = cfg.intermediate_size;
            layers.push(Layer {
                qkv,
                attn_out: Linear::load(w, &format!("{p}.attention.output.dense"), h, h, dev, dt)?,
                attn_ln: LayerNorm::load(
                    w,
                    &format!("{p}.attention.output.LayerNorm"),
                    h,
                    eps,
                    dev,
                    dt,
                )?,
                intermediate: Linear::load(
                    w,
                    &format!("{p}.intermediate.dense"),
                    h,
                    inter,
                    dev,
                    dt,
                )?,
                output: Linear::load(w, &format!("{p}.output.dense"), inter, h, dev, dt)?,
                out_ln: LayerNorm::load(w, &format!("{p}.output.LayerNorm"), h, eps, dev, dt)?,
            });
        }
        Ok(Self {
            device: device.clone(),
            precision,
            positions,
            word,
            position,
            token_type,
            emb_ln,
            layers,
            act: cfg.hidden_act,
            num_heads: cfg.num_attention_heads,
            head_dim: cfg.head_dim(),
            hidden: h,
            head,
        })
    }

    pub fn device(&self) -> &Device {
        &self.device
    }

    pub fn precision(&self) -> Precision {
        self.precision
    }

    /// Uploads one batch and queues its whole forward pass and head; returns the [B] f32
    /// logits on the device without waiting for them (read them with `to_vec1`).
    pub fn launch(&self, batch: &HostBatch) -> Result<Tensor, ModelError> {
        let (b, l) = (batch.b, batch.l);
        let inputs = self.upload(batch)?;
        // Every upload is done: from here on, the only host-to-device copies candle makes
        // are the shapes and strides of non-contiguous operands (broadcast biases and
        // masks, transposed heads). Copies from pageable memory make the host wait for
        // the device, so uncached they would stall the stream dozens of times per batch;
        // cached per shape, the whole forward pass is queued without a wait.
        #[cfg(feature = "cuda")]
        let _param_cache = match &self.device {
            Device::Cuda(d) => Some(d.enable_cuda_graph_htod_cache()),
            _ => None,
        };
        let mut x = self.embed(&inputs, b, l)?;
        let first_only = matches!(self.head, DeviceHead::Classifier { .. });
        let n = self.layers.len();
        for (i, layer) in self.layers.iter().enumerate() {
            x = self.layer_forward(
                layer,
                &x,
                inputs.mask_bias.as_ref(),
                b,
                l,
                first_only && i + 1 == n,
            )?;
        }
        self.head_forward(&x, &inputs, b)
    }

    /// Copies one batch's inputs to the device.
    fn upload(&self, batch: &HostBatch) -> Result<DeviceInputs, ModelError> {
        let (b, l) = (batch.b, batch.l);
        let dev = &self.device;
        let ids = Tensor::from_slice(&batch.ids, b * l, dev)?;
        let type_ids = if self.token_type.dims()[0] == 1 {
            None
        } else {
            Some(Tensor::from_slice(&batch.type_ids, b * l, dev)?)
        };
        let pos_ids = Tensor::from_vec(self.positions.ids(&batch.ids, l), b * l, dev)?;
        // get_extended_attention_mask: (1 - mask) * finfo.min, added to every head's
        // scores. -30000 is far below any real score yet safe in f16.
        // A batch of pairs of one length (length-sorted batches often are) has no
        // padding, and then no mask to add.
        let mask_bias = if batch.mask.iter().all(|&m| m != 0) {
            None
        } else {
            let keep: Vec<f32> = batch
                .mask
                .iter()
                .map(|&m| if m != 0 { 0.0 } else { -30000.0 })
                .collect();
            Some(Tensor::from_vec(keep, (b, 1, 1, l), dev)?.to_dtype(self.precision.act_dtype())?)
        };
        let picks = match &self.head {
            DeviceHead::Classifier { .. } => None,
            DeviceHead::SpecialTokens(head) => {
                // The rows of the three markers of every pair, in [B*L] numbering.
                let mut picks = Vec::with_capacity(3 * b);
                for (row, seq) in batch.ids.chunks(l.max(1)).enumerate() {
                    for p in head.marker_positions(row, seq)? {
                        picks.push((row * l + p) as u32);
                    }
                }
                Some(Tensor::from_vec(picks, 3 * b, dev)?)
            }
        };
        Ok(DeviceInputs {
            ids,
            type_ids,
            pos_ids,
            mask_bias,
            picks,
        })
    }

    /// modeling_bert.py BertEmbeddings.forward: word + token type + position, LayerNorm.
    /// Returns [B*L, H].
    fn embed(&self, inputs: &DeviceInputs, b: usize, l: usize) -> Result<Tensor, ModelError> {
        let h = self.hidden;
        let words = self.word.index_select(&inputs.ids, 0)?;
        let types = match &inputs.type_ids {
            None => self.token_type.broadcast_as((b * l, h))?,
            Some(t) => self.token_type.index_select(t, 0)?,
        };
        let pos = self.position.index_select(&inputs.pos_ids, 0)?;
        Ok(self.emb_ln.forward(&((words + types)? + pos)?)?)
    }

    /// `x`: [B*L, H]. Returns [B*L, H], or [B, H] (the `[CLS]` rows) when `first_only`.
    fn layer_forward(
        &self,
        layer: &Layer,
        x: &Tensor,
        mask_bias: Option<&Tensor>,
        b: usize,
        l: usize,
        first_only: bool,
    ) -> candle_core::Result<Tensor> {
        let (h, nh, hd) = (self.hidden, self.num_heads, self.head_dim);
        // BertSelfAttention: softmax(q·kᵀ/√d + mask)·v over heads.
        let qkv = layer.qkv.forward(x)?.reshape((b, l, 3, nh, hd))?;
        let split = |k: usize| -> candle_core::Result<Tensor> {
            qkv.i((.., .., k))?.transpose(1, 2)?.contiguous() // [B, nh, L, hd]
        };
        let (mut q, k, v) = (split(0)?, split(1)?, split(2)?);
        if first_only {
            q = q.narrow(2, 0, 1)?.contiguous()?; // only [CLS] asks
        }
        let (gemm, act) = (self.precision.gemm_dtype(), self.precision.act_dtype());
        let mut scores = q
            .to_dtype(gemm)?
            .matmul(&k.to_dtype(gemm)?.t()?)?
            .to_dtype(act)?;
        if let Some(mask_bias) = mask_bias {
            scores = scores.broadcast_add(mask_bias)?;
        }
        let probs = candle_nn::ops::softmax_last_dim(&scores)?;
        let rows = if first_only { 1 } else { l };
        let ctx = probs
            .to_dtype(gemm)?
            .matmul(&v.to_dtype(gemm)?)? // [B, nh, rows, hd]
            .to_dtype(act)?
            .transpose(1, 2)?
            .reshape((b * rows, h))?;
        let residual = if first_only {
            x.reshape((b, l, h))?.narrow(1, 0, 1)?.reshape((b, h))?
        } else {
            x.clone()
        };
        // BertSelfOutput, BertIntermediate, BertOutput.
        let attn = layer
            .attn_ln
            .forward(&(layer.attn_out.forward(&ctx)? + residual)?)?;
        let inter = layer.intermediate.forward(&attn)?;
        let inter = match self.act {
            HiddenAct::Gelu => inter.gelu_erf()?,
            HiddenAct::GeluTanh => inter.gelu()?,
            HiddenAct::Relu => inter.relu()?,
        };
        layer
            .out_ln
            .forward(&(layer.output.forward(&inter)? + attn)?)
    }

    /// [B] f32 logits from the last layer's rows ([B, H] for classifier heads, [B*L, H]
    /// otherwise).
    fn head_forward(
        &self,
        x: &Tensor,
        inputs: &DeviceInputs,
        b: usize,
    ) -> Result<Tensor, ModelError> {
        match &self.head {
            DeviceHead::Classifier {
                pooler,
                classifier,
                label,
            } => {
                // modeling_bert.py BertPooler: dense(hidden[:, 0]).tanh()
                let pooled = match pooler {
                    Some(p) => p.forward(x)?.tanh()?,
                    None => x.clone(),
                };
                let logits = classifier.forward(&pooled)?;
                Ok(logits.i((.., *label))?.to_dtype(DType::F32)?)
            }
            DeviceHead::SpecialTokens(_) => {
                // The three marker rows of every pair, gathered on the device, then
                // 0.5·(start + end) · item per pair, in f32.
                let picks = inputs.picks.as_ref().ok_or_else(|| ModelError::Input {
                    message: "internal: marker positions were not uploaded".into(),
                })?;
                let rows =
                    x.index_select(picks, 0)?
                        .to_dtype(DType::F32)?
                        .reshape((b, 3, self.hidden))?;
                let query = ((rows.i((.., 0))? + rows.i((.., 1))?)? * 0.5)?;
                let item = rows.i((.., 2))?;
                Ok((query * item)?.sum(D::Minus1)?)
            }
        }
    }
}
