//! End-to-end acknowledgement.
//!
//! A source sends events in [`Chunk`]s. Every sink that reads the source gets
//! the same `Arc<Chunk>` (fan-out copies nothing) and acknowledges it once it
//! has durably written the chunk's last event. When the last of those sinks
//! has done so, the source learns the chunk's last position in each of its
//! partitions. Because each sink writes in order, a source sees its
//! positions acknowledged in order, so the newest acknowledged position of
//! a partition is a safe checkpoint for it: at-least-once. A source with
//! one partition (a file, a connection) reads [`Acknowledgements::position`];
//! one with many (a Kafka consumer) [`Acknowledgements::partitions`].

use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use tokio::sync::watch;

use crate::event::{Event, Position};

/// Events a source holds in another form (columns read from a file), built
/// only when a sink first reads them: a sink that never looks inside (a
/// blackhole, a counter) costs nothing per event, and sinks that do share
/// one build.
pub trait LazyEvents: Send + Sync + fmt::Debug {
    fn len(&self) -> usize;

    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Estimated encoded bytes of all the events.
    fn byte_size(&self) -> usize;

    /// Position of the last event.
    fn last_position(&self) -> Option<Position>;

    /// Builds the events. The source checked, before sending, that this cannot fail.
    fn build(&self) -> Vec<Event>;
}

/// Events a source sent together, shared by every sink that reads the source.
#[derive(Debug)]
pub struct Chunk {
    events: OnceLock<Vec<Event>>,
    lazy: Option<Box<dyn LazyEvents>>,
    len: usize,
    bytes: usize,
    ack: Arc<ChunkAck>,
    /// No events: a request that sinks flush ([`crate::SourceSender::flush`]).
    flush: bool,
}

impl Chunk {
    pub(crate) fn new(events: Vec<Event>, sinks: usize, tracker: Arc<AckTracker>) -> Self {
        let positions = last_positions(&events);
        Chunk {
            len: events.len(),
            bytes: events.iter().map(|e| e.size).sum(),
            ack: ChunkAck::new(events.len(), positions, sinks, tracker),
            events: OnceLock::from(events),
            lazy: None,
            flush: false,
        }
    }

    /// Events read back from a sink's disk buffer, for that one sink: the
    /// buffer learns of their acknowledgement at `position` (where they end
    /// in its files), while the events keep the positions their source gave.
    pub(crate) fn buffered(
        events: Vec<Event>,
        position: Position,
        tracker: Arc<AckTracker>,
    ) -> Self {
        Chunk {
            len: events.len(),
            bytes: events.iter().map(|e| e.size).sum(),
            ack: ChunkAck::new(events.len(), vec![position], 1, tracker),
            events: OnceLock::from(events),
            lazy: None,
            flush: false,
        }
    }

    /// A flush request, in band with the events.
    pub(crate) fn flush(tracker: Arc<AckTracker>) -> Self {
        Chunk {
            flush: true,
            ..Chunk::new(Vec::new(), 0, tracker)
        }
    }

    pub(crate) fn is_flush(&self) -> bool {
        self.flush
    }

    pub(crate) fn lazy(lazy: Box<dyn LazyEvents>, sinks: usize, tracker: Arc<AckTracker>) -> Self {
        Chunk {
            len: lazy.len(),
            bytes: lazy.byte_size(),
            ack: ChunkAck::new(
                lazy.len(),
                lazy.last_position().into_iter().collect(),
                sinks,
                tracker,
            ),
            events: OnceLock::new(),
            lazy: Some(lazy),
            flush: false,
        }
    }

    /// The events, built now if the source sent them lazily.
    pub fn events(&self) -> &[Event] {
        self.events.get_or_init(|| {
            let events = self.lazy.as_ref().map(|l| l.build()).unwrap_or_default();
            assert_eq!(
                events.len(),
                self.len,
                "lazy events built a different count"
            );
            events
        })
    }

    /// Estimated bytes of event `index`, without building lazy events (an
    /// even share of the chunk's bytes then).
    pub(crate) fn event_size(&self, index: usize) -> usize {
        match self.events.get() {
            Some(events) => events[index].size,
            None => self.bytes / self.len.max(1),
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn byte_size(&self) -> usize {
        self.bytes
    }

    pub(crate) fn ack(&self) -> &Arc<ChunkAck> {
        &self.ack
    }
}

/// The last position of each partition among `events`, the newest first.
fn last_positions(events: &[Event]) -> Vec<Position> {
    let mut last: Vec<Position> = Vec::new();
    for position in events.iter().rev().filter_map(|e| e.position.as_ref()) {
        // Events of one partition share its name: pointers compare first.
        let seen = last.iter().any(|l| {
            Arc::ptr_eq(&l.partition, &position.partition) || l.partition == position.partition
        });
        if !seen {
            last.push(position.clone());
        }
    }
    last
}

/// The part of a chunk that acknowledgement needs, apart from its events,
/// so a sink that acknowledges late (at a file commit) need not keep the
/// events in memory until then.
#[derive(Debug)]
pub struct ChunkAck {
    events: u64,
    /// The newest first.
    positions: Vec<Position>,
    pending_sinks: AtomicUsize,
    tracker: Arc<AckTracker>,
}

impl ChunkAck {
    fn new(
        events: usize,
        positions: Vec<Position>,
        sinks: usize,
        tracker: Arc<AckTracker>,
    ) -> Arc<Self> {
        Arc::new(ChunkAck {
            events: events as u64,
            positions,
            pending_sinks: AtomicUsize::new(sinks),
            tracker,
        })
    }

    /// One sink has durably written the whole chunk.
    pub(crate) fn acknowledge(&self) {
        if self.pending_sinks.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.tracker.acknowledged(self.events, &self.positions);
        }
    }
}

/// A source's side of acknowledgement: what has been written by every sink.
#[derive(Debug)]
pub(crate) struct AckTracker {
    events: AtomicU64,
    positions: watch::Sender<Acknowledged>,
}

/// The acknowledged positions: the newest, and the newest of each partition.
#[derive(Debug, Default)]
struct Acknowledged {
    newest: Option<Position>,
    partitions: BTreeMap<Arc<str>, u64>,
}

impl AckTracker {
    pub(crate) fn new() -> (Arc<Self>, Acknowledgements) {
        let (positions, receiver) = watch::channel(Acknowledged::default());
        let tracker = Arc::new(AckTracker {
            events: AtomicU64::new(0),
            positions,
        });
        let acks = Acknowledgements {
            tracker: tracker.clone(),
            positions: receiver,
        };
        (tracker, acks)
    }

    fn acknowledged(&self, events: u64, positions: &[Position]) {
        self.events.fetch_add(events, Ordering::Relaxed);
        if positions.is_empty() {
            return;
        }
        self.positions.send_modify(|acknowledged| {
            acknowledged.newest = Some(positions[0].clone());
            for position in positions {
                // Two sinks' last acknowledgements of neighbouring chunks
                // may race: a partition's position only moves forward.
                let offset = acknowledged
                    .partitions
                    .entry(position.partition.clone())
                    .or_insert(position.offset);
                *offset = (*offset).max(position.offset);
            }
        });
    }
}

/// What a source learns about its acknowledged events.
#[derive(Debug, Clone)]
pub struct Acknowledgements {
    tracker: Arc<AckTracker>,
    positions: watch::Receiver<Acknowledged>,
}

impl Acknowledgements {
    /// Events written by every sink that reads this source.
    pub fn events(&self) -> u64 {
        self.tracker.events.load(Ordering::Relaxed)
    }

    /// The newest position written by every sink, if any.
    pub fn position(&self) -> Option<Position> {
        self.positions.borrow().newest.clone()
    }

    /// The newest offset of each partition written by every sink.
    pub fn partitions(&self) -> BTreeMap<Arc<str>, u64> {
        self.positions.borrow().partitions.clone()
    }

    /// Chunks (and senders) still holding this source's acknowledgement
    /// path: zero once every chunk sent was acknowledged or dropped.
    pub(crate) fn unsettled(&self) -> usize {
        Arc::strong_count(&self.tracker) - 1
    }

    /// Waits until a newer position is acknowledged; `None` once the pipeline
    /// is gone.
    pub async fn changed(&mut self) -> Option<Position> {
        self.positions.changed().await.ok()?;
        self.positions.borrow_and_update().newest.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::{Record, Timestamp, field_names};

    fn event_at(partition: &str, offset: u64) -> Event {
        let mut event = Event::new(
            "kafka".into(),
            "s".into(),
            Timestamp(0),
            Record::new(field_names::<&str>(&[]), vec![]),
        );
        event.position = Some(Position {
            partition: partition.into(),
            offset,
        });
        event
    }

    /// A chunk of several partitions acknowledges each one's last offset;
    /// a partition never moves back when an older chunk is acknowledged late.
    #[test]
    fn each_partition_keeps_its_newest_acknowledged_offset() {
        let (tracker, acks) = AckTracker::new();
        let newer = Chunk::new(
            vec![event_at("t/0", 10), event_at("t/1", 3), event_at("t/0", 11)],
            1,
            tracker.clone(),
        );
        let older = Chunk::new(vec![event_at("t/0", 7), event_at("t/2", 1)], 1, tracker);
        newer.ack().acknowledge();
        older.ack().acknowledge();
        let partitions: Vec<(String, u64)> = acks
            .partitions()
            .into_iter()
            .map(|(p, o)| (p.to_string(), o))
            .collect();
        assert_eq!(
            partitions,
            [("t/0".into(), 11), ("t/1".into(), 3), ("t/2".into(), 1)]
        );
        assert_eq!(acks.events(), 5);
    }
}
