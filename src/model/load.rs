//! The one place a model is loaded: [`CrossEncoder::load`] tells a folder, a checkpoint
//! and a hub id apart, reads the family from `config.json`, resolves the device once,
//! hands the (family, backend) pair to that family's loader, and builds the one
//! [`ModelInfo`] from the [`Parts`] the family returns (so no family fills the info, or
//! computes the scoring fingerprint, by hand).

use std::path::{Path, PathBuf};

use super::config::{Activation, Family, Pooling};
use super::device::{self, Backend};
use super::families::{bert, modernbert, qwen3, zeshel};
use super::heads::SpecialTokenHead;
use super::input::pair::PairEncoder;
use super::{
    hub, weights, CrossEncoder, Input, LoadOptions, ModelError, ModelInfo, ModelSource, Runner,
};

/// What a family's loader hands back: the network, its input side, and the facts the
/// UI and the CLI show.
pub(crate) struct Parts {
    pub runner: Runner,
    /// How the device is named to users ("cpu", "cuda:0 (f16)").
    pub device: String,
    pub tokens: PairEncoder,
    /// How query and item become one sequence.
    pub input: Input,
    pub facts: Facts,
    /// The files whose bytes decide the scores, and the settings that do (template,
    /// pooling, label, markers, prompt): the scoring fingerprint's input.
    pub scoring_files: Vec<PathBuf>,
    pub settings: String,
}

/// The part of [`ModelInfo`] a family knows; name, source, device and fingerprint are
/// filled in by [`finish`].
pub(crate) struct Facts {
    pub family: Family,
    pub pooling: Pooling,
    pub activation: Activation,
    pub num_labels: usize,
    pub label: usize,
    pub max_length: usize,
    pub hidden_size: usize,
    pub layers: usize,
    pub parameters: usize,
    pub item_template: String,
    /// See [`ModelInfo::untitled_item_template`].
    pub untitled_item_template: String,
    pub mention_markers: Option<[String; 2]>,
}

impl CrossEncoder {
    /// Loads from a folder, a checkpoint or a hub id.
    pub fn load(spec: &str, opts: &LoadOptions) -> Result<Self, ModelError> {
        let backend = device::resolve(opts.device)?;
        let source = ModelSource::parse(spec)?;
        if let (Some(tok), ModelSource::Folder(_) | ModelSource::Hub(_)) =
            (&opts.tokenizer, &source)
        {
            // A folder's own tokenizer files decide its ids; taking another in silence
            // would score with one tokenizer and report the other.
            return Err(ModelError::Input {
                message: format!(
                    "{}: a separate tokenizer applies to checkpoints only; the model {spec} brings its own tokenizer files",
                    tok.display()
                ),
            });
        }
        match source {
            ModelSource::Folder(dir) => Self::load_folder_on(&dir, opts, backend, spec),
            ModelSource::Checkpoint(path) => {
                require_cpu(&backend, "a reference-code checkpoint")?;
                let name = path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_else(|| path.display().to_string());
                let parts = zeshel::load_checkpoint(&path, opts)?;
                finish(parts, name, path.display().to_string(), opts)
            }
            ModelSource::Hub(id) => {
                let dir = hub::fetch(&id)?;
                Self::load_folder_on(&dir, opts, backend, &id)
            }
        }
    }

    /// Loads a Hugging Face folder of any supported family (see [`Family`]).
    pub fn load_folder(dir: &Path, opts: &LoadOptions, name: &str) -> Result<Self, ModelError> {
        Self::load_folder_on(dir, opts, device::resolve(opts.device)?, name)
    }

    fn load_folder_on(
        dir: &Path,
        opts: &LoadOptions,
        backend: Backend,
        name: &str,
    ) -> Result<Self, ModelError> {
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
        let parts = match family {
            Family::Bert | Family::XlmRoberta => bert::load(&files, opts, family, backend)?,
            Family::ModernBert => {
                require_cpu(&backend, "ModernBERT")?;
                modernbert::load(&files, opts)?
            }
            Family::Qwen3Reranker => {
                require_cpu(&backend, "Qwen3-Reranker")?;
                qwen3::load(&files, opts)?
            }
        };
        finish(parts, display_name(name), dir.display().to_string(), opts)
    }
}

/// The loaded model with its one [`ModelInfo`].
fn finish(
    parts: Parts,
    name: String,
    source: String,
    opts: &LoadOptions,
) -> Result<CrossEncoder, ModelError> {
    let Parts {
        runner,
        device,
        tokens,
        input,
        facts: f,
        scoring_files,
        mut settings,
    } = parts;
    let mut f = f;
    if let Some(template) = &opts.item_template {
        settings.push_str(&format!("|item-template-override={template}"));
        f.item_template = template.clone();
    }
    let files: Vec<&Path> = scoring_files.iter().map(PathBuf::as_path).collect();
    let info = ModelInfo {
        name,
        family: f.family,
        source,
        pooling: f.pooling,
        input_mode: input.mode(),
        activation: f.activation,
        num_labels: f.num_labels,
        label: f.label,
        max_length: f.max_length,
        hidden_size: f.hidden_size,
        layers: f.layers,
        parameters: f.parameters,
        fingerprint: weights::scoring_fingerprint(&files, &tokens.fingerprint(), &settings)?,
        item_template: f.item_template,
        untitled_item_template: f.untitled_item_template,
        mention_markers: f.mention_markers,
        device,
    };
    Ok(CrossEncoder::from_parts(runner, tokens, input, info))
}

/// How a candle device is named to users.
pub(crate) fn device_label(dev: &candle_core::Device) -> String {
    match dev.location() {
        candle_core::DeviceLocation::Cpu => "cpu-candle".into(),
        candle_core::DeviceLocation::Cuda { gpu_id } => format!("cuda:{gpu_id}"),
        candle_core::DeviceLocation::Metal { gpu_id } => format!("metal:{gpu_id}"),
    }
}

/// Families and formats that only the CPU kernels run: a GPU request is an error (and
/// `auto` has already fallen back to the CPU).
fn require_cpu(backend: &Backend, what: &'static str) -> Result<(), ModelError> {
    match backend {
        Backend::FusedCpu => Ok(()),
        Backend::Candle(_) => Err(ModelError::CpuOnly { what }),
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

    /// The files whose bytes decide the scores.
    pub fn scoring_files(&self) -> Vec<PathBuf> {
        vec![self.config.to_path_buf(), self.weights.to_path_buf()]
    }
}

/// The item template of a family when the model does not give one: BERT-style
/// vocabularies know `[SEP]`; the others get a plain line break.
pub fn default_item_template(family: Family) -> &'static str {
    match family {
        Family::Bert | Family::ModernBert => super::DEFAULT_ITEM_TEMPLATE,
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

/// The head of `w_embeds` pooling: the embeddings of the mention markers and the item
/// marker, by id.
pub(crate) fn special_token_head(
    tokens: &PairEncoder,
    start: &str,
    end: &str,
    item: &str,
) -> Result<SpecialTokenHead, ModelError> {
    let id = |t: &str| {
        tokens
            .token_to_id(t)
            .ok_or_else(|| ModelError::MissingToken {
                token: t.to_string(),
                needed_for: "w_embeds pooling",
            })
    };
    Ok(SpecialTokenHead {
        mention_start: id(start)?,
        mention_end: id(end)?,
        item_marker: id(item)?,
    })
}

/// `owner/name` or `path/to/folder/` → its last part.
pub(crate) fn display_name(spec: &str) -> String {
    let trimmed = spec.trim_end_matches('/');
    trimmed
        .rsplit('/')
        .next()
        .filter(|s| !s.is_empty())
        .unwrap_or(trimmed)
        .to_string()
}
