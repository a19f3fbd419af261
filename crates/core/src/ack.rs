//! End-to-end acknowledgement.
//!
//! A source sends events in [`Chunk`]s. Every sink that reads the source gets
//! the same `Arc<Chunk>` (fan-out copies nothing) and acknowledges it once it
//! has durably written the chunk's last event. When the last of those sinks
//! has done so, the source learns the chunk's last position. Because each sink
//! writes in order, a source sees its positions acknowledged in order, so the
//! newest acknowledged position is a safe checkpoint: at-least-once.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use tokio::sync::watch;

use crate::event::{Event, Position};

/// Events a source sent together, shared by every sink that reads the source.
#[derive(Debug)]
pub struct Chunk {
    events: Vec<Event>,
    bytes: usize,
    ack: Arc<ChunkAck>,
}

impl Chunk {
    pub(crate) fn new(events: Vec<Event>, sinks: usize, tracker: Arc<AckTracker>) -> Self {
        let bytes = events.iter().map(|e| e.size).sum();
        let ack = Arc::new(ChunkAck {
            events: events.len() as u64,
            position: events.iter().rev().find_map(|e| e.position.clone()),
            pending_sinks: AtomicUsize::new(sinks),
            tracker,
        });
        Chunk { events, bytes, ack }
    }

    pub fn events(&self) -> &[Event] {
        &self.events
    }

    pub fn len(&self) -> usize {
        self.events.len()
    }

    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    pub fn byte_size(&self) -> usize {
        self.bytes
    }

    pub(crate) fn ack(&self) -> &Arc<ChunkAck> {
        &self.ack
    }
}

/// The part of a chunk that acknowledgement needs, apart from its events,
/// so a sink that acknowledges late (at a file commit) need not keep the
/// events in memory until then.
#[derive(Debug)]
pub struct ChunkAck {
    events: u64,
    position: Option<Position>,
    pending_sinks: AtomicUsize,
    tracker: Arc<AckTracker>,
}

impl ChunkAck {
    /// One sink has durably written the whole chunk.
    pub(crate) fn acknowledge(&self) {
        if self.pending_sinks.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.tracker
                .acknowledged(self.events, self.position.clone());
        }
    }
}

/// A source's side of acknowledgement: what has been written by every sink.
#[derive(Debug)]
pub(crate) struct AckTracker {
    events: AtomicU64,
    position: watch::Sender<Option<Position>>,
}

impl AckTracker {
    pub(crate) fn new() -> (Arc<Self>, Acknowledgements) {
        let (position, receiver) = watch::channel(None);
        let tracker = Arc::new(AckTracker {
            events: AtomicU64::new(0),
            position,
        });
        let acks = Acknowledgements {
            tracker: tracker.clone(),
            position: receiver,
        };
        (tracker, acks)
    }

    fn acknowledged(&self, events: u64, position: Option<Position>) {
        self.events.fetch_add(events, Ordering::Relaxed);
        if position.is_some() {
            self.position.send_replace(position);
        }
    }
}

/// What a source learns about its acknowledged events.
#[derive(Debug, Clone)]
pub struct Acknowledgements {
    tracker: Arc<AckTracker>,
    position: watch::Receiver<Option<Position>>,
}

impl Acknowledgements {
    /// Events written by every sink that reads this source.
    pub fn events(&self) -> u64 {
        self.tracker.events.load(Ordering::Relaxed)
    }

    /// The newest position written by every sink, if any.
    pub fn position(&self) -> Option<Position> {
        self.position.borrow().clone()
    }

    /// Waits until a newer position is acknowledged; `None` once the pipeline
    /// is gone.
    pub async fn changed(&mut self) -> Option<Position> {
        self.position.changed().await.ok()?;
        self.position.borrow_and_update().clone()
    }
}
