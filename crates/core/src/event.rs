//! Events: a typed payload plus the metadata every sink needs.

use std::sync::Arc;

use bytes::Bytes;

use crate::payload::Payload;
use crate::value::{FieldNames, Record, Timestamp, Value, field_names};

/// Stream of the events a source emits when it reconnected and could not
/// replay what it missed: sinks store them like any event, so a data set
/// records its own holes.
pub const GAP_STREAM: &str = "netpipe.gap";

/// Stream of input a source could not decode. The raw bytes are kept, so
/// nothing received is lost.
pub const DEAD_LETTER_STREAM: &str = "netpipe.dead_letter";

/// Where an event came from inside its source, in the source's own terms
/// (a Parquet file and row; a connection and message sequence). Opaque to
/// the pipeline; it is what a checkpoint stores.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Position {
    pub partition: Arc<str>,
    pub offset: u64,
}

/// One event travelling through a pipeline.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// Name of the source component that produced it.
    pub source: Arc<str>,
    /// What kind of event it is, e.g. `aruba.monitoring`; decides the Kafka
    /// topic, the Parquet dataset and the schema.
    pub stream: Arc<str>,
    /// When it happened, from the payload when the source knows it.
    pub event_time: Timestamp,
    /// When netpipe received it.
    pub receive_time: Timestamp,
    /// Partitioning key (a device serial, a circuit id) so that Kafka keeps
    /// per-device order.
    pub key: Option<Arc<str>>,
    /// Extra name/value pairs that sinks with headers carry along.
    pub headers: Vec<(Arc<str>, Arc<str>)>,
    pub position: Option<Position>,
    pub payload: Payload,
    /// The bytes the source received, when it keeps them (a shared slice of
    /// the received frame, never a copy).
    pub raw: Option<Bytes>,
    /// Estimated encoded size in bytes, computed once by the source.
    pub size: usize,
}

impl Event {
    /// An event with the receive time set to now and the size estimated from
    /// the payload (or the raw bytes, when given).
    pub fn new(source: Arc<str>, stream: Arc<str>, event_time: Timestamp, payload: Record) -> Self {
        let size = payload.estimated_size();
        Self::sized(source, stream, event_time, payload.into(), size)
    }

    /// An event whose payload may still be encoded, so the source states
    /// its estimated size (what [`Record::estimated_size`] would say).
    pub fn sized(
        source: Arc<str>,
        stream: Arc<str>,
        event_time: Timestamp,
        payload: Payload,
        size: usize,
    ) -> Self {
        Event {
            source,
            stream,
            event_time,
            receive_time: Timestamp::now(),
            key: None,
            headers: Vec::new(),
            position: None,
            payload,
            raw: None,
            size,
        }
    }

    pub fn with_key(mut self, key: Option<Arc<str>>) -> Self {
        self.key = key;
        self
    }

    /// Keeps the received bytes alongside the decoded payload.
    pub fn with_raw(mut self, raw: Bytes) -> Self {
        self.size = self.size.max(raw.len());
        self.raw = Some(raw);
        self
    }

    pub fn with_position(mut self, position: Position) -> Self {
        self.position = Some(position);
        self
    }

    pub fn with_receive_time(mut self, receive_time: Timestamp) -> Self {
        self.receive_time = receive_time;
        self
    }
}

/// What a source says about a stretch of time in which it may have missed
/// events (a reconnect, with no replay on the server).
#[derive(Debug, Clone)]
pub struct Gap<'a> {
    /// What the source was reading when it lost the stream, e.g. a customer
    /// and topic: `[("customer", "CustomerA"), ("topic", "monitoring")]`.
    pub scope: &'a [(&'a str, &'a str)],
    pub from: Timestamp,
    pub to: Timestamp,
    pub reason: &'a str,
}

impl Gap<'_> {
    /// A `netpipe.gap` event: `source`, `scope` (a map of the scope's
    /// names to values), `from`, `to`, `reason`.
    pub fn into_event(self, source: &Arc<str>) -> Event {
        let scope_names: Vec<&str> = self.scope.iter().map(|(name, _)| *name).collect();
        let scope_values = self.scope.iter().map(|(_, v)| Value::string(v)).collect();
        let payload = Record::new(
            field_names(&["source", "scope", "from", "to", "reason"]),
            vec![
                Value::String(source.clone()),
                Value::Record(Record::new(field_names(&scope_names), scope_values)),
                Value::Timestamp(self.from),
                Value::Timestamp(self.to),
                Value::string(self.reason),
            ],
        );
        Event::new(source.clone(), Arc::from(GAP_STREAM), self.to, payload)
    }
}

/// Field names of a dead-letter payload.
pub fn dead_letter_fields() -> FieldNames {
    field_names(&["origin", "error", "raw"])
}

/// A `netpipe.dead_letter` event holding input that could not be decoded:
/// `origin` says what it was read from (a topic, a stream), `error` why it
/// failed, `raw` the bytes themselves.
pub fn dead_letter(source: &Arc<str>, origin: &str, error: &str, raw: Bytes) -> Event {
    let payload = Record::new(
        dead_letter_fields(),
        vec![
            Value::string(origin),
            Value::string(error),
            Value::Bytes(raw.clone()),
        ],
    );
    Event::new(
        source.clone(),
        Arc::from(DEAD_LETTER_STREAM),
        Timestamp::now(),
        payload,
    )
    .with_raw(raw)
}
