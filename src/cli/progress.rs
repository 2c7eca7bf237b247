//! A one-line progress meter on stderr for long CLI jobs (rate and ETA), silent when
//! stderr is not a terminal so that logs stay clean.

use std::io::{IsTerminal, Write};
use std::time::Instant;

pub struct Progress {
    label: String,
    start: Instant,
    last_draw: Option<Instant>,
    enabled: bool,
}

impl Progress {
    pub fn new(label: &str) -> Self {
        Self {
            label: label.to_string(),
            start: Instant::now(),
            last_draw: None,
            enabled: std::io::stderr().is_terminal(),
        }
    }

    pub fn update(&mut self, done: usize, total: usize) {
        if !self.enabled {
            return;
        }
        let now = Instant::now();
        if self
            .last_draw
            .is_some_and(|t| now.duration_since(t).as_millis() < 100 && done < total)
        {
            return;
        }
        self.last_draw = Some(now);
        let secs = self.start.elapsed().as_secs_f64().max(1e-9);
        let rate = done as f64 / secs;
        let eta = if rate > 0.0 {
            (total.saturating_sub(done)) as f64 / rate
        } else {
            0.0
        };
        let pct = if total > 0 {
            100.0 * done as f64 / total as f64
        } else {
            100.0
        };
        let _ = write!(
            std::io::stderr(),
            "\r{}: {done}/{total} ({pct:.0}%), {rate:.0}/s, ETA {eta:.0}s   ",
            self.label
        );
        if done >= total {
            let _ = writeln!(std::io::stderr());
        }
    }
}
