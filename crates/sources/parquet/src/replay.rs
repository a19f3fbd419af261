//! The running replay: turns the record batches that [`crate::read`] yields
//! into events or lazy chunks, paces them, and saves the checkpoint at the
//! end.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use arrow_array::RecordBatch;
use netpipe_arrow::EventReader;
use netpipe_core::{
    BoxError, Event, LazyEvents, Position, Source, SourceContext, Timestamp, async_trait,
};
use netpipe_storage::Remote;
use tracing::info;

use crate::checkpoint::{self, Checkpoint};
use crate::config::Speed;
use crate::files::FileInfo;
use crate::filters::Filters;
use crate::location::Location;
use crate::progress::Progress;
use crate::read::{Read, Reader};

pub struct Replay {
    pub files: Vec<PathBuf>,
    /// Lakes in object storage, listed when the replay starts.
    pub remotes: Vec<Arc<Remote>>,
    pub speed: Speed,
    pub filters: Filters,
    pub checkpoint: Option<PathBuf>,
    pub chunk_rows: usize,
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
        let mut locations: Vec<Location> =
            self.files.iter().cloned().map(Location::Local).collect();
        for remote in &self.remotes {
            remote.check().await?;
            let objects = remote.list(".parquet").await?;
            if objects.is_empty() {
                return Err(format!("no Parquet files at `{}`", remote.url()).into());
            }
            locations.extend(
                objects
                    .into_iter()
                    .map(|o| Location::Remote(remote.clone(), o)),
            );
        }
        let mut infos = locations
            .into_iter()
            .map(FileInfo::read)
            .collect::<Result<Vec<_>, _>>()?;
        infos.sort_by(|a, b| (a.first_time(), &a.name).cmp(&(b.first_time(), &b.name)));
        let resume = match &self.checkpoint {
            Some(path) => checkpoint::load(path)?,
            None => None,
        };
        let saver = self
            .checkpoint
            .clone()
            .map(|path| checkpoint::keep_saving(path, cx.acks.clone(), checkpoint::SAVE_EVERY));
        let mut progress = Progress::new(infos.iter().map(FileInfo::rows).sum());
        let mut pacer = match self.speed {
            Speed::Max => None,
            Speed::Factor(speed) => Some(Pacer { speed, first: None }),
        };
        let reads = Reader::new(infos, resume, self.filters.clone(), self.chunk_rows);
        // The reader of the file being replayed (events keep its names).
        let mut reader: Option<EventReader> = None;
        let mut sent = 0u64;
        'reads: for next in reads {
            if cx.shutdown.is_cancelled() {
                break;
            }
            let (batch, partition, first_row, resume_row) = match next? {
                Read::Skipped { rows, bytes } => {
                    progress.advance(rows, bytes);
                    continue;
                }
                Read::Batch {
                    batch,
                    partition,
                    first_row,
                    resume_row,
                } => (batch, partition, first_row, resume_row),
            };
            let rows = batch.num_rows() as u64;
            let bytes = batch.get_array_memory_size() as u64;
            if pacer.is_none() && self.filters.keeps_all(&batch, first_row, resume_row) {
                // Sinks that read them build the events; others (a
                // blackhole) move the columns only.
                cx.metrics.events_in.inc_by(rows);
                sent += rows;
                let lazy = Rows {
                    batch,
                    first_row,
                    bytes: bytes as usize,
                    source: cx.name.clone(),
                    partition,
                };
                cx.out.send_lazy(Box::new(lazy)).await?;
                progress.advance(rows, bytes);
                continue;
            }
            let reader = match &mut reader {
                Some(r) if r.partition() == &partition => r,
                slot => slot.insert(EventReader::new(cx.name.clone(), partition)),
            };
            let mut events = reader.events(&batch, first_row)?;
            let mut row = first_row;
            events.retain(|e| {
                row += 1;
                self.filters.keep(e, row - 1, resume_row)
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
                            _ = cx.shutdown.cancelled() => break 'reads,
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
        if let Some(saver) = saver {
            saver.abort();
            let _ = saver.await;
        }
        if let Some(position) = acks.position() {
            let at = Checkpoint::from(&position);
            checkpoint::save(path, &at)?;
            info!(file = %at.file, row = at.row, "replay checkpoint saved");
        }
        Ok(())
    }
}
