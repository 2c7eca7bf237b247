//! ANNCUR index files: the anchor-query × item score matrix R, its anchor queries, and a
//! manifest that ties them to one model and one item list.
//!
//! Layout of an index folder:
//! - `manifest.json`: format version, model and item fingerprints, k_q, N, dtype, progress,
//!   and the name and SHA-256 of each data file below;
//! - `anchor_queries-<sha>.jsonl`: `{"id","text","pseudo"}` per anchor query, in row order;
//! - `R-<sha>.safetensors`: tensor `R` [k_q, N] (f16 or f32), written when the build completes;
//! - `rows.partial`: while building, finished rows as raw little-endian f32, appended and
//!   flushed row by row, so an interrupted build resumes with no row lost or recomputed;
//! - `.relex-lock`: while a build, import or merge writes the folder.
//!
//! Data files are never overwritten and the manifest is replaced atomically, so a kill
//! leaves the old index or the new one (see [`store`]). Format 1 folders (fixed names
//! `anchor_queries.jsonl`, `R.safetensors`, no hashes) are still read.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

mod build;
mod devices;
mod lock;
pub mod shard;
mod sparse;
pub mod store;

pub use build::{build, BuildProgress, BuildSpec};
pub use devices::BuildJob;
pub use lock::IndexLock;
pub use shard::{merge, ShardSpec, ShardStamp};
pub use sparse::{CandidateRun, SparseLayout, SparsePlan};
pub use store::FileRef;

use crate::approx::CurIndex;
#[cfg(test)]
use crate::approx::Matrix;

/// Version 2 names its data files with their hashes; version 1 folders are still read.
pub const FORMAT_VERSION: u32 = 2;

#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: {message}", path.display())]
    Format { path: PathBuf, message: String },
    #[error(
        "{}: this index was built with model {built} (fingerprint {built_fp}), not the loaded model {loaded} ({loaded_fp}); rebuild it or load that model",
        path.display()
    )]
    ModelMismatch {
        path: PathBuf,
        built: String,
        built_fp: String,
        loaded: String,
        loaded_fp: String,
    },
    #[error(
        "{}: this index was built for a different item list ({built_n} items, fingerprint {built_fp}) than the loaded one ({loaded_n} items, {loaded_fp})",
        path.display()
    )]
    ItemsMismatch {
        path: PathBuf,
        built_n: usize,
        built_fp: String,
        loaded_n: usize,
        loaded_fp: String,
    },
    #[error("{}: the index build is incomplete ({done} of {total} rows); resume the build to finish it", path.display())]
    Incomplete {
        path: PathBuf,
        done: usize,
        total: usize,
    },
    #[error("{}: an index already exists here", path.display())]
    AlreadyExists { path: PathBuf },
    #[error("{}: the build stopped after {rows_done} of {k_q} rows; resuming it continues from there", path.display())]
    Stopped {
        path: PathBuf,
        rows_done: usize,
        k_q: usize,
    },
    #[error("{}: changed since the manifest named it (SHA-256 {found}, the manifest says {expected}); rebuild or re-import the index", path.display())]
    Corrupt {
        path: PathBuf,
        expected: String,
        found: String,
    },
    #[error("{}: a sparse (AXN) index: only AXN searches it; ANNCUR, ADACUR and evaluation need a dense index of every anchor query × item", path.display())]
    Sparse { path: PathBuf },
    #[error("{}: in use by {holder}", path.display())]
    Locked { path: PathBuf, holder: String },
    #[error("the build on {device} panicked")]
    WorkerPanicked { device: String },
    #[error(transparent)]
    Approx(#[from] crate::approx::ApproxError),
    #[error(transparent)]
    Model(#[from] crate::model::ModelError),
    #[error(transparent)]
    Items(#[from] crate::items::ItemsError),
}

type Result<T, E = IndexError> = std::result::Result<T, E>;

/// How R is stored on disk. f16 halves the size; CUR needs no more precision than the
/// cross-encoder's own f16-level noise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StoreDtype {
    F16,
    F32,
}

impl std::str::FromStr for StoreDtype {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "f16" => Ok(StoreDtype::F16),
            "f32" => Ok(StoreDtype::F32),
            _ => Err(format!("unknown dtype `{s}` (expected f16 or f32)")),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelStamp {
    pub name: String,
    pub fingerprint: String,
}

impl ModelStamp {
    /// The stamp of a loaded model.
    pub fn of(info: &crate::model::ModelInfo) -> Self {
        Self {
            name: info.name.clone(),
            fingerprint: info.fingerprint.clone(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ItemsStamp {
    pub source: String,
    pub count: usize,
    pub fingerprint: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub format_version: u32,
    pub model: ModelStamp,
    pub items: ItemsStamp,
    pub k_q: usize,
    pub n_items: usize,
    pub dtype: StoreDtype,
    /// The item template the rows were scored with.
    pub item_template: String,
    /// True when the anchor queries are sampled item texts (no query file was given).
    pub pseudo_queries: bool,
    /// Rows finished so far; equals `k_q` once complete.
    pub rows_done: usize,
    pub complete: bool,
    /// Set in a shard's folder: which block of the whole build's rows it holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<ShardStamp>,
    /// The anchor-query file and its hash (format 2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub anchors_file: Option<FileRef>,
    /// R's file and its hash, once the index is complete (format 2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub r_file: Option<FileRef>,
    /// Set for a sparse (AXN) index: how its entries were chosen, and its files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sparse: Option<SparseLayout>,
}

impl Manifest {
    pub fn is_sparse(&self) -> bool {
        self.sparse.is_some()
    }
}

/// One anchor query as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AnchorQuery {
    pub id: String,
    pub text: String,
    #[serde(default)]
    pub pseudo: bool,
}

/// The first `k_q` queries of a query file (all of them when `k_q` is None), as anchors.
pub fn anchor_queries_from_file(path: &Path, k_q: Option<usize>) -> Result<Vec<AnchorQuery>> {
    let set = crate::items::load_queries(path, &crate::items::LoadOptions::default())?;
    Ok(set
        .queries
        .into_iter()
        .take(k_q.unwrap_or(usize::MAX))
        .map(|q| AnchorQuery {
            id: q.id,
            text: q.text,
            pseudo: false,
        })
        .collect())
}

/// `k_q` item texts sampled (seeded) as pseudo-queries, for users without a query file.
pub fn pseudo_queries(items: &[crate::items::Item], k_q: usize) -> Vec<AnchorQuery> {
    let picks = crate::approx::sample_without_replacement(
        &mut crate::approx::SplitMix64::new(17),
        items.len(),
        k_q.min(items.len()),
    );
    picks
        .into_iter()
        .map(|i| AnchorQuery {
            id: format!("pseudo:{}", items[i].id),
            text: items[i].ce_text(crate::items::PLAIN_TEXT_TEMPLATE),
            pseudo: true,
        })
        .collect()
}

/// A loaded, complete index.
pub struct LoadedIndex {
    pub dir: PathBuf,
    pub manifest: Manifest,
    pub anchors: Vec<AnchorQuery>,
    pub data: IndexData,
}

/// What a loaded index holds: the dense R (every method), or a sparse index's item
/// embeddings (AXN).
pub enum IndexData {
    Dense(CurIndex),
    Sparse(crate::approx::axn::AxnIndex),
}

impl LoadedIndex {
    /// The dense R, for the methods that read it (ANNCUR, ADACUR, eval).
    pub fn dense(&self) -> Option<&CurIndex> {
        match &self.data {
            IndexData::Dense(cur) => Some(cur),
            IndexData::Sparse(_) => None,
        }
    }

    /// The dense R, or an error that says this index is sparse.
    pub fn require_dense(&self) -> Result<&CurIndex> {
        self.dense().ok_or_else(|| IndexError::Sparse {
            path: self.dir.clone(),
        })
    }
}

pub(crate) fn io(path: &Path) -> impl FnOnce(std::io::Error) -> IndexError + '_ {
    move |source| IndexError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// [`crate::files::write_atomic`], with the path in the error.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    crate::files::write_atomic(path, bytes).map_err(io(path))
}

impl Manifest {
    pub fn read(dir: &Path) -> Result<Self> {
        let path = dir.join("manifest.json");
        let text = std::fs::read_to_string(&path).map_err(io(&path))?;
        let m: Manifest = serde_json::from_str(&text).map_err(|e| IndexError::Format {
            path: path.clone(),
            message: format!("line {} column {}: {e}", e.line(), e.column()),
        })?;
        let data = m.r_file.is_some() || m.sparse.as_ref().is_some_and(|s| s.factor_file.is_some());
        let named = m.anchors_file.is_some() && (data || !m.complete);
        let message = match m.format_version {
            1 | FORMAT_VERSION if named || m.format_version == 1 => return Ok(m),
            FORMAT_VERSION => "the manifest does not name its data files".to_string(),
            v => format!(
                "format version {v} is not supported (this relex reads versions 1 and {FORMAT_VERSION})"
            ),
        };
        Err(IndexError::Format { path, message })
    }

    pub fn write(&self, dir: &Path) -> Result<()> {
        let bytes = serde_json::to_vec_pretty(self).map_err(|e| IndexError::Format {
            path: dir.join("manifest.json"),
            message: e.to_string(),
        })?;
        write_atomic(&dir.join("manifest.json"), &bytes)
    }

    /// Fails unless the index was built with this model and this item list.
    pub fn check_matches(&self, dir: &Path, model: &ModelStamp, items: &ItemsStamp) -> Result<()> {
        if self.model.fingerprint != model.fingerprint {
            return Err(IndexError::ModelMismatch {
                path: dir.to_path_buf(),
                built: self.model.name.clone(),
                built_fp: self.model.fingerprint.clone(),
                loaded: model.name.clone(),
                loaded_fp: model.fingerprint.clone(),
            });
        }
        if self.items.fingerprint != items.fingerprint || self.items.count != items.count {
            return Err(IndexError::ItemsMismatch {
                path: dir.to_path_buf(),
                built_n: self.items.count,
                built_fp: self.items.fingerprint.clone(),
                loaded_n: items.count,
                loaded_fp: items.fingerprint.clone(),
            });
        }
        Ok(())
    }
}

/// Loads a complete index and checks it against the loaded model and items.
pub fn load(dir: &Path, model: &ModelStamp, items: &ItemsStamp) -> Result<LoadedIndex> {
    let manifest = Manifest::read(dir)?;
    manifest.check_matches(dir, model, items)?;
    load_unchecked(dir, manifest)
}

/// Loads without the model check (for `relex eval`/`search` on score matrices alone).
pub fn load_unchecked(dir: &Path, manifest: Manifest) -> Result<LoadedIndex> {
    if !manifest.complete {
        return Err(IndexError::Incomplete {
            path: dir.to_path_buf(),
            done: manifest.rows_done,
            total: manifest.k_q,
        });
    }
    let anchors = manifest.read_anchors(dir)?;
    if anchors.len() != manifest.k_q {
        return Err(IndexError::Format {
            path: dir.join("manifest.json"),
            message: format!(
                "{} anchor queries, the manifest says {}",
                anchors.len(),
                manifest.k_q
            ),
        });
    }
    let data = if manifest.is_sparse() {
        IndexData::Sparse(manifest.read_factors(dir)?)
    } else {
        let r = manifest.read_matrix(dir)?;
        IndexData::Dense(CurIndex::new(
            r,
            anchors.iter().map(|a| a.text.clone()).collect(),
        )?)
    };
    Ok(LoadedIndex {
        dir: dir.to_path_buf(),
        manifest,
        anchors,
        data,
    })
}

/// Appends finished rows of R during a build and resumes after an interruption.
pub struct RowWriter {
    path: PathBuf,
    file: std::fs::File,
    n_items: usize,
}

impl RowWriter {
    /// Opens `rows.partial`, returning the writer and the rows already complete in it.
    /// A torn last row (a crash mid-write) is cut off and recomputed.
    pub fn open(dir: &Path, n_items: usize) -> Result<(Self, Vec<Vec<f32>>)> {
        let path = dir.join("rows.partial");
        let existing = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(io(&path)(e)),
        };
        let row_bytes = n_items * 4;
        let complete = existing.len().checked_div(row_bytes).unwrap_or(0);
        let rows: Vec<Vec<f32>> = (0..complete)
            .map(|r| {
                existing[r * row_bytes..(r + 1) * row_bytes]
                    .chunks_exact(4)
                    .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                    .collect()
            })
            .collect();
        let file = std::fs::OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(false)
            .open(&path)
            .map_err(io(&path))?;
        file.set_len((complete * row_bytes) as u64)
            .map_err(io(&path))?;
        let mut writer = Self {
            path,
            file,
            n_items,
        };
        use std::io::Seek;
        writer
            .file
            .seek(std::io::SeekFrom::End(0))
            .map_err(io(&writer.path))?;
        Ok((writer, rows))
    }

    /// Appends one finished row and flushes it to disk before returning.
    pub fn push(&mut self, row: &[f32]) -> Result<()> {
        if row.len() != self.n_items {
            return Err(IndexError::Format {
                path: self.path.clone(),
                message: format!("row of {} scores, expected {}", row.len(), self.n_items),
            });
        }
        let bytes: Vec<u8> = row.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.file.write_all(&bytes).map_err(io(&self.path))?;
        self.file.sync_data().map_err(io(&self.path))
    }

    /// Removes the partial file once R.safetensors is written.
    pub fn finish(self) -> Result<()> {
        drop(self.file);
        std::fs::remove_file(&self.path).map_err(io(&self.path))
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod storable_tests {
    use super::store::{check_storable, matrix_bytes};
    use super::*;

    #[test]
    fn nan_and_f16_overflow_are_refused_with_their_position() {
        let dir = tempfile::tempdir().unwrap();
        let nan = Matrix::new(2, 3, vec![0.0, 1.0, 2.0, 3.0, f32::NAN, 5.0]).unwrap();
        let err = matrix_bytes(dir.path(), &nan, StoreDtype::F32)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("anchor query 1, item 1") && err.contains("NaN"),
            "{err}"
        );
        let big = Matrix::new(1, 2, vec![1.0, 70000.0]).unwrap();
        let err = check_storable(&big, StoreDtype::F16).unwrap_err();
        assert!(err.contains("70000") && err.contains("item 1"), "{err}");
        // The same value is fine in f32.
        let bytes = matrix_bytes(dir.path(), &big, StoreDtype::F32).unwrap();
        let file = store::put(dir.path(), "R", "safetensors", &bytes).unwrap();
        let m = Manifest {
            k_q: 1,
            n_items: 2,
            r_file: Some(file),
            anchors_file: None,
            ..tests::manifest(true)
        };
        assert_eq!(m.read_matrix(dir.path()).unwrap().data(), &[1.0, 70000.0]);
    }
}
