//! netpipe's core: the event model, the [`Source`] and [`Sink`] traits,
//! pipeline configuration, the bounded batching stage and the runtime that
//! wires them together. Sources and sinks live in crates of their own and
//! plug in through [`config::Registry`].
//!
//! Data moves as batches, never single events: a source sends a `Vec` of
//! events as one [`ack::Chunk`], every sink reading that source receives the
//! same `Arc`'d chunk, and a per-sink batcher gathers chunks into
//! [`batch::Batch`]es. A sink acknowledges a batch once it is durably
//! written; a chunk is acknowledged to its source when every sink reading it
//! has done so (at-least-once, end to end). A source whose input is already
//! in batches of its own (Arrow columns read from a file) may send a chunk
//! of [`ack::LazyEvents`] instead: its events are built when a sink first
//! reads them, and never for sinks that do not.

pub mod ack;
pub mod batch;
pub mod buffer;
pub mod config;
pub mod event;
pub mod full_disk;
pub mod json;
pub mod metrics;
pub mod payload;
pub mod schema;
pub mod secret;
pub mod simulate;
pub mod sink;
pub mod source;
pub mod topology;
pub mod typed_json;
pub mod units;
pub mod value;

pub use ack::LazyEvents;
pub use async_trait::async_trait;
pub use batch::{Batch, BatchAck, BatchConfig};
pub use event::{Event, Position};
pub use payload::{Codec, Payload, PayloadDecoder, StreamDecoders};
pub use secret::Secret;
pub use sink::{Sink, SinkConfig};
pub use source::{BuildContext, InputInfo, Source, SourceConfig, SourceContext, SourceSender};
pub use value::{FieldNames, Record, Timestamp, Value};

/// Errors components hand to the runtime: their own `thiserror` types, boxed.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
