//! The reference code's (iesl/anncur) zero-shot entity-linking cross-encoders:
//! PyTorch-Lightning checkpoints and their fixed 128 + 128 input packing.
//!
//! # Checkpoints
//!
//! `CrossEncoderWrapper` (a LightningModule) saves `{"state_dict": …, "optimizer_states": …,
//! "hyper_parameters": {"config": utils.config.Config}, …}`. Only the tensors under
//! `model.encoder.` are read (`model.encoder.bert_model.*`, a BERT, and for the default
//! cross-encoder `model.encoder.additional_linear.*`, a `Linear(hidden, 1)`); pickles are
//! parsed by candle's reader, never executed. There is no config.json: the BERT sizes come
//! from tensor shapes (vocabulary, hidden, layers by counting `encoder.layer.N`, intermediate,
//! positions, token types), with 64-wide heads, exact gelu and eps 1e-12, unless a
//! `config.json` (or the reference's `model.config`) sits next to the checkpoint, which then
//! supplies the config (checked against the tensors).
//!
//! The scoring head follows `models/crossencoder.py`:
//! * `cross_enc_type == "w_embeds"` (`CrossBertWEmbedsWrapper`): score =
//!   ⟨(h[`[unused0]`] + h[`[unused1]`]) / 2, h[`[unused2]`]⟩ over the last hidden states.
//! * otherwise (`CrossBertWrapper`, a `BertWrapper` with `add_linear_layer`):
//!   `pooling_type == "cls_w_lin"` → BERT pooler (dense + tanh on `[CLS]`) → `additional_linear`;
//!   `"cls"` → raw `[CLS]` state → `additional_linear`. Other poolings (mean, max, lse) are
//!   refused.
//!
//! The choice is read from the checkpoint's `hyper_parameters` (`cross_enc_type`,
//! `pooling_type`) when candle's pickle reader can parse them; otherwise an
//! `additional_linear` tensor means cls_w_lin, a file name starting `cls_` means cls_w_lin
//! too (so a missing `additional_linear` is reported), and anything else is w_embeds.
//! `LoadOptions::pooling` overrides all of this (`cls+pooler` is taken as cls_w_lin).
//!
//! # Packing (`utils/data_process.py`)
//!
//! Query side (`get_context_representation`, max_input_len 128): the query text relex passes
//! carries the literal markers, `left [unused0] mention [unused1] right`. The three parts are
//! lower-cased (as `load_mentions` does), WordPiece-tokenized separately, and packed as
//! `[CLS] left[-left_quota:] [unused0] mention [unused1] right[:right_quota] [SEP]`, cut to 128
//! and padded with 0 — including the reference's Python slicing quirks: a `left_quota` of 0
//! keeps the *whole* left context (`x[-0:]`), negative quotas slice from the other end, and
//! the final `[:128]` may then cut the mention and `[SEP]`.
//! * A query without markers is all mention (empty contexts).
//! * A mention that is empty after trimming gets no markers (the reference adds them only
//!   for a non-empty mention), so a w_embeds model cannot score it.
//! * `[unused1]` without a preceding `[unused0]`, or `[unused0]` without a following
//!   `[unused1]`, is an input error.
//!
//! Item side (`get_candidate_representation`, max_label_len 128): the item text is
//! `title [unused2] description`, split at the first `[unused2]`; an item without the marker
//! has an empty title (so it packs as `[unused2] description`). `title [unused2] description`
//! is cut to 126 pieces and followed by `[SEP]`; the cross-encoder drops the candidate's
//! leading `[CLS]` (`create_input_label_pair`), so the item starts at position 128 and the
//! row is 255 ids long. As in `to_cross_bert_input`: token type 1 only on non-pad item
//! tokens (position ≥ 128 and id > 0), attention 0 on every pad id, including the pads
//! between the query and the item.
//!
//! Markers are found by splitting the raw text, not registered as tokenizer tokens: as in
//! the reference, where markers are inserted after WordPiece, a `[unused0]` typed inside a
//! description is tokenized as ordinary text.

mod packing;

use packing::*;
pub use packing::{encode_context, encode_pair, ZeshelContext};

use std::io::BufReader;
use std::path::{Path, PathBuf};

use candle_core::pickle::{Object, Stack};

use crate::model::config::BertConfig;
use crate::model::families::bert::{BertEncoder, Dense};
use crate::model::heads::{ClassifierHead, ScoreHead};
use crate::model::input::pair::{EncodedPair, PairEncoder, Truncation};
use crate::model::load::{special_token_head, Facts, Parts};
use crate::model::weights::Weights;
use crate::model::{Activation, Family, Input, LoadOptions, ModelError, Pooling, Runner};

/// `max_input_len` of the reference's zeshel configs: the query side, padded.
pub const MAX_INPUT_LEN: usize = 128;
/// `max_label_len`: the item side, of which the leading `[CLS]` is dropped.
pub const MAX_LABEL_LEN: usize = 128;
/// Length of one packed row.
pub const PACKED_LEN: usize = MAX_INPUT_LEN + MAX_LABEL_LEN - 1;
/// `models/params.py`: ENT_START_TAG, ENT_END_TAG, ENT_TITLE_TAG.
pub const ENT_START_TAG: &str = "[unused0]";
pub const ENT_END_TAG: &str = "[unused1]";
pub const ENT_TITLE_TAG: &str = "[unused2]";
/// How relex joins an item's title and text for these models.
pub const ITEM_TEMPLATE: &str = "{title} [unused2] {text}";

const STATE_PREFIX: &str = "model.encoder.";
const BERT_PREFIX: &str = "model.encoder.bert_model.";
const LINEAR_PREFIX: &str = "model.encoder.additional_linear";
/// Loads a reference checkpoint (see the module docs).
pub(crate) fn load_checkpoint(path: &Path, opts: &LoadOptions) -> Result<Parts, ModelError> {
    let mut weights = Weights::load(path, Some("state_dict"), STATE_PREFIX)?;
    let dir = parent_dir(path);
    let side_config = ["config.json", "model.config"]
        .iter()
        .map(|f| dir.join(f))
        .find(|p| p.is_file());
    let cfg = infer_config(&weights, path, side_config.as_deref())?;
    weights.set_prefix(BERT_PREFIX);
    let encoder = BertEncoder::load(&weights, &cfg)?;
    weights.set_prefix("");
    if encoder.max_positions() < PACKED_LEN {
        return Err(ModelError::Config {
            path: path.to_path_buf(),
            message: format!(
                "the model has {} positions; the zeshel packing needs {PACKED_LEN}",
                encoder.max_positions()
            ),
        });
    }

    let hparams = read_hyper_parameters(path);
    if let Some(hp) = &hparams {
        for (key, value, want) in [
            ("max_input_len", hp.max_input_len, MAX_INPUT_LEN),
            ("max_label_len", hp.max_label_len, MAX_LABEL_LEN),
        ] {
            if let Some(v) = value {
                if v != want as i64 {
                    return Err(ModelError::Config {
                        path: path.to_path_buf(),
                        message: format!(
                            "hyper_parameters say {key} = {v}; relex packs the reference's {want}"
                        ),
                    });
                }
            }
        }
    }
    let has_linear = weights.has_any_with_prefix(&format!("{LINEAR_PREFIX}."));
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string());
    let pooling = choose_pooling(opts.pooling, hparams.as_ref(), has_linear, &file_name).map_err(
        |message| ModelError::Config {
            path: path.to_path_buf(),
            message,
        },
    )?;

    let tokens = load_tokenizer(path, opts)?;
    let tok_vocab = tokens.tokenizer().get_vocab_size(true);
    if tok_vocab > cfg.vocab_size {
        return Err(ModelError::Config {
            path: path.to_path_buf(),
            message: format!(
                "the tokenizer has {tok_vocab} tokens but the model's vocabulary only {}: \
                 wrong tokenizer? (the reference models use bert-base-uncased's)",
                cfg.vocab_size
            ),
        });
    }
    SpecialIds::of(&tokens)?;

    let h = cfg.hidden_size;
    let (head, num_labels, label): (Box<dyn ScoreHead>, usize, usize) = match pooling {
        Pooling::WEmbeds => {
            let head = special_token_head(&tokens, ENT_START_TAG, ENT_END_TAG, ENT_TITLE_TAG)?;
            (Box::new(head), 1, 0)
        }
        Pooling::ClsWLin | Pooling::ClsPooler | Pooling::Cls => {
            let lin = tensor_dims(&weights, &format!("{LINEAR_PREFIX}.weight"))?;
            let n_out = lin.first().copied().unwrap_or(0).max(1);
            let label = opts.label.unwrap_or(n_out - 1);
            if label >= n_out {
                return Err(ModelError::Config {
                    path: path.to_path_buf(),
                    message: format!("label {label} requested, but the model has {n_out} outputs"),
                });
            }
            let pooler = match pooling {
                Pooling::Cls => None,
                _ => Some(Dense::load(
                    &weights,
                    &format!("{BERT_PREFIX}pooler.dense"),
                    h,
                    h,
                )?),
            };
            let head = ClassifierHead {
                pooler,
                classifier: Dense::load(&weights, LINEAR_PREFIX, h, n_out)?,
                label,
            };
            (Box::new(head), n_out, label)
        }
        Pooling::Mean | Pooling::LastToken => {
            return Err(ModelError::Config {
                path: path.to_path_buf(),
                message: format!("{pooling} pooling is not available for zeshel checkpoints"),
            })
        }
    };
    let pooling = match pooling {
        Pooling::ClsPooler => Pooling::ClsWLin,
        p => p,
    };
    // The reference ranks by the raw score; a model trained with binary cross-entropy
    // ("bce") reads as a probability through a sigmoid.
    let activation = match hparams.as_ref().and_then(|h| h.loss_type.as_deref()) {
        Some("bce") => Activation::Sigmoid,
        _ => Activation::Identity,
    };
    Ok(Parts {
        runner: Runner::Host {
            encoder: Box::new(encoder),
            head,
        },
        device: "cpu".into(),
        tokens,
        input: Input::Zeshel,
        facts: Facts {
            family: Family::Bert,
            pooling,
            activation,
            num_labels,
            label,
            max_length: PACKED_LEN,
            hidden_size: h,
            layers: cfg.num_hidden_layers,
            parameters: weights.parameter_count(),
            item_template: ITEM_TEMPLATE.to_string(),
            // The packing itself gives an item without a marker an empty title.
            untitled_item_template: crate::items::UNTITLED_TEMPLATE.into(),
            mention_markers: Some([ENT_START_TAG.to_string(), ENT_END_TAG.to_string()]),
        },
        scoring_files: vec![path.to_path_buf()],
        settings: format!("zeshel|template={ITEM_TEMPLATE}|pooling={pooling}|label={label}"),
    })
}

fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// The tokenizer named by `--tokenizer`, else a tokenizer.json / vocab.txt beside the file.
fn load_tokenizer(ckpt: &Path, opts: &LoadOptions) -> Result<PairEncoder, ModelError> {
    if let Some(p) = &opts.tokenizer {
        return PairEncoder::from_file(p, NO_TRUNCATION);
    }
    let dir = parent_dir(ckpt);
    for f in ["tokenizer.json", "vocab.txt"] {
        let p = dir.join(f);
        if p.is_file() {
            return PairEncoder::from_file(&p, NO_TRUNCATION);
        }
    }
    Err(ModelError::Tokenizer {
        path: ckpt.to_path_buf(),
        message: format!(
            "a checkpoint carries no tokenizer and there is no tokenizer.json or vocab.txt in {}; \
             pass --tokenizer with a tokenizer.json or vocab.txt (bert-base-uncased's for the \
             reference models)",
            dir.display()
        ),
    })
}

/// The shape of a tensor (`w` with an empty prefix), or the missing-tensor error.
fn tensor_dims(w: &Weights, name: &str) -> Result<Vec<usize>, ModelError> {
    match w.get(name, &[]) {
        Ok(t) => Ok(t.dims().to_vec()),
        Err(ModelError::TensorShape { found, .. }) => Ok(found),
        Err(e) => Err(e),
    }
}

/// The BERT config from tensor shapes, or from `side` (a config.json beside the checkpoint)
/// checked against them.
fn infer_config(w: &Weights, ckpt: &Path, side: Option<&Path>) -> Result<BertConfig, ModelError> {
    let dims = |name: &str| tensor_dims(w, &format!("{BERT_PREFIX}{name}"));
    let word = dims("embeddings.word_embeddings.weight")?;
    let bad = |message: String| ModelError::Config {
        path: ckpt.to_path_buf(),
        message,
    };
    let &[vocab, hidden] = word.as_slice() else {
        return Err(bad(format!(
            "`{BERT_PREFIX}embeddings.word_embeddings.weight` has shape {word:?}, expected 2-D"
        )));
    };
    let first = |v: Vec<usize>| v.first().copied().unwrap_or(0);
    let positions = first(dims("embeddings.position_embeddings.weight")?);
    let types = first(dims("embeddings.token_type_embeddings.weight")?);
    let layers = (0..)
        .take_while(|i| w.has_any_with_prefix(&format!("{BERT_PREFIX}encoder.layer.{i}.")))
        .count();
    if layers == 0 {
        return Err(bad(format!("no `{BERT_PREFIX}encoder.layer.N` tensors")));
    }
    let intermediate = first(dims("encoder.layer.0.intermediate.dense.weight")?);
    if let Some(side) = side {
        let cfg = BertConfig::from_file(side)?;
        let checks = [
            ("vocab_size", cfg.vocab_size, vocab),
            ("hidden_size", cfg.hidden_size, hidden),
            ("num_hidden_layers", cfg.num_hidden_layers, layers),
            ("intermediate_size", cfg.intermediate_size, intermediate),
            (
                "max_position_embeddings",
                cfg.max_position_embeddings,
                positions,
            ),
            ("type_vocab_size", cfg.type_vocab_size, types),
        ];
        for (key, said, found) in checks {
            if said != found {
                return Err(ModelError::Config {
                    path: side.to_path_buf(),
                    message: format!(
                        "{key} is {said}, but the checkpoint {} has {found}",
                        ckpt.display()
                    ),
                });
            }
        }
        return Ok(cfg);
    }
    if hidden == 0 || hidden % 64 != 0 {
        return Err(bad(format!(
            "hidden size {hidden} is not a multiple of 64, so the number of attention heads \
             cannot be inferred; put a config.json with num_attention_heads next to the checkpoint"
        )));
    }
    let json = serde_json::json!({
        "model_type": "bert",
        "vocab_size": vocab,
        "hidden_size": hidden,
        "num_hidden_layers": layers,
        "num_attention_heads": hidden / 64,
        "intermediate_size": intermediate,
        "hidden_act": "gelu",
        "max_position_embeddings": positions,
        "type_vocab_size": types,
        "layer_norm_eps": 1e-12,
    });
    BertConfig::from_json(&json.to_string(), ckpt)
}

/// The few reference-config values relex reads from `hyper_parameters`.
#[derive(Debug, Clone, Default, PartialEq)]
struct RefHyperParams {
    cross_enc_type: Option<String>,
    pooling_type: Option<String>,
    loss_type: Option<String>,
    max_input_len: Option<i64>,
    max_label_len: Option<i64>,
}

/// Best effort: `hyper_parameters` of a Lightning checkpoint, parsed (never executed) with
/// candle's pickle reader. `None` when absent or unreadable.
fn read_hyper_parameters(path: &Path) -> Option<RefHyperParams> {
    let file = std::fs::File::open(path).ok()?;
    let mut zip = zip::ZipArchive::new(BufReader::new(file)).ok()?;
    let name = zip
        .file_names()
        .find(|n| n.ends_with("data.pkl"))?
        .to_string();
    let entry = zip.by_name(&name).ok()?;
    let mut stack = Stack::empty();
    stack.read_loop(&mut BufReader::new(entry)).ok()?;
    let top = stack.finalize().ok()?;
    let Object::Dict(items) = &top else {
        return None;
    };
    let hp = items
        .iter()
        .find(|(k, _)| matches!(k, Object::Unicode(s) if s == "hyper_parameters"))
        .map(|(_, v)| v)?;
    let text = |key: &str| match find_key(hp, key, 0) {
        Some(Object::Unicode(s)) => Some(s.clone()),
        _ => None,
    };
    let int = |key: &str| match find_key(hp, key, 0) {
        Some(Object::Int(i)) => Some(*i as i64),
        Some(Object::Long(i)) => Some(*i),
        _ => None,
    };
    let out = RefHyperParams {
        cross_enc_type: text("cross_enc_type"),
        pooling_type: text("pooling_type"),
        loss_type: text("loss_type"),
        max_input_len: int("max_input_len"),
        max_label_len: int("max_label_len"),
    };
    (out.cross_enc_type.is_some() || out.pooling_type.is_some()).then_some(out)
}

/// The value under `key` in the first dictionary (or object state) that has it.
fn find_key<'a>(obj: &'a Object, key: &str, depth: usize) -> Option<&'a Object> {
    if depth > 8 {
        return None;
    }
    match obj {
        Object::Dict(items) => items
            .iter()
            .find(|(k, _)| matches!(k, Object::Unicode(s) if s == key))
            .map(|(_, v)| v)
            .or_else(|| items.iter().find_map(|(_, v)| find_key(v, key, depth + 1))),
        Object::Build { callable, args } => {
            find_key(args, key, depth + 1).or_else(|| find_key(callable, key, depth + 1))
        }
        Object::Reduce { args, .. } => find_key(args, key, depth + 1),
        Object::Tuple(v) | Object::List(v) => v.iter().find_map(|o| find_key(o, key, depth + 1)),
        _ => None,
    }
}

/// See the module docs; `Err` is a message for an unsupported reference configuration.
fn choose_pooling(
    requested: Option<Pooling>,
    hp: Option<&RefHyperParams>,
    has_linear: bool,
    file_name: &str,
) -> Result<Pooling, String> {
    if let Some(p) = requested {
        return Ok(match p {
            Pooling::ClsPooler => Pooling::ClsWLin,
            p => p,
        });
    }
    if let Some(hp) = hp {
        match hp.cross_enc_type.as_deref() {
            Some("w_embeds") => return Ok(Pooling::WEmbeds),
            Some("default") | None => {}
            Some(other) => {
                return Err(format!(
                    "hyper_parameters name cross_enc_type \"{other}\"; relex runs \"default\" and \"w_embeds\""
                ))
            }
        }
        match hp.pooling_type.as_deref() {
            Some("cls_w_lin") => return Ok(Pooling::ClsWLin),
            Some("cls") => return Ok(Pooling::Cls),
            Some(other) => {
                return Err(format!(
                    "hyper_parameters name pooling_type \"{other}\"; relex runs \"cls_w_lin\" and \"cls\" \
                     (or pass a pooling to override)"
                ))
            }
            None => {}
        }
    }
    Ok(if has_linear || file_name.starts_with("cls_") {
        Pooling::ClsWLin
    } else {
        Pooling::WEmbeds
    })
}

#[cfg(test)]
mod tests;
