//! Sans-IO decoding of Aruba Central streaming frames: bytes in, typed
//! records out. Each frame is a `StreamMessage.MsgProto` whose `data` holds
//! the topic's message. The decoder builds netpipe values from a reader
//! generated for the message type ([`crate::generated`]), or from a
//! [`crate::walk`] when that gives up, both following plans made once from
//! the descriptors, and renders addresses as people read them
//! ([`crate::address`]), ESSIDs as text, enums by name. 64-bit integers
//! stay numbers.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::sync::Arc;

use bytes::Bytes;
use netpipe_core::{FieldNames, Record, Value};

use crate::generated::{self, Handler};
use crate::schema::{FieldKind, MessagePlan, Plans, descriptor_pool};
use crate::topic::Topic;
use crate::walk::{Scalar, Visitor, Walker};

/// Why a frame could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("truncated {0}")]
    Truncated(String),
    #[error("invalid protobuf in {message}: {detail}")]
    Invalid { message: String, detail: String },
}

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
    plans: Plans,
    envelope: usize,
}

impl Default for Decoder {
    fn default() -> Self {
        Self::new()
    }
}

/// Text of a bytes field, escaping what is not UTF-8 so nothing is lost.
pub fn lossless_text(bytes: &[u8]) -> Cow<'_, str> {
    if let Ok(text) = std::str::from_utf8(bytes)
        && !text.contains('\\')
    {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(bytes.len() + 8);
    for chunk in bytes.utf8_chunks() {
        out.push_str(&chunk.valid().replace('\\', "\\\\"));
        for b in chunk.invalid() {
            let _ = write!(out, "\\x{b:02x}");
        }
    }
    Cow::Owned(out)
}

/// Builds records from a generated reader or a walk.
struct RecordBuilder<'p> {
    plans: &'p Plans,
    /// The frame every walked slice lies in, so bytes values share it.
    frame: Bytes,
    levels: Vec<Level>,
    record: Option<Record>,
}

/// A message being built.
struct Level {
    names: FieldNames,
    values: Vec<Value>,
    slot: usize,
    list: Option<Vec<Value>>,
}

impl<'p> RecordBuilder<'p> {
    fn new(plans: &'p Plans, frame: Bytes) -> Self {
        RecordBuilder {
            plans,
            frame,
            levels: Vec::with_capacity(8),
            record: None,
        }
    }

    fn top(&mut self) -> &mut Level {
        self.levels.last_mut().expect("a value inside a message")
    }

    fn begin_level(&mut self, plan: &MessagePlan) {
        self.levels.push(Level {
            names: plan.names.clone(),
            // Filled in place: `vec![Value::Null; n]` would clone a value per field.
            values: std::iter::repeat_with(|| Value::Null)
                .take(plan.fields.len())
                .collect(),
            slot: 0,
            list: None,
        });
    }

    fn end_level(&mut self) {
        let level = self.levels.pop().expect("a message was begun");
        let record = Record::new(level.names, level.values);
        if self.levels.is_empty() {
            self.record = Some(record);
        } else {
            self.place(Value::Record(record));
        }
    }

    fn place(&mut self, value: Value) {
        let top = self.top();
        match &mut top.list {
            Some(list) => list.push(value),
            None => top.values[top.slot] = value,
        }
    }
}

impl Handler for RecordBuilder<'_> {
    fn begin(&mut self, index: usize) {
        let plans = self.plans;
        self.begin_level(&plans.messages[index]);
    }

    fn open(&mut self, _: bool, close_list: bool, slot: usize, _: &'static [u8], repeated: bool) {
        if close_list {
            self.end_list();
        }
        self.top().slot = slot;
        if repeated {
            self.begin_list();
        }
    }

    fn next(&mut self) {}

    fn end(&mut self, close_list: bool) {
        if close_list {
            self.end_list();
        }
        self.end_level();
    }

    fn scalar(&mut self, _: usize, _: bool, value: Scalar<'_>) {
        Visitor::scalar(self, value);
    }

    fn enum_name(
        &mut self,
        message: usize,
        slot: usize,
        _: bool,
        number: i32,
        quoted: &'static [u8],
    ) {
        // The plan's name, shared by every record that holds it (readers and
        // plans come from the same descriptors, so it is there).
        let name = match &self.plans.messages[message].fields[slot].kind {
            FieldKind::Enum(names) => names.get(number).cloned(),
            _ => None,
        };
        let name = name
            .unwrap_or_else(|| Arc::from(String::from_utf8_lossy(&quoted[1..quoted.len() - 1])));
        self.place(Value::String(name));
    }
}

impl Visitor for RecordBuilder<'_> {
    fn begin_message(&mut self, plan: &MessagePlan) {
        self.begin_level(plan);
    }

    fn field(&mut self, _: &MessagePlan, slot: usize) {
        self.top().slot = slot;
    }

    fn begin_list(&mut self) {
        self.top().list = Some(Vec::new());
    }

    fn end_list(&mut self) {
        let top = self.top();
        top.values[top.slot] = Value::List(top.list.take().unwrap_or_default());
    }

    fn scalar(&mut self, value: Scalar<'_>) {
        let value = match value {
            Scalar::Bool(b) => Value::Bool(b),
            Scalar::Int(i) => Value::Int(i),
            Scalar::Float(f) => Value::Float(f),
            Scalar::String(bytes) => Value::String(match std::str::from_utf8(bytes) {
                Ok(text) => Arc::from(text),
                Err(_) => Arc::from(&*String::from_utf8_lossy(bytes)),
            }),
            Scalar::Text(bytes) => Value::String(Arc::from(&*lossless_text(bytes))),
            Scalar::Bytes(bytes) => Value::Bytes(self.frame.slice_ref(bytes)),
            Scalar::Enum(name) => Value::String(name.clone()),
            Scalar::UnknownEnum(n) => Value::String(Arc::from(n.to_string())),
            Scalar::Address(address) => Value::String(address.to_text()),
        };
        self.place(value);
    }

    fn end_message(&mut self, _: &MessagePlan) {
        self.end_level();
    }
}

impl Decoder {
    pub fn new() -> Self {
        let plans = Plans::new(&descriptor_pool());
        let envelope = plans
            .index_of("StreamMessage.MsgProto")
            .expect("streaming.proto defines StreamMessage.MsgProto");
        Decoder { plans, envelope }
    }

    pub fn plans(&self) -> &Plans {
        &self.plans
    }

    /// The plan of the message each frame of `topic` carries.
    pub fn topic_plan(&self, topic: Topic) -> usize {
        self.plans
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
        let mut builder = RecordBuilder::new(&self.plans, frame.clone());
        if generated::read(&self.plans, index, bytes, &mut builder).is_err() {
            builder = RecordBuilder::new(&self.plans, frame.clone());
            Walker::new(&self.plans)
                .walk(index, bytes, &mut builder)
                .map_err(|e| *e)?;
        }
        Ok(builder
            .record
            .expect("topic and envelope messages are records, not addresses"))
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

    #[test]
    fn names_keep_every_byte() {
        assert_eq!(&*lossless_text(b"Corp-WiFi"), "Corp-WiFi");
        assert_eq!(&*lossless_text(b"caf\xe9\\x"), "caf\\xe9\\\\x");
    }
}
