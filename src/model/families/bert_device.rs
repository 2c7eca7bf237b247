//! BERT (and XLM-RoBERTa) with every scoring head, in candle tensor ops on any candle
//! device: the GPU path. The CPU path keeps its own kernels (`bert.rs`); this one leans
//! on cuBLAS for the matmuls and on relex's fused kernels (`fused.rs`) for everything
//! between them: bias + activation, bias + residual + LayerNorm, the head split of the
//! fused Q|K|V rows, the masked softmax and the merge of heads, all computed in f32
//! whatever the storage type.
//!
//! The same modeling_bert.py modules as `bert.rs` (BertEmbeddings, BertSelfAttention,
//! BertSelfOutput, BertIntermediate, BertOutput, BertPooler) with the same load-time
//! changes: fused Q|K|V, 1/sqrt(head_dim) folded into Q, and a last layer that only
//! computes the rows the head reads. A batch is launched without waiting for it
//! ([`DeviceBert::launch`] returns logits still on the device), so the host prepares
//! the next batch while the GPU runs this one.

use candle_core::{DType, Device, IndexOp, Tensor, D};

use crate::model::config::{BertConfig, HiddenAct};
use crate::model::device::Precision;
use crate::model::families::bert::{fused_qkv, Positions};
use crate::model::heads::SpecialTokenHead;
use crate::model::kernels::cuda::{self as fused, Act};
use crate::model::weights::Weights;
use crate::model::ModelError;

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

    /// `x · Wᵀ` without the bias: `x` [N, in] → [N, out], in x's type (the matmul itself
    /// in the weight's). The bias goes in with what follows, in one fused kernel.
    fn matmul(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        x.to_dtype(self.w_t.dtype())?
            .matmul(&self.w_t)?
            .to_dtype(self.bias.dtype())
    }

    /// `act(x · Wᵀ + b)`.
    fn forward(&self, x: &Tensor, act: Act) -> candle_core::Result<Tensor> {
        fused::bias_act(&self.matmul(x)?, &self.bias, act)
    }
}

/// A dense layer followed by residual add and LayerNorm (BertSelfOutput, BertOutput):
/// `LayerNorm(x · Wᵀ + b + residual)`, the bias, residual and norm in one kernel.
struct AddNorm {
    dense: Linear,
    /// [3, out]: the dense bias, the LayerNorm weight and bias.
    params: Tensor,
    eps: f32,
}

impl AddNorm {
    #[allow(clippy::too_many_arguments)]
    fn load(
        w: &Weights,
        dense: &str,
        norm: &str,
        in_dim: usize,
        out_dim: usize,
        eps: f64,
        dev: &Device,
        p: Precision,
    ) -> Result<Self, ModelError> {
        let dense = Linear::load(w, dense, in_dim, out_dim, dev, p)?;
        let params = norm_params(w, norm, Some(&dense.bias), out_dim, dev, p)?;
        Ok(Self {
            dense,
            params,
            eps: eps as f32,
        })
    }

    fn forward(&self, x: &Tensor, residual: &Tensor) -> candle_core::Result<Tensor> {
        fused::bias_residual_layer_norm(&self.dense.matmul(x)?, residual, &self.params, self.eps)
    }
}

/// `[3, dim]`: a bias to add before the norm (zeros when `None`), then the LayerNorm's
/// weight and bias, in the activation type.
fn norm_params(
    w: &Weights,
    prefix: &str,
    bias: Option<&Tensor>,
    dim: usize,
    dev: &Device,
    p: Precision,
) -> Result<Tensor, ModelError> {
    let dt = p.act_dtype();
    let bias = match bias {
        Some(b) => b.clone(),
        None => Tensor::zeros(dim, dt, dev)?,
    };
    let get = |n: &str| -> Result<Tensor, ModelError> {
        Ok(w.get(&format!("{prefix}.{n}"), &[dim])?
            .to_dtype(dt)?
            .to_device(dev)?)
    };
    Ok(Tensor::stack(&[bias, get("weight")?, get("bias")?], 0)?)
}

struct Layer {
    qkv: Linear,
    attn_out: AddNorm,
    intermediate: Linear,
    output: AddNorm,
}

/// The encoder and its head on one candle device.
pub struct DeviceBert {
    device: Device,
    precision: Precision,
    positions: Positions,
    /// The word, position and token-type embeddings stacked: [V + P + T, H]; a token's
    /// three rows are looked up by offset ids in one kernel.
    table: Tensor,
    /// Rows of each of the three tables.
    vocab: usize,
    positions_len: usize,
    types_len: usize,
    /// [3, H]: zeros (nothing to add), the embedding LayerNorm's weight and bias.
    emb_norm: Tensor,
    eps: f32,
    layers: Vec<Layer>,
    act: Act,
    num_heads: usize,
    head_dim: usize,
    hidden: usize,
    head: DeviceHead,
    /// Page-locked buffers the batches' inputs are copied from (CUDA).
    #[cfg(feature = "cuda")]
    staging: std::sync::Mutex<pinned::Staging>,
}

/// One batch's inputs on the device.
struct DeviceInputs {
    /// U32 [3, B*L]: word ids, position ids and token type ids, offset into the
    /// stacked embedding table.
    embed_rows: Tensor,
    /// f32 [B, L]: 0 for real tokens, a large negative number for padding, added to
    /// every head's scores inside the softmax.
    mask: Tensor,
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
        let table = to(Tensor::cat(
            &[
                w.get("embeddings.word_embeddings.weight", &[cfg.vocab_size, h])?,
                w.get(
                    "embeddings.position_embeddings.weight",
                    &[cfg.max_position_embeddings, h],
                )?,
                w.get(
                    "embeddings.token_type_embeddings.weight",
                    &[cfg.type_vocab_size, h],
                )?,
            ],
            0,
        )?)?;
        let eps = cfg.layer_norm_eps;
        let emb_norm = norm_params(w, "embeddings.LayerNorm", None, h, dev, dt)?;
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
                attn_out: AddNorm::load(
                    w,
                    &format!("{p}.attention.output.dense"),
                    &format!("{p}.attention.output.LayerNorm"),
                    h,
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
                output: AddNorm::load(
                    w,
                    &format!("{p}.output.dense"),
                    &format!("{p}.output.LayerNorm"),
                    inter,
                    h,
                    eps,
                    dev,
                    dt,
                )?,
            });
        }
        Ok(Self {
            device: device.clone(),
            precision,
            positions,
            table,
            vocab: cfg.vocab_size,
            positions_len: cfg.max_position_embeddings,
            types_len: cfg.type_vocab_size,
            emb_norm,
            eps: eps as f32,
            layers,
            act: match cfg.hidden_act {
                HiddenAct::Gelu => Act::GeluErf,
                HiddenAct::GeluTanh => Act::GeluTanh,
                HiddenAct::Relu => Act::Relu,
            },
            num_heads: cfg.num_attention_heads,
            head_dim: cfg.head_dim(),
            hidden: h,
            head,
            #[cfg(feature = "cuda")]
            staging: Default::default(),
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
        // are the shapes and strides of the few non-contiguous operands left (the [CLS]
        // query rows of the last layer, dtype casts in mixed precision). Copies from
        // pageable memory make the host wait for the device, so uncached they would stall
        // the stream; cached per shape, the whole forward pass is queued without a wait.
        #[cfg(feature = "cuda")]
        let _param_cache = match &self.device {
            Device::Cuda(d) => Some(d.enable_cuda_graph_htod_cache()),
            _ => None,
        };
        let mut x = self.embed(&inputs)?;
        let first_only = matches!(self.head, DeviceHead::Classifier { .. });
        let n = self.layers.len();
        for (i, layer) in self.layers.iter().enumerate() {
            x = self.layer_forward(layer, &x, &inputs.mask, b, l, first_only && i + 1 == n)?;
        }
        self.head_forward(&x, &inputs, b)
    }

    /// Copies one batch's inputs to the device.
    fn upload(&self, batch: &HostBatch) -> Result<DeviceInputs, ModelError> {
        let (b, l) = (batch.b, batch.l);
        let n = b * l;
        let mut rows = Vec::with_capacity(3 * n);
        rows.extend_from_slice(&batch.ids);
        rows.extend(self.positions.ids(&batch.ids, l));
        rows.extend(
            batch
                .type_ids
                .iter()
                .map(|&t| if self.types_len == 1 { 0 } else { t }),
        );
        // Checked here: the GPU kernel reads whatever row it is given.
        let bounds = [self.vocab, self.positions_len, self.types_len];
        for (k, (part, what)) in rows
            .chunks(n.max(1))
            .zip(["token id", "position", "token type id"])
            .enumerate()
        {
            if let Some(&bad) = part.iter().find(|&&i| i as usize >= bounds[k]) {
                return Err(ModelError::Input {
                    message: format!(
                        "{what} {bad} is outside the model's {} embeddings",
                        bounds[k]
                    ),
                });
            }
        }
        let offsets = [
            0,
            self.vocab as u32,
            (self.vocab + self.positions_len) as u32,
        ];
        for (k, part) in rows.chunks_mut(n.max(1)).enumerate() {
            part.iter_mut().for_each(|i| *i += offsets[k]);
        }
        let embed_rows = self.to_device(&rows, &[3, n], |s| &mut s.rows)?;
        // get_extended_attention_mask: (1 - mask) * finfo.min, added to every head's
        // scores; the softmax adds it in f32, where -1e9 leaves exactly zero weight.
        let keep: Vec<f32> = batch
            .mask
            .iter()
            .map(|&m| if m != 0 { 0.0 } else { -1e9 })
            .collect();
        let mask = self.to_device(&keep, &[b, l], |s| &mut s.mask)?;
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
                Some(self.to_device(&picks, &[3 * b], |s| &mut s.picks)?)
            }
        };
        Ok(DeviceInputs {
            embed_rows,
            mask,
            picks,
        })
    }

    /// `data` as a tensor of `shape` on the device: on CUDA through a page-locked staging
    /// buffer (`buffer` picks which), elsewhere copied directly.
    #[cfg_attr(not(feature = "cuda"), allow(unused_variables))]
    fn to_device<T: pinned::Element>(
        &self,
        data: &[T],
        shape: &[usize],
        buffer: impl FnOnce(&mut pinned::Staging) -> &mut pinned::Buffer<T>,
    ) -> candle_core::Result<Tensor> {
        #[cfg(feature = "cuda")]
        if let Device::Cuda(dev) = &self.device {
            let mut staging = self
                .staging
                .lock()
                .map_err(|_| candle_core::Error::Msg("staging buffers poisoned".into()))?;
            return pinned::upload(dev, buffer(&mut staging), data, shape);
        }
        Tensor::from_slice(data, shape, &self.device)
    }

    /// modeling_bert.py BertEmbeddings.forward: word + token type + position, LayerNorm.
    /// Returns [B*L, H].
    fn embed(&self, inputs: &DeviceInputs) -> Result<Tensor, ModelError> {
        Ok(fused::embed_layer_norm(
            &inputs.embed_rows,
            &self.table,
            &self.emb_norm,
            self.eps,
        )?)
    }

    /// `x`: [B*L, H]. Returns [B*L, H], or [B, H] (the `[CLS]` rows) when `first_only`.
    fn layer_forward(
        &self,
        layer: &Layer,
        x: &Tensor,
        mask: &Tensor,
        b: usize,
        l: usize,
        first_only: bool,
    ) -> candle_core::Result<Tensor> {
        let (h, nh, hd) = (self.hidden, self.num_heads, self.head_dim);
        // BertSelfAttention: softmax(q·kᵀ/√d + mask)·v over heads.
        let qkv = fused::qkv_split(&layer.qkv.matmul(x)?, &layer.qkv.bias, b, l, nh, hd)?;
        let (mut q, k, v) = (qkv.i(0)?, qkv.i(1)?, qkv.i(2)?); // [B, nh, L, hd] each
        if first_only {
            q = q.narrow(2, 0, 1)?.contiguous()?; // only [CLS] asks
        }
        let (gemm, act) = (self.precision.gemm_dtype(), self.precision.act_dtype());
        let scores = q
            .to_dtype(gemm)?
            .matmul(&k.to_dtype(gemm)?.t()?)?
            .to_dtype(act)?;
        let probs = fused::masked_softmax(&scores, mask)?;
        let ctx = probs
            .to_dtype(gemm)?
            .matmul(&v.to_dtype(gemm)?)? // [B, nh, rows, hd]
            .to_dtype(act)?;
        let ctx = fused::merge_heads(&ctx)?; // [B*rows, H]
        let residual = if first_only {
            x.reshape((b, l, h))?.narrow(1, 0, 1)?.reshape((b, h))?
        } else {
            x.clone()
        };
        // BertSelfOutput, BertIntermediate, BertOutput.
        let attn = layer.attn_out.forward(&ctx, &residual)?;
        let inter = layer.intermediate.forward(&attn, self.act)?;
        layer.output.forward(&inter, &attn)
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
                    Some(p) => p.forward(x, Act::Tanh)?,
                    None => x.clone(),
                };
                let logits = classifier.forward(&pooled, Act::Identity)?;
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

/// Host-to-device copies through page-locked memory. A copy from ordinary (pageable)
/// memory may make the host wait until the device has finished the work queued before
/// it, which would hold the next batch's launch until the running batch ends; from
/// page-locked memory the copy is queued like a kernel, and the buffer is rewritten only
/// once its previous copy is done (cudarc records an event per copy).
mod pinned {
    #[cfg(feature = "cuda")]
    pub use cuda::{upload, Buffer, Element};

    /// Without CUDA nothing is staged.
    #[cfg(not(feature = "cuda"))]
    pub type Buffer<T> = std::marker::PhantomData<T>;
    #[cfg(not(feature = "cuda"))]
    pub trait Element: candle_core::WithDType {}
    #[cfg(not(feature = "cuda"))]
    impl<T: candle_core::WithDType> Element for T {}

    /// One buffer per input: token rows and marker rows (u32), the mask (f32).
    #[derive(Default)]
    pub struct Staging {
        pub rows: Buffer<u32>,
        pub mask: Buffer<f32>,
        pub picks: Buffer<u32>,
    }

    #[cfg(feature = "cuda")]
    mod cuda {
        use candle_core::cuda_backend::cudarc::driver::{
            DeviceRepr, PinnedHostSlice, ValidAsZeroBits,
        };
        use candle_core::cuda_backend::{CudaDType, WrapErr};
        use candle_core::{op::BackpropOp, CudaDevice, CudaStorage, Storage, Tensor};

        pub type Buffer<T> = Option<PinnedHostSlice<T>>;

        pub trait Element:
            CudaDType + DeviceRepr + ValidAsZeroBits + candle_core::WithDType
        {
        }
        impl<T: CudaDType + DeviceRepr + ValidAsZeroBits + candle_core::WithDType> Element for T {}

        /// Copies `data` into the staging buffer (grown to a power of two when too
        /// small), queues its copy to a new device buffer and returns the first
        /// `data.len()` values as a tensor of `shape`.
        pub fn upload<T: Element>(
            dev: &CudaDevice,
            buffer: &mut Buffer<T>,
            data: &[T],
            shape: &[usize],
        ) -> candle_core::Result<Tensor> {
            let n = data.len();
            let stream = dev.cuda_stream();
            let pinned = match buffer {
                Some(b) if b.len() >= n => b,
                _ => {
                    let capacity = n.next_power_of_two().max(4096);
                    // SAFETY: the buffer is written below before anything reads it.
                    buffer.insert(unsafe { stream.context().alloc_pinned::<T>(capacity) }.w()?)
                }
            };
            // Waits only for this buffer's previous copy.
            pinned.as_mut_slice().w()?[..n].copy_from_slice(data);
            let capacity = pinned.len();
            // SAFETY: the copy below writes all `capacity` values.
            let mut on_device = unsafe { stream.alloc::<T>(capacity) }.w()?;
            stream.memcpy_htod(pinned, &mut on_device).w()?;
            let storage = Storage::Cuda(CudaStorage::wrap_cuda_slice(on_device, dev.clone()));
            Tensor::from_storage(storage, capacity, BackpropOp::none(), false)
                .narrow(0, 0, n)?
                .reshape(shape)
        }
    }
}
