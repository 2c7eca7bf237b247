//! Where the embedded default model and demo data live.

use std::path::PathBuf;

/// The repository's `assets/` folder: next to the executable's crate when run from a
/// checkout (`cargo run`), else `./assets`.
pub fn assets_dir() -> PathBuf {
    let here = PathBuf::from("assets");
    if here.is_dir() {
        return here;
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("assets")
}

/// The default model: the [EMB] WordNet cross-encoder (special-token pooling), the one
/// whose score matrix CUR approximates well.
pub fn default_model_dir() -> PathBuf {
    assets_dir().join("models").join("wordnet-minilm-emb")
}

/// Every model folder shipped in `assets/models`, default first.
pub fn embedded_models() -> Vec<PathBuf> {
    let default = default_model_dir();
    let mut out: Vec<PathBuf> = std::fs::read_dir(assets_dir().join("models"))
        .map(|rd| {
            rd.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.join("config.json").is_file() && *p != default)
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    if default.join("config.json").is_file() {
        out.insert(0, default);
    }
    out
}

pub fn demo_dir() -> PathBuf {
    assets_dir().join("demo")
}

/// The demo index built with the model in `model_dir`: `demo/index-<model folder>` when
/// the demo ships one for that model, else `demo/index`.
pub fn demo_index_dir(model_dir: &std::path::Path) -> PathBuf {
    let own = model_dir
        .file_name()
        .map(|n| demo_dir().join(format!("index-{}", n.to_string_lossy())));
    match own {
        Some(dir) if dir.is_dir() => dir,
        _ => demo_dir().join("index"),
    }
}
