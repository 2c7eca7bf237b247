//! The cross-encoder: configuration, weights, the loader, the families, text-to-ids,
//! kernels, scoring heads and batched scoring. Everything the CLI, the engine and the
//! index share.
//!
//! Rooms: [`families`] (what each network is), [`input`] (text to ids), [`kernels`]
//! (how the arithmetic runs on CPU and GPU), [`load`] (the one loader: family × backend,
//! and the one [`ModelInfo`]). Beside them: [`config`], [`weights`], [`device`],
//! [`heads`], the [`encoder`] seam, batched [`scoring`] and the [`PairModel`] seam.

pub mod config;
pub mod device;
pub mod encoder;
pub mod families;
pub mod heads;
pub mod hub;
pub mod input;
pub mod kernels;
pub mod load;
pub mod pair_model;
pub mod scoring;
pub mod weights;

use std::path::{Path, PathBuf};

pub use config::{Activation, BertConfig, Family, Pooling, SUPPORTED_ARCHITECTURES};
pub use device::{DeviceSpec, Precision};
pub use families::zeshel;
pub use input::mention::{mark_mention, query_warnings};
pub use input::pair::{EncodedItem, EncodedPair, PairEncoder, Truncation};
pub use load::default_item_template;
pub use pair_model::{PairModel, PreparedItems, PreparedQuery};
pub use scoring::{BatchSink, PairScore, ScoreOptions, ScoreProgress};

use encoder::Encoder;
use families::bert_device::DeviceBert;
use heads::ScoreHead;
use input::prompt::PromptEncoder;

/// Everything that can go wrong loading or running a model, naming the file or tensor.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: {message}", path.display())]
    Config { path: PathBuf, message: String },
    #[error("{}: {message}", path.display())]
    Weights { path: PathBuf, message: String },
    #[error("{}: missing tensor `{name}`", path.display())]
    MissingTensor { path: PathBuf, name: String },
    #[error("{}: tensor `{name}` has shape {found:?}, expected {expected:?}", path.display())]
    TensorShape {
        path: PathBuf,
        name: String,
        expected: Vec<usize>,
        found: Vec<usize>,
    },
    #[error("{}: tokenizer: {message}", path.display())]
    Tokenizer { path: PathBuf, message: String },
    #[error("{message}")]
    Input { message: String },
    /// A family or file kind that only relex's CPU kernels run, asked for on a GPU.
    #[error("{what} runs on the CPU only for now; the GPU path covers BERT and XLM-RoBERTa cross-encoders")]
    CpuOnly { what: &'static str },
    /// A token a head or the input layout needs is not in the vocabulary.
    #[error("{needed_for} needs the token {token}, which the vocabulary lacks")]
    MissingToken {
        token: String,
        needed_for: &'static str,
    },
    #[error("model `{id}`: {message}")]
    Hub { id: String, message: String },
    #[error("scoring was cancelled")]
    Cancelled,
    #[error("tensor computation failed: {0}")]
    Tensor(#[from] candle_core::Error),
}

/// Where a model comes from, as a user names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelSource {
    /// A Hugging Face folder (config.json, tokenizer.json or vocab.txt, weights).
    Folder(PathBuf),
    /// A PyTorch-Lightning checkpoint of the reference code (iesl/anncur).
    Checkpoint(PathBuf),
    /// A hub id such as `cross-encoder/ms-marco-MiniLM-L-6-v2`, fetched into the hub cache.
    Hub(String),
}

impl ModelSource {
    /// A path that exists is a folder or checkpoint; `owner/name` that is not a path is a
    /// hub id; anything else is an error that says which.
    pub fn parse(spec: &str) -> Result<Self, ModelError> {
        let path = PathBuf::from(spec);
        if path.is_dir() {
            return Ok(ModelSource::Folder(path));
        }
        if path.is_file() {
            return match path.extension().and_then(|e| e.to_str()) {
                Some("ckpt") | Some("pt") | Some("bin") => Ok(ModelSource::Checkpoint(path)),
                _ => Err(ModelError::Config {
                    path,
                    message: "expected a model folder, a .ckpt checkpoint or a hub id".into(),
                }),
            };
        }
        // `owner/name`, unless `owner` is a local folder: then `owner/name` is a path
        // that does not exist (a typo in a folder name must not turn into a download).
        let parts: Vec<&str> = spec.split('/').collect();
        let looks_like_hub_id = parts.len() == 2
            && !spec.starts_with('.')
            && !spec.contains('\\')
            && parts.iter().all(|p| !p.is_empty())
            && !Path::new(parts[0]).is_dir();
        if looks_like_hub_id {
            Ok(ModelSource::Hub(spec.to_string()))
        } else {
            Err(ModelError::Io {
                path,
                source: std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "no such model folder or checkpoint (and not an owner/name hub id)",
                ),
            })
        }
    }
}

/// Options for loading; `None` means "the model's own default".
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// Maximum pair length in tokens (default: the model's limit, capped at 512).
    pub max_length: Option<usize>,
    /// For models with several labels, which output is the score (default: the last).
    pub label: Option<usize>,
    /// A tokenizer.json or vocab.txt to use instead of the model folder's (checkpoints).
    pub tokenizer: Option<PathBuf>,
    /// Overrides the pooling read from the config.
    pub pooling: Option<Pooling>,
    /// Where to run (default: the CPU's fused kernels).
    pub device: DeviceSpec,
    /// Storage and compute type on a GPU (default f16); the CPU kernels always use f32.
    pub precision: Precision,
    /// Replaces the model's item template (`{title}`, `{text}`); part of the scoring
    /// fingerprint, so indexes and caches made under another template are not reused.
    pub item_template: Option<String>,
}

/// How query and item texts become one input row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum InputMode {
    /// The tokenizer's pair encoding `[CLS] q [SEP] item [SEP]`.
    Pair,
    /// The reference code's fixed 128 + 128 packing for its zero-shot entity-linking models.
    Zeshel,
    /// An LLM reranker's chat prompt around instruction, query and item (Qwen3-Reranker).
    Prompt,
}

/// What the UI and the CLI show about a loaded model.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ModelInfo {
    pub name: String,
    /// The model family ("bert", "xlm-roberta", "modernbert", "qwen3-reranker").
    pub family: Family,
    pub source: String,
    pub pooling: Pooling,
    pub input_mode: InputMode,
    pub activation: Activation,
    pub num_labels: usize,
    pub label: usize,
    pub max_length: usize,
    pub hidden_size: usize,
    pub layers: usize,
    pub parameters: usize,
    pub fingerprint: String,
    pub item_template: String,
    /// How an item without a title is written: just its text, unless the scoring head
    /// needs a marker in every item (`[unused2] {text}` for w_embeds pooling).
    pub untitled_item_template: String,
    pub mention_markers: Option<[String; 2]>,
    pub device: String,
}

/// A loaded cross-encoder. Immutable after load; scoring takes `&self`.
pub struct CrossEncoder {
    runner: Runner,
    tokens: PairEncoder,
    input: Input,
    info: ModelInfo,
}

/// How a query and an item become one sequence: the mode ([`InputMode`]) with what it
/// needs beside the tokenizer, so an LLM reranker cannot be without its prompt.
pub(crate) enum Input {
    Pair,
    Zeshel,
    Prompt(Box<PromptEncoder>),
}

impl Input {
    pub(crate) fn mode(&self) -> InputMode {
        match self {
            Input::Pair => InputMode::Pair,
            Input::Zeshel => InputMode::Zeshel,
            Input::Prompt(_) => InputMode::Prompt,
        }
    }
}

/// What runs the forward pass: an encoder of any family with a host-side head on the
/// CPU kernels, or the whole BERT model on a candle device (GPU).
pub(crate) enum Runner {
    Host {
        encoder: Box<dyn Encoder>,
        head: Box<dyn ScoreHead>,
    },
    Device(Box<DeviceBert>),
}

/// The default item template when a model does not say: title and text joined by the
/// separator token BERT already knows from pair training.
pub const DEFAULT_ITEM_TEMPLATE: &str = crate::items::DEFAULT_TEMPLATE;

impl ModelInfo {
    /// The item texts as this model scores them: its template, and its untitled form
    /// for items without a title. Every caller that pairs items with this model uses it.
    pub fn item_texts(&self, items: &[crate::items::Item]) -> Vec<String> {
        items
            .iter()
            .map(|it| it.ce_text_or(&self.item_template, &self.untitled_item_template))
            .collect()
    }
}

impl CrossEncoder {
    /// A loaded model from its parts ([`load`] is the one caller).
    pub(crate) fn from_parts(
        runner: Runner,
        tokens: PairEncoder,
        input: Input,
        info: ModelInfo,
    ) -> Self {
        Self {
            runner,
            tokens,
            input,
            info,
        }
    }

    /// The prompt template of an LLM reranker.
    pub fn prompt(&self) -> Option<&PromptEncoder> {
        match &self.input {
            Input::Prompt(p) => Some(p),
            Input::Pair | Input::Zeshel => None,
        }
    }

    pub(crate) fn input(&self) -> &Input {
        &self.input
    }

    pub fn info(&self) -> &ModelInfo {
        &self.info
    }

    pub fn pair_encoder(&self) -> &PairEncoder {
        &self.tokens
    }

    /// Whether the model runs on a candle device (a GPU) rather than relex's CPU kernels.
    pub fn is_on_device(&self) -> bool {
        matches!(self.runner, Runner::Device(_))
    }

    /// Turns a typed query into model text: a `[mention]` in square brackets becomes the
    /// model's mention markers, when the model has them. Text without brackets (or a
    /// model without markers) passes through unchanged.
    ///
    /// Models that pool the mention markers (`w_embeds`, the [EMB] models) need a
    /// mention in every query: a query without one is marked as a whole, as in training.
    pub fn prepare_query(&self, query: &str) -> String {
        match &self.info.mention_markers {
            Some([start, end]) => {
                let marked = mark_mention(query, start, end);
                let needs_markers = self.info.pooling == Pooling::WEmbeds
                    && self.info.input_mode == InputMode::Pair;
                if needs_markers && !marked.contains(start.as_str()) {
                    format!("{start} {} {end}", query.trim())
                } else {
                    marked
                }
            }
            None => query.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hub_ids_and_missing_paths_are_told_apart() {
        assert_eq!(
            ModelSource::parse("cross-encoder/ms-marco-MiniLM-L-6-v2").unwrap(),
            ModelSource::Hub("cross-encoder/ms-marco-MiniLM-L-6-v2".into())
        );
        let err = ModelSource::parse("./nope/missing")
            .unwrap_err()
            .to_string();
        assert!(err.contains("nope/missing"), "{err}");
        // `src` is a folder here (tests run in the crate root): `src/missing` is a
        // missing path, not the hub id of an owner called "src".
        let err = ModelSource::parse("src/no-such-model")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("src/no-such-model") && err.contains("no such model folder"),
            "{err}"
        );
        assert!(ModelSource::parse("assets/models/x").is_err());
    }
}
