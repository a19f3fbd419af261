//! Sans-IO decoding of Aruba Central streaming frames: bytes in, typed
//! records out. Each frame is a `StreamMessage.MsgProto` whose `data` holds
//! the topic's message. The decoder walks the protobuf wire format directly
//! into netpipe values, following plans made once from the descriptors, and
//! renders addresses as people read them: MAC messages as
//! `aa:bb:cc:dd:ee:ff`, IP messages as dotted quads or RFC 5952 IPv6,
//! ESSIDs as text, enums by name. 64-bit integers stay numbers.

use std::fmt::Write as _;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use bytes::{Buf, Bytes};
use netpipe_core::{Record, Value};

use crate::schema::{Address, BytesAs, FieldKind, Plans, descriptor_pool};
use crate::topic::Topic;

/// Why a frame could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("truncated {0}")]
    Truncated(String),
    #[error("invalid protobuf in {message}: {detail}")]
    Invalid { message: String, detail: String },
}

/// The envelope of one frame, with its payload decoded.
#[derive(Debug, Clone, PartialEq)]
pub struct Frame {
    pub subject: Arc<str>,
    pub customer_id: Arc<str>,
    pub msp_id: Option<Arc<str>>,
    /// The envelope's `timestamp` (unit not documented by Aruba).
    pub timestamp: Option<i64>,
    pub payload: Record,
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

fn wire_mismatch(message: &str, field: &str, wire: u64) -> DecodeError {
    DecodeError::Invalid {
        message: message.to_string(),
        detail: format!("field `{field}` has wire type {wire}"),
    }
}

fn varint(buf: &mut Bytes, message: &str) -> Result<u64, DecodeError> {
    prost::encoding::decode_varint(buf).map_err(|_| DecodeError::Truncated(message.to_string()))
}

fn take(buf: &mut Bytes, len: usize, message: &str) -> Result<Bytes, DecodeError> {
    if buf.remaining() < len {
        return Err(DecodeError::Truncated(message.to_string()));
    }
    Ok(buf.split_to(len))
}

fn skip(buf: &mut Bytes, wire: u64, message: &str) -> Result<(), DecodeError> {
    match wire {
        0 => varint(buf, message).map(drop),
        1 => take(buf, 8, message).map(drop),
        2 => {
            let len = varint(buf, message)? as usize;
            take(buf, len, message).map(drop)
        }
        5 => take(buf, 4, message).map(drop),
        _ => Err(DecodeError::Invalid {
            message: message.to_string(),
            detail: format!("unsupported wire type {wire}"),
        }),
    }
}

/// Text of a bytes field, escaping what is not UTF-8 so nothing is lost.
pub fn lossless_text(bytes: &[u8]) -> Arc<str> {
    if let Ok(text) = std::str::from_utf8(bytes)
        && !text.contains('\\')
    {
        return Arc::from(text);
    }
    let mut out = String::with_capacity(bytes.len() + 8);
    for chunk in bytes.utf8_chunks() {
        out.push_str(&chunk.valid().replace('\\', "\\\\"));
        for b in chunk.invalid() {
            let _ = write!(out, "\\x{b:02x}");
        }
    }
    Arc::from(out)
}

pub fn mac_text(addr: &[u8]) -> String {
    let mut out = String::with_capacity(17);
    for (i, b) in addr.iter().enumerate() {
        if i > 0 {
            out.push(':');
        }
        let _ = write!(out, "{b:02x}");
    }
    out
}

/// An IP address by its family's name (`…INET`, `…INET6`), else by length.
pub fn ip_text(family: Option<&str>, addr: &[u8]) -> String {
    let v6 = family.map(|f| f.ends_with("INET6"));
    match (v6, addr.len()) {
        (Some(false) | None, 4) => Ipv4Addr::new(addr[0], addr[1], addr[2], addr[3]).to_string(),
        (Some(true) | None, 16) => {
            let octets: [u8; 16] = addr.try_into().unwrap_or([0; 16]);
            Ipv6Addr::from(octets).to_string()
        }
        _ => addr.iter().fold(String::from("0x"), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        }),
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

    /// Decodes one message of the given plan into a record, or into a string
    /// for address messages.
    pub fn decode_message(&self, plan: usize, mut buf: Bytes) -> Result<Value, DecodeError> {
        let plan = &self.plans.messages[plan];
        let name = plan.full_name.as_str();
        let mut values = vec![Value::Null; plan.fields.len()];
        while buf.has_remaining() {
            let key = varint(&mut buf, name)?;
            let (number, wire) = ((key >> 3) as usize, key & 7);
            let Some(&Some(slot)) = plan.slots.get(number) else {
                skip(&mut buf, wire, name)?;
                continue;
            };
            let slot = slot as usize;
            let field = &plan.fields[slot];
            let field_name = &*plan.names[slot];
            let packable = !matches!(
                field.kind,
                FieldKind::String | FieldKind::Bytes(_) | FieldKind::Message(_)
            );
            if field.repeated && packable && wire == 2 {
                let len = varint(&mut buf, name)? as usize;
                let mut packed = take(&mut buf, len, name)?;
                let element_wire = match field.kind {
                    FieldKind::Fixed64 | FieldKind::SFixed64 | FieldKind::Double => 1,
                    FieldKind::Fixed32 | FieldKind::SFixed32 | FieldKind::Float => 5,
                    _ => 0,
                };
                while packed.has_remaining() {
                    let v = self.decode_value(
                        &field.kind,
                        element_wire,
                        &mut packed,
                        name,
                        field_name,
                    )?;
                    push(&mut values[slot], v);
                }
                continue;
            }
            let value = self.decode_value(&field.kind, wire, &mut buf, name, field_name)?;
            if field.repeated {
                push(&mut values[slot], value);
            } else {
                values[slot] = value;
            }
        }
        let record = Record::new(plan.names.clone(), values);
        Ok(match plan.address {
            None => Value::Record(record),
            Some(address) => {
                let addr = match record.get("addr") {
                    Some(Value::Bytes(b)) => b.clone(),
                    _ => Bytes::new(),
                };
                let text = match address {
                    Address::Mac => mac_text(&addr),
                    Address::Ip => ip_text(record.get("af").and_then(Value::as_str), &addr),
                };
                Value::String(Arc::from(text))
            }
        })
    }

    fn decode_value(
        &self,
        kind: &FieldKind,
        wire: u64,
        buf: &mut Bytes,
        message: &str,
        field: &str,
    ) -> Result<Value, DecodeError> {
        let expected = match kind {
            FieldKind::Fixed64 | FieldKind::SFixed64 | FieldKind::Double => 1,
            FieldKind::Fixed32 | FieldKind::SFixed32 | FieldKind::Float => 5,
            FieldKind::String | FieldKind::Bytes(_) | FieldKind::Message(_) => 2,
            _ => 0,
        };
        if wire != expected {
            return Err(wire_mismatch(message, field, wire));
        }
        Ok(match kind {
            FieldKind::Int32 => Value::Int(varint(buf, message)? as i32 as i64),
            FieldKind::Int64 | FieldKind::UInt64 => Value::Int(varint(buf, message)? as i64),
            FieldKind::UInt32 => Value::Int(varint(buf, message)? as u32 as i64),
            FieldKind::SInt32 | FieldKind::SInt64 => {
                let v = varint(buf, message)?;
                Value::Int(((v >> 1) as i64) ^ -((v & 1) as i64))
            }
            FieldKind::Bool => Value::Bool(varint(buf, message)? != 0),
            FieldKind::Enum(names) => {
                let n = varint(buf, message)? as i32;
                match names.get(&n) {
                    Some(name) => Value::String(name.clone()),
                    None => Value::String(Arc::from(n.to_string())),
                }
            }
            FieldKind::Fixed64 => Value::Int(take(buf, 8, message)?.get_u64_le() as i64),
            FieldKind::SFixed64 => Value::Int(take(buf, 8, message)?.get_i64_le()),
            FieldKind::Double => Value::Float(take(buf, 8, message)?.get_f64_le()),
            FieldKind::Fixed32 => Value::Int(take(buf, 4, message)?.get_u32_le() as i64),
            FieldKind::SFixed32 => Value::Int(take(buf, 4, message)?.get_i32_le() as i64),
            FieldKind::Float => Value::Float(take(buf, 4, message)?.get_f32_le() as f64),
            FieldKind::String | FieldKind::Bytes(_) | FieldKind::Message(_) => {
                let len = varint(buf, message)? as usize;
                let bytes = take(buf, len, message)?;
                match kind {
                    FieldKind::String => Value::String(Arc::from(String::from_utf8_lossy(&bytes))),
                    FieldKind::Bytes(BytesAs::Text) => Value::String(lossless_text(&bytes)),
                    FieldKind::Message(plan) => self.decode_message(*plan, bytes)?,
                    _ => Value::Bytes(bytes),
                }
            }
        })
    }

    /// Decodes a whole frame: the envelope, then `data` as `topic`'s message.
    pub fn decode_frame(&self, frame: Bytes, topic: Topic) -> Result<Frame, DecodeError> {
        let Value::Record(envelope) = self.decode_message(self.envelope, frame)? else {
            unreachable!("the envelope is not an address message")
        };
        let text = |name: &str| envelope.get(name).and_then(Value::as_str).map(Arc::from);
        let data = match envelope.get("data") {
            Some(Value::Bytes(b)) => b.clone(),
            _ => Bytes::new(),
        };
        let plan = self
            .plans
            .index_of(topic.message())
            .expect("every topic's message is in the descriptors");
        let Value::Record(payload) = self.decode_message(plan, data)? else {
            unreachable!("topic messages are not address messages")
        };
        Ok(Frame {
            subject: text("subject").unwrap_or_else(|| Arc::from(topic.as_str())),
            customer_id: text("customer_id").unwrap_or_else(|| Arc::from("")),
            msp_id: text("msp_id").filter(|m: &Arc<str>| !m.is_empty()),
            timestamp: envelope.get("timestamp").and_then(Value::as_int),
            payload,
        })
    }
}

fn push(slot: &mut Value, value: Value) {
    match slot {
        Value::List(items) => items.push(value),
        _ => *slot = Value::List(vec![value]),
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
        let frame = Decoder::new()
            .decode_frame(Bytes::from_static(&AUDIT_FRAME), Topic::Audit)
            .unwrap();
        assert_eq!(&*frame.subject, "audit");
        assert_eq!(&*frame.customer_id, "c1");
        assert_eq!(frame.timestamp, Some(1_700_000_000_123));
        let p = &frame.payload;
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
            let _ = decoder.decode_frame(cut, Topic::Audit);
        }
        let err = decoder.decode_frame(Bytes::copy_from_slice(&AUDIT_FRAME[..20]), Topic::Audit);
        assert!(matches!(err, Err(DecodeError::Truncated(_))), "{err:?}");
    }

    #[test]
    fn addresses_and_names_render_as_people_read_them() {
        assert_eq!(
            mac_text(&[0xaa, 0xbb, 0xcc, 0x01, 0x02, 0x03]),
            "aa:bb:cc:01:02:03"
        );
        let v6 = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
        assert_eq!(ip_text(Some("ADDR_FAMILY_INET6"), &v6), "2001:db8::1");
        assert_eq!(
            ip_text(Some("ADDR_FAMILY_INET"), &[192, 168, 1, 2]),
            "192.168.1.2"
        );
        assert_eq!(ip_text(None, &[1, 2, 3]), "0x010203");
        assert_eq!(&*lossless_text(b"Corp-WiFi"), "Corp-WiFi");
        assert_eq!(&*lossless_text(b"caf\xe9\\x"), "caf\\xe9\\\\x");
    }
}
