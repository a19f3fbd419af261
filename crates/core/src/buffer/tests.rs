//! The disk buffer between a pretend source and a pretend sink: what comes
//! out, what the source is told, and what a restart finds.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::BufferConfig;
use super::disk::DiskBuffer;
use super::log::{BufferError, segment_path};
use crate::ack::{AckTracker, Acknowledgements, Chunk};
use crate::event::{DEAD_LETTER_STREAM, Event};
use crate::metrics::ComponentMetrics;
use crate::units::ByteSize;
use crate::value::{Record, Timestamp, Value, field_names};

fn events(from: i64, count: i64) -> Vec<Event> {
    let names = field_names(&["n"]);
    (from..from + count)
        .map(|n| {
            Event::new(
                "src".into(),
                "s".into(),
                Timestamp(n),
                Record::new(names.clone(), vec![Value::Int(n)]),
            )
        })
        .collect()
}

/// The numbers of a chunk's events (their receive times differ from a
/// fresh `events()`'s).
fn numbers(chunk: &Chunk) -> Vec<i64> {
    chunk
        .events()
        .iter()
        .map(|e| e.payload.get("n").and_then(Value::as_int).unwrap())
        .collect()
}

fn range(from: i64, count: i64) -> Vec<i64> {
    (from..from + count).collect()
}

/// A buffer at work: the source's side, the sink's side.
struct Running {
    input: Option<mpsc::Sender<Arc<Chunk>>>,
    output: mpsc::Receiver<Arc<Chunk>>,
    stages: JoinSet<Result<(), BufferError>>,
    tracker: Arc<AckTracker>,
    source_acks: Acknowledgements,
}

impl Running {
    fn start(dir: &Path, max_size: u64) -> Running {
        let (input, input_rx) = mpsc::channel(8);
        let (output_tx, output) = mpsc::channel(8);
        let mut stages = JoinSet::new();
        DiskBuffer::open("sink", dir, max_size)
            .unwrap()
            .start(
                input_rx,
                output_tx,
                ComponentMetrics::default(),
                Default::default(),
                CancellationToken::new(),
                &mut stages,
            )
            .unwrap();
        let (tracker, source_acks) = AckTracker::new();
        Running {
            input: Some(input),
            output,
            stages,
            tracker,
            source_acks,
        }
    }

    async fn send(&self, events: Vec<Event>) {
        let chunk = Chunk::new(events, 1, self.tracker.clone());
        self.input
            .as_ref()
            .unwrap()
            .send(Arc::new(chunk))
            .await
            .unwrap();
    }

    async fn source_acknowledged(&self, events: u64) {
        tokio::time::timeout(Duration::from_secs(10), async {
            while self.source_acks.events() < events {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await
        .expect("the source was acknowledged");
    }

    async fn next(&mut self) -> Option<Arc<Chunk>> {
        tokio::time::timeout(Duration::from_secs(10), self.output.recv())
            .await
            .expect("the buffer answered")
    }

    /// Closes the input and waits for the buffer to finish.
    async fn stop(mut self) {
        self.input = None;
        while let Some(chunk) = self.output.recv().await {
            drop(chunk);
        }
        while let Some(done) = self.stages.join_next().await {
            done.unwrap().unwrap();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chunks_come_back_in_order_and_once_acknowledged_never_again() {
    let dir = tempfile::tempdir().unwrap();
    let mut buffer = Running::start(dir.path(), 1 << 30);
    let sent = [events(0, 10), events(10, 5)];
    for events in &sent {
        buffer.send(events.clone()).await;
    }
    buffer.source_acknowledged(15).await;
    for expected in sent {
        let chunk = buffer.next().await.unwrap();
        // Everything an event holds comes back, its receive time included.
        assert_eq!(chunk.events(), &expected[..]);
        chunk.ack().acknowledge();
    }
    buffer.stop().await;

    let mut again = Running::start(dir.path(), 1 << 30);
    again.send(events(15, 1)).await;
    let chunk = again.next().await.unwrap();
    assert_eq!(numbers(&chunk), range(15, 1));
    chunk.ack().acknowledge();
    again.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_the_sink_did_not_acknowledge_comes_again_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut buffer = Running::start(dir.path(), 1 << 30);
    buffer.send(events(0, 3)).await;
    buffer.send(events(3, 3)).await;
    // The source learns of both once they are on disk, sink or no sink.
    buffer.source_acknowledged(6).await;
    buffer.next().await.unwrap().ack().acknowledge();
    let unwritten = buffer.next().await.unwrap();
    drop(unwritten);
    buffer.stop().await;

    let mut again = Running::start(dir.path(), 1 << 30);
    let chunk = again.next().await.unwrap();
    assert_eq!(numbers(&chunk), range(3, 3));
    chunk.ack().acknowledge();
    again.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_buffer_holds_its_sources_back_until_the_sink_acknowledges() {
    let dir = tempfile::tempdir().unwrap();
    // Room for one chunk at a time.
    let mut buffer = Running::start(dir.path(), 1);
    buffer.send(events(0, 4)).await;
    buffer.send(events(4, 4)).await;
    buffer.source_acknowledged(4).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(buffer.source_acks.events(), 4, "the second chunk waits");
    let first = buffer.next().await.unwrap();
    first.ack().acknowledge();
    buffer.source_acknowledged(8).await;
    let second = buffer.next().await.unwrap();
    assert_eq!(numbers(&second), range(4, 4));
    second.ack().acknowledge();
    buffer.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_cut_by_a_crash_is_passed_over_and_a_damaged_one_is_a_dead_letter() {
    let dir = tempfile::tempdir().unwrap();
    let mut buffer = Running::start(dir.path(), 1 << 30);
    buffer.send(events(0, 2)).await;
    buffer.send(events(2, 2)).await;
    buffer.source_acknowledged(4).await;
    drop(buffer.next().await);
    drop(buffer.next().await);
    buffer.stop().await;

    let path = segment_path(dir.path(), 0);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[20] ^= 0xff; // inside the first record's body
    bytes.extend_from_slice(&[200, 0, 0, 0, 1, 2]); // a frame cut short
    std::fs::write(&path, &bytes).unwrap();

    let mut again = Running::start(dir.path(), 1 << 30);
    let dead = again.next().await.unwrap();
    assert_eq!(dead.events().len(), 1);
    assert_eq!(&*dead.events()[0].stream, DEAD_LETTER_STREAM);
    assert_eq!(
        dead.events()[0].payload.get("error"),
        Some(&Value::string("checksum mismatch"))
    );
    dead.ack().acknowledge();
    let intact = again.next().await.unwrap();
    assert_eq!(numbers(&intact), range(2, 2));
    intact.ack().acknowledge();
    // What this run adds comes after what the crash cut.
    again.send(events(4, 1)).await;
    let added = again.next().await.unwrap();
    assert_eq!(numbers(&added), range(4, 1));
    added.ack().acknowledge();
    again.stop().await;
    // Everything was acknowledged: the older segment is gone.
    assert!(!path.exists());
}

#[test]
fn memory_is_the_default_and_disk_takes_a_path_and_a_size() {
    let parse = |text: &str| serde_yaml_ng::from_str::<BufferConfig>(text);
    assert_eq!(parse("type: memory").unwrap(), BufferConfig::Memory);
    assert_eq!(
        parse("{type: disk, path: buf}").unwrap(),
        BufferConfig::Disk {
            path: "buf".into(),
            max_size: ByteSize(1 << 30)
        }
    );
    assert_eq!(
        parse("{type: disk, path: buf, max_size: 64MiB}").unwrap(),
        BufferConfig::Disk {
            path: "buf".into(),
            max_size: ByteSize(64 << 20)
        }
    );
    assert!(parse("{type: disk}").is_err());
    assert!(parse("{type: disk, path: b, max_sise: 1}").is_err());
    assert!(parse("{type: cloud}").is_err());
}
