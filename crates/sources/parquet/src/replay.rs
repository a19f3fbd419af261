//! The running replay.

use std::fs::File;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use netpipe_arrow::EventReader;
use netpipe_core::{BoxError, Event, Source, SourceContext, Timestamp, async_trait};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use tracing::info;

use crate::checkpoint::{self, Checkpoint};
use crate::config::Speed;
use crate::files::FileInfo;

pub struct Replay {
    pub files: Vec<PathBuf>,
    pub speed: Speed,
    pub start: Option<Timestamp>,
    pub end: Option<Timestamp>,
    pub streams: Vec<String>,
    pub checkpoint: Option<PathBuf>,
    pub chunk_rows: usize,
}

/// Progress as a bar on a terminal, as log lines otherwise.
struct Progress {
    bar: Option<ProgressBar>,
    total_rows: u64,
    rows: u64,
    bytes: u64,
    started: Instant,
    last_line: Instant,
}

impl Progress {
    fn new(total_rows: u64) -> Self {
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

    fn advance(&mut self, rows: u64, bytes: u64) {
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

    fn finish(&self) {
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

impl Replay {
    fn keep(&self, event: &Event) -> bool {
        self.start.is_none_or(|s| event.event_time >= s)
            && self.end.is_none_or(|e| event.event_time < e)
            && (self.streams.is_empty() || self.streams.iter().any(|s| **s == *event.stream))
    }

    /// Row groups that may hold events in `start..end`.
    fn wanted(&self, range: (i64, i64)) -> bool {
        let micros = |t: Timestamp| t.as_nanos().div_euclid(1_000);
        self.start.is_none_or(|s| range.1 >= micros(s))
            && self.end.is_none_or(|e| range.0 < micros(e))
    }
}

/// Original pacing: when each event is due, relative to the first.
struct Pacer {
    speed: f64,
    first: Option<(Timestamp, tokio::time::Instant)>,
}

impl Pacer {
    fn due(&mut self, event_time: Timestamp) -> tokio::time::Instant {
        let (t0, start) = *self
            .first
            .get_or_insert((event_time, tokio::time::Instant::now()));
        let offset = (event_time.as_nanos() - t0.as_nanos()).max(0) as f64 / self.speed;
        start + Duration::from_nanos(offset as u64)
    }
}

#[async_trait]
impl Source for Replay {
    async fn run(self: Box<Self>, cx: SourceContext) -> Result<(), BoxError> {
        let mut infos = self
            .files
            .iter()
            .map(|f| FileInfo::read(f))
            .collect::<Result<Vec<_>, _>>()?;
        infos.sort_by(|a, b| (a.first_time(), &a.path).cmp(&(b.first_time(), &b.path)));
        let resume = match &self.checkpoint {
            Some(path) => checkpoint::load(path)?,
            None => None,
        };
        let mut skipping = resume.is_some();
        let mut progress = Progress::new(infos.iter().map(FileInfo::rows).sum());
        let mut pacer = match self.speed {
            Speed::Max => None,
            Speed::Factor(speed) => Some(Pacer { speed, first: None }),
        };
        let mut sent = 0u64;
        'files: for info in &infos {
            let name = info.path.display().to_string();
            let resume_row = match &resume {
                Some(c) if skipping && c.file == name => {
                    skipping = false;
                    Some(c.row)
                }
                Some(_) if skipping => {
                    progress.advance(info.rows(), info.bytes());
                    continue;
                }
                _ => None,
            };
            let mut reader = EventReader::new(cx.name.clone(), Arc::from(name.as_str()));
            let mut group_start = 0u64;
            for (group, range) in info.groups.iter().enumerate() {
                let group_rows = info.metadata.row_group(group).num_rows() as u64;
                let first_row = group_start;
                group_start += group_rows;
                if !self.wanted(*range)
                    || resume_row.is_some_and(|r| r + 1 >= first_row + group_rows)
                {
                    progress.advance(
                        group_rows,
                        info.metadata.row_group(group).compressed_size() as u64,
                    );
                    continue;
                }
                let batches = ParquetRecordBatchReaderBuilder::try_new(File::open(&info.path)?)?
                    .with_row_groups(vec![group])
                    .with_batch_size(self.chunk_rows)
                    .build()?;
                let mut row = first_row;
                for batch in batches {
                    if cx.shutdown.is_cancelled() {
                        break 'files;
                    }
                    let batch = batch?;
                    let rows = batch.num_rows() as u64;
                    let mut events = reader.events(&batch, row)?;
                    row += rows;
                    events.retain(|e| {
                        self.keep(e)
                            && resume_row
                                .is_none_or(|r| e.position.as_ref().is_some_and(|p| p.offset > r))
                    });
                    let bytes = batch.get_array_memory_size() as u64;
                    cx.metrics.events_in.inc_by(events.len() as u64);
                    match &mut pacer {
                        None => {
                            sent += events.len() as u64;
                            cx.out.send(events).await?;
                        }
                        Some(pacer) => {
                            let mut due_now = Vec::new();
                            for event in events {
                                let due = pacer.due(event.event_time);
                                if due > tokio::time::Instant::now() && !due_now.is_empty() {
                                    sent += due_now.len() as u64;
                                    cx.out.send(std::mem::take(&mut due_now)).await?;
                                }
                                tokio::select! {
                                    _ = cx.shutdown.cancelled() => break 'files,
                                    _ = tokio::time::sleep_until(due) => {}
                                }
                                due_now.push(event);
                            }
                            sent += due_now.len() as u64;
                            cx.out.send(due_now).await?;
                        }
                    }
                    progress.advance(rows, bytes);
                }
            }
        }
        progress.finish();
        let Some(path) = &self.checkpoint else {
            return Ok(());
        };
        // Wait for what was sent to be written, then record where we are
        // (a sink that commits late, such as Parquet, acknowledges within its
        // `roll.max_age`).
        let mut acks = cx.acks.clone();
        while acks.events() < sent {
            if acks.changed().await.is_none() {
                break;
            }
        }
        if let Some(position) = acks.position() {
            let at = Checkpoint {
                file: position.partition.to_string(),
                row: position.offset,
            };
            checkpoint::save(path, &at)?;
            info!(file = %at.file, row = at.row, "replay checkpoint saved");
        }
        Ok(())
    }
}
