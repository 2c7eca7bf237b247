//! One writer per index folder: a build, an import or a merge holds `.relex-lock` in the
//! folder while it writes, and a second one is told who holds it instead of interleaving
//! its rows or files with the first. A lock left by a process that no longer runs on
//! this machine (a kill, a crash) is taken over.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{io, IndexError, Result};

const LOCK_FILE: &str = ".relex-lock";

/// Who holds a folder's lock.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Holder {
    pid: u32,
    host: String,
    /// What it is doing ("index build", "index merge", …).
    what: String,
    /// Seconds since the Unix epoch when it took the lock.
    since: u64,
}

/// Held while a folder is written; dropping it releases the lock.
#[derive(Debug)]
pub struct IndexLock {
    path: PathBuf,
}

impl IndexLock {
    /// Takes the lock of `dir` (which must exist) for `what`.
    pub fn acquire(dir: &Path, what: &str) -> Result<Self> {
        let path = dir.join(LOCK_FILE);
        let me = Holder {
            pid: std::process::id(),
            host: host_name(),
            what: what.to_string(),
            since: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
        };
        // Two tries: the second after taking over a stale lock.
        for _ in 0..2 {
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
            {
                Ok(mut f) => {
                    let text = serde_json::to_string(&me).unwrap_or_default();
                    f.write_all(text.as_bytes()).map_err(io(&path))?;
                    return Ok(Self { path });
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let held = std::fs::read_to_string(&path)
                        .ok()
                        .and_then(|t| serde_json::from_str::<Holder>(&t).ok());
                    match held {
                        Some(h) if h.host == me.host && !process_runs(h.pid) => {
                            // Its holder is gone: the lock is stale.
                            std::fs::remove_file(&path).map_err(io(&path))?;
                        }
                        Some(h) => {
                            return Err(IndexError::Locked {
                                path: dir.to_path_buf(),
                                holder: format!(
                                    "{} (process {} on {}, since {})",
                                    h.what, h.pid, h.host, h.since
                                ),
                            })
                        }
                        // Being written this instant, or unreadable: someone holds it.
                        None => {
                            return Err(IndexError::Locked {
                                path: dir.to_path_buf(),
                                holder: format!(
                                    "another process ({} is unreadable)",
                                    path.display()
                                ),
                            })
                        }
                    }
                }
                Err(e) => return Err(io(&path)(e)),
            }
        }
        Err(IndexError::Locked {
            path: dir.to_path_buf(),
            holder: "another process (it took the lock again as a stale one was removed)".into(),
        })
    }
}

impl Drop for IndexLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "this machine".into())
}

/// Whether process `pid` runs on this machine. Where that cannot be told (no /proc), it
/// is assumed to run: a lock is never taken from a live process.
fn process_runs(pid: u32) -> bool {
    let proc = Path::new("/proc");
    !proc.is_dir() || proc.join(pid.to_string()).exists()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_writer_is_told_who_holds_the_lock_and_a_stale_lock_is_taken_over() {
        let dir = tempfile::tempdir().unwrap();
        let first = IndexLock::acquire(dir.path(), "index build").unwrap();
        let err = IndexLock::acquire(dir.path(), "index merge").unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("index build") && text.contains(&std::process::id().to_string()),
            "{text}"
        );
        drop(first);
        let again = IndexLock::acquire(dir.path(), "index merge").unwrap();
        drop(again);
        // A lock of a process that does not run (pid beyond the kernel's limit).
        let stale = Holder {
            pid: u32::MAX - 1,
            host: host_name(),
            what: "index build".into(),
            since: 0,
        };
        std::fs::write(
            dir.path().join(LOCK_FILE),
            serde_json::to_string(&stale).unwrap(),
        )
        .unwrap();
        IndexLock::acquire(dir.path(), "index import").unwrap();
    }
}
