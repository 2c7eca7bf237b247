//! What each network is: one file per model family, each a port of its transformers
//! module with `load` + `forward`, and the load step that hands [`super::load`] the
//! parts it assembles into a [`super::CrossEncoder`].
//!
//! - [`bert`]: BERT's CPU encoder (relex's fused kernels), beside [`bert_device`], the
//!   same network in candle tensor ops for a GPU; [`xlm_roberta`] is BERT with RoBERTa's
//!   positions, weight prefix and classification head.
//! - [`modernbert`], [`qwen3`]: the newer rerankers (CPU kernels).
//! - [`zeshel`]: the reference code's (iesl/anncur) PyTorch-Lightning checkpoints.

pub mod bert;
pub mod bert_device;
pub mod modernbert;
pub mod qwen3;
pub mod xlm_roberta;
pub mod zeshel;
