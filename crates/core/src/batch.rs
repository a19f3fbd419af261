//! The bounded batching stage in front of each sink.
//!
//! Chunks arrive from the sink's inputs over a bounded channel; the batcher
//! gathers them into [`Batch`]es of at most `max_events` events or `max_bytes`
//! bytes, or whatever arrived within `timeout` of the first event, and hands
//! each batch to the sink over a channel of one. A chunk larger than what is
//! left in a batch is split by range, never copied. While the sink is busy,
//! both channels fill and the sources' sends wait: memory stays bounded and
//! nothing is dropped.

use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::histogram::Histogram;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::ack::{Chunk, ChunkAck};
use crate::event::Event;
use crate::units::{ByteSize, HumanDuration};

/// When a sink's batch is handed over: whichever limit is reached first.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct BatchConfig {
    /// Most events in one batch.
    pub max_events: usize,
    /// Most bytes (estimated encoded size) in one batch, e.g. `4MiB`.
    pub max_bytes: ByteSize,
    /// Longest wait after a batch's first event before it is handed over, e.g. `200ms`.
    pub timeout: HumanDuration,
}

impl Default for BatchConfig {
    /// Large enough that per-batch costs (a write call, a flush, an
    /// acknowledgement) vanish per event; short enough that a quiet stream
    /// still reaches its sink within a fifth of a second.
    fn default() -> Self {
        BatchConfig {
            max_events: 10_000,
            max_bytes: ByteSize(4 * 1024 * 1024),
            timeout: HumanDuration(Duration::from_millis(200)),
        }
    }
}

#[derive(Debug)]
struct Slice {
    chunk: Arc<Chunk>,
    range: Range<usize>,
}

/// Events for one sink write: slices of the chunks that arrived.
#[derive(Debug, Default)]
pub struct Batch {
    slices: Vec<Slice>,
    events: usize,
    bytes: usize,
    /// When the batch's first event reached the batcher.
    opened: Option<Instant>,
    written: Option<Written>,
    /// No events: a source asked its sinks to flush.
    flush: bool,
}

/// The sink's counters of durably written events, advanced when a batch is
/// acknowledged (not when `write` returns: some sinks commit later).
#[derive(Debug, Clone)]
pub(crate) struct Written {
    pub events: Counter,
    pub bytes: Counter,
    /// From a batch's first event reaching the batcher to its acknowledgement.
    pub latency: Histogram,
}

impl Batch {
    pub fn len(&self) -> usize {
        self.events
    }

    pub fn is_empty(&self) -> bool {
        self.events == 0
    }

    /// Whether this is a source's flush request rather than events
    /// ([`crate::Sink::flush`]).
    pub fn is_flush(&self) -> bool {
        self.flush
    }

    /// Estimated bytes of the events in the batch.
    pub fn byte_size(&self) -> usize {
        self.bytes
    }

    pub fn events(&self) -> impl Iterator<Item = &Event> + '_ {
        self.slices
            .iter()
            .flat_map(|s| s.chunk.events()[s.range.clone()].iter())
    }

    /// The sink has durably written every event of the batch: tell the
    /// sources. A batch dropped without it is never acknowledged.
    pub fn acknowledge(self) {
        self.into_ack().acknowledge();
    }

    /// The batch's acknowledgement without its events, for sinks whose
    /// writes become durable later (at a file commit): they keep this and
    /// let the events go.
    pub fn into_ack(self) -> BatchAck {
        let chunks = self
            .slices
            .iter()
            .filter(|s| s.range.end == s.chunk.len())
            .map(|s| s.chunk.ack().clone())
            .collect();
        BatchAck {
            chunks,
            events: self.events,
            bytes: self.bytes,
            opened: self.opened,
            written: self.written,
        }
    }

    /// Takes as much of `chunk[start..]` as fits; returns where it stopped.
    fn take(&mut self, chunk: &Arc<Chunk>, start: usize, config: &BatchConfig) -> usize {
        if self.opened.is_none() {
            self.opened = Some(Instant::now());
        }
        let whole_fits = start == 0
            && self.events + chunk.len() <= config.max_events
            && self.bytes + chunk.byte_size() <= config.max_bytes.0;
        let (end, bytes) = if whole_fits {
            (chunk.len(), chunk.byte_size())
        } else {
            let mut end = start;
            let mut bytes = 0;
            while end < chunk.len() {
                let size = chunk.event_size(end);
                let full = self.events + (end - start) >= config.max_events
                    || (self.bytes + bytes + size > config.max_bytes.0
                        && (self.events + end - start) > 0);
                if full {
                    break;
                }
                bytes += size;
                end += 1;
            }
            (end, bytes)
        };
        if end > start {
            self.slices.push(Slice {
                chunk: chunk.clone(),
                range: start..end,
            });
            self.events += end - start;
            self.bytes += bytes;
        }
        end
    }

    fn is_full(&self, config: &BatchConfig) -> bool {
        self.events >= config.max_events || self.bytes >= config.max_bytes.0
    }
}

/// A batch's pending acknowledgement; see [`Batch::into_ack`].
#[derive(Debug)]
pub struct BatchAck {
    chunks: Vec<Arc<ChunkAck>>,
    events: usize,
    bytes: usize,
    opened: Option<Instant>,
    written: Option<Written>,
}

impl BatchAck {
    /// The events are durably written: tell the sources.
    pub fn acknowledge(self) {
        for chunk in &self.chunks {
            chunk.acknowledge();
        }
        if let Some(w) = &self.written {
            w.events.inc_by(self.events as u64);
            w.bytes.inc_by(self.bytes as u64);
            if let Some(opened) = self.opened {
                w.latency.observe(opened.elapsed().as_secs_f64());
            }
        }
    }
}

/// Gathers chunks into batches until its input closes, then hands over what
/// is left. Returns when the sink side is gone or everything was handed over.
/// With `build_events`, lazily sent events are built as their chunk
/// arrives, while the sink is still writing the previous batch.
pub(crate) async fn run_batcher(
    mut input: mpsc::Receiver<Arc<Chunk>>,
    output: mpsc::Sender<Batch>,
    config: BatchConfig,
    build_events: bool,
    written: Option<Written>,
) {
    let new_batch = || Batch {
        written: written.clone(),
        ..Batch::default()
    };
    let mut batch = new_batch();
    loop {
        let deadline = batch.opened.map(|t| t + config.timeout.0);
        let next = match deadline {
            Some(deadline) => tokio::select! {
                chunk = input.recv() => chunk,
                _ = tokio::time::sleep_until(deadline) => {
                    if output.send(std::mem::replace(&mut batch, new_batch())).await.is_err() {
                        return;
                    }
                    continue;
                }
            },
            None => input.recv().await,
        };
        let Some(chunk) = next else { break };
        if chunk.is_flush() {
            // What came before is handed over first, then the request.
            let pending = std::mem::replace(&mut batch, new_batch());
            if !pending.is_empty() && output.send(pending).await.is_err() {
                return;
            }
            let request = Batch {
                flush: true,
                ..new_batch()
            };
            if output.send(request).await.is_err() {
                return;
            }
            continue;
        }
        if build_events {
            chunk.events();
        }
        let mut start = 0;
        while start < chunk.len() {
            let end = batch.take(&chunk, start, &config);
            // No progress means the next event does not fit: the batch is full.
            let full = end == start || batch.is_full(&config);
            if full
                && output
                    .send(std::mem::replace(&mut batch, new_batch()))
                    .await
                    .is_err()
            {
                return;
            }
            start = end;
        }
    }
    if !batch.is_empty() {
        let _ = output.send(batch).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ack::AckTracker;
    use crate::value::{Record, Timestamp, field_names};

    fn chunk(n: usize, tracker: &Arc<AckTracker>) -> Arc<Chunk> {
        let names = field_names::<&str>(&[]);
        let events = (0..n)
            .map(|_| {
                let mut e = Event::new(
                    "s".into(),
                    "t".into(),
                    Timestamp(0),
                    Record::new(names.clone(), vec![]),
                );
                e.size = 10;
                e
            })
            .collect();
        Arc::new(Chunk::new(events, 1, tracker.clone()))
    }

    fn config(max_events: usize, max_bytes: usize) -> BatchConfig {
        BatchConfig {
            max_events,
            max_bytes: ByteSize(max_bytes),
            timeout: HumanDuration(Duration::from_secs(3600)),
        }
    }

    async fn batches_of(chunks: Vec<Arc<Chunk>>, config: BatchConfig) -> Vec<Batch> {
        built_batches_of(chunks, config, false).await
    }

    async fn built_batches_of(
        chunks: Vec<Arc<Chunk>>,
        config: BatchConfig,
        build_events: bool,
    ) -> Vec<Batch> {
        let (tx, rx) = mpsc::channel(chunks.len() + 1);
        let (out_tx, mut out_rx) = mpsc::channel(1);
        let task = tokio::spawn(run_batcher(rx, out_tx, config, build_events, None));
        for c in chunks {
            tx.send(c).await.unwrap();
        }
        drop(tx);
        let mut batches = Vec::new();
        while let Some(b) = out_rx.recv().await {
            batches.push(b);
        }
        task.await.unwrap();
        batches
    }

    #[tokio::test]
    async fn splits_chunks_at_max_events_and_acks_each_chunk_once() {
        let (tracker, acks) = AckTracker::new();
        let chunks = vec![chunk(7, &tracker), chunk(7, &tracker)];
        let batches = batches_of(chunks, config(5, usize::MAX)).await;
        let sizes: Vec<usize> = batches.iter().map(Batch::len).collect();
        assert_eq!(sizes, vec![5, 5, 4]);
        let mut acked = Vec::new();
        for b in batches {
            b.acknowledge();
            acked.push(acks.events());
        }
        assert_eq!(acked, vec![0, 7, 14]);
    }

    /// A flush request hands over what is pending at once (long before
    /// the timeout), then itself; what follows batches as before.
    #[tokio::test]
    async fn a_flush_hands_over_the_pending_batch_then_itself() {
        let (tracker, _acks) = AckTracker::new();
        let chunks = vec![
            chunk(3, &tracker),
            Arc::new(Chunk::flush(tracker.clone())),
            chunk(2, &tracker),
        ];
        let batches = batches_of(chunks, config(100, usize::MAX)).await;
        let seen: Vec<(usize, bool)> = batches.iter().map(|b| (b.len(), b.is_flush())).collect();
        assert_eq!(seen, [(3, false), (0, true), (2, false)]);
    }

    /// Seven events of 10 bytes, counting how often they are built.
    #[derive(Debug, Default)]
    struct Counted(std::sync::atomic::AtomicUsize);

    impl crate::LazyEvents for Arc<Counted> {
        fn len(&self) -> usize {
            7
        }

        fn byte_size(&self) -> usize {
            70
        }

        fn last_position(&self) -> Option<crate::Position> {
            Some(crate::Position {
                partition: "file".into(),
                offset: 6,
            })
        }

        fn build(&self) -> Vec<Event> {
            self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let (tracker, _) = AckTracker::new();
            chunk(7, &tracker).events().to_vec()
        }
    }

    #[tokio::test]
    async fn lazy_events_are_split_unbuilt_and_built_once_when_read() {
        let (tracker, acks) = AckTracker::new();
        let counted = Arc::new(Counted::default());
        let lazy = Arc::new(Chunk::lazy(Box::new(counted.clone()), 1, tracker));
        let batches = batches_of(vec![lazy], config(100, 45)).await;
        let sizes: Vec<(usize, usize)> = batches.iter().map(|b| (b.len(), b.byte_size())).collect();
        assert_eq!(sizes, vec![(4, 40), (3, 30)]);
        assert_eq!(counted.0.load(std::sync::atomic::Ordering::Relaxed), 0);
        let read: usize = batches.iter().map(|b| b.events().count()).sum();
        assert_eq!(read, 7);
        assert_eq!(counted.0.load(std::sync::atomic::Ordering::Relaxed), 1);
        for b in batches {
            b.acknowledge();
        }
        assert_eq!(acks.events(), 7);
        assert_eq!(acks.position().map(|p| p.offset), Some(6));

        // For a sink that reads events, the batcher builds them on arrival.
        let (tracker, _acks) = AckTracker::new();
        let counted = Arc::new(Counted::default());
        let lazy = Arc::new(Chunk::lazy(Box::new(counted.clone()), 1, tracker));
        let batches = built_batches_of(vec![lazy], config(100, 45), true).await;
        assert_eq!(batches.len(), 2);
        assert_eq!(counted.0.load(std::sync::atomic::Ordering::Relaxed), 1);
    }

    #[tokio::test]
    async fn flushes_on_bytes() {
        let (tracker, _acks) = AckTracker::new();
        let batches = batches_of(vec![chunk(10, &tracker)], config(100, 35)).await;
        let sizes: Vec<usize> = batches.iter().map(Batch::len).collect();
        assert_eq!(sizes, vec![3, 3, 3, 1]);
    }

    #[tokio::test(start_paused = true)]
    async fn flushes_on_timeout_while_input_stays_open() {
        let (tracker, _acks) = AckTracker::new();
        let (tx, rx) = mpsc::channel(4);
        let (out_tx, mut out_rx) = mpsc::channel(1);
        let mut cfg = config(100, usize::MAX);
        cfg.timeout = HumanDuration(Duration::from_millis(200));
        tokio::spawn(run_batcher(rx, out_tx, cfg, false, None));
        tx.send(chunk(3, &tracker)).await.unwrap();
        let batch = out_rx.recv().await.unwrap();
        assert_eq!(batch.len(), 3);
        assert!(batch.opened.unwrap().elapsed() >= Duration::from_millis(200));
    }
}
