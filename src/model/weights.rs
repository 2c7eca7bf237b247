//! Reading named tensors from the three file kinds a cross-encoder arrives in
//! (safetensors, PyTorch `pytorch_model.bin`, PyTorch-Lightning `.ckpt`) and handing
//! them out by name with shape checks, so a bad file is reported by file and tensor.

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use sha2::{Digest, Sha256};

use super::ModelError;

/// All tensors of one weights file, converted to f32 on load.
pub struct Weights {
    path: PathBuf,
    tensors: HashMap<String, Tensor>,
    /// A prefix stripped from every name ("bert." is probed by the caller).
    prefix: String,
}

impl Weights {
    /// Loads a safetensors file or a PyTorch pickle archive (by extension). For pickles,
    /// `state_dict_key` picks the nested dictionary (Lightning checkpoints keep the model
    /// under "state_dict"); only tensors whose names start with `keep_prefix` are read,
    /// so optimizer state is never materialised. Pickles are parsed, never executed.
    pub fn load(
        path: &Path,
        state_dict_key: Option<&str>,
        keep_prefix: &str,
    ) -> Result<Self, ModelError> {
        let io_err = |source| ModelError::Io {
            path: path.to_path_buf(),
            source,
        };
        if !path.exists() {
            return Err(io_err(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "file not found",
            )));
        }
        let is_safetensors = path.extension().and_then(|e| e.to_str()) == Some("safetensors");
        let corrupt = |e: candle_core::Error| ModelError::Weights {
            path: path.to_path_buf(),
            message: format!("cannot read tensors: {e}"),
        };
        let mut tensors = HashMap::new();
        if is_safetensors {
            let data = std::fs::read(path).map_err(io_err)?;
            let st =
                safetensors::SafeTensors::deserialize(&data).map_err(|e| ModelError::Weights {
                    path: path.to_path_buf(),
                    message: format!("not a valid safetensors file: {e}"),
                })?;
            for (name, view) in st.tensors() {
                if !name.starts_with(keep_prefix) {
                    continue;
                }
                let t = tensor_from_view(&view).map_err(|message| ModelError::Weights {
                    path: path.to_path_buf(),
                    message: format!("tensor `{name}`: {message}"),
                })?;
                tensors.insert(name, t);
            }
        } else {
            if !is_zip(path).map_err(io_err)? {
                return Err(ModelError::Weights {
                    path: path.to_path_buf(),
                    message: "not a zip archive: a legacy (pre-1.6) PyTorch pickle or another \
                              file; load it in PyTorch and save it again with torch.save (the zip \
                              format), or convert it to safetensors"
                        .into(),
                });
            }
            let pth =
                candle_core::pickle::PthTensors::new(path, state_dict_key).map_err(corrupt)?;
            let names: Vec<String> = pth
                .tensor_infos()
                .keys()
                .filter(|n| n.starts_with(keep_prefix))
                .cloned()
                .collect();
            for name in names {
                if let Some(t) = pth.get(&name).map_err(corrupt)? {
                    let t = t.to_dtype(DType::F32).map_err(corrupt)?;
                    tensors.insert(name, t);
                }
            }
        }
        if tensors.is_empty() {
            return Err(ModelError::Weights {
                path: path.to_path_buf(),
                message: format!(
                    "no tensors found (looked for names starting with `{keep_prefix}`)"
                ),
            });
        }
        Ok(Self {
            path: path.to_path_buf(),
            tensors,
            prefix: String::new(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Strips `prefix` from every lookup from now on.
    pub fn with_prefix(mut self, prefix: &str) -> Self {
        self.prefix = prefix.to_string();
        self
    }

    /// Changes the lookup prefix in place.
    /// The prefix currently stripped from names.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    pub fn set_prefix(&mut self, prefix: &str) {
        self.prefix = prefix.to_string();
    }

    /// Number of scalar parameters held (for the model summary).
    pub fn parameter_count(&self) -> usize {
        self.tensors.values().map(|t| t.elem_count()).sum()
    }

    pub fn contains(&self, name: &str) -> bool {
        self.tensors.contains_key(&self.full_name(name))
    }

    pub fn has_any_with_prefix(&self, prefix: &str) -> bool {
        self.tensors.keys().any(|k| k.starts_with(prefix))
    }

    /// How many layers the file holds under `layers_prefix` (e.g. `encoder.layer.`, after
    /// the lookup prefix): one more than the highest index `i` of a `{layers_prefix}{i}.` name.
    pub fn layer_count(&self, layers_prefix: &str) -> usize {
        let full = self.full_name(layers_prefix);
        self.tensors
            .keys()
            .filter_map(|k| {
                k.strip_prefix(&full)?
                    .split('.')
                    .next()?
                    .parse::<usize>()
                    .ok()
            })
            .map(|i| i + 1)
            .max()
            .unwrap_or(0)
    }

    /// `config.json`'s layer count must be the weights' own: fewer layers in the file fail
    /// on a missing tensor anyway, but more would be silently ignored (garbage scores).
    pub fn check_layer_count(
        &self,
        layers_prefix: &str,
        config_layers: usize,
        config_path: &Path,
    ) -> Result<(), ModelError> {
        let found = self.layer_count(layers_prefix);
        if found != config_layers {
            return Err(ModelError::Config {
                path: config_path.to_path_buf(),
                message: format!(
                    "num_hidden_layers is {config_layers}, but {} holds {found} layers ({}0 … {}{})",
                    self.path.display(),
                    self.full_name(layers_prefix),
                    self.full_name(layers_prefix),
                    found.saturating_sub(1)
                ),
            });
        }
        Ok(())
    }

    fn full_name(&self, name: &str) -> String {
        format!("{}{}", self.prefix, name)
    }

    /// The tensor `name` with exactly `shape`; old TF-converted checkpoints name layer-norm
    /// parameters gamma/beta, which is accepted too.
    pub fn get(&self, name: &str, shape: &[usize]) -> Result<Tensor, ModelError> {
        let full = self.full_name(name);
        let t = self
            .tensors
            .get(&full)
            .or_else(|| {
                let alt = full
                    .strip_suffix("LayerNorm.weight")
                    .map(|p| format!("{p}LayerNorm.gamma"))
                    .or_else(|| {
                        full.strip_suffix("LayerNorm.bias")
                            .map(|p| format!("{p}LayerNorm.beta"))
                    })?;
                self.tensors.get(&alt)
            })
            .ok_or_else(|| ModelError::MissingTensor {
                path: self.path.clone(),
                name: full.clone(),
            })?;
        if t.dims() != shape {
            return Err(ModelError::TensorShape {
                path: self.path.clone(),
                name: full,
                expected: shape.to_vec(),
                found: t.dims().to_vec(),
            });
        }
        Ok(t.clone())
    }
}

fn tensor_from_view(view: &safetensors::tensor::TensorView<'_>) -> Result<Tensor, String> {
    use safetensors::Dtype;
    let shape = view.shape().to_vec();
    let bytes = view.data();
    let values: Vec<f32> = match view.dtype() {
        Dtype::F32 => bytes
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect(),
        Dtype::F16 => bytes
            .chunks_exact(2)
            .map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32())
            .collect(),
        Dtype::BF16 => bytes
            .chunks_exact(2)
            .map(|b| half::bf16::from_le_bytes([b[0], b[1]]).to_f32())
            .collect(),
        Dtype::I64 => bytes
            .chunks_exact(8)
            .map(|b| i64::from_le_bytes(b.try_into().unwrap_or([0; 8])) as f32)
            .collect(),
        other => {
            return Err(format!(
                "unsupported dtype {other:?} (expected f32, f16 or bf16)"
            ))
        }
    };
    Tensor::from_vec(values, shape, &Device::Cpu).map_err(|e| e.to_string())
}

/// A short, stable identity of a model: SHA-256 over its config and weights bytes.
/// Indexes store it so that loading one against another model fails loudly.
/// The fingerprint of a model *as it scores*: its files, its tokenizer as configured
/// (vocabulary, added tokens, truncation length) and the settings that change its input
/// or output (item template, pooling, label...). Indexes and the exact-score cache are
/// keyed by it, so no setting change can silently reuse scores computed under another.
pub fn scoring_fingerprint(
    files: &[&Path],
    tokenizer_fingerprint: &str,
    settings: &str,
) -> Result<String, ModelError> {
    let files = fingerprint_files(files)?;
    let mut hasher = Sha256::new();
    for part in [files.as_str(), tokenizer_fingerprint, settings] {
        hasher.update(part.as_bytes());
        hasher.update([0u8]);
    }
    let digest = hasher.finalize();
    Ok(digest.iter().take(16).map(|b| format!("{b:02x}")).collect())
}

pub fn fingerprint_files(files: &[&Path]) -> Result<String, ModelError> {
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    for path in files {
        let mut f = std::fs::File::open(path).map_err(|source| ModelError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        loop {
            let n = f.read(&mut buf).map_err(|source| ModelError::Io {
                path: path.to_path_buf(),
                source,
            })?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
        }
    }
    let digest = hasher.finalize();
    Ok(digest.iter().take(16).map(|b| format!("{b:02x}")).collect())
}

/// Whether `path` starts like a zip archive (PyTorch's format since 1.6).
fn is_zip(path: &Path) -> std::io::Result<bool> {
    use std::io::Read;
    let mut magic = [0u8; 4];
    let mut f = std::fs::File::open(path)?;
    let n = f.read(&mut magic)?;
    Ok(n == 4 && magic == *b"PK\x03\x04")
}
