//! The running replay.

use std::fs::File;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow_array::cast::AsArray;
use arrow_array::types::TimestampMicrosecondType;
use arrow_array::{RecordBatch, RecordBatchReader as _};
use indicatif::{ProgressBar, ProgressStyle};
use netpipe_arrow::EventReader;
use netpipe_core::{
    BoxError, Event, LazyEvents, Position, Source, SourceContext, Timestamp, async_trait,
};
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

    /// Every row of `batch` (the file's rows from `first_row` on) is kept:
    /// in the time range, of a wanted stream, after the resumed row.
    fn keeps_all(&self, batch: &RecordBatch, first_row: u64, resume_row: Option<u64>) -> bool {
        if resume_row.is_some_and(|r| first_row <= r) {
            return false;
        }
        let micros = |t: Timestamp| t.as_nanos().div_euclid(1_000);
        let in_range = |name: &str| {
            let times = batch
                .column_by_name(name)
                .and_then(|c| c.as_primitive_opt::<TimestampMicrosecondType>());
            times.is_some_and(|times| {
                times.values().iter().all(|&t| {
                    self.start.is_none_or(|s| t >= micros(s))
                        && self.end.is_none_or(|e| t < micros(e))
                })
            })
        };
        let timed = self.start.is_some() || self.end.is_some();
        let wanted_streams = || {
            let streams = batch
                .column_by_name("stream")
                .and_then(|c| c.as_string_opt::<i32>());
            streams.is_some_and(|streams| {
                streams
                    .iter()
                    .all(|s| s.is_some_and(|s| self.streams.iter().any(|w| w == s)))
            })
        };
        (!timed || in_range("event_time")) && (self.streams.is_empty() || wanted_streams())
    }

    /// Row groups that may hold events in `start..end`.
    fn wanted(&self, range: (i64, i64)) -> bool {
        let micros = |t: Timestamp| t.as_nanos().div_euclid(1_000);
        self.start.is_none_or(|s| range.1 >= micros(s))
            && self.end.is_none_or(|e| range.0 < micros(e))
    }
}

/// One record batch of a file, built into events when a sink reads them.
#[derive(Debug)]
struct Rows {
    batch: RecordBatch,
    first_row: u64,
    bytes: usize,
    source: Arc<str>,
    partition: Arc<str>,
}

impl LazyEvents for Rows {
    fn len(&self) -> usize {
        self.batch.num_rows()
    }

    fn byte_size(&self) -> usize {
        self.bytes
    }

    fn last_position(&self) -> Option<Position> {
        Some(Position {
            partition: self.partition.clone(),
            offset: self.first_row + self.batch.num_rows() as u64 - 1,
        })
    }

    fn build(&self) -> Vec<Event> {
        EventReader::new(self.source.clone(), self.partition.clone())
            .events(&self.batch, self.first_row)
            .expect("the file's schema was checked when it was opened")
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
            let partition: Arc<str> = Arc::from(name.as_str());
            let mut reader = EventReader::new(cx.name.clone(), partition.clone());
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
                EventReader::check(&batches.schema())
                    .map_err(|e| format!("{}: {e}", info.path.display()))?;
                let mut row = first_row;
                for batch in batches {
                    if cx.shutdown.is_cancelled() {
                        break 'files;
                    }
                    let batch = batch?;
                    let rows = batch.num_rows() as u64;
                    let bytes = batch.get_array_memory_size() as u64;
                    if pacer.is_none() && self.keeps_all(&batch, row, resume_row) {
                        // Sinks that read them build the events; others (a
                        // blackhole) move the columns only.
                        cx.metrics.events_in.inc_by(rows);
                        sent += rows;
                        let lazy = Rows {
                            batch,
                            first_row: row,
                            bytes: bytes as usize,
                            source: cx.name.clone(),
                            partition: partition.clone(),
                        };
                        cx.out.send_lazy(Box::new(lazy)).await?;
                        row += rows;
                        progress.advance(rows, bytes);
                        continue;
                    }
                    let mut events = reader.events(&batch, row)?;
                    row += rows;
                    events.retain(|e| {
                        self.keep(e)
                            && resume_row
                                .is_none_or(|r| e.position.as_ref().is_some_and(|p| p.offset > r))
                    });
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

#[cfg(test)]
mod tests {
    use arrow_array::{StringArray, TimestampMicrosecondArray};

    use super::*;

    fn replay(start: Option<i64>, end: Option<i64>, streams: &[&str]) -> Replay {
        let at = |secs: i64| Timestamp::from_secs(secs);
        Replay {
            files: Vec::new(),
            speed: Speed::Max,
            start: start.map(at),
            end: end.map(at),
            streams: streams.iter().map(|s| s.to_string()).collect(),
            checkpoint: None,
            chunk_rows: 4096,
        }
    }

    /// Rows at seconds 10, 20 and 30 of streams a, a, b.
    fn batch() -> RecordBatch {
        let times = TimestampMicrosecondArray::from(vec![10_000_000, 20_000_000, 30_000_000]);
        RecordBatch::try_from_iter([
            (
                "stream",
                Arc::new(StringArray::from(vec!["a", "a", "b"])) as _,
            ),
            ("event_time", Arc::new(times) as _),
        ])
        .unwrap()
    }

    #[test]
    fn a_batch_is_kept_whole_only_when_every_row_passes_every_filter() {
        let batch = batch();
        assert!(replay(None, None, &[]).keeps_all(&batch, 0, None));
        assert!(replay(Some(10), Some(31), &["a", "b"]).keeps_all(&batch, 0, None));
        assert!(!replay(Some(11), None, &[]).keeps_all(&batch, 0, None));
        assert!(!replay(None, Some(30), &[]).keeps_all(&batch, 0, None));
        assert!(!replay(None, None, &["a"]).keeps_all(&batch, 0, None));
        // Resuming after row 5: a batch from row 5 holds it, one from row 6 does not.
        assert!(!replay(None, None, &[]).keeps_all(&batch, 5, Some(5)));
        assert!(replay(None, None, &[]).keeps_all(&batch, 6, Some(5)));
    }
}
