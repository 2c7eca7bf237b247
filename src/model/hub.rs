//! Hub ids (`owner/name`) resolved through the hub cache, for users with a network.
//!
//! The hub client has no time-outs of its own, so a proxy that accepts the connection
//! and never answers would hang `relex score -m owner/name` forever. The download runs
//! on a helper thread watched for progress: with no byte moving for
//! [`stall_timeout`] (default 60 s, `RELEX_HUB_TIMEOUT_SECS` to change) the command
//! gives up with an error that says so.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use super::ModelError;

/// How long a download may go without progress before it is abandoned; a value of
/// `RELEX_HUB_TIMEOUT_SECS` that is not a positive whole number of seconds is an error
/// (it was once ignored in silence).
pub fn stall_timeout(var: Option<String>) -> Result<Duration, String> {
    let Some(v) = var else {
        return Ok(Duration::from_secs(60));
    };
    match v.trim().parse::<u64>() {
        Ok(s) if s > 0 => Ok(Duration::from_secs(s)),
        _ => Err(format!(
            "RELEX_HUB_TIMEOUT_SECS={v} is not a positive whole number of seconds"
        )),
    }
}

/// Counts downloaded bytes into a shared counter (the watchdog's pulse).
struct Pulse(Arc<AtomicU64>);

impl hf_hub::api::Progress for Pulse {
    fn init(&mut self, _size: usize, _filename: &str) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
    fn update(&mut self, size: usize) {
        self.0.fetch_add(size as u64 + 1, Ordering::SeqCst);
    }
    fn finish(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// Files a cross-encoder folder needs; the first weights file found wins.
const REQUIRED: &[&str] = &["config.json"];
const TOKENIZER: &[&str] = &["tokenizer.json", "vocab.txt"];
const WEIGHTS: &[&str] = &["model.safetensors", "pytorch_model.bin"];

/// Returns a local folder holding the model: from the cache when every file is already
/// there (works offline), otherwise downloaded into the cache.
pub fn fetch(id: &str) -> Result<PathBuf, ModelError> {
    let hub_err = |message: String| ModelError::Hub {
        id: id.to_string(),
        message,
    };
    let timeout = stall_timeout(std::env::var("RELEX_HUB_TIMEOUT_SECS").ok()).map_err(hub_err)?;
    let cache = hf_hub::Cache::from_env();
    let cached = cache.model(id.to_string());
    let cached_folder = || -> Option<PathBuf> {
        let config = cached.get("config.json")?;
        TOKENIZER.iter().find_map(|f| cached.get(f))?;
        WEIGHTS.iter().find_map(|f| cached.get(f))?;
        config.parent().map(|p| p.to_path_buf())
    };
    if let Some(dir) = cached_folder() {
        return Ok(dir);
    }
    if std::env::var("HF_HUB_OFFLINE").is_ok_and(|v| v == "1") {
        return Err(hub_err(
            "not in the local hub cache and HF_HUB_OFFLINE=1; download it once with a network, or pass a model folder".into(),
        ));
    }
    let pulse = Arc::new(AtomicU64::new(0));
    let (tx, rx) = mpsc::channel();
    let (thread_id, thread_pulse) = (id.to_string(), pulse.clone());
    std::thread::Builder::new()
        .name("relex-hub".into())
        .spawn(move || {
            let _ = tx.send(download(&thread_id, &thread_pulse));
        })
        .map_err(|e| hub_err(format!("cannot start the download thread: {e}")))?;
    watch(&rx, &pulse, timeout).unwrap_or_else(|waited| {
        Err(hub_err(format!(
            "no answer from the hub for {} s (no network, or a proxy that does not respond?); \
             pass a local model folder, or set RELEX_HUB_TIMEOUT_SECS to wait longer",
            waited.as_secs()
        )))
    })
}

/// Waits for the download's result while its pulse moves; `Err(waited)` once it has
/// not moved for `stall`.
fn watch<T>(rx: &mpsc::Receiver<T>, pulse: &AtomicU64, stall: Duration) -> Result<T, Duration> {
    let mut seen = pulse.load(Ordering::SeqCst);
    let mut since = Instant::now();
    loop {
        match rx.recv_timeout(Duration::from_millis(200).min(stall)) {
            Ok(v) => return Ok(v),
            Err(mpsc::RecvTimeoutError::Disconnected) => return Err(since.elapsed()),
            Err(mpsc::RecvTimeoutError::Timeout) => {}
        }
        let now = pulse.load(Ordering::SeqCst);
        if now != seen {
            seen = now;
            since = Instant::now();
        } else if since.elapsed() >= stall {
            return Err(since.elapsed());
        }
    }
}

/// The download itself (on the helper thread).
fn download(id: &str, pulse: &Arc<AtomicU64>) -> Result<PathBuf, ModelError> {
    let hub_err = |message: String| ModelError::Hub {
        id: id.to_string(),
        message,
    };
    let api = hf_hub::api::sync::ApiBuilder::from_env()
        .with_progress(false)
        .build()
        .map_err(|e| hub_err(format!("cannot start the hub client: {e}")))?;
    let cache = hf_hub::Cache::from_env().model(id.to_string());
    let api_repo = api.model(id.to_string());
    let repo = Repo {
        api: &api_repo,
        cache: &cache,
        pulse,
    };
    let offline_hint = |e: hf_hub::api::sync::ApiError| {
        hub_err(format!(
            "download failed ({e}); without a network, pass a local model folder instead"
        ))
    };
    let mut dir = None;
    for f in REQUIRED {
        let p = repo.get(f).map_err(offline_hint)?;
        dir = p.parent().map(|d| d.to_path_buf());
    }
    let mut got_tokenizer = false;
    for f in TOKENIZER {
        if repo.get(f).is_ok() {
            got_tokenizer = true;
            break;
        }
    }
    if !got_tokenizer {
        return Err(hub_err(
            "the repository has no tokenizer.json or vocab.txt".into(),
        ));
    }
    let mut got_weights = false;
    for f in WEIGHTS {
        if repo.get(f).is_ok() {
            got_weights = true;
            break;
        }
    }
    if !got_weights {
        return Err(hub_err(
            "the repository has no model.safetensors or pytorch_model.bin".into(),
        ));
    }
    dir.ok_or_else(|| hub_err("download gave no local path".into()))
}

/// A repository read through the cache first, downloads feeding the pulse.
struct Repo<'a> {
    api: &'a hf_hub::api::sync::ApiRepo,
    cache: &'a hf_hub::CacheRepo,
    pulse: &'a Arc<AtomicU64>,
}

impl Repo<'_> {
    fn get(&self, file: &str) -> Result<PathBuf, hf_hub::api::sync::ApiError> {
        match self.cache.get(file) {
            Some(p) => Ok(p),
            None => self
                .api
                .download_with_progress(file, Pulse(self.pulse.clone())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stall_timeout_is_read_or_refused_by_value() {
        assert_eq!(stall_timeout(None), Ok(Duration::from_secs(60)));
        assert_eq!(
            stall_timeout(Some(" 5 ".into())),
            Ok(Duration::from_secs(5))
        );
        for bad in ["0", "-3", "ten", "1.5", ""] {
            let err = stall_timeout(Some(bad.into())).unwrap_err();
            assert!(err.contains("RELEX_HUB_TIMEOUT_SECS"), "{bad}: {err}");
        }
    }

    #[test]
    fn the_watchdog_gives_up_on_a_silent_download_and_waits_for_a_moving_one() {
        // Silent: nothing arrives and the pulse never moves.
        let (_tx, rx) = mpsc::channel::<u32>();
        let pulse = AtomicU64::new(0);
        let t = Instant::now();
        let waited = watch(&rx, &pulse, Duration::from_millis(300)).unwrap_err();
        assert!(waited >= Duration::from_millis(300));
        assert!(t.elapsed() < Duration::from_secs(5));
        // Moving: progress keeps it alive past the stall time, then the result arrives.
        let (tx, rx) = mpsc::channel::<u32>();
        let pulse = Arc::new(AtomicU64::new(0));
        let p = pulse.clone();
        std::thread::spawn(move || {
            for _ in 0..8 {
                std::thread::sleep(Duration::from_millis(100));
                p.fetch_add(1, Ordering::SeqCst);
            }
            let _ = tx.send(7);
        });
        assert_eq!(watch(&rx, &pulse, Duration::from_millis(300)), Ok(7));
    }
}
