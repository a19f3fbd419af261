//! Avro schemas of the streams netpipe emits, one per stream. Sources
//! declare theirs (generated from the same definitions they decode with);
//! sinks that write typed data (Avro to Kafka, Parquet) look them up by
//! stream. `schemas/*.avsc` in the repository are these, written out by
//! `netpipe schemas` and checked by a test so they cannot drift.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{Value as Json, json};

use crate::event::{DEAD_LETTER_STREAM, GAP_STREAM};
use crate::payload::PayloadDecoder;

/// Schemas by stream name, and the decoders of the streams whose received
/// bytes netpipe can read back.
#[derive(Debug, Clone, Default)]
pub struct StreamSchemas {
    by_stream: BTreeMap<String, Json>,
    decoders: BTreeMap<String, Arc<dyn PayloadDecoder>>,
}

impl StreamSchemas {
    /// The streams every pipeline may carry: gaps and dead letters.
    pub fn with_common() -> Self {
        let mut schemas = StreamSchemas::default();
        schemas.extend(common());
        schemas
    }

    pub fn extend(&mut self, schemas: impl IntoIterator<Item = (String, Json)>) {
        self.by_stream.extend(schemas);
    }

    pub fn get(&self, stream: &str) -> Option<&Json> {
        self.by_stream.get(stream)
    }

    pub fn extend_decoders(
        &mut self,
        decoders: impl IntoIterator<Item = (String, Arc<dyn PayloadDecoder>)>,
    ) {
        self.decoders.extend(decoders);
    }

    /// The decoder of `stream`'s received bytes, if netpipe has one.
    pub fn decoder(&self, stream: &str) -> Option<&Arc<dyn PayloadDecoder>> {
        self.decoders.get(stream)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &Json)> {
        self.by_stream.iter().map(|(k, v)| (k.as_str(), v))
    }
}

/// `["null", T]` with a null default: a field a record may leave out.
pub fn optional(schema: Json) -> Json {
    json!(["null", schema])
}

/// A field of a record schema.
pub fn field(name: &str, schema: Json) -> Json {
    if schema
        .as_array()
        .is_some_and(|a| a.first() == Some(&json!("null")))
    {
        json!({ "name": name, "type": schema, "default": null })
    } else {
        json!({ "name": name, "type": schema })
    }
}

/// Event times are stored as microseconds since the epoch, the finest unit
/// Avro and Parquet readers all understand.
pub fn timestamp() -> Json {
    json!({ "type": "long", "logicalType": "timestamp-micros" })
}

fn common() -> Vec<(String, Json)> {
    let string = || json!("string");
    vec![
        (
            GAP_STREAM.to_string(),
            json!({
                "type": "record", "name": "gap", "namespace": "netpipe",
                "doc": "A stretch of time in which a source may have missed events (a reconnect with no replay).",
                "fields": [
                    field("source", string()),
                    field("scope", json!({ "type": "map", "values": "string" })),
                    field("from", timestamp()),
                    field("to", timestamp()),
                    field("reason", string()),
                ],
            }),
        ),
        (
            DEAD_LETTER_STREAM.to_string(),
            json!({
                "type": "record", "name": "dead_letter", "namespace": "netpipe",
                "doc": "Input a source could not decode, kept whole.",
                "fields": [
                    field("origin", string()),
                    field("error", string()),
                    field("raw", json!("bytes")),
                ],
            }),
        ),
    ]
}
