//! Sparse (AXN) indexes: each anchor query is scored against only `k_s` items, most of
//! them retrieved by TF-IDF from the anchor query's text, the rest random (the same
//! entries `approx::axn::index_from_dense` simulates on a dense R), so an index of N
//! items costs k_q · k_s CE calls instead of k_q · N. The rows are built, flushed and
//! resumed like a dense build's (`build.rs` drives both); at the end the observed
//! entries are factorised (ALS) into item embeddings, which AXN searches.
//!
//! Files beside the manifest: `S-<sha>.safetensors` (the observed entries: `cols` u32 and
//! `scores` f16, both `[k_q, k_s]`) and `axn-<sha>.safetensors` (`v` f32 `[d, N]`, `bias`
//! f32 `[N]`), named with their hashes in the manifest's `sparse` entry.

use std::collections::HashMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::store::{put, FileRef};
use super::{IndexError, Manifest, Result};
use crate::approx::axn::{self, AxnFactorParams, AxnIndex, SparseScores};
use crate::approx::{Matrix, TfIdfIndex};

/// How a sparse index chose and factorised its entries; stored in the manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SparseLayout {
    /// Items scored per anchor query (`k_s`).
    pub per_row: usize,
    /// Of those, retrieved by the first stage (the rest random).
    pub retrieved: usize,
    /// The first stage: `tfidf` (over the item texts), or `run:<sha256>` for a user's
    /// candidate file (TREC run format) of that content.
    #[serde(default = "tfidf_stage")]
    pub first_stage: String,
    /// Seed of the random share and of the factorisation.
    pub seed: u64,
    pub rank: usize,
    pub lambda: f64,
    pub iterations: usize,
    /// The observed entries, once complete.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entries_file: Option<FileRef>,
    /// The item embeddings, once complete.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub factor_file: Option<FileRef>,
}

fn tfidf_stage() -> String {
    "tfidf".into()
}

impl SparseLayout {
    /// The layout without its files: what a resumed build must agree on.
    pub fn plan_only(&self) -> Self {
        Self {
            entries_file: None,
            factor_file: None,
            ..self.clone()
        }
    }

    fn factor_params(&self) -> AxnFactorParams {
        AxnFactorParams {
            rank: self.rank,
            lambda: self.lambda,
            iterations: self.iterations,
            seed: self.seed,
        }
    }
}

/// What a sparse build scores: per anchor query (in order) its items.
pub struct SparsePlan {
    pub layout: SparseLayout,
    pub columns: Vec<Vec<usize>>,
}

impl SparsePlan {
    /// `per_row` items per anchor query (at most N): TF-IDF's best for its text, then
    /// random ones, as `approx::axn` defines them.
    pub fn new(
        anchor_texts: &[String],
        tfidf: &TfIdfIndex,
        n_items: usize,
        per_row: usize,
    ) -> Self {
        let per_row = per_row.clamp(1, n_items.max(1));
        let retrieved = axn::retrieved_per_row(per_row);
        let first = axn::first_stage(anchor_texts, tfidf, retrieved);
        Self::from_first_stage(first, tfidf_stage(), n_items, per_row)
    }

    /// The plan from a user's candidates (a dual encoder's or BM25's run, as the AXN
    /// paper's DE-seeded variant): `run` lists each anchor query's items, best first.
    pub fn from_candidates(run: &CandidateRun, n_items: usize, per_row: usize) -> Self {
        let per_row = per_row.clamp(1, n_items.max(1));
        Self::from_first_stage(
            run.items.clone(),
            format!("run:{}", run.sha256),
            n_items,
            per_row,
        )
    }

    fn from_first_stage(
        first: Vec<Vec<usize>>,
        first_stage: String,
        n_items: usize,
        per_row: usize,
    ) -> Self {
        let factor = AxnFactorParams::default();
        let retrieved = axn::retrieved_per_row(per_row);
        let columns = first
            .iter()
            .enumerate()
            .map(|(q, f)| axn::row_columns(n_items, f, retrieved, per_row, factor.seed, q))
            .collect();
        Self {
            layout: SparseLayout {
                per_row,
                retrieved,
                first_stage,
                seed: factor.seed,
                rank: factor.rank,
                lambda: factor.lambda,
                iterations: factor.iterations,
                entries_file: None,
                factor_file: None,
            },
            columns,
        }
    }

    /// CE calls of the whole build.
    pub fn calls(&self) -> usize {
        self.columns.iter().map(Vec::len).sum()
    }
}

/// A user's candidates per anchor query, read from a TREC run file
/// (`qid Q0 docid rank score tag`, whitespace-separated; lines of a query in rank order).
pub struct CandidateRun {
    /// Per anchor query (in the index's order), its candidates' item indices, best first.
    pub items: Vec<Vec<usize>>,
    /// SHA-256 of the file, for the manifest.
    pub sha256: String,
}

impl CandidateRun {
    /// Reads `path` for these anchor queries over these items. A line naming an item that
    /// is not in the list, or a malformed line, is an error naming the file and line; an
    /// anchor query without candidates gets random items only (said in `missing`).
    pub fn read(
        path: &Path,
        anchor_ids: &[String],
        item_ids: &[String],
    ) -> Result<(Self, Vec<String>)> {
        let bytes = std::fs::read(path).map_err(super::io(path))?;
        let text = String::from_utf8_lossy(&bytes);
        let item_index: HashMap<&str, usize> = item_ids
            .iter()
            .enumerate()
            .map(|(i, id)| (id.as_str(), i))
            .collect();
        let query_index: HashMap<&str, usize> = anchor_ids
            .iter()
            .enumerate()
            .map(|(i, id)| (id.as_str(), i))
            .collect();
        let mut ranked: Vec<Vec<(f64, usize)>> = vec![Vec::new(); anchor_ids.len()];
        for (n, line) in text.lines().enumerate() {
            let fields: Vec<&str> = line.split_whitespace().collect();
            if fields.is_empty() {
                continue;
            }
            let bad = |message: String| IndexError::Format {
                path: path.to_path_buf(),
                message: format!("line {}: {message}", n + 1),
            };
            let [qid, _, docid, rank, ..] = fields[..] else {
                return Err(bad(format!(
                    "expected `qid Q0 docid rank score tag`, found {} fields",
                    fields.len()
                )));
            };
            let rank: f64 = rank
                .parse()
                .map_err(|_| bad(format!("rank `{rank}` is not a number")))?;
            let item = *item_index
                .get(docid)
                .ok_or_else(|| bad(format!("item `{docid}` is not in the item list")))?;
            // Candidates of queries that are not anchor queries are not needed.
            if let Some(&q) = query_index.get(qid) {
                ranked[q].push((rank, item));
            }
        }
        let missing = anchor_ids
            .iter()
            .zip(&ranked)
            .filter(|(_, r)| r.is_empty())
            .map(|(id, _)| id.clone())
            .collect();
        let items = ranked
            .into_iter()
            .map(|mut r| {
                r.sort_by(|a, b| a.0.total_cmp(&b.0));
                r.into_iter().map(|(_, i)| i).collect()
            })
            .collect();
        Ok((
            Self {
                items,
                sha256: crate::files::sha256_hex(&bytes),
            },
            missing,
        ))
    }
}

/// Factorises the finished rows and writes the entry and factor files; returns the
/// layout naming them.
pub(super) fn finish(
    out: &Path,
    plan: &SparsePlan,
    n_items: usize,
    rows: &[Vec<f32>],
) -> Result<SparseLayout> {
    let sparse = SparseScores {
        n_items,
        rows: plan
            .columns
            .iter()
            .zip(rows)
            .map(|(cols, scores)| cols.iter().copied().zip(scores.iter().copied()).collect())
            .collect(),
    };
    let index = AxnIndex::factorize(&sparse, &plan.layout.factor_params())?;
    let k_s = plan.layout.per_row;
    let cols: Vec<u8> = plan
        .columns
        .iter()
        .flatten()
        .flat_map(|&j| (j as u32).to_le_bytes())
        .collect();
    let scores: Vec<u8> = rows
        .iter()
        .flatten()
        .flat_map(|&s| half::f16::from_f32(s).to_le_bytes())
        .collect();
    let k_q = rows.len();
    let entries = safetensors_bytes(
        out,
        &[
            ("cols", safetensors::Dtype::U32, vec![k_q, k_s], &cols),
            ("scores", safetensors::Dtype::F16, vec![k_q, k_s], &scores),
        ],
    )?;
    let (v, bias, _) = index.parts();
    let v_bytes: Vec<u8> = v.data().iter().flat_map(|x| x.to_le_bytes()).collect();
    let b_bytes: Vec<u8> = bias.iter().flat_map(|x| x.to_le_bytes()).collect();
    let factors = safetensors_bytes(
        out,
        &[
            (
                "v",
                safetensors::Dtype::F32,
                vec![v.rows(), v.cols()],
                &v_bytes,
            ),
            ("bias", safetensors::Dtype::F32, vec![bias.len()], &b_bytes),
        ],
    )?;
    Ok(SparseLayout {
        entries_file: Some(put(out, "S", "safetensors", &entries)?),
        factor_file: Some(put(out, "axn", "safetensors", &factors)?),
        ..plan.layout.clone()
    })
}

type TensorBytes<'a> = (&'a str, safetensors::Dtype, Vec<usize>, &'a [u8]);

fn safetensors_bytes(out: &Path, tensors: &[TensorBytes<'_>]) -> Result<Vec<u8>> {
    let fmt = |e: safetensors::SafeTensorError| IndexError::Format {
        path: out.to_path_buf(),
        message: e.to_string(),
    };
    let views = tensors
        .iter()
        .map(|(name, dtype, shape, bytes)| {
            safetensors::tensor::TensorView::new(*dtype, shape.clone(), bytes)
                .map(|v| (name.to_string(), v))
                .map_err(fmt)
        })
        .collect::<Result<Vec<_>>>()?;
    safetensors::serialize(views, None::<HashMap<String, String>>).map_err(fmt)
}

impl Manifest {
    /// The item embeddings of a complete sparse index, checked against their hash.
    pub fn read_factors(&self, dir: &Path) -> Result<AxnIndex> {
        let layout = self.sparse.as_ref();
        let file =
            layout
                .and_then(|l| l.factor_file.as_ref())
                .ok_or_else(|| IndexError::Format {
                    path: dir.join("manifest.json"),
                    message: "a sparse index without its factor file".into(),
                })?;
        let (path, bytes) = super::store::read_verified(dir, file)?;
        let fmt = |message: String| IndexError::Format {
            path: path.clone(),
            message,
        };
        let st = safetensors::SafeTensors::deserialize(&bytes).map_err(|e| fmt(e.to_string()))?;
        let f32s = |name: &str| -> Result<(Vec<usize>, Vec<f32>)> {
            let t = st
                .tensor(name)
                .map_err(|_| fmt(format!("missing tensor `{name}`")))?;
            if t.dtype() != safetensors::Dtype::F32 {
                return Err(fmt(format!("tensor `{name}` is not f32")));
            }
            let data = t
                .data()
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect();
            Ok((t.shape().to_vec(), data))
        };
        let (v_shape, v) = f32s("v")?;
        let (_, bias) = f32s("bias")?;
        let [d, n] = v_shape[..] else {
            return Err(fmt(format!("tensor `v` has shape {v_shape:?}")));
        };
        if n != self.n_items {
            return Err(fmt(format!(
                "embeddings of {n} items, the manifest says {}",
                self.n_items
            )));
        }
        let lambda = layout.map_or(1.0, |l| l.lambda);
        let calls = layout.map_or(0, |l| l.per_row * self.k_q);
        Ok(AxnIndex::from_parts(
            Matrix::new(d, n, v)?,
            bias,
            lambda,
            calls,
        )?)
    }
}
