//! Hub ids (`owner/name`) resolved through the hub cache, for users with a network.

use std::path::PathBuf;

use super::ModelError;

/// Files a cross-encoder folder needs; the first weights file found wins.
const REQUIRED: &[&str] = &["config.json"];
const TOKENIZER: &[&str] = &["tokenizer.json", "vocab.txt"];
const WEIGHTS: &[&str] = &["model.safetensors", "pytorch_model.bin"];

/// Returns a local folder holding the model: from the cache when every file is already
/// there (works offline), otherwise downloaded into the cache.
pub fn fetch(id: &str) -> Result<PathBuf, ModelError> {
    let hub_err = |message: String| ModelError::Hub {
        id: id.to_string(),
        message,
    };
    let cache = hf_hub::Cache::from_env();
    let cached = cache.model(id.to_string());
    let cached_folder = || -> Option<PathBuf> {
        let config = cached.get("config.json")?;
        TOKENIZER.iter().find_map(|f| cached.get(f))?;
        WEIGHTS.iter().find_map(|f| cached.get(f))?;
        config.parent().map(|p| p.to_path_buf())
    };
    if let Some(dir) = cached_folder() {
        return Ok(dir);
    }
    if std::env::var("HF_HUB_OFFLINE").is_ok_and(|v| v == "1") {
        return Err(hub_err(
            "not in the local hub cache and HF_HUB_OFFLINE=1; download it once with a network, or pass a model folder".into(),
        ));
    }
    let api = hf_hub::api::sync::ApiBuilder::from_env()
        .with_progress(false)
        .build()
        .map_err(|e| hub_err(format!("cannot start the hub client: {e}")))?;
    let repo = api.model(id.to_string());
    let offline_hint = |e: hf_hub::api::sync::ApiError| {
        hub_err(format!(
            "download failed ({e}); without a network, pass a local model folder instead"
        ))
    };
    let mut dir = None;
    for f in REQUIRED {
        let p = repo.get(f).map_err(offline_hint)?;
        dir = p.parent().map(|d| d.to_path_buf());
    }
    let mut got_tokenizer = false;
    for f in TOKENIZER {
        if repo.get(f).is_ok() {
            got_tokenizer = true;
            break;
        }
    }
    if !got_tokenizer {
        return Err(hub_err(
            "the repository has no tokenizer.json or vocab.txt".into(),
        ));
    }
    let mut got_weights = false;
    for f in WEIGHTS {
        if repo.get(f).is_ok() {
            got_weights = true;
            break;
        }
    }
    if !got_weights {
        return Err(hub_err(
            "the repository has no model.safetensors or pytorch_model.bin".into(),
        ));
    }
    dir.ok_or_else(|| hub_err("download gave no local path".into()))
}
