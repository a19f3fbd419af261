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

use bytes::Buf;
use prost::Message as _;
use prost::encoding::{DecodeContext, WireType, decode_key, decode_varint, skip_field};
use prost_reflect::{DynamicMessage, MessageDescriptor, Value as Field};

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
    pub response: Vec<u8>,
    /// The entity's key message, encoded.
    pub key: Vec<u8>,
    pub time: Option<i64>,
    pub operation: i32,
}

struct Known {
    entity: DynamicMessage,
    time: Option<Vec<u8>>,
}

/// What is known of one subscription's entities.
pub struct Entities {
    model: MessageDescriptor,
    known: HashMap<Vec<u8>, Known>,
    /// Keys sent since the last (re)subscription, until its sync is complete.
    initial: Option<HashSet<Vec<u8>>>,
}

impl Entities {
    pub fn new(model: MessageDescriptor) -> Self {
        Entities {
            model,
            known: HashMap::new(),
            initial: None,
        }
    }

    /// A new subscription starts: its `INITIAL`s come next.
    pub fn subscribed(&mut self) {
        self.initial = Some(HashSet::new());
    }

    /// Applies one response; an `Err` says why it does not read.
    pub fn apply(&mut self, bytes: &[u8]) -> Result<Vec<Change>, String> {
        let read = response(bytes)?;
        let time = read.time.map(<[u8]>::to_vec);
        let time_ns = read.time.and_then(timestamp_nanos);
        let decode = |value: &[u8]| {
            DynamicMessage::decode(self.model.clone(), value)
                .map_err(|e| format!("the value does not read: {e}"))
        };
        match read.operation {
            INITIAL_SYNC_COMPLETE => Ok(self.sync_complete()),
            INITIAL | UPDATED | DELETED => {
                let value = read.value.ok_or("a response without a value")?;
                let patch = decode(value)?;
                let key = key_of(&patch);
                if let Some(initial) = &mut self.initial {
                    initial.insert(key.clone());
                }
                let entity = match read.operation {
                    DELETED => {
                        self.known.remove(&key);
                        patch
                    }
                    UPDATED if self.known.contains_key(&key) => {
                        let known = self.known.get_mut(&key).expect("known");
                        known
                            .entity
                            .merge(value)
                            .map_err(|e| format!("the update does not merge: {e}"))?;
                        known.time = time.clone();
                        known.entity.clone()
                    }
                    // INITIAL, or an update of an entity not known yet.
                    _ => {
                        let unchanged = self
                            .known
                            .get(&key)
                            .is_some_and(|k| k.time == time && time.is_some());
                        if read.operation == INITIAL && unchanged {
                            return Ok(Vec::new());
                        }
                        let known = Known {
                            entity: patch.clone(),
                            time: time.clone(),
                        };
                        self.known.insert(key.clone(), known);
                        patch
                    }
                };
                Ok(vec![Change {
                    response: encode_response(&entity.encode_to_vec(), read.time, read.operation),
                    key,
                    time: time_ns,
                    operation: read.operation,
                }])
            }
            other => Ok(vec![Change {
                response: bytes.to_vec(),
                key: read
                    .value
                    .map(|v| decode(v).map(|m| key_of(&m)))
                    .transpose()?
                    .unwrap_or_default(),
                time: time_ns,
                operation: other,
            }]),
        }
    }

    /// The end of the `INITIAL`s: entities known before a re-subscription
    /// and not sent again were deleted while away.
    fn sync_complete(&mut self) -> Vec<Change> {
        let Some(initial) = self.initial.take() else {
            return Vec::new();
        };
        let gone: Vec<Vec<u8>> = self
            .known
            .keys()
            .filter(|k| !initial.contains(*k))
            .cloned()
            .collect();
        gone.into_iter()
            .filter_map(|key| {
                let known = self.known.remove(&key)?;
                let mut only_key = DynamicMessage::new(self.model.clone());
                if let Some(field) = self.model.get_field_by_name("key") {
                    only_key.set_field(&field, known.entity.get_field(&field).into_owned());
                }
                Some(Change {
                    response: encode_response(&only_key.encode_to_vec(), None, DELETED),
                    key,
                    time: None,
                    operation: DELETED,
                })
            })
            .collect()
    }
}

/// The encoded `key` field of an entity (empty when unset).
fn key_of(entity: &DynamicMessage) -> Vec<u8> {
    match entity.get_field_by_name("key").as_deref() {
        Some(Field::Message(key)) => key.encode_to_vec(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
#[path = "resource_tests.rs"]
mod tests;
