//! One build spread over several models at once (one per device of this machine, e.g.
//! cuda:0 and cuda:1): each scores a contiguous block of anchor rows as an in-process
//! shard under the output folder, then the shards are merged exactly as `merge` joins
//! the shards of a cluster build, and removed. Because every shard is a resumable build
//! of its own, a killed multi-device build continues where each device stopped.
//!
//! The CLI (`relex index build --devices`) and the engine both build through here.

use std::ops::{ControlFlow, Range};
use std::path::Path;
use std::sync::Mutex;

use super::{
    build, merge, AnchorQuery, BuildSpec, IndexError, ItemsStamp, Manifest, ShardSpec, ShardStamp,
    StoreDtype,
};
use crate::model::PairModel;

/// What every shard of one build shares: the items, the anchor queries and the storage.
pub struct BuildJob<'a> {
    /// The item texts exactly as the model sees them (template applied).
    pub texts: &'a [String],
    pub items: &'a ItemsStamp,
    pub anchors: &'a [AnchorQuery],
    pub dtype: StoreDtype,
    pub item_template: &'a str,
}

impl<'a> BuildJob<'a> {
    /// The build of `rows` of this job on `model`.
    pub fn spec<'m>(
        &'m self,
        model: &'m dyn PairModel,
        rows: Range<usize>,
        shard: Option<ShardStamp>,
    ) -> BuildSpec<'m> {
        BuildSpec {
            model,
            texts: self.texts,
            items: self.items.clone(),
            anchors: self.anchors[rows].to_vec(),
            dtype: self.dtype,
            item_template: self.item_template.to_string(),
            shard,
            sparse: None,
        }
    }

    /// Builds (or resumes, or finds finished) shard `s` in its folder under `out`;
    /// `on_progress` gets pairs done and pairs in the shard.
    pub fn build_shard(
        &self,
        model: &dyn PairModel,
        s: ShardSpec,
        out: &Path,
        on_progress: &mut dyn FnMut(usize, usize) -> ControlFlow<()>,
    ) -> Result<Manifest, IndexError> {
        let k_q = self.anchors.len();
        let rows = s.rows(k_q);
        let stamp = ShardStamp {
            index: s.index,
            count: s.count,
            row_start: rows.start,
            k_q_total: k_q,
            anchors_sha256: Some(crate::files::sha256_hex(&super::store::anchors_bytes(
                self.anchors,
            ))),
        };
        let spec = self.spec(model, rows, Some(stamp));
        build(spec, &s.dir(out), true, &mut |p| {
            on_progress(p.rows_done * p.n_items + p.pairs_done, p.k_q * p.n_items)
        })
    }

    /// Builds the whole index in `out` with one shard per model, all at once, then
    /// merges them. `on_progress` gets the pairs done over all models and the total; a
    /// `Break` from it stops every model (the shards resume on the next call).
    pub fn build_on_models(
        &self,
        models: &[&dyn PairModel],
        out: &Path,
        resume: bool,
        on_progress: &(dyn Fn(usize, usize) -> ControlFlow<()> + Sync),
    ) -> Result<Manifest, IndexError> {
        if let Ok(existing) = Manifest::read(out) {
            if !resume {
                return Err(IndexError::AlreadyExists {
                    path: out.to_path_buf(),
                });
            }
            // Finished (and merged) already: the same build, found, not redone.
            if existing.complete
                && existing.shard.is_none()
                && existing.read_anchors(out)? == self.anchors
                && existing.items == *self.items
            {
                return Ok(existing);
            }
        }
        let count = models.len().min(self.anchors.len());
        if count == 0 {
            return Err(IndexError::Format {
                path: out.to_path_buf(),
                message: format!(
                    "nothing to build: {} anchor queries on {} models",
                    self.anchors.len(),
                    models.len()
                ),
            });
        }
        // Shards of a build on another number of devices are found before any work, not
        // after every row was scored again beside them.
        if out.is_dir() {
            if let Some((old, dir)) = super::shard::shard_dirs(out)?
                .into_iter()
                .find(|(s, _)| s.count != count)
            {
                return Err(IndexError::Format {
                    path: dir,
                    message: format!(
                        "a shard of a build on {} devices; continue it on {} devices, or remove the shard folders to start over on {count}",
                        old.count, old.count
                    ),
                });
            }
        }
        let done = Mutex::new(vec![0usize; count]);
        let total = self.anchors.len() * self.texts.len();
        std::thread::scope(|scope| {
            let handles: Vec<_> = models[..count]
                .iter()
                .enumerate()
                .map(|(i, &model)| {
                    let done = &done;
                    scope.spawn(move || {
                        let s = ShardSpec { index: i, count };
                        self.build_shard(model, s, out, &mut |pairs, _| {
                            let sum = match done.lock() {
                                Ok(mut d) => {
                                    d[i] = pairs;
                                    d.iter().sum()
                                }
                                // Another shard's thread panicked holding the lock:
                                // its own join reports that; progress just pauses.
                                Err(_) => return ControlFlow::Continue(()),
                            };
                            on_progress(sum, total)
                        })
                    })
                })
                .collect();
            handles
                .into_iter()
                .zip(models)
                .try_for_each(|(h, model)| match h.join() {
                    Ok(result) => result.map(drop),
                    Err(_) => Err(IndexError::WorkerPanicked {
                        device: model.info().device.clone(),
                    }),
                })
        })?;
        let manifest = merge(out, resume)?;
        for index in 0..count {
            let dir = ShardSpec { index, count }.dir(out);
            std::fs::remove_dir_all(&dir).map_err(|source| IndexError::Io { path: dir, source })?;
        }
        Ok(manifest)
    }
}
