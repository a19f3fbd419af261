//! Typed records ([`netpipe_core::Record`]) from what a reader reports:
//! what Parquet and Avro sinks read. Field names are the plans' (one shared
//! list per message type); strings are shared where the plans hold them
//! (enum names); `bytes` values are slices of the frame they came in.
//! Values are those of [`crate::json`], typed: a `Timestamp` is a
//! [`Value::Timestamp`], a map a record of its keys, and a `Struct`,
//! `Value` or `ListValue` the text of its JSON.

use std::sync::Arc;

use bytes::Bytes;
use netpipe_core::{Record, Value};

use crate::address::Address;
use crate::dynamic;
use crate::handler::{Handler, Scalar};
use crate::plans::{FieldKind, Plans};
use crate::values::lossless_text;

/// Builds a record from a generated reader or the walk.
pub struct RecordBuilder<'p> {
    plans: &'p Plans,
    /// The frame every slice lies in, so that bytes values share it.
    frame: Bytes,
    levels: Vec<Level>,
    record: Option<Record>,
}

/// A value being built.
enum Level {
    Message {
        index: usize,
        values: Vec<Value>,
        slot: usize,
        list: Option<Vec<Value>>,
    },
    Map {
        keys: Vec<Arc<str>>,
        values: Vec<Value>,
    },
}

impl<'p> RecordBuilder<'p> {
    /// Builds from slices of `frame`.
    pub fn new(plans: &'p Plans, frame: Bytes) -> Self {
        RecordBuilder {
            plans,
            frame,
            levels: Vec::with_capacity(8),
            record: None,
        }
    }

    /// The record built, once a message has been reported whole.
    pub fn into_record(self) -> Option<Record> {
        self.record
    }

    #[inline]
    fn end_list(&mut self) {
        if let Some(Level::Message {
            values, slot, list, ..
        }) = self.levels.last_mut()
        {
            values[*slot] = Value::List(list.take().unwrap_or_default());
        }
    }

    #[inline]
    fn place(&mut self, value: Value) {
        match self.levels.last_mut() {
            Some(Level::Message {
                values,
                slot,
                list: None,
                ..
            }) => values[*slot] = value,
            Some(Level::Message {
                list: Some(list), ..
            }) => list.push(value),
            Some(Level::Map { values, .. }) => values.push(value),
            None => {
                if let Value::Record(record) = value {
                    self.record = Some(record);
                }
            }
        }
    }
}

/// A value as records hold it.
#[inline]
fn value_of(value: Scalar<'_>, frame: &Bytes) -> Value {
    match value {
        Scalar::Null => Value::Null,
        Scalar::Bool(b) => Value::Bool(b),
        Scalar::Int(i) => Value::Int(i),
        Scalar::UInt(u) => Value::UInt(u),
        Scalar::Float(f) => Value::Float(f),
        Scalar::String(bytes) => Value::String(match std::str::from_utf8(bytes) {
            Ok(text) => Arc::from(text),
            Err(_) => Arc::from(&*String::from_utf8_lossy(bytes)),
        }),
        Scalar::Text(bytes) => Value::String(Arc::from(&*lossless_text(bytes))),
        Scalar::Bytes(bytes) => Value::Bytes(slice_of(frame, bytes)),
        Scalar::Enum(name) => Value::String(name.clone()),
        Scalar::UnknownEnum(n) => Value::String(Arc::from(n.to_string())),
        Scalar::Address(address) => Value::String(Address::to_text(&address)),
        Scalar::Timestamp { seconds, nanos } => {
            Value::Timestamp(dynamic::timestamp(seconds, nanos))
        }
        Scalar::Duration { seconds, nanos } => {
            Value::string(&dynamic::duration_text(seconds, nanos))
        }
        Scalar::FieldMask(bytes) => Value::string(&dynamic::field_mask_text(bytes)),
        Scalar::Json(known, bytes) => {
            let mut json = Vec::new();
            dynamic::write_json(known, bytes, &mut json);
            Value::string(&String::from_utf8_lossy(&json))
        }
    }
}

/// `bytes` as a share of `frame` when it lies there (it always does but for
/// a default value), else copied.
#[inline]
fn slice_of(frame: &Bytes, bytes: &[u8]) -> Bytes {
    let inside = frame.as_ptr_range();
    match bytes.is_empty() || !inside.contains(&bytes.as_ptr()) {
        true => Bytes::copy_from_slice(bytes),
        false => frame.slice_ref(bytes),
    }
}

impl Handler for RecordBuilder<'_> {
    #[inline]
    fn begin(&mut self, index: usize) {
        let fields = self.plans.messages[index].fields.len();
        self.levels.push(Level::Message {
            index,
            // Filled in place: `vec![Value::Null; n]` would clone a value per field.
            values: std::iter::repeat_with(|| Value::Null)
                .take(fields)
                .collect(),
            slot: 0,
            list: None,
        });
    }

    #[inline]
    fn open(&mut self, _: bool, close_list: bool, slot: usize, _: &[u8], repeated: bool) {
        if close_list {
            self.end_list();
        }
        if let Some(Level::Message {
            slot: current,
            list,
            ..
        }) = self.levels.last_mut()
        {
            *current = slot;
            if repeated {
                *list = Some(Vec::new());
            }
        }
    }

    #[inline]
    fn next(&mut self) {}

    #[inline]
    fn end(&mut self, close_list: bool) {
        if close_list {
            self.end_list();
        }
        let Some(Level::Message { index, values, .. }) = self.levels.pop() else {
            unreachable!("a message ends where it began");
        };
        let names = self.plans.messages[index].names.clone();
        self.place(Value::Record(Record::new(names, values)));
    }

    #[inline]
    fn scalar(&mut self, _: usize, _: bool, value: Scalar<'_>) {
        let value = value_of(value, &self.frame);
        self.place(value);
    }

    #[inline]
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

    fn begin_map(&mut self) {
        self.levels.push(Level::Map {
            keys: Vec::new(),
            values: Vec::new(),
        });
    }

    fn map_key(&mut self, _: bool, key: Scalar<'_>) {
        let key = match value_of(key, &self.frame) {
            Value::String(text) => text,
            Value::Int(i) => Arc::from(i.to_string()),
            Value::UInt(u) => Arc::from(u.to_string()),
            Value::Bool(b) => Arc::from(b.to_string()),
            other => Arc::from(format!("{other:?}")),
        };
        if let Some(Level::Map { keys, .. }) = self.levels.last_mut() {
            keys.push(key);
        }
    }

    fn end_map(&mut self) {
        let Some(Level::Map { keys, values }) = self.levels.pop() else {
            unreachable!("a map ends where it began");
        };
        self.place(Value::Record(Record::new(keys.into(), values)));
    }

    fn restart(&mut self) {
        self.levels.clear();
        self.record = None;
    }
}
