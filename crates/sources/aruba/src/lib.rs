//! The `aruba_central` source: Aruba Central's streaming API (one WebSocket
//! per customer and topic, binary protobuf frames), with key validation and
//! renewal, reconnects with backoff and gap events, and dead letters for
//! frames that do not decode. Also `netpipe simulate aruba`, a Central
//! stand-in that speaks the same protocol on loopback.
//!
//! Decoding is sans-IO ([`decode`], [`events`]) on the protobuf codec
//! ([`netpipe_protobuf`]) with Aruba's [`rules`] and [`readers`]: bytes in,
//! events out, so it is tested and benchmarked apart from the connection
//! code ([`connect`]). Frames are checked whole when they arrive (a bad one
//! becomes a dead letter) but their payload is decoded only when a sink
//! reads it, and JSON sinks transcode it directly.

pub mod avro;
pub mod config;
pub mod connect;
pub mod customers_file;
pub mod decode;
pub mod events;
pub mod readers;
#[cfg(test)]
mod readers_tests;
pub mod rules;
pub mod simulator;
pub mod topic;

pub use config::{ArubaConfig, source_type};
pub use decode::Decoder;
pub use topic::Topic;

/// The readers of the frames of each topic stream, for the kafka source.
pub fn stream_decoders() -> netpipe_core::StreamDecoders {
    events::frame_decoders()
}

/// The Avro schemas of every stream this source emits.
pub fn stream_schemas() -> Vec<(String, serde_json::Value)> {
    avro::stream_schemas(Decoder::new().plans())
}
