//! The disk buffer at work: three blocking threads around one [`Log`].
//!
//! - the **writer** takes the sources' chunks, appends them, syncs, and then
//!   acknowledges them to the sources (so an acknowledged chunk is on disk);
//! - the **reader** reads records back in order up to what the writer has
//!   synced, and hands them to the sink's batcher as chunks of its own;
//! - the **acker** learns how far the sink has acknowledged those chunks,
//!   saves it (at most once a second, and at the end), and removes files
//!   the sink has written whole.
//!
//! File work blocks, so it runs on blocking threads, never on the runtime's.

use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::Bytes;
use prometheus_client::metrics::gauge::Gauge;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

use super::codec::{self, Contents, Decoder};
use super::log::{self, BufferError, Frame, Log, SegmentReader, SegmentWriter};
use crate::ack::{AckTracker, Acknowledgements, Chunk};
use crate::event::{Event, Position, dead_letter};
use crate::metrics::ComponentMetrics;

/// Chunks the writer takes before one sync.
const CHUNKS_PER_SYNC: usize = 64;
/// How often the acknowledged offset is saved while it moves.
const SAVE_EVERY: Duration = Duration::from_secs(1);
/// How often the acker looks whether the sink has settled every chunk.
const ACK_POLL: Duration = Duration::from_millis(50);

/// An opened disk buffer, ready to start.
#[derive(Debug)]
pub(crate) struct DiskBuffer {
    log: Log,
    max_size: u64,
    sink: Arc<str>,
}

/// What the three threads share.
struct Shared {
    state: Mutex<State>,
    changed: Condvar,
    sink: Arc<str>,
    /// Bytes written and not yet acknowledged by the sink.
    waiting: Gauge,
}

struct State {
    /// Segments with their synced lengths; the last is being written.
    log: Log,
    writer_done: bool,
    reader_gone: bool,
    /// Where the reader stopped, once it is gone.
    read_end: u64,
}

impl State {
    /// Bytes synced and not yet acknowledged by the sink.
    fn unacknowledged(&self) -> u64 {
        self.log.end().saturating_sub(self.log.acked)
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl DiskBuffer {
    /// Locks and reads the buffer's directory: an error here stops the run
    /// before any source starts.
    pub fn open(
        sink: &str,
        dir: &std::path::Path,
        max_size: u64,
    ) -> Result<DiskBuffer, BufferError> {
        Ok(DiskBuffer {
            log: Log::open(dir)?,
            max_size,
            sink: sink.into(),
        })
    }

    /// Starts the threads between `input` (the sources' chunks) and
    /// `output` (the sink's batcher). A failure of the buffer's files
    /// cancels `shutdown` and is the stage's result.
    pub fn start(
        self,
        input: mpsc::Receiver<Arc<Chunk>>,
        output: mpsc::Sender<Arc<Chunk>>,
        metrics: ComponentMetrics,
        waiting: Gauge,
        shutdown: CancellationToken,
        stages: &mut JoinSet<Result<(), BufferError>>,
    ) -> Result<(), BufferError> {
        let writer = SegmentWriter::create(&self.log.dir, self.log.end())?;
        let mut log = self.log;
        let held = log.end() - log.acked;
        if held > 0 {
            info!(
                sink = %self.sink,
                "disk buffer {} holds {held} bytes from an earlier run; they go to the sink first",
                log.dir.display()
            );
        }
        log.segments.push_back((writer.base, 0));
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                log,
                writer_done: false,
                reader_gone: false,
                read_end: 0,
            }),
            changed: Condvar::new(),
            sink: self.sink,
            waiting,
        });
        shared.waiting.set(held as i64);
        let (tracker, acks) = AckTracker::new();
        let runtime = tokio::runtime::Handle::current();
        let max_size = self.max_size;
        let s = shared.clone();
        stages.spawn_blocking(move || {
            let result = write(&s, writer, input, max_size);
            if let Err(e) = &result {
                error!(sink = %s.sink, "disk buffer failed: {e}");
                shutdown.cancel();
            }
            result
        });
        let s = shared.clone();
        stages.spawn_blocking(move || read(&s, output, tracker, metrics));
        stages.spawn_blocking(move || acknowledge(&shared, acks, &runtime));
        Ok(())
    }
}

/// The writer: appends chunks, syncs, acknowledges them to their sources.
fn write(
    shared: &Shared,
    mut writer: SegmentWriter,
    mut input: mpsc::Receiver<Arc<Chunk>>,
    max_size: u64,
) -> Result<(), BufferError> {
    // A segment small enough that removing it frees a useful share of the buffer.
    let segment_bytes = (max_size / 8).clamp(1 << 20, 128 << 20);
    let (mut body, mut frame) = (Vec::new(), Vec::new());
    let mut synced = 0;
    let mut pending: Vec<Arc<Chunk>> = Vec::new();
    let result = (|| {
        while let Some(first) = input.blocking_recv() {
            let mut next = Some(first);
            while let Some(chunk) = next.take() {
                body.clear();
                if chunk.is_flush() {
                    codec::encode_flush(&mut body);
                } else if chunk.is_empty() {
                    pending.push(chunk);
                    next = more(&mut input, pending.len());
                    continue;
                } else {
                    codec::encode_events(chunk.events(), &mut body);
                }
                let need = log::FRAME_HEADER + body.len() as u64;
                if !has_room(shared, need, max_size, writer.len - synced) {
                    publish(shared, &mut writer, &mut synced, &mut pending)?;
                    if !wait_for_room(shared, need, max_size) {
                        // The sink is gone; what was not written stays unacknowledged.
                        return Ok(());
                    }
                }
                if writer.len >= segment_bytes {
                    publish(shared, &mut writer, &mut synced, &mut pending)?;
                    writer =
                        SegmentWriter::create(&shared.lock().log.dir, writer.base + writer.len)?;
                    synced = 0;
                    shared.lock().log.segments.push_back((writer.base, 0));
                }
                writer.append(&body, &mut frame)?;
                pending.push(chunk);
                next = more(&mut input, pending.len());
            }
            publish(shared, &mut writer, &mut synced, &mut pending)?;
        }
        Ok(())
    })();
    shared.lock().writer_done = true;
    shared.changed.notify_all();
    result
}

/// The next chunk if one is ready and the writer may take more before syncing.
fn more(input: &mut mpsc::Receiver<Arc<Chunk>>, pending: usize) -> Option<Arc<Chunk>> {
    (pending < CHUNKS_PER_SYNC)
        .then(|| input.try_recv().ok())
        .flatten()
}

/// Syncs what was appended, shows it to the reader, and acknowledges it
/// to the sources.
fn publish(
    shared: &Shared,
    writer: &mut SegmentWriter,
    synced: &mut u64,
    pending: &mut Vec<Arc<Chunk>>,
) -> Result<(), BufferError> {
    if writer.len > *synced {
        writer.sync()?;
        *synced = writer.len;
        let mut state = shared.lock();
        if let Some(last) = state.log.segments.back_mut() {
            last.1 = writer.len;
        }
        shared.waiting.set(state.unacknowledged() as i64);
        drop(state);
        shared.changed.notify_all();
    }
    for chunk in pending.drain(..) {
        // A flush request is no source's events: nobody waits for it.
        if !chunk.is_flush() {
            chunk.ack().acknowledge();
        }
    }
    Ok(())
}

fn has_room(shared: &Shared, need: u64, max_size: u64, unsynced: u64) -> bool {
    let waiting = shared.lock().unacknowledged() + unsynced;
    waiting == 0 || waiting + need <= max_size
}

/// Waits until `need` more bytes fit, or the reader is gone (false).
fn wait_for_room(shared: &Shared, need: u64, max_size: u64) -> bool {
    let mut state = shared.lock();
    let mut since: Option<Instant> = None;
    loop {
        let waiting = state.unacknowledged();
        if waiting == 0 || waiting + need <= max_size {
            if let Some(since) = since {
                info!(sink = %shared.sink, "disk buffer has room again after {:.1?}", since.elapsed());
            }
            return true;
        }
        if state.reader_gone {
            return false;
        }
        if since.is_none() {
            warn!(sink = %shared.sink, "disk buffer is full ({waiting} bytes wait for the sink, max_size {max_size}): sources wait until it catches up");
            since = Some(Instant::now());
        }
        state = shared
            .changed
            .wait(state)
            .unwrap_or_else(|e| e.into_inner());
    }
}

/// The reader: hands what the writer synced to the sink's batcher, in order.
fn read(
    shared: &Shared,
    output: mpsc::Sender<Arc<Chunk>>,
    tracker: Arc<AckTracker>,
    metrics: ComponentMetrics,
) -> Result<(), BufferError> {
    let (dir, mut at) = {
        let state = shared.lock();
        (state.log.dir.clone(), state.log.acked)
    };
    let result = (|| {
        let mut decoder = Decoder::default();
        let mut reader: Option<SegmentReader> = None;
        let partition: Arc<str> = Arc::from("buffer");
        loop {
            let Some((base, limit)) = next_span(shared, &mut at) else {
                return Ok(());
            };
            let reader = match &mut reader {
                Some(r) if r.base == base && r.at == at => r,
                slot => slot.insert(SegmentReader::open(&dir, base, at)?),
            };
            let (chunk, end) = match reader.next(limit)? {
                Frame::Short => {
                    // Only a segment no longer written ends short: a record a
                    // crash cut, never acknowledged to its source.
                    warn!(sink = %shared.sink, "disk buffer {}: {} bytes at its end are a record cut short by a crash; passed over", reader.path.display(), limit - at);
                    at = limit;
                    continue;
                }
                Frame::Record { body, end } => {
                    let body = Bytes::from(body);
                    match decoder.decode(&body) {
                        Ok(Contents::Events(events)) => (Some(events), end),
                        Ok(Contents::Flush) => (None, end),
                        Err(e) => (
                            Some(vec![damaged(
                                shared,
                                &metrics,
                                reader,
                                at,
                                &e.to_string(),
                                body,
                            )]),
                            end,
                        ),
                    }
                }
                Frame::Damaged { body, end } => {
                    let event = damaged(
                        shared,
                        &metrics,
                        reader,
                        at,
                        "checksum mismatch",
                        Bytes::from(body),
                    );
                    (Some(vec![event]), end)
                }
            };
            at = end;
            let chunk = match chunk {
                Some(events) => Chunk::buffered(
                    events,
                    Position {
                        partition: partition.clone(),
                        offset: end,
                    },
                    tracker.clone(),
                ),
                None => Chunk::flush(tracker.clone()),
            };
            if output.blocking_send(Arc::new(chunk)).is_err() {
                return Ok(());
            }
        }
    })();
    let mut state = shared.lock();
    state.reader_gone = true;
    state.read_end = at;
    drop(state);
    shared.changed.notify_all();
    result
}

/// A record that does not read back: a dead letter holding its bytes.
fn damaged(
    shared: &Shared,
    metrics: &ComponentMetrics,
    reader: &SegmentReader,
    at: u64,
    error: &str,
    body: Bytes,
) -> Event {
    let origin = format!("{}@{}", reader.path.display(), at - reader.base);
    warn!(sink = %shared.sink, "disk buffer {origin}: {error}; kept as a dead letter");
    metrics.dead_letters.inc();
    dead_letter(&shared.sink, &origin, error, body)
}

/// The segment to read at `at` and how far it may be read, waiting for the
/// writer when everything synced was read; `None` when the writer is done
/// and nothing is left. Moves `at` past the end of a finished segment.
fn next_span(shared: &Shared, at: &mut u64) -> Option<(u64, u64)> {
    let mut state = shared.lock();
    loop {
        let segments = &state.log.segments;
        let first = segments.front().map_or(*at, |(base, _)| *base);
        *at = (*at).max(first);
        let i = segments
            .iter()
            .rposition(|(base, _)| *base <= *at)
            .unwrap_or(0);
        if let Some(&(base, len)) = segments.get(i) {
            if *at < base + len {
                return Some((base, base + len));
            }
            if let Some(&(next, _)) = segments.get(i + 1) {
                *at = next;
                continue;
            }
        }
        if state.writer_done {
            return None;
        }
        state = shared
            .changed
            .wait(state)
            .unwrap_or_else(|e| e.into_inner());
    }
}

/// The acker: follows the sink's acknowledgements of the reader's chunks,
/// until the reader is done and the sink has settled every chunk it read.
fn acknowledge(
    shared: &Shared,
    mut acks: Acknowledgements,
    runtime: &tokio::runtime::Handle,
) -> Result<(), BufferError> {
    let dir = shared.lock().log.dir.clone();
    let mut saved = shared.lock().log.acked;
    let mut last_save = Instant::now();
    loop {
        let done = {
            let state = shared.lock();
            let all_acknowledged = acks.position().is_some_and(|p| p.offset >= state.read_end);
            state.reader_gone && (all_acknowledged || acks.unsettled() == 0)
        };
        if !done {
            let _ = runtime.block_on(tokio::time::timeout(ACK_POLL, acks.changed()));
        }
        let mut state = shared.lock();
        if let Some(position) = acks.position() {
            state.log.acked = state.log.acked.max(position.offset);
        }
        for base in state.log.acknowledged_segments() {
            state.log.remove(base)?;
        }
        let acked = state.log.acked;
        shared.waiting.set(state.unacknowledged() as i64);
        drop(state);
        shared.changed.notify_all();
        if acked != saved && (done || last_save.elapsed() >= SAVE_EVERY) {
            log::save_acked(&dir, acked)?;
            saved = acked;
            last_save = Instant::now();
        }
        if done {
            return Ok(());
        }
    }
}
