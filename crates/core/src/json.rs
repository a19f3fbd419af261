//! JSON rendering of events, shared by every sink that writes JSON.
//!
//! One object per event: metadata first, then the payload. Null fields and
//! empty lists are left out (as protobuf's own JSON mapping does); bytes a
//! source could not render as text are base64; timestamps are RFC 3339 UTC.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};

use crate::event::Event;
use crate::payload::Payload;
use crate::value::{Record, Value};

struct JsonValue<'a>(&'a Value);
struct JsonRecord<'a>(&'a Record);
struct JsonHeaders<'a>(&'a [(std::sync::Arc<str>, std::sync::Arc<str>)]);

impl Serialize for JsonValue<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Value::Null => s.serialize_unit(),
            Value::Bool(b) => s.serialize_bool(*b),
            Value::Int(i) => s.serialize_i64(*i),
            Value::UInt(u) => s.serialize_u64(*u),
            Value::Float(f) => s.serialize_f64(*f),
            Value::String(text) => s.serialize_str(text),
            Value::Bytes(bytes) => s.serialize_str(&BASE64.encode(bytes)),
            Value::Timestamp(t) => s.serialize_str(&t.to_rfc3339()),
            Value::Record(r) => JsonRecord(r).serialize(s),
            Value::List(items) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(&JsonValue(item))?;
                }
                seq.end()
            }
        }
    }
}

impl Serialize for JsonRecord<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(None)?;
        for (name, value) in self.0.iter().filter(|(_, v)| !v.is_absent()) {
            map.serialize_entry(name, &JsonValue(value))?;
        }
        map.end()
    }
}

impl Serialize for JsonHeaders<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (name, value) in self.0 {
            map.serialize_entry(&**name, &**value)?;
        }
        map.end()
    }
}

/// The JSON form of an event's metadata, the members before its payload.
fn serialize_metadata<M: SerializeMap>(map: &mut M, e: &Event) -> Result<(), M::Error> {
    map.serialize_entry("stream", &*e.stream)?;
    map.serialize_entry("source", &*e.source)?;
    map.serialize_entry("event_time", &e.event_time.to_rfc3339())?;
    map.serialize_entry("receive_time", &e.receive_time.to_rfc3339())?;
    if let Some(key) = &e.key {
        map.serialize_entry("key", &**key)?;
    }
    if !e.headers.is_empty() {
        map.serialize_entry("headers", &JsonHeaders(&e.headers))?;
    }
    Ok(())
}

/// A whole event (metadata and payload), the payload from its record.
struct JsonEvent<'a>(&'a Event);

impl Serialize for JsonEvent<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(None)?;
        serialize_metadata(&mut map, self.0)?;
        map.serialize_entry("payload", &JsonRecord(&self.0.payload))?;
        map.end()
    }
}

/// An event's metadata alone, as an object.
struct JsonMetadata<'a>(&'a Event);

impl Serialize for JsonMetadata<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(None)?;
        serialize_metadata(&mut map, self.0)?;
        map.end()
    }
}

/// Appends a payload as JSON: as the source rendered it, else transcoded
/// from its bytes when nobody has decoded it yet.
pub fn write_payload(payload: &Payload, out: &mut Vec<u8>) {
    if let Some(json) = payload.rendered_json() {
        out.extend_from_slice(json);
        return;
    }
    match payload.undecoded() {
        Some((bytes, codec)) => codec.write_json(bytes, out),
        // Serializing into a Vec cannot fail: every map key is a string.
        None => drop(serde_json::to_writer(&mut *out, &JsonRecord(payload))),
    }
}

/// Appends an event's compact JSON up to its payload: the metadata members
/// and `,"payload":`. Its payload and a `}` complete it; a sink that writes
/// a rendered payload from where it is ([`Payload::rendered_json`]) starts
/// with this.
pub fn write_head(event: &Event, out: &mut Vec<u8>) {
    let _ = serde_json::to_writer(&mut *out, &JsonMetadata(event));
    // Reopen the metadata object to append the payload member.
    out.pop();
    out.extend_from_slice(b",\"payload\":");
}

/// Appends an event as one line of JSON (no trailing newline).
pub fn write_event(event: &Event, out: &mut Vec<u8>, pretty: bool) {
    if pretty {
        let _ = serde_json::to_writer_pretty(&mut *out, &JsonEvent(event));
        return;
    }
    write_head(event, out);
    write_payload(&event.payload, out);
    out.push(b'}');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::{Timestamp, field_names};
    use bytes::Bytes;

    #[test]
    fn renders_metadata_and_sparse_payload() {
        let payload = Record::new(
            field_names(&["mac", "count", "missing", "empty", "raw", "nested"]),
            vec![
                Value::string("aa:bb:cc:dd:ee:ff"),
                Value::Int(i64::MAX),
                Value::Null,
                Value::List(vec![]),
                Value::Bytes(Bytes::from_static(b"\x00\x01")),
                Value::List(vec![Value::Record(Record::new(
                    field_names(&["x"]),
                    vec![Value::Float(1.5)],
                ))]),
            ],
        );
        let event = Event::new("src".into(), "demo.x".into(), Timestamp(0), payload)
            .with_key(Some("k1".into()))
            .with_receive_time(Timestamp(1_000_000));
        let mut out = Vec::new();
        write_event(&event, &mut out, false);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"{"stream":"demo.x","source":"src","event_time":"1970-01-01T00:00:00Z","receive_time":"1970-01-01T00:00:00.001Z","key":"k1","payload":{"mac":"aa:bb:cc:dd:ee:ff","count":9223372036854775807,"raw":"AAE=","nested":[{"x":1.5}]}}"#
        );
    }
}
