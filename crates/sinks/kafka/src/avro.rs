//! Payloads as Avro binary, with the stream's schema from `schemas/`.

use std::collections::HashMap;

use apache_avro::schema::{Name, ResolvedSchema, Schema};
use apache_avro::types::Value as Avro;
use netpipe_core::{Record, Value};

/// A stream's parsed schema, ready to encode records.
pub struct StreamSchema {
    pub schema: Schema,
    /// The schema's canonical JSON, as registered with a schema registry.
    pub text: String,
    names: HashMap<Name, Schema>,
}

#[derive(Debug, thiserror::Error)]
pub enum AvroError {
    #[error("no Avro schema for stream `{0}` (see `netpipe schemas`)")]
    NoSchema(String),
    #[error("the Avro schema of stream `{stream}` is invalid: {detail}")]
    BadSchema { stream: String, detail: String },
    #[error("event of stream `{stream}` does not fit its Avro schema: {detail}")]
    Mismatch { stream: String, detail: String },
}

impl StreamSchema {
    pub fn parse(stream: &str, json: &serde_json::Value) -> Result<Self, AvroError> {
        let bad = |e: apache_avro::Error| AvroError::BadSchema {
            stream: stream.to_string(),
            detail: e.to_string(),
        };
        let schema = Schema::parse(json).map_err(bad)?;
        let names = ResolvedSchema::try_from(&schema)
            .map_err(bad)?
            .get_names()
            .iter()
            .map(|(n, s)| (n.clone(), (*s).clone()))
            .collect();
        Ok(StreamSchema {
            text: schema.canonical_form(),
            schema,
            names,
        })
    }

    /// Appends the record's Avro binary encoding to `out`.
    pub fn encode(
        &self,
        stream: &str,
        record: &Record,
        out: &mut Vec<u8>,
    ) -> Result<(), AvroError> {
        let mismatch = |detail: String| AvroError::Mismatch {
            stream: stream.to_string(),
            detail,
        };
        let value = self.record(record, &self.schema).map_err(mismatch)?;
        let bytes =
            apache_avro::to_avro_datum(&self.schema, value).map_err(|e| mismatch(e.to_string()))?;
        out.extend_from_slice(&bytes);
        Ok(())
    }

    fn record(&self, record: &Record, schema: &Schema) -> Result<Avro, String> {
        match self.resolve(schema)? {
            Schema::Record(r) => Ok(Avro::Record(
                r.fields
                    .iter()
                    .map(|f| {
                        let value = record.get(&f.name).unwrap_or(&Value::Null);
                        self.value(value, &f.schema)
                            .map(|v| (f.name.clone(), v))
                            .map_err(|e| format!("{}: {e}", f.name))
                    })
                    .collect::<Result<_, _>>()?,
            )),
            other => Err(format!("expected a record schema, found {other:?}")),
        }
    }

    fn resolve<'a>(&'a self, schema: &'a Schema) -> Result<&'a Schema, String> {
        match schema {
            Schema::Ref { name } => self
                .names
                .get(name)
                .ok_or_else(|| format!("unknown type {name}")),
            other => Ok(other),
        }
    }

    fn value(&self, value: &Value, schema: &Schema) -> Result<Avro, String> {
        let schema = self.resolve(schema)?;
        Ok(match (schema, value) {
            (Schema::Union(union), value) => {
                let variants = union.variants();
                let null = variants.iter().position(|s| *s == Schema::Null);
                match (value, null) {
                    (Value::Null, Some(i)) => Avro::Union(i as u32, Box::new(Avro::Null)),
                    _ => {
                        let (i, s) = variants
                            .iter()
                            .enumerate()
                            .find(|(_, s)| **s != Schema::Null)
                            .ok_or("a union of only null")?;
                        Avro::Union(i as u32, Box::new(self.value(value, s)?))
                    }
                }
            }
            (Schema::Null, _) => Avro::Null,
            (Schema::Boolean, Value::Bool(b)) => Avro::Boolean(*b),
            (Schema::Long, Value::Int(i)) => Avro::Long(*i),
            (Schema::Int, Value::Int(i)) => Avro::Int(*i as i32),
            (Schema::Double, Value::Float(f)) => Avro::Double(*f),
            (Schema::Double, Value::Int(i)) => Avro::Double(*i as f64),
            (Schema::Double, Value::UInt(u)) => Avro::Double(*u as f64),
            (Schema::Long, Value::UInt(u)) => {
                return Err(format!(
                    "{u} is above Avro long's range (an unsigned 64-bit value)"
                ));
            }
            (Schema::Float, Value::Float(f)) => Avro::Float(*f as f32),
            (Schema::String, Value::String(s)) => Avro::String(s.to_string()),
            (Schema::Bytes, Value::Bytes(b)) => Avro::Bytes(b.to_vec()),
            (Schema::Bytes, Value::String(s)) => Avro::Bytes(s.as_bytes().to_vec()),
            (Schema::TimestampMicros, Value::Timestamp(t)) => {
                Avro::TimestampMicros(t.as_nanos() / 1_000)
            }
            (Schema::Array(array), Value::List(items)) => Avro::Array(
                items
                    .iter()
                    .map(|item| self.value(item, &array.items))
                    .collect::<Result<_, _>>()?,
            ),
            (Schema::Record(_), Value::Record(r)) => self.record(r, schema)?,
            (Schema::Map(map), Value::Record(r)) => Avro::Map(
                r.iter()
                    .map(|(key, v)| Ok((key.to_string(), self.value(v, &map.types)?)))
                    .collect::<Result<_, String>>()?,
            ),
            (schema, value) => return Err(format!("cannot write {value:?} as {schema:?}")),
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use netpipe_core::Timestamp;
    use netpipe_core::event::Gap;
    use netpipe_core::schema::StreamSchemas;

    use super::*;

    /// Any scope key a source names is written: the scope is an Avro map.
    #[test]
    fn a_gap_scope_key_no_schema_names_is_written() {
        let schemas = StreamSchemas::with_common();
        let schema =
            StreamSchema::parse("netpipe.gap", schemas.get("netpipe.gap").unwrap()).unwrap();
        let event = Gap {
            scope: &[("dataset", "analytics"), ("path", "/Devices")],
            from: Timestamp::from_secs(1),
            to: Timestamp::from_secs(2),
            reason: "reconnect",
        }
        .into_event(&Arc::from("cv"));
        let mut out = Vec::new();
        schema
            .encode("netpipe.gap", event.payload.record(), &mut out)
            .unwrap();
        let read = apache_avro::from_avro_datum(&schema.schema, &mut out.as_slice(), None).unwrap();
        let Avro::Record(fields) = read else {
            panic!("not a record: {read:?}")
        };
        let scope = &fields.iter().find(|(name, _)| name == "scope").unwrap().1;
        let Avro::Map(scope) = scope else {
            panic!("scope is not a map: {scope:?}")
        };
        assert_eq!(scope.len(), 2);
        assert_eq!(scope["dataset"], Avro::String("analytics".into()));
        assert_eq!(scope["path"], Avro::String("/Devices".into()));
    }

    /// A uint64 above a long is refused with a reason, not wrapped negative.
    #[test]
    fn an_unsigned_value_above_a_long_does_not_fit() {
        let json = serde_json::json!({
            "type": "record", "name": "counters",
            "fields": [{ "name": "rx", "type": ["null", "long"], "default": null }]
        });
        let schema = StreamSchema::parse("test", &json).unwrap();
        let record = |value| Record::new(netpipe_core::value::field_names(&["rx"]), vec![value]);
        let mut out = Vec::new();
        schema
            .encode("test", &record(Value::Int(i64::MAX)), &mut out)
            .unwrap();
        let error = schema
            .encode("test", &record(Value::UInt(u64::MAX)), &mut out)
            .unwrap_err();
        assert!(matches!(error, AvroError::Mismatch { .. }), "{error}");
        assert!(
            error.to_string().contains("18446744073709551615"),
            "{error}"
        );
    }
}
