//! Replay progress: a bar on a terminal, log lines otherwise.

use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use tracing::info;

/// Progress as a bar on a terminal, as log lines otherwise.
pub struct Progress {
    bar: Option<ProgressBar>,
    total_rows: u64,
    rows: u64,
    bytes: u64,
    started: Instant,
    last_line: Instant,
}

impl Progress {
    pub fn new(total_rows: u64) -> Self {
        let bar = std::io::IsTerminal::is_terminal(&std::io::stderr()).then(|| {
            let bar = ProgressBar::new(total_rows);
            bar.set_style(
                ProgressStyle::with_template("{bar:40} {pos}/{len} rows {per_sec} eta {eta} {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            bar
        });
        let now = Instant::now();
        Progress {
            bar,
            total_rows,
            rows: 0,
            bytes: 0,
            started: now,
            last_line: now,
        }
    }

    pub fn advance(&mut self, rows: u64, bytes: u64) {
        self.rows += rows;
        self.bytes += bytes;
        match &self.bar {
            Some(bar) => {
                bar.set_position(self.rows);
                bar.set_message(format!("{} MB", self.bytes / 1_000_000));
            }
            None if self.last_line.elapsed() >= Duration::from_secs(5) => {
                self.last_line = Instant::now();
                let rate = self.rows as f64 / self.started.elapsed().as_secs_f64().max(1e-9);
                let eta = (self.total_rows.saturating_sub(self.rows)) as f64 / rate.max(1e-9);
                info!(
                    rows = self.rows,
                    total = self.total_rows,
                    mb = self.bytes / 1_000_000,
                    rate = rate as u64,
                    eta_s = eta as u64,
                    "replay progress"
                );
            }
            None => {}
        }
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish();
        }
        info!(
            rows = self.rows,
            seconds = self.started.elapsed().as_secs_f64(),
            "replay finished"
        );
    }
}
