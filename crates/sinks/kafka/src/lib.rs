//! The `kafka` sink: each event becomes one Kafka message on a topic named
//! from a template, keyed for per-device order, with headers carrying the
//! stream, source and event time. A batch is acknowledged only when the
//! broker has acknowledged every message in it; failed deliveries are sent
//! again (at-least-once) unless the error is permanent.

mod avro;
mod config;
mod settings;
mod sink;

pub use config::{KafkaConfig, sink_type};
