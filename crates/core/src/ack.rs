//! End-to-end acknowledgement.
//!
//! A source sends events in [`Chunk`]s. Every sink that reads the source gets
//! the same `Arc<Chunk>` (fan-out copies nothing) and acknowledges it once it
//! has durably written the chunk's last event. When the last of those sinks
//! has done so, the source learns the chunk's last position. Because each sink
//! writes in order, a source sees its positions acknowledged in order, so the
//! newest acknowledged position is a safe checkpoint: at-least-once.

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
}

impl Chunk {
    pub(crate) fn new(events: Vec<Event>, sinks: usize, tracker: Arc<AckTracker>) -> Self {
        let position = events.iter().rev().find_map(|e| e.position.clone());
        Chunk {
            len: events.len(),
            bytes: events.iter().map(|e| e.size).sum(),
            ack: ChunkAck::new(events.len(), position, sinks, tracker),
            events: OnceLock::from(events),
            lazy: None,
        }
    }

    pub(crate) fn lazy(lazy: Box<dyn LazyEvents>, sinks: usize, tracker: Arc<AckTracker>) -> Self {
        Chunk {
            len: lazy.len(),
            bytes: lazy.byte_size(),
            ack: ChunkAck::new(lazy.len(), lazy.last_position(), sinks, tracker),
            events: OnceLock::new(),
            lazy: Some(lazy),
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
    fn new(
        events: usize,
        position: Option<Position>,
        sinks: usize,
        tracker: Arc<AckTracker>,
    ) -> Arc<Self> {
        Arc::new(ChunkAck {
            events: events as u64,
            position,
            pending_sinks: AtomicUsize::new(sinks),
            tracker,
        })
    }

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
