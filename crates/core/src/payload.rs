//! Event payloads: decoded values, or the bytes a source received, decoded
//! only when a sink first reads them.
//!
//! Many sinks never look inside most payloads: a Kafka sink forwarding the
//! original protobuf, a blackhole, a JSON sink that transcodes straight from
//! the wire. A source whose input is costly to turn into values (a dense
//! protobuf message becomes thousands of them) validates the bytes when it
//! receives them and keeps them with a [`Codec`]; the [`Record`] is built on
//! first access, once, and shared by every sink reading the event. When
//! every sink that reads the source writes JSON, the source may render the
//! JSON on arrival instead ([`Payload::with_json`]): one pass over the
//! bytes that both checks them and writes what the sinks copy.

use std::fmt;
use std::ops::Deref;
use std::sync::{Arc, OnceLock};

use bytes::Bytes;

use crate::value::Record;

/// Turns bytes a source validated into values or JSON.
pub trait Codec: Send + Sync + fmt::Debug {
    /// Decodes bytes the source validated when it received them.
    fn decode(&self, bytes: &Bytes) -> Record;

    /// Appends the payload's JSON: the same text [`crate::json`] writes for
    /// the record [`Codec::decode`] returns, without building it.
    fn write_json(&self, bytes: &Bytes, out: &mut Vec<u8>);
}

/// Reads the bytes a source received for one stream back into its
/// payload: what netpipe's kafka sink forwards with `encoding: protobuf`,
/// read by the kafka source. The bytes come from outside, so they are
/// checked whole first.
pub trait PayloadDecoder: Send + Sync + fmt::Debug {
    fn decode(&self, bytes: Bytes) -> Result<Payload, String>;
}

/// The decoders a source registers, by stream name.
pub type StreamDecoders = Vec<(String, Arc<dyn PayloadDecoder>)>;

/// An event's payload. Dereferences to its [`Record`], decoding it first
/// when the source kept it encoded.
#[derive(Clone)]
pub struct Payload(Repr);

#[derive(Clone)]
enum Repr {
    Decoded(Record),
    /// A record read back with the JSON its source rendered on arrival (a
    /// disk buffer keeps both, since that JSON may differ from the record's).
    DecodedWithJson {
        record: Record,
        json: Bytes,
    },
    Encoded {
        bytes: Bytes,
        codec: Arc<dyn Codec>,
        record: OnceLock<Record>,
        /// The JSON [`Codec::write_json`] writes, when rendered on arrival.
        json: Option<Bytes>,
    },
}

impl Payload {
    /// A payload kept as `bytes`, which `codec` decodes on first access.
    pub fn encoded(bytes: Bytes, codec: Arc<dyn Codec>) -> Self {
        Payload(Repr::Encoded {
            bytes,
            codec,
            record: OnceLock::new(),
            json: None,
        })
    }

    /// A payload kept as `bytes` whose JSON, `json`, is already rendered:
    /// JSON sinks write it as it is, and the record is still decoded from
    /// `bytes`.
    pub fn with_json(bytes: Bytes, codec: Arc<dyn Codec>, json: Bytes) -> Self {
        Payload(Repr::Encoded {
            bytes,
            codec,
            record: OnceLock::new(),
            json: Some(json),
        })
    }

    /// A decoded record with the JSON its source rendered on arrival.
    pub fn decoded_with_json(record: Record, json: Bytes) -> Self {
        Payload(Repr::DecodedWithJson { record, json })
    }

    /// The JSON the source rendered on arrival, if it did.
    pub fn rendered_json(&self) -> Option<&Bytes> {
        match &self.0 {
            Repr::Encoded { json, .. } => json.as_ref(),
            Repr::DecodedWithJson { json, .. } => Some(json),
            Repr::Decoded(_) => None,
        }
    }

    /// The record, decoded now if it was not yet.
    pub fn record(&self) -> &Record {
        match &self.0 {
            Repr::Decoded(record) | Repr::DecodedWithJson { record, .. } => record,
            Repr::Encoded {
                bytes,
                codec,
                record,
                ..
            } => record.get_or_init(|| codec.decode(bytes)),
        }
    }

    /// The bytes and codec of a payload nobody has decoded yet.
    pub fn undecoded(&self) -> Option<(&Bytes, &dyn Codec)> {
        match &self.0 {
            Repr::Encoded {
                bytes,
                codec,
                record,
                ..
            } if record.get().is_none() => Some((bytes, &**codec)),
            _ => None,
        }
    }
}

impl From<Record> for Payload {
    fn from(record: Record) -> Self {
        Payload(Repr::Decoded(record))
    }
}

impl Deref for Payload {
    type Target = Record;

    fn deref(&self) -> &Record {
        self.record()
    }
}

impl PartialEq for Payload {
    fn eq(&self, other: &Self) -> bool {
        self.record() == other.record()
    }
}

impl fmt::Debug for Payload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.undecoded() {
            Some((bytes, codec)) => write!(f, "Payload({} bytes for {codec:?})", bytes.len()),
            None => self.record().fmt(f),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::value::{Value, field_names};

    /// Decodes a byte string into `{text}`, counting its calls.
    #[derive(Debug, Default)]
    struct TextCodec(AtomicUsize);

    impl Codec for TextCodec {
        fn decode(&self, bytes: &Bytes) -> Record {
            self.0.fetch_add(1, Ordering::Relaxed);
            let text = std::str::from_utf8(bytes).unwrap();
            Record::new(field_names(&["text"]), vec![Value::string(text)])
        }

        fn write_json(&self, bytes: &Bytes, out: &mut Vec<u8>) {
            out.extend_from_slice(b"{\"text\":");
            serde_json::to_writer(&mut *out, std::str::from_utf8(bytes).unwrap()).unwrap();
            out.push(b'}');
        }
    }

    #[test]
    fn decodes_once_on_first_access_and_shares_the_record() {
        let codec = Arc::new(TextCodec::default());
        let payload = Payload::encoded(Bytes::from_static(b"hi"), codec.clone());
        assert!(payload.undecoded().is_some());
        let copy = payload.clone();
        assert_eq!(payload.get("text"), Some(&Value::string("hi")));
        assert_eq!(payload.get("text"), Some(&Value::string("hi")));
        assert_eq!(codec.0.load(Ordering::Relaxed), 1);
        assert!(payload.undecoded().is_none());
        // A clone made before the first access decodes on its own.
        assert!(copy.undecoded().is_some());
        assert_eq!(copy, payload);
        assert_eq!(codec.0.load(Ordering::Relaxed), 2);
    }

    #[test]
    fn json_rendered_on_arrival_is_written_as_it_is_and_the_record_still_decodes() {
        let codec = Arc::new(TextCodec::default());
        let rendered = Bytes::from_static(b"{\"text\":\"rendered\"}");
        let payload =
            Payload::with_json(Bytes::from_static(b"hi"), codec.clone(), rendered.clone());
        let mut out = Vec::new();
        crate::json::write_payload(&payload, &mut out);
        assert_eq!(out, rendered);
        assert_eq!(codec.0.load(Ordering::Relaxed), 0);
        assert_eq!(payload.get("text"), Some(&Value::string("hi")));
        assert_eq!(payload.rendered_json(), Some(&rendered));
        assert_eq!(
            Payload::from(payload.record().clone()).rendered_json(),
            None
        );
    }
}
