//! Sans-IO decoding of Aruba Central streaming frames: bytes in, typed
//! records out. Each frame is a `StreamMessage.MsgProto` whose `data` holds
//! the topic's message. The protobuf codec ([`netpipe_protobuf`]) does the
//! decoding, by Aruba's rules ([`crate::rules`]) and with the readers
//! generated for Aruba's messages ([`crate::readers`]): addresses as people
//! read them, ESSIDs as text, enums by name; 64-bit integers stay numbers.

use std::sync::Arc;

use bytes::Bytes;
use netpipe_core::{Record, Value};
use netpipe_protobuf::Codec;
pub use netpipe_protobuf::DecodeError;
use netpipe_protobuf::plans::Plans;

use crate::readers::{READERS, descriptor_pool};
use crate::rules::RULES;
use crate::topic::Topic;

/// The envelope of one frame.
#[derive(Debug, Clone, PartialEq)]
pub struct Envelope {
    pub subject: Arc<str>,
    pub customer_id: Arc<str>,
    pub msp_id: Option<Arc<str>>,
    /// The envelope's `timestamp` (unit not documented by Aruba).
    pub timestamp: Option<i64>,
    /// The topic's message, still encoded (a slice of the frame).
    pub data: Bytes,
}

/// Decodes frames of every topic. Build once and share.
#[derive(Debug, Clone)]
pub struct Decoder {
    codec: Codec,
    envelope: usize,
}

impl Default for Decoder {
    fn default() -> Self {
        Self::new()
    }
}

impl Decoder {
    pub fn new() -> Self {
        let codec = Codec::new(&descriptor_pool(), RULES, READERS);
        let envelope = codec
            .index_of("StreamMessage.MsgProto")
            .expect("streaming.proto defines StreamMessage.MsgProto");
        Decoder { codec, envelope }
    }

    pub fn codec(&self) -> &Codec {
        &self.codec
    }

    pub fn plans(&self) -> &Plans {
        self.codec.plans()
    }

    /// The plan of the message each frame of `topic` carries.
    pub fn topic_plan(&self, topic: Topic) -> usize {
        self.codec
            .index_of(topic.message())
            .expect("every topic's message is in the descriptors")
    }

    /// Decodes `bytes` (all of `frame`, or a slice of it) as the message of plan `index`.
    pub fn decode_message(
        &self,
        index: usize,
        frame: &Bytes,
        bytes: &[u8],
    ) -> Result<Record, DecodeError> {
        self.codec.decode(index, frame, bytes)
    }

    /// Decodes a frame's envelope; its `data` stays encoded.
    pub fn decode_envelope(&self, frame: &Bytes, topic: Topic) -> Result<Envelope, DecodeError> {
        let envelope = self.decode_message(self.envelope, frame, frame)?;
        let text = |name: &str| envelope.get(name).and_then(Value::as_str).map(Arc::from);
        Ok(Envelope {
            subject: text("subject").unwrap_or_else(|| Arc::from(topic.as_str())),
            customer_id: text("customer_id").unwrap_or_else(|| Arc::from("")),
            msp_id: text("msp_id").filter(|m: &Arc<str>| !m.is_empty()),
            timestamp: envelope.get("timestamp").and_then(Value::as_int),
            data: match envelope.get("data") {
                Some(Value::Bytes(b)) => b.clone(),
                _ => Bytes::new(),
            },
        })
    }

    /// Decodes a whole frame: the envelope, then `data` as `topic`'s message.
    pub fn decode_frame(
        &self,
        frame: &Bytes,
        topic: Topic,
    ) -> Result<(Envelope, Record), DecodeError> {
        let envelope = self.decode_envelope(frame, topic)?;
        let payload =
            self.decode_message(self.topic_plan(topic), &envelope.data, &envelope.data)?;
        Ok((envelope, payload))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An audit frame encoded by hand from the field numbers in Aruba's
    /// audit.proto and streaming.proto (not by any protobuf library), so a
    /// wrong field number or type in `proto/` fails here. The IP is the
    /// README's own example (`b'\n\x01\ng'` is 10.1.10.103).
    const AUDIT_FRAME: [u8; 48] = [
        0x12, 0x05, 0x61, 0x75, 0x64, 0x69, 0x74, 0x1a, 0x1c, 0x0a, 0x02, 0x63, 0x31, 0x10, 0x80,
        0xe2, 0xcf, 0xaa, 0x06, 0x18, 0x01, 0x32, 0x08, 0x08, 0x01, 0x12, 0x04, 0x0a, 0x01, 0x0a,
        0x67, 0x82, 0x01, 0x03, 0x0a, 0x01, 0x78, 0x20, 0xfb, 0xd0, 0x95, 0xff, 0xbc, 0x31, 0x2a,
        0x02, 0x63, 0x31,
    ];

    #[test]
    fn decodes_a_hand_encoded_audit_frame() {
        let (envelope, p) = Decoder::new()
            .decode_frame(&Bytes::from_static(&AUDIT_FRAME), Topic::Audit)
            .unwrap();
        assert_eq!(&*envelope.subject, "audit");
        assert_eq!(&*envelope.customer_id, "c1");
        assert_eq!(envelope.timestamp, Some(1_700_000_000_123));
        assert_eq!(p.get("customer_id"), Some(&Value::string("c1")));
        assert_eq!(p.get("timestamp"), Some(&Value::Int(1_700_000_000)));
        assert_eq!(p.get("service"), Some(&Value::string("FIRMWARE")));
        assert_eq!(p.get("client_ip"), Some(&Value::string("10.1.10.103")));
        assert_eq!(p.get_path("dm_info.data"), Some(&Value::string("x")));
        assert_eq!(p.get("config_info"), Some(&Value::Null));
    }

    #[test]
    fn truncated_frames_are_errors_not_panics() {
        let decoder = Decoder::new();
        for len in 0..AUDIT_FRAME.len() {
            let cut = Bytes::copy_from_slice(&AUDIT_FRAME[..len]);
            // Any prefix either decodes (it ends on a field boundary) or fails cleanly.
            let _ = decoder.decode_frame(&cut, Topic::Audit);
        }
        let err = decoder.decode_frame(&Bytes::copy_from_slice(&AUDIT_FRAME[..20]), Topic::Audit);
        assert!(matches!(err, Err(DecodeError::Truncated(_))), "{err:?}");
    }
}
