//! Index builds split across processes or machines: shard `i` of `N` scores a contiguous
//! block of the anchor queries into its own folder beside the final index
//! (`OUT/shard-0002-of-0008/`, an ordinary resumable index of those rows), and
//! [`merge`] joins finished shards into `OUT` byte for byte as a single build would
//! have written it. Shards are idempotent: running one again resumes it, or returns at
//! once when it is finished; a shard folder built with another model, other items or
//! other anchor queries is refused, never mixed in.

use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::store::{anchors_bytes, check_storable, matrix_bytes, put};
use super::{IndexError, IndexLock, Manifest, Result, FORMAT_VERSION};
use crate::approx::Matrix;

/// Shard `index` of `count` (0-based).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardSpec {
    pub index: usize,
    pub count: usize,
}

impl std::str::FromStr for ShardSpec {
    type Err = String;

    /// `i/N`, 0-based: `0/4` … `3/4`.
    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        let (i, n) = s
            .split_once('/')
            .ok_or_else(|| format!("`{s}`: expected i/N, e.g. 0/4 (shards count from 0)"))?;
        let parse = |v: &str| {
            v.trim()
                .parse::<usize>()
                .map_err(|_| format!("`{s}`: `{v}` is not a whole number"))
        };
        ShardSpec::new(parse(i)?, parse(n)?)
    }
}

impl std::fmt::Display for ShardSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// The environment variables schedulers set for array jobs, read when no `--shard` is
/// given. Slurm: `SLURM_ARRAY_TASK_ID` (minus `SLURM_ARRAY_TASK_MIN`, so `--array=1-8`
/// works) of `SLURM_ARRAY_TASK_COUNT`. Kubernetes Indexed Jobs: `JOB_COMPLETION_INDEX`
/// of `RELEX_SHARD_COUNT` (Kubernetes does not export the completion count; the
/// manifest in docs/ sets it from the same number).
pub const SHARD_ENV_VARS: [&str; 4] = [
    "SLURM_ARRAY_TASK_ID",
    "SLURM_ARRAY_TASK_COUNT",
    "JOB_COMPLETION_INDEX",
    "RELEX_SHARD_COUNT",
];

impl ShardSpec {
    pub fn new(index: usize, count: usize) -> std::result::Result<Self, String> {
        if count == 0 {
            return Err("the shard count must be at least 1".into());
        }
        if index >= count {
            return Err(format!(
                "shard {index}/{count}: shards count from 0, so the last is {}/{count}",
                count - 1
            ));
        }
        Ok(Self { index, count })
    }

    /// The shard a scheduler assigned through the environment (`var` reads a variable),
    /// with the name of the scheduler; `None` when no scheduler variable is set.
    pub fn from_env(
        var: impl Fn(&str) -> Option<String>,
    ) -> std::result::Result<Option<(Self, &'static str)>, String> {
        let num = |name: &str| -> std::result::Result<Option<usize>, String> {
            match var(name) {
                None => Ok(None),
                Some(v) => v
                    .trim()
                    .parse()
                    .map(Some)
                    .map_err(|_| format!("{name}={v} is not a whole number")),
            }
        };
        if let Some(id) = num("SLURM_ARRAY_TASK_ID")? {
            let count = num("SLURM_ARRAY_TASK_COUNT")?
                .ok_or("SLURM_ARRAY_TASK_ID is set but SLURM_ARRAY_TASK_COUNT is not")?;
            let min = num("SLURM_ARRAY_TASK_MIN")?.unwrap_or(0);
            let index = id.checked_sub(min).ok_or(format!(
                "SLURM_ARRAY_TASK_ID={id} is below SLURM_ARRAY_TASK_MIN={min}"
            ))?;
            return Ok(Some((Self::new(index, count)?, "Slurm array")));
        }
        if let Some(index) = num("JOB_COMPLETION_INDEX")? {
            let count = num("RELEX_SHARD_COUNT")?.ok_or(
                "JOB_COMPLETION_INDEX is set but RELEX_SHARD_COUNT is not: set it to the Job's completions",
            )?;
            return Ok(Some((Self::new(index, count)?, "Kubernetes Indexed Job")));
        }
        if var("RELEX_SHARD_COUNT").is_some() {
            return Err(
                "RELEX_SHARD_COUNT is set but JOB_COMPLETION_INDEX is not: run the build as a Kubernetes Indexed Job, or pass --shard i/N".into(),
            );
        }
        Ok(None)
    }

    /// The anchor rows of this shard: contiguous, every row in exactly one shard, sizes
    /// differing by at most one.
    pub fn rows(&self, k_q: usize) -> Range<usize> {
        (self.index * k_q / self.count)..((self.index + 1) * k_q / self.count)
    }

    /// The shard's folder inside the final index folder.
    pub fn dir(&self, out: &Path) -> PathBuf {
        out.join(format!("shard-{:04}-of-{:04}", self.index, self.count))
    }
}

/// Where a shard sits in the whole build; stored in the shard's manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardStamp {
    pub index: usize,
    pub count: usize,
    /// First anchor row (of the whole build) in this shard.
    pub row_start: usize,
    /// Anchor queries of the whole build.
    pub k_q_total: usize,
    /// SHA-256 of the whole build's anchor-query file: shards of different anchor sets
    /// (of the same size) are never merged. Absent in shards of format 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub anchors_sha256: Option<String>,
}

/// The shard folders found in `out`, by shard index; all must agree on the count.
pub(super) fn shard_dirs(out: &Path) -> Result<Vec<(ShardSpec, PathBuf)>> {
    let entries = std::fs::read_dir(out).map_err(|source| IndexError::Io {
        path: out.to_path_buf(),
        source,
    })?;
    let mut found = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|source| IndexError::Io {
            path: out.to_path_buf(),
            source,
        })?;
        let name = entry.file_name().to_string_lossy().to_string();
        let Some(rest) = name.strip_prefix("shard-") else {
            continue;
        };
        let Some((i, n)) = rest.split_once("-of-") else {
            continue;
        };
        if let (Ok(i), Ok(n)) = (i.parse(), n.parse()) {
            if let Ok(spec) = ShardSpec::new(i, n) {
                found.push((spec, entry.path()));
            }
        }
    }
    found.sort_by_key(|(s, _)| (s.count, s.index));
    Ok(found)
}

/// Joins the finished shards in `out` into the index in `out`: the same manifest,
/// anchor queries and R a single build writes. Every shard must be present, finished
/// and built with the same model, items, template, storage type and anchor set; every
/// score is checked (naming the shard of a bad one) before anything in `out` changes,
/// and the merged index replaces a finished index there (only when `replace`) in one step. The shard folders are left
/// in place (delete them once the merged index is checked).
pub fn merge(out: &Path, replace: bool) -> Result<Manifest> {
    let err = |message: String| IndexError::Format {
        path: out.to_path_buf(),
        message,
    };
    let shards = shard_dirs(out)?;
    let Some((first, _)) = shards.first() else {
        return Err(err("no shard-*-of-* folders here to merge".into()));
    };
    let count = first.count;
    if let Some((other, dir)) = shards.iter().find(|(s, _)| s.count != count) {
        return Err(err(format!(
            "shards of different builds: {} is one of {}, others of {count}",
            dir.display(),
            other.count
        )));
    }
    let present: Vec<usize> = shards.iter().map(|(s, _)| s.index).collect();
    let missing: Vec<String> = (0..count)
        .filter(|i| !present.contains(i))
        .map(|i| format!("{i}/{count}"))
        .collect();
    if !missing.is_empty() {
        return Err(err(format!("missing shards: {}", missing.join(", "))));
    }
    let mut manifests = Vec::with_capacity(count);
    let mut anchors = Vec::new();
    for (spec, dir) in &shards {
        let m = Manifest::read(dir)?;
        let stamp = m.shard.clone().ok_or_else(|| IndexError::Format {
            path: dir.clone(),
            message: "not a shard (its manifest has no shard entry)".into(),
        })?;
        if !m.complete {
            return Err(IndexError::Format {
                path: dir.clone(),
                message: format!(
                    "shard {spec} is not finished ({} of {} rows); run it again to resume",
                    m.rows_done, m.k_q
                ),
            });
        }
        if stamp.index != spec.index
            || stamp.count != spec.count
            || stamp.row_start != anchors.len()
        {
            return Err(IndexError::Format {
                path: dir.clone(),
                message: format!(
                    "shard entry {}/{} from row {} does not fit its folder name or the shards before it",
                    stamp.index, stamp.count, stamp.row_start
                ),
            });
        }
        anchors.extend(m.read_anchors(dir)?);
        manifests.push(m);
    }
    let head = &manifests[0];
    for (m, (_, dir)) in manifests.iter().zip(&shards) {
        m.check_matches(dir, &head.model, &head.items)?;
        let whole = |m: &Manifest| {
            m.shard
                .as_ref()
                .map(|s| (s.k_q_total, s.anchors_sha256.clone()))
        };
        let same = m.dtype == head.dtype
            && m.item_template == head.item_template
            && m.n_items == head.n_items
            && whole(m) == whole(head);
        if !same {
            return Err(IndexError::Format {
                path: dir.clone(),
                message:
                    "built with another storage type, item template or anchor set than shard 0"
                        .into(),
            });
        }
    }
    let k_q = anchors.len();
    let expected = head.shard.as_ref().map_or(0, |s| s.k_q_total);
    if k_q != expected {
        return Err(err(format!(
            "the shards hold {k_q} anchor rows, but the build has {expected}"
        )));
    }
    let anchors_file = anchors_bytes(&anchors);
    if let Some(Some(expected)) = head.shard.as_ref().map(|s| &s.anchors_sha256) {
        if crate::files::sha256_hex(&anchors_file) != *expected {
            return Err(err(
                "the shards' anchor queries, joined, are not the anchor set they were built for"
                    .into(),
            ));
        }
    }
    let n = head.n_items;
    let mut data = Vec::with_capacity(k_q * n);
    for (m, (_, dir)) in manifests.iter().zip(&shards) {
        let rows = m.read_matrix(dir)?;
        check_storable(&rows, head.dtype).map_err(|message| IndexError::Format {
            path: dir.clone(),
            message,
        })?;
        data.extend_from_slice(rows.data());
    }
    let r = Matrix::new(k_q, n, data)?;
    let r_bytes = matrix_bytes(out, &r, head.dtype)?;
    let merged = Manifest {
        format_version: FORMAT_VERSION,
        model: head.model.clone(),
        items: head.items.clone(),
        k_q,
        n_items: n,
        dtype: head.dtype,
        item_template: head.item_template.clone(),
        pseudo_queries: anchors.iter().all(|a| a.pseudo),
        rows_done: k_q,
        complete: true,
        shard: None,
        anchors_file: None,
        r_file: None,
        sparse: None,
    };
    // Everything is checked: now write, and make the index visible in one step.
    let _lock = IndexLock::acquire(out, "index merge")?;
    if !replace && Manifest::read(out).is_ok_and(|m| m.complete) {
        return Err(IndexError::AlreadyExists {
            path: out.to_path_buf(),
        });
    }
    let merged = Manifest {
        anchors_file: Some(put(out, "anchor_queries", "jsonl", &anchors_file)?),
        r_file: Some(put(out, "R", "safetensors", &r_bytes)?),
        ..merged
    };
    merged.commit(out)?;
    Ok(merged)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_cover_every_row_once() {
        for k_q in [1, 7, 100, 401] {
            for count in 1..=9.min(k_q) {
                let mut next = 0;
                for index in 0..count {
                    let r = ShardSpec::new(index, count).unwrap().rows(k_q);
                    assert_eq!(r.start, next);
                    assert!(!r.is_empty(), "{k_q} rows, shard {index}/{count}");
                    next = r.end;
                }
                assert_eq!(next, k_q);
            }
        }
    }

    #[test]
    fn shard_specs_parse_and_check_bounds() {
        assert_eq!("2/4".parse(), Ok(ShardSpec { index: 2, count: 4 }));
        assert!("4/4"
            .parse::<ShardSpec>()
            .unwrap_err()
            .contains("count from 0"));
        assert!("1".parse::<ShardSpec>().unwrap_err().contains("i/N"));
        assert!("0/0".parse::<ShardSpec>().is_err());
    }

    #[test]
    fn schedulers_assign_shards_through_the_environment() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.to_string())
            }
        };
        assert_eq!(ShardSpec::from_env(env(&[])), Ok(None));
        let slurm = ShardSpec::from_env(env(&[
            ("SLURM_ARRAY_TASK_ID", "3"),
            ("SLURM_ARRAY_TASK_MIN", "1"),
            ("SLURM_ARRAY_TASK_COUNT", "4"),
        ]));
        assert_eq!(
            slurm,
            Ok(Some((ShardSpec { index: 2, count: 4 }, "Slurm array")))
        );
        let k8s = ShardSpec::from_env(env(&[
            ("JOB_COMPLETION_INDEX", "0"),
            ("RELEX_SHARD_COUNT", "3"),
        ]));
        assert_eq!(
            k8s,
            Ok(Some((
                ShardSpec { index: 0, count: 3 },
                "Kubernetes Indexed Job"
            )))
        );
        let half = ShardSpec::from_env(env(&[("JOB_COMPLETION_INDEX", "0")]));
        assert!(half.unwrap_err().contains("RELEX_SHARD_COUNT"));
        let other_half = ShardSpec::from_env(env(&[("RELEX_SHARD_COUNT", "3")]));
        assert!(other_half.unwrap_err().contains("JOB_COMPLETION_INDEX"));
        let out_of_range = ShardSpec::from_env(env(&[
            ("SLURM_ARRAY_TASK_ID", "5"),
            ("SLURM_ARRAY_TASK_COUNT", "4"),
        ]));
        assert!(out_of_range.is_err());
    }
}
