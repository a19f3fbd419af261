//! JSON payloads back into the typed records a source made, by the
//! stream's Avro schema (`schemas/`): a `long` from a number or a decimal
//! string, a timestamp from RFC 3339, `bytes` from base64, records by field
//! name. What the schema does not describe (a field it lacks, a stream it
//! does not know) is kept as JSON gives it. So a payload that netpipe's
//! JSON writer rendered reads back as the record it was rendered from, and
//! `kafka → parquet` writes the columns `aruba → parquet` writes.
//!
//! Field names are shared per record shape, as a decoding source shares
//! them: a record with the keys of one seen before reuses its names.

use std::collections::HashMap;
use std::sync::Arc;

use base64::Engine as _;
use netpipe_core::{FieldNames, Record, Timestamp, Value};
use serde_json::Value as Json;

/// Shapes kept per record type: records of one type rarely have more.
const SHAPES_KEPT: usize = 16;

/// What a schema says a value is.
#[derive(Debug)]
enum Shape {
    /// Whatever the JSON holds.
    Any,
    Bool,
    Long,
    Double,
    Text,
    Bytes,
    Time,
    Record(usize),
    List(Box<Shape>),
    Map(Box<Shape>),
}

#[derive(Debug)]
struct RecordType {
    fields: HashMap<String, Shape>,
    /// Field-name lists already made, for records of these keys.
    names: Vec<FieldNames>,
}

/// The reader of one stream's JSON payloads.
#[derive(Debug)]
pub struct TypedJson {
    root: Shape,
    records: Vec<RecordType>,
}

impl TypedJson {
    /// A reader for payloads of `schema` (an Avro schema as JSON), or for
    /// any JSON when there is none.
    pub fn new(schema: Option<&Json>) -> Self {
        let mut reader = TypedJson {
            root: Shape::Any,
            records: Vec::new(),
        };
        if let Some(schema) = schema {
            let mut named = HashMap::new();
            reader.root = reader.shape(schema, None, &mut named);
        }
        reader
    }

    /// The record `json` holds; an error names what is wrong.
    pub fn read(&mut self, json: &[u8]) -> Result<Record, String> {
        let value: Json = serde_json::from_slice(json).map_err(|e| format!("not JSON: {e}"))?;
        if !value.is_object() {
            return Err("the payload is not a JSON object".into());
        }
        let root = std::mem::replace(&mut self.root, Shape::Any);
        let read = self.value(value, &root);
        self.root = root;
        match read {
            Value::Record(record) => Ok(record),
            _ => Err("the payload is not a JSON object".into()),
        }
    }

    fn shape(
        &mut self,
        schema: &Json,
        namespace: Option<&str>,
        named: &mut HashMap<String, usize>,
    ) -> Shape {
        match schema {
            Json::String(name) => self.primitive(name, namespace, named),
            Json::Array(branches) => {
                let mut real = branches.iter().filter(|b| b.as_str() != Some("null"));
                match (real.next(), real.next()) {
                    (Some(only), None) => self.shape(only, namespace, named),
                    _ => Shape::Any,
                }
            }
            Json::Object(object) => {
                let kind = object.get("type").and_then(Json::as_str).unwrap_or("");
                let logical = object.get("logicalType").and_then(Json::as_str);
                match kind {
                    "record" => {
                        let name = object.get("name").and_then(Json::as_str).unwrap_or("");
                        let space = object.get("namespace").and_then(Json::as_str).or(namespace);
                        let index = self.records.len();
                        self.records.push(RecordType {
                            fields: HashMap::new(),
                            names: Vec::new(),
                        });
                        named.insert(full_name(name, space), index);
                        named.insert(name.to_string(), index);
                        let fields = object.get("fields").and_then(Json::as_array);
                        for field in fields.into_iter().flatten() {
                            let Some(field_name) = field.get("name").and_then(Json::as_str) else {
                                continue;
                            };
                            let shape = match field.get("type") {
                                Some(t) => self.shape(t, space, named),
                                None => Shape::Any,
                            };
                            self.records[index]
                                .fields
                                .insert(field_name.to_string(), shape);
                        }
                        Shape::Record(index)
                    }
                    "array" => match object.get("items") {
                        Some(items) => Shape::List(Box::new(self.shape(items, namespace, named))),
                        None => Shape::Any,
                    },
                    "map" => match object.get("values") {
                        Some(values) => Shape::Map(Box::new(self.shape(values, namespace, named))),
                        None => Shape::Any,
                    },
                    "long" if logical.is_some_and(|l| l.starts_with("timestamp")) => Shape::Time,
                    "enum" => Shape::Text,
                    "fixed" => Shape::Bytes,
                    other => self.primitive(other, namespace, named),
                }
            }
            _ => Shape::Any,
        }
    }

    fn primitive(
        &self,
        name: &str,
        namespace: Option<&str>,
        named: &HashMap<String, usize>,
    ) -> Shape {
        match name {
            "boolean" => Shape::Bool,
            "int" | "long" => Shape::Long,
            "float" | "double" => Shape::Double,
            "string" => Shape::Text,
            "bytes" => Shape::Bytes,
            other => named
                .get(&full_name(other, namespace))
                .or_else(|| named.get(other))
                .map_or(Shape::Any, |&index| Shape::Record(index)),
        }
    }

    fn value(&mut self, json: Json, shape: &Shape) -> Value {
        match (shape, json) {
            (_, Json::Null) => Value::Null,
            (Shape::Long, Json::String(text)) => match text.trim().parse::<i64>() {
                Ok(n) => Value::Int(n),
                Err(_) => match text.trim().parse::<u64>() {
                    Ok(n) => Value::UInt(n),
                    Err(_) => Value::String(Arc::from(text)),
                },
            },
            (Shape::Double, Json::Number(n)) => Value::Float(n.as_f64().unwrap_or(f64::NAN)),
            (Shape::Double, Json::String(text)) => match text.trim().parse::<f64>() {
                Ok(f) => Value::Float(f),
                Err(_) => Value::String(Arc::from(text)),
            },
            (Shape::Time, Json::String(text)) => match Timestamp::parse_rfc3339(&text) {
                Some(t) => Value::Timestamp(t),
                None => Value::String(Arc::from(text)),
            },
            (Shape::Bytes, Json::String(text)) => {
                match base64::engine::general_purpose::STANDARD.decode(text.as_bytes()) {
                    Ok(bytes) => Value::Bytes(bytes.into()),
                    Err(_) => Value::String(Arc::from(text)),
                }
            }
            (Shape::Record(index), Json::Object(object)) => self.record(Some(*index), object),
            (Shape::Map(values), Json::Object(object)) => {
                let (names, items): (Vec<Arc<str>>, Vec<Value>) = object
                    .into_iter()
                    .map(|(k, v)| (Arc::from(k), self.value(v, values)))
                    .unzip();
                Value::Record(Record::new(names.into(), items))
            }
            (Shape::List(items), Json::Array(array)) => {
                Value::List(array.into_iter().map(|v| self.value(v, items)).collect())
            }
            (_, json) => any(json),
        }
    }

    fn record(&mut self, index: Option<usize>, object: serde_json::Map<String, Json>) -> Value {
        let Some(index) = index else {
            return any(Json::Object(object));
        };
        let known = self.records[index].names.iter().find(|names| {
            names.len() == object.len() && names.iter().zip(object.keys()).all(|(n, k)| **n == **k)
        });
        let names = match known {
            Some(names) => names.clone(),
            None => {
                let names: FieldNames = object.keys().map(|k| Arc::from(k.as_str())).collect();
                let kept = &mut self.records[index].names;
                if kept.len() < SHAPES_KEPT {
                    kept.push(names.clone());
                }
                names
            }
        };
        let mut values = Vec::with_capacity(object.len());
        for (key, json) in object {
            // The field's shape leaves its record type while it is read
            // (a record may hold records of its own type).
            let shape = self.records[index]
                .fields
                .remove(&key)
                .unwrap_or(Shape::Any);
            values.push(self.value(json, &shape));
            if !matches!(shape, Shape::Any) {
                self.records[index].fields.insert(key, shape);
            }
        }
        Value::Record(Record::new(names, values))
    }
}

fn full_name(name: &str, namespace: Option<&str>) -> String {
    match namespace {
        Some(space) if !name.contains('.') && !space.is_empty() => format!("{space}.{name}"),
        _ => name.to_string(),
    }
}

/// JSON as it is, without a schema: numbers that are integers stay integers.
fn any(json: Json) -> Value {
    match json {
        Json::Null => Value::Null,
        Json::Bool(b) => Value::Bool(b),
        Json::Number(n) => match (n.as_i64(), n.as_u64()) {
            (Some(i), _) => Value::Int(i),
            (None, Some(u)) => Value::UInt(u),
            _ => Value::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        Json::String(text) => Value::String(Arc::from(text)),
        Json::Array(items) => Value::List(items.into_iter().map(any).collect()),
        Json::Object(object) => {
            let (names, values): (Vec<Arc<str>>, Vec<Value>) = object
                .into_iter()
                .map(|(k, v)| (Arc::from(k), any(v)))
                .unzip();
            Value::Record(Record::new(names.into(), values))
        }
    }
}

#[cfg(test)]
mod tests {
    use netpipe_core::value::field_names;
    use serde_json::json;

    use super::*;

    fn schema() -> Json {
        json!({
            "type": "record", "name": "device", "namespace": "test",
            "fields": [
                {"name": "serial", "type": ["null", "string"]},
                {"name": "counter", "type": ["null", "long"]},
                {"name": "huge", "type": ["null", "long"]},
                {"name": "load", "type": ["null", "double"]},
                {"name": "seen", "type": ["null", {"type": "long", "logicalType": "timestamp-micros"}]},
                {"name": "mac", "type": ["null", "bytes"]},
                {"name": "up", "type": ["null", "boolean"]},
                {"name": "port", "type": ["null", {"type": "record", "name": "port", "fields": [
                    {"name": "speed", "type": ["null", "long"]}
                ]}]},
                {"name": "ports", "type": {"type": "array", "items": "port"}},
                {"name": "labels", "type": {"type": "map", "values": "string"}}
            ]
        })
    }

    fn port(speed: i64) -> Value {
        Value::Record(Record::new(
            field_names(&["speed"]),
            vec![Value::Int(speed)],
        ))
    }

    /// A record rendered by netpipe's JSON writer reads back as itself,
    /// value for value and type for type.
    #[test]
    fn netpipes_json_reads_back_as_the_record_it_was_written_from() {
        let record = Record::new(
            field_names(&[
                "serial", "counter", "huge", "load", "seen", "mac", "up", "port", "ports",
                "labels", "extra",
            ]),
            vec![
                Value::string("SN1"),
                Value::Int(-42),
                Value::UInt(u64::MAX),
                Value::Float(0.5),
                Value::Timestamp(Timestamp(1_764_892_800_123_456_000)),
                Value::Bytes(vec![0, 1, 255].into()),
                Value::Bool(true),
                port(1000),
                Value::List(vec![port(10), port(100)]),
                Value::Record(Record::new(
                    field_names(&["site"]),
                    vec![Value::string("lab")],
                )),
                Value::Int(7),
            ],
        );
        let mut json = Vec::new();
        netpipe_core::json::write_payload(&record.clone().into(), &mut json);
        let mut reader = TypedJson::new(Some(&schema()));
        let read = reader.read(&json).unwrap();
        assert_eq!(read, record, "{}", String::from_utf8_lossy(&json));
        // A second record of the same keys shares the first one's names.
        let again = reader.read(&json).unwrap();
        assert!(Arc::ptr_eq(again.names(), read.names()));
    }

    #[test]
    fn without_a_schema_json_is_kept_as_it_is_and_non_objects_are_refused() {
        let mut reader = TypedJson::new(None);
        let read = reader.read(br#"{"a": 1, "b": "2", "c": [1.5]}"#).unwrap();
        assert_eq!(
            read.values(),
            [
                Value::Int(1),
                Value::string("2"),
                Value::List(vec![Value::Float(1.5)])
            ]
        );
        assert!(
            reader
                .read(b"[1]")
                .unwrap_err()
                .contains("not a JSON object")
        );
        assert!(reader.read(b"{").unwrap_err().contains("not JSON"));
    }
}
