//! The resource API's streams, sans-IO: each `<Model>StreamResponse` read
//! (the value, its time, the operation) and applied to what is known of
//! the model's entities, so every event carries a whole entity:
//!
//! - `INITIAL`: the entity as it stands; on a re-subscription, one whose
//!   key and time are unchanged is not sent again;
//! - `UPDATED`: a patch, merged (protobuf merge) into the known entity;
//! - `DELETED`: only the key; the entity is forgotten;
//! - `INITIAL_SYNC_COMPLETE`: no entity. After a re-subscription, entities
//!   known from before and not sent again were deleted meanwhile: a
//!   `DELETED` is made for each;
//! - any other operation passes through as sent, by number.

use std::collections::{HashMap, HashSet};

use bytes::{Buf, Bytes};
use prost::Message as _;
use prost::encoding::{DecodeContext, WireType, decode_key, decode_varint, skip_field};
use prost_reflect::{DynamicMessage, MessageDescriptor};

pub const INITIAL: i32 = 10;
pub const INITIAL_SYNC_COMPLETE: i32 = 11;
pub const UPDATED: i32 = 20;
pub const DELETED: i32 = 30;

/// One response's fields, as sent.
#[derive(Debug, Default, PartialEq)]
pub struct Response<'a> {
    pub value: Option<&'a [u8]>,
    /// The `google.protobuf.Timestamp`, encoded.
    pub time: Option<&'a [u8]>,
    pub operation: i32,
}

/// Reads a `<Model>StreamResponse` (value = 1, time = 2, type = 3).
pub fn response(mut bytes: &[u8]) -> Result<Response<'_>, String> {
    let mut read = Response::default();
    let whole = bytes;
    while bytes.has_remaining() {
        let (tag, wire) = decode_key(&mut bytes).map_err(|e| e.to_string())?;
        match (tag, wire) {
            (1 | 2, WireType::LengthDelimited) => {
                let len = decode_varint(&mut bytes).map_err(|e| e.to_string())? as usize;
                if len > bytes.len() {
                    return Err("a field runs past the response".into());
                }
                let start = whole.len() - bytes.len();
                let field = &whole[start..start + len];
                bytes.advance(len);
                if tag == 1 {
                    read.value = Some(field);
                } else {
                    read.time = Some(field);
                }
            }
            (3, WireType::Varint) => {
                read.operation = decode_varint(&mut bytes).map_err(|e| e.to_string())? as i32;
            }
            _ => skip_field(wire, tag, &mut bytes, DecodeContext::default())
                .map_err(|e| e.to_string())?,
        }
    }
    Ok(read)
}

/// Nanoseconds since the epoch of an encoded `google.protobuf.Timestamp`.
pub fn timestamp_nanos(bytes: &[u8]) -> Option<i64> {
    let time = prost_reflect::prost_types::Timestamp::decode(bytes).ok()?;
    time.seconds
        .checked_mul(1_000_000_000)?
        .checked_add(i64::from(time.nanos))
}

/// A `<Model>StreamResponse`, encoded.
pub fn encode_response(value: &[u8], time: Option<&[u8]>, operation: i32) -> Vec<u8> {
    let mut out = Vec::with_capacity(value.len() + time.map_or(0, <[u8]>::len) + 16);
    prost::encoding::bytes::encode(1, &value.to_vec(), &mut out);
    if let Some(time) = time {
        prost::encoding::bytes::encode(2, &time.to_vec(), &mut out);
    }
    if operation != 0 {
        prost::encoding::int32::encode(3, &operation, &mut out);
    }
    out
}

/// What one response makes.
#[derive(Debug, PartialEq)]
pub struct Change {
    /// The `<Model>StreamResponse` to send on, its value the whole entity.
    pub response: Bytes,
    /// The entity's key message, encoded.
    pub key: Bytes,
    pub time: Option<i64>,
    pub operation: i32,
}

/// An entity as last sent whole, encoded, and its time.
struct Known {
    value: Bytes,
    time: Option<Bytes>,
}

/// What is known of one subscription's entities. Entities are kept
/// encoded: an `INITIAL` is stored and sent on as it came, and only an
/// update is decoded, merged and encoded again.
pub struct Entities {
    model: MessageDescriptor,
    /// The number of the model's `key` field.
    key_field: u32,
    known: HashMap<Bytes, Known>,
    /// Keys sent since the last (re)subscription, until its sync is complete.
    initial: Option<HashSet<Bytes>>,
}

impl Entities {
    pub fn new(model: MessageDescriptor) -> Self {
        let key_field = model.get_field_by_name("key").map_or(1, |f| f.number());
        Entities {
            model,
            key_field,
            known: HashMap::new(),
            initial: None,
        }
    }

    /// A new subscription starts: its `INITIAL`s come next.
    pub fn subscribed(&mut self) {
        self.initial = Some(HashSet::new());
    }

    /// Applies one response; an `Err` says why it does not read.
    pub fn apply(&mut self, message: &Bytes) -> Result<Vec<Change>, String> {
        let read = response(message)?;
        let time = read.time.map(|t| message.slice_ref(t));
        let time_ns = read.time.and_then(timestamp_nanos);
        let as_sent = |key: Bytes| Change {
            response: message.clone(),
            key,
            time: time_ns,
            operation: read.operation,
        };
        let Some(value) = read.value.map(|v| message.slice_ref(v)) else {
            return match read.operation {
                INITIAL_SYNC_COMPLETE => Ok(self.sync_complete()),
                INITIAL | UPDATED | DELETED => Err("a response without a value".into()),
                _ => Ok(vec![as_sent(Bytes::new())]),
            };
        };
        let key = value.slice_ref(key_of(&value, self.key_field)?);
        if let (Some(initial), INITIAL | UPDATED | DELETED) = (&mut self.initial, read.operation) {
            initial.insert(key.clone());
        }
        match read.operation {
            DELETED => {
                self.known.remove(&key);
                Ok(vec![as_sent(key)])
            }
            UPDATED if self.known.contains_key(&key) => {
                let known = self.known.get_mut(&key).expect("known");
                let mut entity = DynamicMessage::decode(self.model.clone(), known.value.as_ref())
                    .map_err(|e| format!("the known entity does not read: {e}"))?;
                entity
                    .merge(value.as_ref())
                    .map_err(|e| format!("the update does not merge: {e}"))?;
                known.value = Bytes::from(entity.encode_to_vec());
                known.time = time;
                Ok(vec![Change {
                    response: Bytes::from(encode_response(&known.value, read.time, UPDATED)),
                    key,
                    time: time_ns,
                    operation: UPDATED,
                }])
            }
            INITIAL | UPDATED => {
                let unchanged = self
                    .known
                    .get(&key)
                    .is_some_and(|k| k.time == time && time.is_some());
                if read.operation == INITIAL && unchanged {
                    return Ok(Vec::new());
                }
                self.known.insert(key.clone(), Known { value, time });
                Ok(vec![as_sent(key)])
            }
            _ => Ok(vec![as_sent(key)]),
        }
    }

    /// The end of the `INITIAL`s: entities known before a re-subscription
    /// and not sent again were deleted while away.
    fn sync_complete(&mut self) -> Vec<Change> {
        let Some(initial) = self.initial.take() else {
            return Vec::new();
        };
        let gone: Vec<Bytes> = self
            .known
            .keys()
            .filter(|k| !initial.contains(*k))
            .cloned()
            .collect();
        gone.into_iter()
            .map(|key| {
                self.known.remove(&key);
                let mut only_key = Vec::with_capacity(key.len() + 6);
                prost::encoding::bytes::encode(self.key_field, &key.to_vec(), &mut only_key);
                Change {
                    response: Bytes::from(encode_response(&only_key, None, DELETED)),
                    key,
                    time: None,
                    operation: DELETED,
                }
            })
            .collect()
    }
}

/// The encoded key message of an encoded entity: its field `number` (the
/// last one, as protobuf reads repeats), empty when unset.
fn key_of(mut value: &[u8], number: u32) -> Result<&[u8], String> {
    let whole = value;
    let mut key: &[u8] = &[];
    while value.has_remaining() {
        let (tag, wire) =
            decode_key(&mut value).map_err(|e| format!("the value does not read: {e}"))?;
        if tag == number && wire == WireType::LengthDelimited {
            let len = decode_varint(&mut value).map_err(|e| e.to_string())? as usize;
            if len > value.len() {
                return Err("the key runs past the value".into());
            }
            let start = whole.len() - value.len();
            key = &whole[start..start + len];
            value.advance(len);
        } else {
            skip_field(wire, tag, &mut value, DecodeContext::default())
                .map_err(|e| format!("the value does not read: {e}"))?;
        }
    }
    Ok(key)
}

#[cfg(test)]
#[path = "resource_tests.rs"]
mod tests;
