//! Avro values back into typed records: plain values with the stream's
//! schema (the one the kafka sink writes with), values in Confluent framing
//! (a zero byte and a four-byte schema id before the datum) with the schema
//! the registry has under that id.

use std::sync::Arc;

use apache_avro::Schema;
use apache_avro::types::Value as Avro;
use netpipe_core::{FieldNames, Record, Timestamp, Value};
use serde_json::Value as Json;

/// Field-name lists kept for reuse per reader.
const SHAPES_KEPT: usize = 64;

/// The schema id of a value in Confluent framing.
pub fn framing_id(bytes: &[u8]) -> Option<u32> {
    match bytes {
        [0, a, b, c, d, ..] => Some(u32::from_be_bytes([*a, *b, *c, *d])),
        _ => None,
    }
}

/// The reader of the Avro values of one schema.
#[derive(Debug)]
pub struct AvroReader {
    schema: Schema,
    framed: bool,
    names: Vec<FieldNames>,
}

impl AvroReader {
    /// A reader of values of `schema`, Confluent-framed when `framed`.
    pub fn new(schema: &Json, framed: bool) -> Result<Self, String> {
        let schema = Schema::parse(schema).map_err(|e| format!("the stream's schema: {e}"))?;
        Ok(AvroReader {
            schema,
            framed,
            names: Vec::new(),
        })
    }

    /// The record `bytes` holds.
    pub fn read(&mut self, bytes: &[u8]) -> Result<Record, String> {
        let mut datum = match (self.framed, bytes) {
            (false, _) => bytes,
            (true, [0, _, _, _, _, rest @ ..]) => rest,
            (true, _) => return Err("not in Confluent framing (a zero byte, a schema id)".into()),
        };
        let value = apache_avro::from_avro_datum(&self.schema, &mut datum, None)
            .map_err(|e| format!("not Avro of the stream's schema: {e}"))?;
        if !datum.is_empty() {
            return Err(format!("{} bytes after the Avro value", datum.len()));
        }
        match self.value(value) {
            Value::Record(record) => Ok(record),
            _ => Err("the value is not an Avro record".into()),
        }
    }

    fn value(&mut self, avro: Avro) -> Value {
        match avro {
            Avro::Null => Value::Null,
            Avro::Boolean(b) => Value::Bool(b),
            Avro::Int(i) => Value::Int(i.into()),
            Avro::Long(i) => Value::Int(i),
            Avro::Float(f) => Value::Float(f.into()),
            Avro::Double(f) => Value::Float(f),
            Avro::Bytes(b) | Avro::Fixed(_, b) => Value::Bytes(b.into()),
            Avro::String(s) | Avro::Enum(_, s) => Value::String(Arc::from(s)),
            Avro::Union(_, inner) => self.value(*inner),
            Avro::Array(items) => Value::List(items.into_iter().map(|v| self.value(v)).collect()),
            Avro::TimestampMicros(t) | Avro::LocalTimestampMicros(t) => {
                Value::Timestamp(Timestamp(t.saturating_mul(1000)))
            }
            Avro::TimestampMillis(t) | Avro::LocalTimestampMillis(t) => {
                Value::Timestamp(Timestamp(t.saturating_mul(1_000_000)))
            }
            Avro::TimestampNanos(t) | Avro::LocalTimestampNanos(t) => {
                Value::Timestamp(Timestamp(t))
            }
            Avro::Map(map) => {
                let mut entries: Vec<(String, Avro)> = map.into_iter().collect();
                entries.sort_by(|a, b| a.0.cmp(&b.0));
                self.record(entries)
            }
            Avro::Record(fields) => self.record(fields),
            other => Value::string(&format!("{other:?}")),
        }
    }

    fn record(&mut self, fields: Vec<(String, Avro)>) -> Value {
        let known = self.names.iter().find(|names| {
            names.len() == fields.len() && names.iter().zip(&fields).all(|(n, (k, _))| **n == **k)
        });
        let names = match known {
            Some(names) => names.clone(),
            None => {
                let names: FieldNames = fields.iter().map(|(k, _)| Arc::from(k.as_str())).collect();
                if self.names.len() < SHAPES_KEPT {
                    self.names.push(names.clone());
                }
                names
            }
        };
        let values = fields.into_iter().map(|(_, v)| self.value(v)).collect();
        Value::Record(Record::new(names, values))
    }
}
