//! Building an index, row by row, each finished row flushed to disk, so an interrupted
//! build resumes where it stopped. A dense build scores every anchor query against every
//! item (k_q × N CE calls; a GPU scores a few rows at once); a sparse build (AXN, see
//! `sparse.rs`) only the items its plan names for each query, then factorises them.

use std::ops::ControlFlow;
use std::path::Path;

use super::store::{anchors_bytes, matrix_bytes, put};
use super::{
    AnchorQuery, IndexError, IndexLock, ItemsStamp, Manifest, ModelStamp, RowWriter, ShardStamp,
    SparsePlan, StoreDtype, FORMAT_VERSION,
};
use crate::approx::Matrix;
use crate::model::{ModelError, PairModel, ScoreOptions};

/// Progress of a build: finished rows, and pairs of the current row.
#[derive(Debug, Clone, Copy)]
pub struct BuildProgress {
    pub rows_done: usize,
    pub k_q: usize,
    pub pairs_done: usize,
    pub n_items: usize,
}

pub struct BuildSpec<'a> {
    pub model: &'a dyn PairModel,
    /// The item texts exactly as the model sees them (template applied).
    pub texts: &'a [String],
    pub items: ItemsStamp,
    pub anchors: Vec<AnchorQuery>,
    pub dtype: StoreDtype,
    pub item_template: String,
    /// For a shard: where its rows (`anchors`) sit in the whole build.
    pub shard: Option<ShardStamp>,
    /// A sparse build's plan (`None`: dense).
    pub sparse: Option<SparsePlan>,
}

/// Builds (or resumes) the index in `out`. With `resume` false an existing index folder
/// is an error, so a finished index is never overwritten by accident.
pub fn build(
    spec: BuildSpec<'_>,
    out: &Path,
    resume: bool,
    on_progress: &mut dyn FnMut(BuildProgress) -> ControlFlow<()>,
) -> Result<Manifest, IndexError> {
    let n = spec.texts.len();
    let k_q = spec.anchors.len();
    if k_q == 0 || n == 0 {
        return Err(IndexError::Format {
            path: out.to_path_buf(),
            message: format!("nothing to build: {k_q} anchor queries × {n} items"),
        });
    }
    std::fs::create_dir_all(out).map_err(|source| IndexError::Io {
        path: out.to_path_buf(),
        source,
    })?;
    let _lock = IndexLock::acquire(out, "index build")?;
    let model = ModelStamp {
        name: spec.model.info().name.clone(),
        fingerprint: spec.model.info().fingerprint.clone(),
    };
    let fresh = Manifest {
        format_version: FORMAT_VERSION,
        model: model.clone(),
        items: spec.items.clone(),
        k_q,
        n_items: n,
        dtype: spec.dtype,
        item_template: spec.item_template.clone(),
        pseudo_queries: spec.anchors.iter().all(|a| a.pseudo),
        rows_done: 0,
        complete: false,
        shard: spec.shard.clone(),
        anchors_file: None,
        r_file: None,
        sparse: spec.sparse.as_ref().map(|p| p.layout.clone()),
    };
    let manifest = open_or_start(&spec, out, resume, &model, fresh)?;
    if manifest.complete {
        return Ok(manifest);
    }
    match &spec.sparse {
        Some(plan) => sparse_rows(&spec, plan, out, manifest, on_progress),
        None => dense_rows(&spec, out, manifest, on_progress),
    }
}

/// The manifest this build continues: the one in `out` when resuming (checked against
/// the spec; a finished one is returned as it is), else a fresh one committed with the
/// anchor queries.
fn open_or_start(
    spec: &BuildSpec<'_>,
    out: &Path,
    resume: bool,
    model: &ModelStamp,
    fresh: Manifest,
) -> Result<Manifest, IndexError> {
    let k_q = spec.anchors.len();
    match Manifest::read(out) {
        Ok(existing) => {
            if !resume {
                return Err(IndexError::AlreadyExists {
                    path: out.to_path_buf(),
                });
            }
            existing.check_matches(out, model, &spec.items)?;
            let layout = |m: &Manifest| m.sparse.as_ref().map(|s| s.plan_only());
            if layout(&existing) != layout(&fresh) {
                return Err(IndexError::Format {
                    path: out.to_path_buf(),
                    message: "this folder holds an index of another kind or sparse layout than the one asked for".into(),
                });
            }
            if existing.shard != spec.shard {
                return Err(IndexError::Format {
                    path: out.to_path_buf(),
                    message: "this folder holds another shard layout than the one asked for".into(),
                });
            }
            if existing.k_q != k_q || existing.read_anchors(out)? != spec.anchors {
                return Err(IndexError::Format {
                    path: out.to_path_buf(),
                    message: "the anchor queries differ from those the build started with".into(),
                });
            }
            if existing.complete {
                return Ok(existing);
            }
            // A format-1 build carries on in format 2: its anchors under their hash.
            let mut existing = existing;
            if existing.anchors_file.is_none() {
                existing.anchors_file = Some(put(
                    out,
                    "anchor_queries",
                    "jsonl",
                    &anchors_bytes(&spec.anchors),
                )?);
                existing.format_version = FORMAT_VERSION;
            }
            Ok(existing)
        }
        Err(IndexError::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
            // Rows without a manifest belong to no known build (another model, other
            // items, another tokenizer...): they are never reused.
            let leftover = out.join("rows.partial");
            match std::fs::remove_file(&leftover) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(source) => {
                    return Err(IndexError::Io {
                        path: leftover,
                        source,
                    })
                }
            }
            let fresh = Manifest {
                anchors_file: Some(put(
                    out,
                    "anchor_queries",
                    "jsonl",
                    &anchors_bytes(&spec.anchors),
                )?),
                ..fresh
            };
            fresh.commit(out)?;
            Ok(fresh)
        }
        Err(e) => Err(e),
    }
}

/// The rows of a sparse build: each anchor query against its plan's items.
fn sparse_rows(
    spec: &BuildSpec<'_>,
    plan: &SparsePlan,
    out: &Path,
    mut manifest: Manifest,
    on_progress: &mut dyn FnMut(BuildProgress) -> ControlFlow<()>,
) -> Result<Manifest, IndexError> {
    let (n, k_q) = (spec.texts.len(), spec.anchors.len());
    if plan.columns.len() != k_q {
        return Err(IndexError::Format {
            path: out.to_path_buf(),
            message: format!(
                "a sparse plan of {} rows for {k_q} anchor queries",
                plan.columns.len()
            ),
        });
    }
    let k_s = plan.layout.per_row;
    let (mut writer, mut rows) = RowWriter::open(out, k_s)?;
    rows.truncate(k_q);
    while rows.len() < k_q {
        let q = rows.len();
        let query = spec.model.prepare(&spec.anchors[q].text)?;
        let texts: Vec<&str> = plan.columns[q]
            .iter()
            .map(|&j| spec.texts[j].as_str())
            .collect();
        let mut row = vec![0f32; k_s];
        let res =
            spec.model
                .score_prepared(&query, &texts, &ScoreOptions::default(), &mut |batch, p| {
                    for &(i, s) in batch {
                        row[i] = s.logit;
                    }
                    on_progress(BuildProgress {
                        rows_done: q,
                        k_q,
                        pairs_done: p.done,
                        n_items: k_s,
                    })
                });
        if let Err(e) = res {
            return Err(stopped_or(e, &mut manifest, out, rows.len(), k_q)?);
        }
        writer.push(&row)?;
        rows.push(row);
        manifest.rows_done = rows.len();
        manifest.write(out)?;
    }
    manifest.sparse = Some(super::sparse::finish(out, plan, n, &rows)?);
    manifest.complete = true;
    manifest.commit(out)?;
    writer.finish()?;
    Ok(manifest)
}

/// The rows of a dense build: each anchor query against every item.
fn dense_rows(
    spec: &BuildSpec<'_>,
    out: &Path,
    mut manifest: Manifest,
    on_progress: &mut dyn FnMut(BuildProgress) -> ControlFlow<()>,
) -> Result<Manifest, IndexError> {
    let (n, k_q) = (spec.texts.len(), spec.anchors.len());
    let (mut writer, mut rows) = RowWriter::open(out, n)?;
    rows.truncate(k_q);
    let text_refs: Vec<&str> = spec.texts.iter().map(String::as_str).collect();
    // Every row pairs another query with the same items: tokenise them once.
    let prepared_items = spec.model.prepare_items(&text_refs)?;
    // A GPU scores several rows as one stream of batches (about 64k pairs), so it never
    // idles between rows; rows are still written, and resumable, one by one.
    let rows_per_call = if spec.model.info().device == "cpu" {
        1
    } else {
        (ScoreOptions::GPU.max_batch_tokens / n).clamp(1, 64)
    };
    while rows.len() < k_q {
        let first = rows.len();
        let last = (first + rows_per_call).min(k_q);
        let queries = spec.anchors[first..last]
            .iter()
            .map(|a| spec.model.prepare(&a.text))
            .collect::<Result<Vec<_>, _>>()?;
        let mut block = vec![0f32; (last - first) * n];
        let res = spec.model.score_grid(
            &queries,
            &text_refs,
            &prepared_items,
            &ScoreOptions::default(),
            &mut |batch, p| {
                for &(i, s) in batch {
                    block[i] = s.logit;
                }
                // Pairs of a group arrive in any row order: progress counts them as
                // rows filled in turn (a row's last pair still counts as in that row).
                let whole = p.done.saturating_sub(1) / n;
                on_progress(BuildProgress {
                    rows_done: first + whole,
                    k_q,
                    pairs_done: p.done - whole * n,
                    n_items: n,
                })
            },
        );
        if let Err(e) = res {
            return Err(stopped_or(e, &mut manifest, out, rows.len(), k_q)?);
        }
        for row in block.chunks_exact(n) {
            writer.push(row)?;
            rows.push(row.to_vec());
        }
        manifest.rows_done = rows.len();
        manifest.write(out)?;
    }
    let data: Vec<f32> = rows.into_iter().flatten().collect();
    let r = Matrix::new(k_q, n, data)?;
    manifest.r_file = Some(put(
        out,
        "R",
        "safetensors",
        &matrix_bytes(out, &r, spec.dtype)?,
    )?);
    manifest.complete = true;
    manifest.rows_done = k_q;
    manifest.commit(out)?;
    writer.finish()?;
    Ok(manifest)
}

/// The error a scoring failure ends a build with: a cancel records the rows done and
/// says the build stopped (it resumes from there); anything else is the model's error.
fn stopped_or(
    e: ModelError,
    manifest: &mut Manifest,
    out: &Path,
    rows_done: usize,
    k_q: usize,
) -> Result<IndexError, IndexError> {
    if !matches!(e, ModelError::Cancelled) {
        return Ok(e.into());
    }
    manifest.rows_done = rows_done;
    manifest.write(out)?;
    Ok(IndexError::Stopped {
        path: out.to_path_buf(),
        rows_done,
        k_q,
    })
}
