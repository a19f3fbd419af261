//! The `Sink` trait.

use async_trait::async_trait;

use crate::BoxError;
use crate::batch::Batch;
use crate::source::BuildContext;

/// A configured sink, ready to build.
#[async_trait]
pub trait SinkConfig: std::fmt::Debug + Send + Sync {
    /// Builds the sink, connecting where it must; an error here stops the
    /// pipeline before any source starts.
    async fn build(&self, cx: &BuildContext) -> Result<Box<dyn Sink>, BoxError>;

    /// The checks that need no network (a template's placeholders, a
    /// directory that can be made, what the inputs in `cx.inputs` can
    /// give), run when the file is loaded, by `validate` as by `run`. Name
    /// the option at fault with [`crate::config::OptionError`].
    fn check(&self, _cx: &BuildContext) -> Result<(), BoxError> {
        Ok(())
    }

    /// Whether the sink writes payloads as compact JSON and no other way.
    /// When every sink reading a source does, the source is told so
    /// ([`BuildContext::readers_write_json`]) and may render each payload's
    /// JSON once, on arrival.
    fn writes_payload_json(&self) -> bool {
        false
    }
}

/// A running consumer of batches.
#[async_trait]
pub trait Sink: Send {
    /// Writes one batch. Once its events are durably written (flushed to
    /// stdout, acknowledged by the broker, in a committed file), call
    /// [`Batch::acknowledge`], now or later: a sink that commits later keeps
    /// the batch until then. An error stops the pipeline; the batch is not
    /// acknowledged.
    async fn write(&mut self, batch: Batch) -> Result<(), BoxError>;

    /// A source asked for what it sent to be durably written now, and
    /// acknowledged (a Kafka source handing partitions to another
    /// consumer): commit what is held, and forget what was known of the
    /// destination, which another writer may have changed meanwhile.
    async fn flush(&mut self) -> Result<(), BoxError> {
        Ok(())
    }

    /// Called once after the last batch, on shutdown or when the inputs end:
    /// commit and acknowledge whatever is still held.
    async fn close(&mut self) -> Result<(), BoxError> {
        Ok(())
    }

    /// Whether the sink looks at its batches' events. When it does (the
    /// default), events a source sent lazily are built by the sink's batcher
    /// as they arrive, so that building them overlaps the sink's writing; a
    /// sink that only counts (a blackhole) says no and never pays for them.
    fn reads_events(&self) -> bool {
        true
    }

    /// When [`Sink::tick`] should be called even if no batch arrives (a file
    /// to roll by age, acknowledgements that wait on it).
    fn deadline(&self) -> Option<tokio::time::Instant> {
        None
    }

    /// Called at [`Sink::deadline`].
    async fn tick(&mut self) -> Result<(), BoxError> {
        Ok(())
    }
}

/// A sink's output has ended for good in a way that is not a failure (the
/// reader of a pipe went away): the run stops as if interrupted, draining
/// the other sinks, and exits cleanly.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct EndOfOutput(pub &'static str);
