//! How an index folder's files are written and read so that it stays one tied unit.
//!
//! The data files are named by their content (`anchor_queries-<sha>.jsonl`,
//! `R-<sha>.safetensors`) and never overwritten; the manifest names them with the SHA-256
//! of their bytes. A write puts every new data file first and then replaces the manifest
//! in one atomic rename, the one step that makes the new index visible, and only then
//! removes the files the manifest no longer names. A kill at any point therefore leaves
//! the old index or the new one, never a mix; a file changed underneath (a byte flip, a
//! truncation, a swap) fails its hash when it is read.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{io, write_atomic, AnchorQuery, IndexError, Manifest, Result, StoreDtype};
use crate::approx::Matrix;

/// One data file of an index, as the manifest names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileRef {
    pub name: String,
    /// SHA-256 of the file's bytes, lower-case hex.
    pub sha256: String,
}

/// The anchor queries' file name before manifests named their files (format 1).
const LEGACY_ANCHORS: &str = "anchor_queries.jsonl";
/// R's file name before manifests named their files (format 1).
const LEGACY_R: &str = "R.safetensors";

/// Writes `bytes` as `dir/<stem>-<sha>.<ext>` (unless that file is already there: the
/// name is its content) and returns its reference for the manifest.
pub fn put(dir: &Path, stem: &str, ext: &str, bytes: &[u8]) -> Result<FileRef> {
    let sha256 = crate::files::sha256_hex(bytes);
    let name = format!("{stem}-{}.{ext}", &sha256[..16]);
    let path = dir.join(&name);
    let present = std::fs::read(&path).is_ok_and(|b| crate::files::sha256_hex(&b) == sha256);
    if !present {
        write_atomic(&path, bytes)?;
    }
    Ok(FileRef { name, sha256 })
}

/// Reads a file the manifest names, failing unless its bytes are the ones it names.
pub(super) fn read_verified(dir: &Path, file: &FileRef) -> Result<(PathBuf, Vec<u8>)> {
    let path = dir.join(&file.name);
    let bytes = std::fs::read(&path).map_err(io(&path))?;
    let found = crate::files::sha256_hex(&bytes);
    if found != file.sha256 {
        return Err(IndexError::Corrupt {
            path,
            expected: file.sha256.clone(),
            found,
        });
    }
    Ok((path, bytes))
}

/// The bytes of the anchor-query file: one `{"id","text","pseudo"}` line per query.
pub fn anchors_bytes(anchors: &[AnchorQuery]) -> Vec<u8> {
    let mut bytes = Vec::new();
    for a in anchors {
        // A struct of strings and a bool always serialises.
        if let Ok(line) = serde_json::to_vec(a) {
            bytes.extend_from_slice(&line);
        }
        bytes.push(b'\n');
    }
    bytes
}

fn parse_anchors(path: &Path, bytes: &[u8]) -> Result<Vec<AnchorQuery>> {
    let text = std::str::from_utf8(bytes).map_err(|e| IndexError::Format {
        path: path.to_path_buf(),
        message: format!("not UTF-8: {e}"),
    })?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str(l).map_err(|e| IndexError::Format {
                path: path.to_path_buf(),
                message: format!("line {}: {e}", i + 1),
            })
        })
        .collect()
}

/// R [rows, cols] as safetensors bytes (tensor `R`, f16 or f32). `origin` names the
/// folder the scores come from in an error.
pub fn matrix_bytes(origin: &Path, r: &Matrix, dtype: StoreDtype) -> Result<Vec<u8>> {
    let fmt = |message: String| IndexError::Format {
        path: origin.to_path_buf(),
        message,
    };
    check_storable(r, dtype).map_err(fmt)?;
    let bytes: Vec<u8> = match dtype {
        StoreDtype::F32 => r.data().iter().flat_map(|v| v.to_le_bytes()).collect(),
        StoreDtype::F16 => r
            .data()
            .iter()
            .flat_map(|v| half::f16::from_f32(*v).to_le_bytes())
            .collect(),
    };
    let st_dtype = match dtype {
        StoreDtype::F16 => safetensors::Dtype::F16,
        StoreDtype::F32 => safetensors::Dtype::F32,
    };
    let view = safetensors::tensor::TensorView::new(st_dtype, vec![r.rows(), r.cols()], &bytes)
        .map_err(|e| fmt(e.to_string()))?;
    safetensors::serialize([("R", view)], None::<HashMap<String, String>>)
        .map_err(|e| fmt(e.to_string()))
}

/// Every score must be finite, and representable when stored as f16 (|x| ≤ 65504):
/// a NaN or an overflow to infinity would silently poison every CUR approximation.
pub fn check_storable(r: &Matrix, dtype: StoreDtype) -> std::result::Result<(), String> {
    let limit = match dtype {
        StoreDtype::F16 => half::f16::MAX.to_f32(),
        StoreDtype::F32 => f32::MAX,
    };
    let bad = r
        .data()
        .iter()
        .position(|v| !v.is_finite() || v.abs() > limit);
    match bad {
        None => Ok(()),
        Some(p) => {
            let (row, col, v) = (p / r.cols().max(1), p % r.cols().max(1), r.data()[p]);
            Err(if v.is_finite() {
                format!(
                    "score {v} at anchor query {row}, item {col} does not fit in {dtype:?} (|x| ≤ {limit}); store the index as f32"
                )
            } else {
                format!("score {v} at anchor query {row}, item {col} is not a finite number")
            })
        }
    }
}

fn parse_matrix(path: &Path, bytes: &[u8], k_q: usize, n: usize) -> Result<Matrix> {
    let fmt = |message: String| IndexError::Format {
        path: path.to_path_buf(),
        message,
    };
    let st = safetensors::SafeTensors::deserialize(bytes).map_err(|e| fmt(e.to_string()))?;
    let view = st
        .tensor("R")
        .map_err(|_| fmt("missing tensor `R`".into()))?;
    if view.shape() != [k_q, n] {
        return Err(fmt(format!(
            "tensor `R` has shape {:?}, the manifest says [{k_q}, {n}]",
            view.shape()
        )));
    }
    let data: Vec<f32> = match view.dtype() {
        safetensors::Dtype::F32 => view
            .data()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect(),
        safetensors::Dtype::F16 => view
            .data()
            .chunks_exact(2)
            .map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32())
            .collect(),
        other => {
            return Err(fmt(format!(
                "tensor `R` has dtype {other:?}, expected f16 or f32"
            )))
        }
    };
    Ok(Matrix::new(k_q, n, data)?)
}

impl Manifest {
    /// The anchor queries this manifest names, checked against its hash (format 1
    /// folders, which name no hash, are read as they are).
    pub fn read_anchors(&self, dir: &Path) -> Result<Vec<AnchorQuery>> {
        let (path, bytes) = match &self.anchors_file {
            Some(f) => read_verified(dir, f)?,
            None => {
                let path = dir.join(LEGACY_ANCHORS);
                let bytes = std::fs::read(&path).map_err(io(&path))?;
                (path, bytes)
            }
        };
        parse_anchors(&path, &bytes)
    }

    /// R as this manifest names it, checked against its hash and shape.
    pub fn read_matrix(&self, dir: &Path) -> Result<Matrix> {
        let (path, bytes) = match &self.r_file {
            Some(f) => read_verified(dir, f)?,
            None if self.anchors_file.is_none() => {
                let path = dir.join(LEGACY_R);
                let bytes = std::fs::read(&path).map_err(io(&path))?;
                (path, bytes)
            }
            None => {
                return Err(IndexError::Format {
                    path: dir.join("manifest.json"),
                    message: "the manifest names no score matrix (R)".into(),
                })
            }
        };
        parse_matrix(&path, &bytes, self.k_q, self.n_items)
    }

    /// Makes this manifest the folder's index (one atomic rename), then removes the data
    /// files it no longer names. Its data files must already be in `dir`.
    pub fn commit(&self, dir: &Path) -> Result<()> {
        kill_point("before-manifest");
        self.write(dir)?;
        kill_point("before-cleanup");
        self.remove_unnamed_files(dir)
    }

    /// Data files (and temporaries) of earlier generations: a kill between a write and
    /// this clean-up only leaves them for the next commit to remove.
    fn remove_unnamed_files(&self, dir: &Path) -> Result<()> {
        if self.anchors_file.is_none() {
            // A format-1 manifest names no files: its fixed-name files are all in use.
            return Ok(());
        }
        let sparse = self.sparse.as_ref();
        let named: Vec<&str> = [
            self.anchors_file.as_ref(),
            self.r_file.as_ref(),
            sparse.and_then(|s| s.entries_file.as_ref()),
            sparse.and_then(|s| s.factor_file.as_ref()),
        ]
        .into_iter()
        .flatten()
        .map(|f| f.name.as_str())
        .collect();
        let entries = std::fs::read_dir(dir).map_err(io(dir))?;
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let data = (name.starts_with("anchor_queries") && name.ends_with(".jsonl"))
                || (["R", "S-", "axn-"].iter().any(|p| name.starts_with(p))
                    && name.ends_with(".safetensors"));
            let temporary = name.starts_with('.') && name.ends_with(".tmp");
            if (data && !named.contains(&name.as_str())) || temporary {
                let path = entry.path();
                std::fs::remove_file(&path).map_err(io(&path))?;
            }
        }
        Ok(())
    }
}

/// Dies here when `RELEX_TEST_KILL_AT` names this step: the integration tests kill a
/// write at each step of its commit and check the folder is the old index or the new one.
fn kill_point(step: &str) {
    if std::env::var("RELEX_TEST_KILL_AT").is_ok_and(|s| s == step) {
        std::process::abort();
    }
}
