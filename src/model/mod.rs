//! The cross-encoder: configuration, weights, pair tokenization, BERT encoder, scoring
//! heads and batched scoring. Everything the CLI, the engine and the index share.

pub mod bert;
pub mod config;
pub mod device;
pub mod device_bert;
pub mod encoder;
pub mod fused;
pub mod heads;
pub mod hub;
pub(crate) mod kernels;
pub mod layers;
pub mod modernbert;
pub mod pair_model;
pub mod prompt;
pub mod qwen3;
pub mod scoring;
pub mod tokenize;
pub mod weights;
pub mod wordpiece;
pub mod zeshel;

use std::path::{Path, PathBuf};

pub use config::{Activation, BertConfig, Family, Pooling, SUPPORTED_ARCHITECTURES};
pub use device::{DeviceSpec, Precision};
pub use pair_model::{PairModel, PreparedItems, PreparedQuery};
pub use scoring::{BatchSink, PairScore, ScoreOptions, ScoreProgress};
pub use tokenize::{EncodedItem, EncodedPair, PairEncoder, Truncation};

use bert::{BertEncoder, Dense, Positions};
use device::Backend;
use device_bert::{DeviceBert, DeviceHead};
use encoder::Encoder;
use heads::{ClassifierHead, ScoreHead, SpecialTokenHead};
use prompt::PromptEncoder;
use weights::Weights;

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
    pub mention_markers: Option<[String; 2]>,
    pub device: String,
}

/// A loaded cross-encoder. Immutable after load; scoring takes `&self`.
pub struct CrossEncoder {
    runner: Runner,
    tokens: PairEncoder,
    /// The prompt template of LLM rerankers (`InputMode::Prompt`).
    prompt: Option<PromptEncoder>,
    info: ModelInfo,
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

/// Which head a BERT-family model has, before it is built for a backend.
enum HeadPlan {
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
        dev: &candle_core::Device,
        dt: Precision,
    ) -> Result<DeviceHead, ModelError> {
        use device_bert::Linear;
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

/// The default item template when a model does not say: title and text joined by the
/// separator token BERT already knows from pair training.
pub const DEFAULT_ITEM_TEMPLATE: &str = crate::items::DEFAULT_TEMPLATE;

impl CrossEncoder {
    /// Loads from a folder, a checkpoint or a hub id.
    pub fn load(spec: &str, opts: &LoadOptions) -> Result<Self, ModelError> {
        match ModelSource::parse(spec)? {
            ModelSource::Folder(dir) => Self::load_folder(&dir, opts, spec),
            ModelSource::Checkpoint(path) => {
                require_cpu(opts, "a reference-code checkpoint")?;
                zeshel::load_checkpoint(&path, opts)
            }
            ModelSource::Hub(id) => {
                let dir = hub::fetch(&id)?;
                Self::load_folder(&dir, opts, &id)
            }
        }
    }

    /// Loads a Hugging Face folder of any supported family (see [`Family`]).
    pub fn load_folder(dir: &Path, opts: &LoadOptions, name: &str) -> Result<Self, ModelError> {
        let config_path = dir.join("config.json");
        let (family, raw) = Family::from_file(&config_path)?;
        let weights_path = ["model.safetensors", "pytorch_model.bin"]
            .iter()
            .map(|f| dir.join(f))
            .find(|p| p.exists())
            .ok_or_else(|| ModelError::Weights {
                path: dir.to_path_buf(),
                message: "no model.safetensors or pytorch_model.bin in this folder".into(),
            })?;
        let files = FolderFiles {
            dir,
            config: &config_path,
            weights: &weights_path,
            raw: &raw,
        };
        match family {
            Family::Bert | Family::XlmRoberta => Self::load_bert(&files, opts, name, family),
            Family::ModernBert => {
                require_cpu(opts, "ModernBERT")?;
                modernbert::load(&files, opts, name)
            }
            Family::Qwen3Reranker => {
                require_cpu(opts, "Qwen3-Reranker")?;
                qwen3::load(&files, opts, name)
            }
        }
    }

    /// BERT and XLM-RoBERTa: the same post-norm encoder, told apart by their position ids,
    /// weight prefix and classification head.
    fn load_bert(
        files: &FolderFiles<'_>,
        opts: &LoadOptions,
        name: &str,
        family: Family,
    ) -> Result<Self, ModelError> {
        let (dir, config_path, weights_path) =
            (files.dir, files.config.to_path_buf(), files.weights);
        let cfg = BertConfig::from_json(&files.raw.to_string(), &config_path)?;
        let weights = Weights::load(weights_path, None, "")?;
        // BertForSequenceClassification saves the encoder under "bert."; a bare BertModel
        // (sentence-transformers) saves it at the top level; XLMRoberta… under "roberta.".
        let mut weights = weights;
        for prefix in ["bert.", "roberta."] {
            if weights.has_any_with_prefix(prefix) {
                weights.set_prefix(prefix);
            }
        }
        weights.check_layer_count("encoder.layer.", cfg.num_hidden_layers, &config_path)?;
        let positions = match family {
            Family::XlmRoberta => Positions::Roberta {
                padding_idx: cfg.pad_token_id,
            },
            _ => Positions::Absolute,
        };
        let backend = device::resolve(opts.device)?;
        // The CPU encoder is built only for the CPU: a GPU run never holds an f32 copy.
        let host_encoder = match backend {
            Backend::FusedCpu => Some(BertEncoder::load(&weights, &cfg)?.with_positions(positions)),
            Backend::Candle(_) => None,
        };
        let encoder_positions = positions.max_positions(cfg.max_position_embeddings);
        let encoder_weights_prefix = weights.prefix().to_string();
        let num_labels = cfg.num_labels();
        let label = opts.label.unwrap_or(num_labels.saturating_sub(1));
        if label >= num_labels {
            return Err(ModelError::Config {
                path: config_path,
                message: format!("label {label} requested, but the model has {num_labels} labels"),
            });
        }
        let h = cfg.hidden_size;
        weights.set_prefix("");
        let has_pooler =
            weights.contains("bert.pooler.dense.weight") || weights.contains("pooler.dense.weight");
        let roberta_head = weights.contains("classifier.out_proj.weight");
        let pooling = opts
            .pooling
            .or(cfg.relex_pooling)
            .unwrap_or(if has_pooler || roberta_head {
                Pooling::ClsPooler
            } else {
                Pooling::Cls
            });
        let pooler_prefix = if weights.contains("bert.pooler.dense.weight") {
            "bert.pooler.dense"
        } else {
            "pooler.dense"
        };
        let max_length = opts
            .max_length
            .or(cfg.relex_max_length)
            .unwrap_or(cfg.max_position_embeddings.min(512))
            .min(encoder_positions);
        let mut tokens = PairEncoder::from_folder(dir, max_length, true)?;
        if family == Family::XlmRoberta {
            tokens.set_pad_id(cfg.pad_token_id);
        }
        let markers = cfg.relex_mention_markers.clone();
        if let Some([a, b]) = &markers {
            tokens.register_special_tokens(&[a, b, "[unused2]"])?;
        }
        let plan = match pooling {
            // modeling_roberta.py RobertaClassificationHead: out_proj(tanh(dense(<s>)))
            Pooling::ClsPooler if roberta_head => HeadPlan::Classifier {
                pooler: Some("classifier.dense"),
                classifier: "classifier.out_proj",
                label,
            },
            Pooling::ClsPooler | Pooling::Cls | Pooling::ClsWLin => HeadPlan::Classifier {
                pooler: (pooling != Pooling::Cls).then_some(pooler_prefix),
                classifier: "classifier",
                label,
            },
            Pooling::WEmbeds => {
                let [a, b] = markers
                    .clone()
                    .unwrap_or(["[unused0]".into(), "[unused1]".into()]);
                HeadPlan::SpecialTokens(special_token_head(&tokens, &a, &b, "[unused2]")?)
            }
            Pooling::Mean | Pooling::LastToken => {
                return Err(ModelError::Config {
                    path: config_path,
                    message: format!("{pooling} pooling is not available for {family} models"),
                })
            }
        };
        let (runner, device_name) = match (backend, host_encoder) {
            (Backend::Candle(dev), _) => {
                let dt = opts.precision;
                let head = plan.device(&weights, h, num_labels, &dev, dt)?;
                weights.set_prefix(&encoder_weights_prefix);
                let model = DeviceBert::load(&weights, &cfg, positions, head, &dev, dt)?;
                weights.set_prefix("");
                let name = format!("{} ({})", device_label(&dev), opts.precision);
                (Runner::Device(Box::new(model)), name)
            }
            (Backend::FusedCpu, Some(encoder)) => {
                let head = plan.host(&weights, h, num_labels)?;
                (
                    Runner::Host {
                        encoder: Box::new(encoder),
                        head,
                    },
                    "cpu".to_string(),
                )
            }
            (Backend::FusedCpu, None) => unreachable!("the CPU encoder is built for the CPU"),
        };
        let files: Vec<&Path> = vec![&config_path, weights_path];
        let item_template = cfg
            .relex_item_template
            .clone()
            .unwrap_or_else(|| default_item_template(family).to_string());
        let settings = format!(
            "{family}|template={item_template}|pooling={pooling}|label={label}|markers={markers:?}"
        );
        let info = ModelInfo {
            name: display_name(name),
            family,
            source: dir.display().to_string(),
            pooling,
            input_mode: InputMode::Pair,
            activation: cfg.activation(),
            num_labels,
            label,
            max_length,
            hidden_size: h,
            layers: cfg.num_hidden_layers,
            parameters: weights.parameter_count(),
            fingerprint: weights::scoring_fingerprint(&files, &tokens.fingerprint(), &settings)?,
            item_template,
            mention_markers: markers,
            device: device_name,
        };
        Ok(Self {
            runner,
            tokens,
            prompt: None,
            info,
        })
    }

    pub(crate) fn from_parts(
        encoder: impl Encoder + 'static,
        head: Box<dyn ScoreHead>,
        tokens: PairEncoder,
        info: ModelInfo,
    ) -> Self {
        Self {
            runner: Runner::Host {
                encoder: Box::new(encoder),
                head,
            },
            tokens,
            prompt: None,
            info,
        }
    }

    /// An LLM reranker: its inputs are built by `prompt`, not by pair encoding.
    pub(crate) fn with_prompt(mut self, prompt: PromptEncoder) -> Self {
        self.prompt = Some(prompt);
        self
    }

    /// The prompt template of an LLM reranker.
    pub fn prompt(&self) -> Option<&PromptEncoder> {
        self.prompt.as_ref()
    }

    pub fn info(&self) -> &ModelInfo {
        &self.info
    }

    pub fn pair_encoder(&self) -> &PairEncoder {
        &self.tokens
    }

    /// Turns a typed query into model text: a `[mention]` in square brackets becomes the
    /// model's mention markers, when the model has them. Text without brackets (or a
    /// model without markers) passes through unchanged.
    ///
    /// Models that pool the mention markers (`w_embeds`, the [EMB] models) need a
    /// mention in every query: a query without one is marked as a whole, as in training.
    /// Whether the model runs on a candle device (a GPU) rather than relex's CPU kernels.
    pub fn is_on_device(&self) -> bool {
        matches!(self.runner, Runner::Device(_))
    }

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

/// How a candle device is named to users.
fn device_label(dev: &candle_core::Device) -> String {
    match dev.location() {
        candle_core::DeviceLocation::Cpu => "cpu-candle".into(),
        candle_core::DeviceLocation::Cuda { gpu_id } => format!("cuda:{gpu_id}"),
        candle_core::DeviceLocation::Metal { gpu_id } => format!("metal:{gpu_id}"),
    }
}

/// Families and formats that only the CPU kernels run: a GPU request is an error (and
/// `auto` falls back to the CPU).
pub(crate) fn require_cpu(opts: &LoadOptions, what: &str) -> Result<(), ModelError> {
    match device::resolve(opts.device)? {
        Backend::FusedCpu => Ok(()),
        Backend::Candle(_) => Err(ModelError::Input {
            message: format!(
                "{what} runs on the CPU only for now; the GPU path covers BERT and \
                 XLM-RoBERTa cross-encoders (use --device cpu)"
            ),
        }),
    }
}

/// The files of a model folder, with `config.json` already parsed.
pub(crate) struct FolderFiles<'a> {
    pub dir: &'a Path,
    pub config: &'a Path,
    pub weights: &'a Path,
    pub raw: &'a serde_json::Value,
}

impl FolderFiles<'_> {
    /// The config as a family's own config type, errors naming config.json.
    pub fn parse_config<T: serde::de::DeserializeOwned>(&self) -> Result<T, ModelError> {
        serde_json::from_value(self.raw.clone()).map_err(|e| ModelError::Config {
            path: self.config.to_path_buf(),
            message: e.to_string(),
        })
    }

    /// A config error naming config.json.
    pub fn config_error(&self, message: String) -> ModelError {
        ModelError::Config {
            path: self.config.to_path_buf(),
            message,
        }
    }
}

/// The item template of a family when the model does not give one: BERT-style
/// vocabularies know `[SEP]`; the others get a plain line break.
pub fn default_item_template(family: Family) -> &'static str {
    match family {
        Family::Bert | Family::ModernBert => DEFAULT_ITEM_TEMPLATE,
        Family::XlmRoberta | Family::Qwen3Reranker => "{title}\n{text}",
    }
}

/// The pair length to use: asked for, else the model's own (relex key), else its
/// position limit capped at 512; never more than the positions the encoder has.
pub(crate) fn choose_max_length(
    opts: &LoadOptions,
    relex_max_length: Option<usize>,
    config_positions: usize,
    encoder_positions: usize,
) -> usize {
    opts.max_length
        .or(relex_max_length)
        .unwrap_or(config_positions.min(512))
        .min(encoder_positions)
}

pub(crate) fn special_token_head(
    tokens: &PairEncoder,
    start: &str,
    end: &str,
    item: &str,
) -> Result<SpecialTokenHead, ModelError> {
    let id = |t: &str| {
        tokens.token_to_id(t).ok_or_else(|| ModelError::Input {
            message: format!("w_embeds pooling needs the token {t}, which the vocabulary lacks"),
        })
    };
    Ok(SpecialTokenHead {
        mention_start: id(start)?,
        mention_end: id(end)?,
        item_marker: id(item)?,
    })
}

pub(crate) fn display_name(spec: &str) -> String {
    let trimmed = spec.trim_end_matches('/');
    trimmed
        .rsplit('/')
        .next()
        .filter(|s| !s.is_empty())
        .unwrap_or(trimmed)
        .to_string()
}

/// What may be wrong with a query as typed: empty, or a `[mention` whose bracket never
/// closes (it is then scored as plain text, unmarked). Callers show these as warnings.
pub fn query_warnings(query: &str) -> Vec<String> {
    let mut out = Vec::new();
    if query.trim().is_empty() {
        out.push("the query is empty: every item is scored against nothing".to_string());
        return out;
    }
    if let Some(open) = query.rfind('[') {
        if !query[open..].contains(']') {
            out.push(format!(
                "unterminated mention \"{}\": no closing ] after it, so it is scored as plain text",
                &query[open..]
            ));
        }
    }
    out
}

/// `the [dog] barked` → `the [unused0] dog [unused1] barked`. Only the first bracketed
/// span that is not already a special token (`[SEP]`, `[unused3]`, …) is marked.
pub fn mark_mention(query: &str, start: &str, end: &str) -> String {
    if query.contains(start) {
        return query.to_string();
    }
    let mut search_from = 0;
    while let Some(open_rel) = query[search_from..].find('[') {
        let open = search_from + open_rel;
        let Some(close_rel) = query[open + 1..].find(']') else {
            break;
        };
        let close = open + 1 + close_rel;
        let inner = &query[open + 1..close];
        let is_special = inner.chars().all(|c| c.is_ascii_alphanumeric())
            && (inner.chars().all(|c| c.is_ascii_uppercase()) || inner.starts_with("unused"));
        if !is_special && !inner.trim().is_empty() {
            return format!(
                "{}{start} {} {end}{}",
                spaced_end(&query[..open]),
                inner.trim(),
                spaced_start(&query[close + 1..])
            );
        }
        search_from = close + 1;
    }
    query.to_string()
}

fn spaced_end(s: &str) -> String {
    if s.is_empty() || s.ends_with(' ') {
        s.to_string()
    } else {
        format!("{s} ")
    }
}

fn spaced_start(s: &str) -> String {
    if s.is_empty() || s.starts_with(' ') {
        s.to_string()
    } else {
        format!(" {s}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn brackets_become_markers() {
        assert_eq!(
            mark_mention("the [dog] barked", "[unused0]", "[unused1]"),
            "the [unused0] dog [unused1] barked"
        );
        assert_eq!(
            mark_mention("[bank], river", "[unused0]", "[unused1]"),
            "[unused0] bank [unused1] , river"
        );
        // special tokens and already-marked text are left alone
        assert_eq!(
            mark_mention("a [SEP] b", "[unused0]", "[unused1]"),
            "a [SEP] b"
        );
        assert_eq!(
            mark_mention("a [unused0] b [unused1]", "[unused0]", "[unused1]"),
            "a [unused0] b [unused1]"
        );
        assert_eq!(
            mark_mention("no marks", "[unused0]", "[unused1]"),
            "no marks"
        );
    }

    #[test]
    fn empty_queries_and_open_brackets_are_flagged() {
        assert!(query_warnings("the [dog] barked").is_empty());
        assert!(query_warnings("plain words").is_empty());
        assert!(query_warnings("  ")[0].contains("empty"));
        let w = query_warnings("the [dog barked");
        assert_eq!(w.len(), 1);
        assert!(w[0].contains("[dog barked"), "{w:?}");
        assert!(query_warnings("[a] and [b")[0].contains("[b"));
    }

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
