//! The `Source` trait and what a running source is handed.

use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::BoxError;
use crate::ack::{AckTracker, Acknowledgements, Chunk, LazyEvents};
use crate::event::Event;
use crate::metrics::ComponentMetrics;

/// A configured source, ready to build.
pub trait SourceConfig: std::fmt::Debug + Send + Sync {
    /// Builds the source. Checks that need no network (files exist, keys
    /// parse) belong here, so a bad pipeline fails before anything starts.
    /// An error that names the option at fault is a
    /// [`crate::config::OptionError`] (or [`crate::config::OptionErrors`]),
    /// so that `validate` and `run` point at its line.
    fn build(&self, cx: &BuildContext) -> Result<Box<dyn Source>, BoxError>;

    /// Whether the source's events keep the bytes it received
    /// ([`crate::Event::raw`]), for sinks that forward them unchanged.
    fn keeps_received_bytes(&self) -> bool {
        false
    }
}

/// A running producer of events.
#[async_trait]
pub trait Source: Send {
    /// Sends events through `cx.out` until the input ends (return `Ok`) or
    /// `cx.shutdown` is cancelled (stop reading and return `Ok` promptly;
    /// events already sent are drained by the pipeline). A send that waits is
    /// back-pressure: the source must not read further meanwhile.
    async fn run(self: Box<Self>, cx: SourceContext) -> Result<(), BoxError>;
}

/// What a component's build step may need to know.
#[derive(Debug, Clone)]
pub struct BuildContext {
    /// The component's name in the pipeline file.
    pub name: Arc<str>,
    /// The pipeline file's directory: relative paths in its config resolve here.
    pub base_dir: PathBuf,
    /// Avro schemas of every stream, for sinks that write typed data.
    pub schemas: Arc<crate::schema::StreamSchemas>,
    /// A source's readers are sinks that all write payloads as compact JSON
    /// (at least one; see [`crate::sink::SinkConfig::writes_payload_json`]).
    /// Always false for sinks.
    pub readers_write_json: bool,
    /// The sources a sink reads, for its checks. Empty for sources.
    pub inputs: Vec<InputInfo>,
    /// The component's counters (detached ones while a file is checked).
    pub metrics: ComponentMetrics,
}

/// A source a sink reads, as the sink's checks see it.
#[derive(Debug, Clone)]
pub struct InputInfo {
    /// The source's name in the pipeline file.
    pub name: Arc<str>,
    /// Its component type.
    pub type_name: &'static str,
    /// See [`SourceConfig::keeps_received_bytes`].
    pub keeps_received_bytes: bool,
}

impl BuildContext {
    pub fn resolve(&self, path: &std::path::Path) -> PathBuf {
        if path.is_absolute() {
            path.to_path_buf()
        } else {
            self.base_dir.join(path)
        }
    }
}

/// Handed to [`Source::run`].
pub struct SourceContext {
    pub name: Arc<str>,
    pub out: SourceSender,
    pub shutdown: CancellationToken,
    pub acks: Acknowledgements,
    pub metrics: ComponentMetrics,
}

/// The pipeline is shutting down or a sink has failed: stop sending.
#[derive(Debug, thiserror::Error)]
#[error("the pipeline is closed")]
pub struct Closed;

/// Sends a source's events, as chunks, to every sink that reads the source.
/// Cheap to clone for sources with several connections.
#[derive(Clone)]
pub struct SourceSender {
    outputs: Arc<[mpsc::Sender<Arc<Chunk>>]>,
    tracker: Arc<AckTracker>,
    metrics: ComponentMetrics,
}

impl SourceSender {
    pub(crate) fn new(
        outputs: Vec<mpsc::Sender<Arc<Chunk>>>,
        metrics: ComponentMetrics,
    ) -> (Self, Acknowledgements) {
        let (tracker, acks) = AckTracker::new();
        let sender = SourceSender {
            outputs: outputs.into(),
            tracker,
            metrics,
        };
        (sender, acks)
    }

    /// Sends events as one chunk. Waits while any reading sink is full
    /// (back-pressure: a slow sink slows its sources, never drops for them).
    pub async fn send(&self, events: Vec<Event>) -> Result<(), Closed> {
        if events.is_empty() {
            return Ok(());
        }
        let chunk = Chunk::new(events, self.outputs.len(), self.tracker.clone());
        self.send_chunk(chunk).await
    }

    /// Sends events that are built only when a sink first reads them.
    pub async fn send_lazy(&self, events: Box<dyn LazyEvents>) -> Result<(), Closed> {
        if events.is_empty() {
            return Ok(());
        }
        let chunk = Chunk::lazy(events, self.outputs.len(), self.tracker.clone());
        self.send_chunk(chunk).await
    }

    /// Asks every sink reading this source to write durably, now, what it
    /// holds (a Parquet sink commits its open files), and to forget what
    /// it knew of its destination: the source's partitions are changing
    /// hands. In band: everything sent before it is written first.
    pub async fn flush(&self) -> Result<(), Closed> {
        self.send_chunk(Chunk::flush(self.tracker.clone())).await
    }

    async fn send_chunk(&self, chunk: Chunk) -> Result<(), Closed> {
        let chunk = Arc::new(chunk);
        self.metrics.events_out.inc_by(chunk.len() as u64);
        self.metrics.bytes_out.inc_by(chunk.byte_size() as u64);
        for output in self.outputs.iter() {
            output.send(chunk.clone()).await.map_err(|_| Closed)?;
        }
        Ok(())
    }
}
