//! The `kafka` source: reads topics as a member of a consumer group, so
//! that several netpipe processes with one `group_id` share the partitions
//! (Kafka's own group protocol, cooperative-sticky assignment), and
//! commits each partition's offsets only once every sink reading the source
//! has written the messages: at least once end to end, and exactly once
//! into a Parquet lake whose files carry their partition's offsets.
//!
//! Messages become the events netpipe's kafka sink wrote ([`decode`]):
//! stream, source and times from its headers, the value read as JSON (typed
//! by the stream's schema, [`typed`]), Avro ([`avro`]) or raw bytes. A
//! message that does not read is a dead letter naming its topic, partition
//! and offset, and its partition goes on.

mod avro;
mod config;
mod consumer;
pub mod decode;

pub use config::{KafkaSourceConfig, source_type};
