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

pub fn default_model_dir() -> PathBuf {
    assets_dir().join("models").join("wordnet-minilm-ce")
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
