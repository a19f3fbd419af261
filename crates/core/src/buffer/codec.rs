//! The disk buffer's record format, sans-IO: a chunk of events in, bytes
//! out, and back, so it can be tested and fuzzed without files.
//!
//! A record is MessagePack (rmp): self-describing, so a buffer file can be
//! read with any MessagePack tool, and every [`Value`] keeps its type
//! (bytes as `bin`, timestamps as MessagePack's timestamp extension, records
//! as maps). Payloads are written decoded: a payload a source kept encoded
//! names its codec only by a Rust type, which a later run cannot name back.
//! The JSON a source rendered on arrival is kept beside the record, since it
//! may differ from the record's own JSON (NSO's notification as sent).
//!
//! Body: `[kind, [event, ...]]`, kind 0 for events and 1 for a source's flush
//! request; an event is `[source, stream, event_time, receive_time, key,
//! headers, position, size, raw, payload, json]`.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use rmp::Marker;
use rmp::decode as de;
use rmp::encode as en;

use crate::event::{Event, Position};
use crate::payload::Payload;
use crate::value::{FieldNames, Record, Timestamp, Value};

/// MessagePack's timestamp extension type.
const TIMESTAMP_EXT: i8 = -1;
/// Deepest nesting read back; deeper input is refused rather than recursed into.
const MAX_DEPTH: usize = 128;
/// Record shapes remembered while reading; beyond this the cache starts over.
const MAX_SHAPES: usize = 4096;

/// What one buffer record holds.
#[derive(Debug, PartialEq)]
pub(crate) enum Contents {
    Events(Vec<Event>),
    /// A source asked its sinks to flush ([`crate::SourceSender::flush`]).
    Flush,
}

/// A record that does not read back.
#[derive(Debug, thiserror::Error)]
#[error("unreadable buffer record: {0}")]
pub struct DecodeError(String);

fn bad(what: impl Into<String>) -> DecodeError {
    DecodeError(what.into())
}

/// Appends the body of a record holding `events` to `out`.
pub(crate) fn encode_events(events: &[Event], out: &mut Vec<u8>) {
    let mut w = Writer(out);
    w.array(2);
    w.uint(0);
    w.array(events.len());
    for event in events {
        w.event(event);
    }
}

/// Appends the body of a flush record to `out`.
pub(crate) fn encode_flush(out: &mut Vec<u8>) {
    let mut w = Writer(out);
    w.array(2);
    w.uint(1);
    w.array(0);
}

/// Writes MessagePack into a `Vec`, which cannot fail.
struct Writer<'a>(&'a mut Vec<u8>);

impl Writer<'_> {
    fn array(&mut self, len: usize) {
        let _ = en::write_array_len(self.0, len as u32);
    }

    fn uint(&mut self, n: u64) {
        let _ = en::write_uint(self.0, n);
    }

    fn str(&mut self, s: &str) {
        let _ = en::write_str(self.0, s);
    }

    fn bin(&mut self, b: &[u8]) {
        let _ = en::write_bin(self.0, b);
    }

    fn nil(&mut self) {
        let _ = en::write_nil(self.0);
    }

    fn timestamp(&mut self, t: Timestamp) {
        let secs = t.0.div_euclid(1_000_000_000);
        let nanos = t.0.rem_euclid(1_000_000_000) as u32;
        let _ = en::write_ext_meta(self.0, 12, TIMESTAMP_EXT);
        self.0.extend_from_slice(&nanos.to_be_bytes());
        self.0.extend_from_slice(&secs.to_be_bytes());
    }

    fn event(&mut self, e: &Event) {
        self.array(11);
        self.str(&e.source);
        self.str(&e.stream);
        self.timestamp(e.event_time);
        self.timestamp(e.receive_time);
        match &e.key {
            Some(key) => self.str(key),
            None => self.nil(),
        }
        self.array(e.headers.len());
        for (name, value) in &e.headers {
            self.array(2);
            self.str(name);
            self.str(value);
        }
        match &e.position {
            Some(p) => {
                self.array(2);
                self.str(&p.partition);
                self.uint(p.offset);
            }
            None => self.nil(),
        }
        self.uint(e.size as u64);
        match &e.raw {
            Some(raw) => self.bin(raw),
            None => self.nil(),
        }
        self.record(e.payload.record());
        match e.payload.rendered_json() {
            Some(json) => self.bin(json),
            None => self.nil(),
        }
    }

    fn record(&mut self, r: &Record) {
        let _ = en::write_map_len(self.0, r.len() as u32);
        for (name, value) in r.iter() {
            self.str(name);
            self.value(value);
        }
    }

    fn value(&mut self, v: &Value) {
        match v {
            Value::Null => self.nil(),
            Value::Bool(b) => {
                let _ = en::write_bool(self.0, *b);
            }
            Value::Int(i) => {
                let _ = en::write_sint(self.0, *i);
            }
            Value::UInt(u) => {
                let _ = en::write_u64(self.0, *u);
            }
            Value::Float(f) => {
                let _ = en::write_f64(self.0, *f);
            }
            Value::String(s) => self.str(s),
            Value::Bytes(b) => self.bin(b),
            Value::Timestamp(t) => self.timestamp(*t),
            Value::Record(r) => self.record(r),
            Value::List(items) => {
                self.array(items.len());
                for item in items {
                    self.value(item);
                }
            }
        }
    }
}

/// Reads records back, sharing the names it has seen (a record shape's
/// field names, sources, streams) between the events it builds.
#[derive(Debug, Default)]
pub(crate) struct Decoder {
    shapes: HashMap<String, FieldNames>,
    texts: HashMap<String, Arc<str>>,
    /// Field names of the records being read, `\0`-separated (the shape's key).
    scratch: String,
}

impl Decoder {
    /// Reads one record body; `body` is shared by the bytes values read from it.
    pub(crate) fn decode(&mut self, body: &Bytes) -> Result<Contents, DecodeError> {
        if self.shapes.len() > MAX_SHAPES || self.texts.len() > MAX_SHAPES {
            self.shapes.clear();
            self.texts.clear();
        }
        let mut r = Reader {
            body,
            rest: &body[..],
            decoder: self,
        };
        if r.array_len()? != 2 {
            return Err(bad("a record is [kind, events]"));
        }
        let kind = r.uint()?;
        let len = r.array_len()?;
        let contents = match kind {
            0 => {
                let mut events = Vec::with_capacity(len.min(r.rest.len()));
                for _ in 0..len {
                    events.push(r.event()?);
                }
                Contents::Events(events)
            }
            1 if len == 0 => Contents::Flush,
            other => return Err(bad(format!("unknown record kind {other}"))),
        };
        if !r.rest.is_empty() {
            return Err(bad(format!("{} bytes after the record", r.rest.len())));
        }
        Ok(contents)
    }
}

struct Reader<'a> {
    body: &'a Bytes,
    rest: &'a [u8],
    decoder: &'a mut Decoder,
}

impl<'a> Reader<'a> {
    fn peek(&self) -> Result<Marker, DecodeError> {
        self.rest
            .first()
            .map(|b| Marker::from_u8(*b))
            .ok_or_else(|| bad("the record ends early"))
    }

    fn take(&mut self, len: usize) -> Result<&'a [u8], DecodeError> {
        if self.rest.len() < len {
            return Err(bad("the record ends early"));
        }
        let (taken, rest) = self.rest.split_at(len);
        self.rest = rest;
        Ok(taken)
    }

    fn array_len(&mut self) -> Result<usize, DecodeError> {
        de::read_array_len(&mut self.rest)
            .map(|n| n as usize)
            .map_err(|e| bad(format!("expected an array: {e}")))
    }

    fn uint(&mut self) -> Result<u64, DecodeError> {
        de::read_int(&mut self.rest).map_err(|e| bad(format!("expected an unsigned number: {e}")))
    }

    fn is_nil(&mut self) -> Result<bool, DecodeError> {
        let nil = self.peek()? == Marker::Null;
        if nil {
            self.rest = &self.rest[1..];
        }
        Ok(nil)
    }

    fn str(&mut self) -> Result<&'a str, DecodeError> {
        let len =
            de::read_str_len(&mut self.rest).map_err(|e| bad(format!("expected a string: {e}")))?;
        std::str::from_utf8(self.take(len as usize)?).map_err(|e| bad(format!("a string: {e}")))
    }

    /// A text the decoder shares between events (a source, a stream name).
    fn shared_str(&mut self) -> Result<Arc<str>, DecodeError> {
        let text = self.str()?;
        if let Some(shared) = self.decoder.texts.get(text) {
            return Ok(shared.clone());
        }
        let shared: Arc<str> = Arc::from(text);
        self.decoder.texts.insert(text.to_string(), shared.clone());
        Ok(shared)
    }

    fn bin(&mut self) -> Result<Bytes, DecodeError> {
        let len =
            de::read_bin_len(&mut self.rest).map_err(|e| bad(format!("expected bytes: {e}")))?;
        let start = self.body.len() - self.rest.len();
        self.take(len as usize)?;
        Ok(self.body.slice(start..start + len as usize))
    }

    fn timestamp(&mut self) -> Result<Timestamp, DecodeError> {
        let meta =
            de::read_ext_meta(&mut self.rest).map_err(|e| bad(format!("expected a time: {e}")))?;
        if meta.typeid != TIMESTAMP_EXT || meta.size != 12 {
            return Err(bad("a time is MessagePack's 12-byte timestamp"));
        }
        let data = self.take(12)?;
        let nanos = u32::from_be_bytes(data[..4].try_into().expect("4 bytes"));
        let secs = i64::from_be_bytes(data[4..].try_into().expect("8 bytes"));
        secs.checked_mul(1_000_000_000)
            .and_then(|n| n.checked_add(i64::from(nanos)))
            .filter(|_| nanos < 1_000_000_000)
            .map(Timestamp)
            .ok_or_else(|| bad("a time out of range"))
    }

    fn event(&mut self) -> Result<Event, DecodeError> {
        if self.array_len()? != 11 {
            return Err(bad("an event is an array of 11"));
        }
        let source = self.shared_str()?;
        let stream = self.shared_str()?;
        let event_time = self.timestamp()?;
        let receive_time = self.timestamp()?;
        let key = if self.is_nil()? {
            None
        } else {
            Some(Arc::from(self.str()?))
        };
        let header_count = self.array_len()?;
        let mut headers = Vec::with_capacity(header_count.min(self.rest.len()));
        for _ in 0..header_count {
            if self.array_len()? != 2 {
                return Err(bad("a header is [name, value]"));
            }
            headers.push((self.shared_str()?, Arc::from(self.str()?)));
        }
        let position = if self.is_nil()? {
            None
        } else {
            if self.array_len()? != 2 {
                return Err(bad("a position is [partition, offset]"));
            }
            Some(Position {
                partition: self.shared_str()?,
                offset: self.uint()?,
            })
        };
        let size = usize::try_from(self.uint()?).map_err(|_| bad("an event size out of range"))?;
        let raw = if self.is_nil()? {
            None
        } else {
            Some(self.bin()?)
        };
        let record = self.record(0)?;
        let payload = if self.is_nil()? {
            Payload::from(record)
        } else {
            Payload::decoded_with_json(record, self.bin()?)
        };
        Ok(Event {
            source,
            stream,
            event_time,
            receive_time,
            key,
            headers,
            position,
            payload,
            raw,
            size,
        })
    }

    fn record(&mut self, depth: usize) -> Result<Record, DecodeError> {
        let len = de::read_map_len(&mut self.rest)
            .map_err(|e| bad(format!("expected a record: {e}")))? as usize;
        let start = self.decoder.scratch.len();
        let mut values = Vec::with_capacity(len.min(self.rest.len()));
        for _ in 0..len {
            let name = self.str()?;
            self.decoder.scratch.push_str(name);
            self.decoder.scratch.push('\0');
            values.push(self.value(depth + 1)?);
        }
        let shape = &self.decoder.scratch[start..];
        let names = match self.decoder.shapes.get(shape) {
            Some(names) => names.clone(),
            None => {
                let names: FieldNames = shape
                    .split_terminator('\0')
                    .map(Arc::from)
                    .collect::<Vec<_>>()
                    .into();
                if names.len() != len {
                    return Err(bad("a field name holds a NUL character"));
                }
                self.decoder.shapes.insert(shape.to_string(), names.clone());
                names
            }
        };
        self.decoder.scratch.truncate(start);
        Ok(Record::new(names, values))
    }

    fn value(&mut self, depth: usize) -> Result<Value, DecodeError> {
        if depth > MAX_DEPTH {
            return Err(bad(format!("values nested deeper than {MAX_DEPTH}")));
        }
        let number = |e: de::NumValueReadError<std::io::Error>| bad(format!("a number: {e}"));
        Ok(match self.peek()? {
            Marker::Null => {
                self.rest = &self.rest[1..];
                Value::Null
            }
            Marker::True | Marker::False => {
                Value::Bool(de::read_bool(&mut self.rest).map_err(|e| bad(e.to_string()))?)
            }
            Marker::U64 => {
                let u: u64 = de::read_int(&mut self.rest).map_err(number)?;
                i64::try_from(u).map_or(Value::UInt(u), Value::Int)
            }
            Marker::FixPos(_)
            | Marker::FixNeg(_)
            | Marker::U8
            | Marker::U16
            | Marker::U32
            | Marker::I8
            | Marker::I16
            | Marker::I32
            | Marker::I64 => Value::Int(de::read_int(&mut self.rest).map_err(number)?),
            Marker::F64 => {
                Value::Float(de::read_f64(&mut self.rest).map_err(|e| bad(e.to_string()))?)
            }
            Marker::FixStr(_) | Marker::Str8 | Marker::Str16 | Marker::Str32 => {
                Value::String(Arc::from(self.str()?))
            }
            Marker::Bin8 | Marker::Bin16 | Marker::Bin32 => Value::Bytes(self.bin()?),
            Marker::Ext8 => Value::Timestamp(self.timestamp()?),
            Marker::FixMap(_) | Marker::Map16 | Marker::Map32 => Value::Record(self.record(depth)?),
            Marker::FixArray(_) | Marker::Array16 | Marker::Array32 => {
                let len = self.array_len()?;
                let mut items = Vec::with_capacity(len.min(self.rest.len()));
                for _ in 0..len {
                    items.push(self.value(depth + 1)?);
                }
                Value::List(items)
            }
            other => return Err(bad(format!("unexpected MessagePack marker {other:?}"))),
        })
    }
}

#[cfg(test)]
#[path = "codec_tests.rs"]
mod tests;
