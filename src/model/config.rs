//! `config.json` of a BERT cross-encoder, plus the few keys relex reads beside the
//! transformers ones (item template, mention markers, pooling, activation).

use std::path::Path;

use serde::Deserialize;

use super::ModelError;

/// The hidden activation of the feed-forward block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HiddenAct {
    /// transformers' "gelu" is the exact erf form.
    Gelu,
    #[serde(
        alias = "gelu_new",
        alias = "gelu_pytorch_tanh",
        alias = "gelu_approximate"
    )]
    GeluTanh,
    Relu,
}

/// How the encoder's last hidden states become one score.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Pooling {
    /// `BertForSequenceClassification`: pooler (dense + tanh) on `[CLS]`, then the classifier.
    ClsPooler,
    /// `[CLS]` hidden state straight into the classifier (models saved without a pooler).
    Cls,
    /// The reference code's "cls_w_lin": BERT pooler, then `additional_linear`.
    ClsWLin,
    /// The reference code's "w_embeds": dot product of the mean of the `[unused0]`/`[unused1]`
    /// embeddings with the `[unused2]` embedding.
    WEmbeds,
    /// Mean of the final hidden states over the attended tokens (ModernBERT "mean").
    Mean,
    /// The last attended token (decoder rerankers).
    LastToken,
}

impl std::fmt::Display for Pooling {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Pooling::ClsPooler => "cls+pooler",
            Pooling::Cls => "cls",
            Pooling::ClsWLin => "cls_w_lin",
            Pooling::WEmbeds => "w_embeds",
            Pooling::Mean => "mean",
            Pooling::LastToken => "last token",
        })
    }
}

/// The model's output activation, reported beside the raw logit (never used to rank).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Activation {
    Sigmoid,
    Identity,
    Tanh,
}

impl Activation {
    /// Computed in f64 so that a sigmoid of a large logit does not saturate to exactly 1.0
    /// earlier than it has to.
    pub fn apply(self, logit: f32) -> f64 {
        let x = logit as f64;
        match self {
            Activation::Sigmoid => 1.0 / (1.0 + (-x).exp()),
            Activation::Identity => x,
            Activation::Tanh => x.tanh(),
        }
    }

    /// sentence-transformers stores the class path of its activation in config.json.
    fn from_class_path(path: &str) -> Option<Self> {
        let last = path.rsplit('.').next()?;
        match last {
            "Sigmoid" => Some(Activation::Sigmoid),
            "Identity" => Some(Activation::Identity),
            "Tanh" => Some(Activation::Tanh),
            _ => None,
        }
    }
}

impl std::fmt::Display for Activation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Activation::Sigmoid => "sigmoid",
            Activation::Identity => "identity",
            Activation::Tanh => "tanh",
        })
    }
}

/// The model families relex runs, chosen from `config.json`'s `architectures` (or, when
/// that is absent, its `model_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub enum Family {
    /// `BertForSequenceClassification` (and bare `BertModel` folders).
    #[serde(rename = "bert")]
    Bert,
    /// `XLMRobertaForSequenceClassification` / `RobertaForSequenceClassification`.
    #[serde(rename = "xlm-roberta")]
    XlmRoberta,
    /// `ModernBertForSequenceClassification`.
    #[serde(rename = "modernbert")]
    ModernBert,
    /// A Qwen3 decoder scored by its last-token "yes"/"no" logits (Qwen3-Reranker).
    #[serde(rename = "qwen3-reranker")]
    Qwen3Reranker,
}

/// `architectures` entries relex loads, with the family each one runs as.
pub const SUPPORTED_ARCHITECTURES: &[(&str, Family)] = &[
    ("BertForSequenceClassification", Family::Bert),
    ("BertModel", Family::Bert),
    ("XLMRobertaForSequenceClassification", Family::XlmRoberta),
    ("RobertaForSequenceClassification", Family::XlmRoberta),
    ("ModernBertForSequenceClassification", Family::ModernBert),
    ("Qwen3ForCausalLM", Family::Qwen3Reranker),
];

/// `model_type` values accepted when a config has no `architectures`.
const SUPPORTED_MODEL_TYPES: &[(&str, Family)] = &[
    ("bert", Family::Bert),
    ("xlm-roberta", Family::XlmRoberta),
    ("roberta", Family::XlmRoberta),
    ("modernbert", Family::ModernBert),
    ("qwen3", Family::Qwen3Reranker),
];

impl Family {
    pub fn name(self) -> &'static str {
        match self {
            Family::Bert => "bert",
            Family::XlmRoberta => "xlm-roberta",
            Family::ModernBert => "modernbert",
            Family::Qwen3Reranker => "qwen3-reranker",
        }
    }

    /// The family of a parsed `config.json`; an unsupported `architectures` entry or
    /// `model_type` is an error that names it and lists what relex runs.
    pub fn detect(raw: &serde_json::Value, path: &Path) -> Result<Self, ModelError> {
        let supported = || {
            SUPPORTED_ARCHITECTURES
                .iter()
                .map(|(a, f)| format!("{a} ({f})"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let archs: Vec<&str> = raw
            .get("architectures")
            .and_then(|v| v.as_array())
            .map(|a| a.iter().filter_map(|v| v.as_str()).collect())
            .unwrap_or_default();
        let model_type = raw.get("model_type").and_then(|v| v.as_str());
        let by_type = model_type.map(|m| {
            SUPPORTED_MODEL_TYPES
                .iter()
                .find(|(t, _)| *t == m)
                .map(|(_, f)| *f)
        });
        if let Some(arch) = archs.first() {
            let family = SUPPORTED_ARCHITECTURES
                .iter()
                .find(|(a, _)| a == arch)
                .map(|(_, f)| *f)
                .ok_or_else(|| ModelError::Config {
                    path: path.to_path_buf(),
                    message: format!(
                        "architectures entry \"{arch}\" is not supported; relex runs {}",
                        supported()
                    ),
                })?;
            // A model_type that names another (or no known) family contradicts the entry.
            if let (Some(m), Some(f)) = (model_type, by_type) {
                if f != Some(family) {
                    return Err(ModelError::Config {
                        path: path.to_path_buf(),
                        message: format!(
                            "model_type \"{m}\" does not match architectures entry \"{arch}\" ({family}); relex runs {}",
                            supported()
                        ),
                    });
                }
            }
            return Ok(family);
        }
        match by_type {
            None => Ok(Family::Bert),
            Some(Some(f)) => Ok(f),
            Some(None) => Err(ModelError::Config {
                path: path.to_path_buf(),
                message: format!(
                    "model_type is \"{}\" and no supported architectures entry is given; relex runs {}",
                    model_type.unwrap_or_default(),
                    supported()
                ),
            }),
        }
    }

    /// Reads `config.json` just far enough to tell the family.
    pub fn from_file(path: &Path) -> Result<(Self, serde_json::Value), ModelError> {
        let text = std::fs::read_to_string(path).map_err(|source| ModelError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let raw: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| ModelError::Config {
                path: path.to_path_buf(),
                message: format!("line {} column {}: {e}", e.line(), e.column()),
            })?;
        Ok((Self::detect(&raw, path)?, raw))
    }
}

impl std::fmt::Display for Family {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[derive(Debug, Clone, Deserialize)]
struct SentenceTransformersKeys {
    activation_fn: Option<String>,
}

/// The subset of transformers' `BertConfig` relex needs; unknown keys are ignored.
#[derive(Debug, Clone, Deserialize)]
pub struct BertConfig {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub intermediate_size: usize,
    pub hidden_act: HiddenAct,
    pub max_position_embeddings: usize,
    #[serde(default = "default_type_vocab")]
    pub type_vocab_size: usize,
    #[serde(default = "default_ln_eps")]
    pub layer_norm_eps: f64,
    #[serde(default)]
    pub pad_token_id: u32,
    pub model_type: Option<String>,
    #[serde(default)]
    pub architectures: Vec<String>,
    pub num_labels: Option<usize>,
    pub id2label: Option<serde_json::Map<String, serde_json::Value>>,
    sentence_transformers: Option<SentenceTransformersKeys>,
    /// relex extension: how an item's title and text are joined for the model.
    pub relex_item_template: Option<String>,
    /// relex extension: the two marker tokens that surround a mention in a query.
    pub relex_mention_markers: Option<[String; 2]>,
    /// relex extension: the pair length the model was trained with (default max_length).
    pub relex_max_length: Option<usize>,
    /// relex extension: the pooling, for models that are not plain classifiers.
    pub relex_pooling: Option<Pooling>,
}

fn default_type_vocab() -> usize {
    2
}
fn default_ln_eps() -> f64 {
    1e-12
}

impl BertConfig {
    pub fn from_file(path: &Path) -> Result<Self, ModelError> {
        let text = std::fs::read_to_string(path).map_err(|source| ModelError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_json(&text, path)
    }

    pub fn from_json(text: &str, path: &Path) -> Result<Self, ModelError> {
        let raw: serde_json::Value =
            serde_json::from_str(text).map_err(|e| ModelError::Config {
                path: path.to_path_buf(),
                message: format!("line {} column {}: {e}", e.line(), e.column()),
            })?;
        let family = Family::detect(&raw, path)?;
        if !matches!(family, Family::Bert | Family::XlmRoberta) {
            return Err(ModelError::Config {
                path: path.to_path_buf(),
                message: format!("a {family} model is not read as a BERT configuration"),
            });
        }
        let cfg: BertConfig = serde_json::from_value(raw).map_err(|e| ModelError::Config {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        if !cfg.hidden_size.is_multiple_of(cfg.num_attention_heads) {
            return Err(ModelError::Config {
                path: path.to_path_buf(),
                message: format!(
                    "hidden_size {} is not a multiple of num_attention_heads {}",
                    cfg.hidden_size, cfg.num_attention_heads
                ),
            });
        }
        Ok(cfg)
    }

    pub fn head_dim(&self) -> usize {
        self.hidden_size / self.num_attention_heads
    }

    /// Number of classifier outputs: `num_labels`, else the size of `id2label`, else 1.
    pub fn num_labels(&self) -> usize {
        self.num_labels
            .or_else(|| self.id2label.as_ref().map(|m| m.len()))
            .unwrap_or(1)
    }

    /// The activation sentence-transformers would apply: its config key when present,
    /// otherwise sigmoid for one label (its CrossEncoder default) and identity for more.
    pub fn activation(&self) -> Activation {
        self.sentence_transformers
            .as_ref()
            .and_then(|st| st.activation_fn.as_deref())
            .and_then(Activation::from_class_path)
            .unwrap_or(if self.num_labels() == 1 {
                Activation::Sigmoid
            } else {
                Activation::Identity
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINI: &str = r#"{"vocab_size": 100, "hidden_size": 32, "num_hidden_layers": 2,
        "num_attention_heads": 4, "intermediate_size": 64, "hidden_act": "gelu",
        "max_position_embeddings": 64, "model_type": "bert"}"#;

    #[test]
    fn defaults_to_sigmoid_for_one_label() {
        let cfg = BertConfig::from_json(MINI, Path::new("config.json")).unwrap();
        assert_eq!(cfg.num_labels(), 1);
        assert_eq!(cfg.activation(), Activation::Sigmoid);
        assert_eq!(cfg.head_dim(), 8);
    }

    #[test]
    fn reads_sentence_transformers_activation() {
        let text = MINI.replace(
            "\"model_type\": \"bert\"",
            "\"model_type\": \"bert\", \"sentence_transformers\": {\"activation_fn\": \"torch.nn.modules.linear.Identity\"}",
        );
        let cfg = BertConfig::from_json(&text, Path::new("config.json")).unwrap();
        assert_eq!(cfg.activation(), Activation::Identity);
    }

    #[test]
    fn rejects_other_architectures_by_name() {
        let text = MINI.replace("\"bert\"", "\"gpt2\"");
        let err = BertConfig::from_json(&text, Path::new("/m/config.json")).unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("/m/config.json") && msg.contains("gpt2") && msg.contains("XLMRoberta"),
            "{msg}"
        );
        let text = MINI.replace(
            "\"model_type\": \"bert\"",
            "\"model_type\": \"llama\", \"architectures\": [\"LlamaForCausalLM\"]",
        );
        let msg = BertConfig::from_json(&text, Path::new("/m/config.json"))
            .unwrap_err()
            .to_string();
        assert!(
            msg.contains("\"LlamaForCausalLM\"")
                && msg.contains("ModernBertForSequenceClassification")
                && msg.contains("Qwen3ForCausalLM"),
            "{msg}"
        );
    }

    #[test]
    fn families_come_from_architectures_then_model_type() {
        let fam = |json: &str| {
            Family::detect(&serde_json::from_str(json).unwrap(), Path::new("c.json")).unwrap()
        };
        assert_eq!(
            fam(r#"{"architectures": ["XLMRobertaForSequenceClassification"]}"#),
            Family::XlmRoberta
        );
        assert_eq!(fam(r#"{"model_type": "modernbert"}"#), Family::ModernBert);
        assert_eq!(
            fam(r#"{"architectures": ["Qwen3ForCausalLM"], "model_type": "qwen3"}"#),
            Family::Qwen3Reranker
        );
        assert_eq!(fam(r#"{}"#), Family::Bert);
    }

    #[test]
    fn sigmoid_in_f64_does_not_saturate_early() {
        let s = Activation::Sigmoid.apply(20.0);
        assert!(s < 1.0 && s > 0.999_999_99);
        assert_eq!(Activation::Sigmoid.apply(0.0), 0.5);
    }
}
