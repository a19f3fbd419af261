//! JSON payloads back into the typed records a source made, by the
//! stream's Avro schema (`schemas/`): a `long` from a number or a decimal
//! string, a timestamp from RFC 3339, `bytes` from base64, records by field
//! name. What the schema does not describe (a field it lacks, a stream it
//! does not know) is kept as JSON gives it. So a payload that netpipe's
//! JSON writer rendered reads back as the record it was rendered from, and
//! `kafka → parquet` writes the columns `aruba → parquet` writes.
//!
//! Field names are shared per record shape, as a decoding source shares
//! them: a record with the keys of one seen before reuses its names. The
//! JSON is read straight into values (a `serde` seed driven by the schema),
//! without a tree of JSON values in between.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, OnceLock};

use crate::{FieldNames, Record, Timestamp, Value};
use base64::Engine as _;
use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
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

/// The reader of one stream's JSON payloads.
#[derive(Debug)]
pub struct TypedJson {
    root: Shape,
    /// The fields of each record type.
    records: Vec<HashMap<String, Shape>>,
    /// Field-name lists already made, per record type, for records of
    /// those keys: slots filled once, read without a lock, so that sinks
    /// decoding payloads of one stream on several threads share them.
    names: Vec<Box<[OnceLock<FieldNames>]>>,
}

impl TypedJson {
    /// A reader for payloads of `schema` (an Avro schema as JSON), or for
    /// any JSON when there is none.
    pub fn new(schema: Option<&Json>) -> Self {
        let mut reader = TypedJson {
            root: Shape::Any,
            records: Vec::new(),
            names: Vec::new(),
        };
        if let Some(schema) = schema {
            let mut named = HashMap::new();
            reader.root = reader.shape(schema, None, &mut named);
        }
        reader
    }

    /// The record `json` holds; an error names what is wrong.
    pub fn read(&self, json: &[u8]) -> Result<Record, String> {
        let mut input = serde_json::Deserializer::from_slice(json);
        let seed = Seed {
            shape: &self.root,
            records: &self.records,
            names: &self.names,
        };
        let value = seed
            .deserialize(&mut input)
            .and_then(|value| input.end().map(|()| value))
            .map_err(|e| format!("not JSON: {e}"))?;
        match value {
            Value::Record(record) => Ok(record),
            _ => Err("the payload is not a JSON object".into()),
        }
    }

    /// Whether `json` will read: JSON (parsed the way [`TypedJson::read`]
    /// parses it, values kept nowhere) holding an object.
    pub fn check(json: &[u8]) -> Result<(), String> {
        let mut input = serde_json::Deserializer::from_slice(json);
        let object = Check
            .deserialize(&mut input)
            .and_then(|object| input.end().map(|()| object))
            .map_err(|e| format!("not JSON: {e}"))?;
        match object {
            true => Ok(()),
            false => Err("the payload is not a JSON object".into()),
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
                        self.records.push(HashMap::new());
                        self.names
                            .push((0..SHAPES_KEPT).map(|_| OnceLock::new()).collect());
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
                            self.records[index].insert(field_name.to_string(), shape);
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
}

fn full_name(name: &str, namespace: Option<&str>) -> String {
    match namespace {
        Some(space) if !name.contains('.') && !space.is_empty() => format!("{space}.{name}"),
        _ => name.to_string(),
    }
}

/// Reads one JSON value as `shape` says.
struct Seed<'s> {
    shape: &'s Shape,
    records: &'s [HashMap<String, Shape>],
    names: &'s [Box<[OnceLock<FieldNames>]>],
}

impl<'s> Seed<'s> {
    fn child<'c>(&'c self, shape: &'c Shape) -> Seed<'c> {
        Seed {
            shape,
            records: self.records,
            names: self.names,
        }
    }

    /// Text as the shape wants it, or kept as text when it does not read.
    fn text(&self, text: &str) -> Value {
        let parsed = match self.shape {
            Shape::Long => {
                let number = text.trim();
                number
                    .parse::<i64>()
                    .map(Value::Int)
                    .or_else(|_| number.parse::<u64>().map(Value::UInt))
                    .ok()
            }
            Shape::Double => text.trim().parse::<f64>().map(Value::Float).ok(),
            Shape::Time => Timestamp::parse_rfc3339(text).map(Value::Timestamp),
            Shape::Bytes => base64::engine::general_purpose::STANDARD
                .decode(text.as_bytes())
                .ok()
                .map(|b| Value::Bytes(b.into())),
            _ => None,
        };
        parsed.unwrap_or_else(|| Value::string(text))
    }
}

impl<'de> DeserializeSeed<'de> for Seed<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, input: D) -> Result<Value, D::Error> {
        input.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Seed<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_bool<E>(self, b: bool) -> Result<Value, E> {
        Ok(Value::Bool(b))
    }

    fn visit_i64<E>(self, n: i64) -> Result<Value, E> {
        Ok(match self.shape {
            Shape::Double => Value::Float(n as f64),
            _ => Value::Int(n),
        })
    }

    fn visit_u64<E>(self, n: u64) -> Result<Value, E> {
        Ok(match (self.shape, i64::try_from(n)) {
            (Shape::Double, _) => Value::Float(n as f64),
            (_, Ok(n)) => Value::Int(n),
            (_, Err(_)) => Value::UInt(n),
        })
    }

    fn visit_f64<E>(self, f: f64) -> Result<Value, E> {
        Ok(Value::Float(f))
    }

    fn visit_str<E>(self, text: &str) -> Result<Value, E> {
        Ok(self.text(text))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let item = match self.shape {
            Shape::List(item) => &**item,
            _ => &Shape::Any,
        };
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(value) = seq.next_element_seed(self.child(item))? {
            items.push(value);
        }
        Ok(Value::List(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let (fields, values_shape, index) = match self.shape {
            Shape::Record(index) => (Some(&self.records[*index]), &Shape::Any, Some(*index)),
            Shape::Map(values) => (None, &**values, None),
            _ => (None, &Shape::Any, None),
        };
        let mut keys: Vec<Key<'de>> = Vec::with_capacity(fields.map_or(4, HashMap::len));
        let mut values = Vec::with_capacity(keys.capacity());
        while let Some(key) = map.next_key::<Key<'de>>()? {
            let shape = fields
                .and_then(|f| f.get(key.as_str()))
                .unwrap_or(values_shape);
            values.push(map.next_value_seed(self.child(shape))?);
            keys.push(key);
        }
        let slots = index.map_or(&[][..], |i| &self.names[i][..]);
        let known = slots.iter().filter_map(OnceLock::get).find(|names| {
            names.len() == keys.len() && names.iter().zip(&keys).all(|(n, k)| **n == *k.as_str())
        });
        let names = match known {
            Some(names) => names.clone(),
            None => {
                let names: FieldNames = keys.iter().map(|k| Arc::from(k.as_str())).collect();
                // Kept in the first free slot (if another thread took it
                // meanwhile, these names are simply not kept).
                if let Some(slot) = slots.iter().find(|s| s.get().is_none()) {
                    let _ = slot.set(names.clone());
                }
                names
            }
        };
        Ok(Value::Record(Record::new(names, values)))
    }
}

/// Parses a value as [`Seed`] does, keeping nothing: whether it is an object.
struct Check;

impl<'de> DeserializeSeed<'de> for Check {
    type Value = bool;

    fn deserialize<D: Deserializer<'de>>(self, input: D) -> Result<bool, D::Error> {
        input.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Check {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E>(self) -> Result<bool, E> {
        Ok(false)
    }

    fn visit_bool<E>(self, _: bool) -> Result<bool, E> {
        Ok(false)
    }

    fn visit_i64<E>(self, _: i64) -> Result<bool, E> {
        Ok(false)
    }

    fn visit_u64<E>(self, _: u64) -> Result<bool, E> {
        Ok(false)
    }

    fn visit_f64<E>(self, _: f64) -> Result<bool, E> {
        Ok(false)
    }

    fn visit_str<E>(self, _: &str) -> Result<bool, E> {
        Ok(false)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<bool, A::Error> {
        while seq.next_element_seed(Check)?.is_some() {}
        Ok(false)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<bool, A::Error> {
        while map.next_key::<Key<'de>>()?.is_some() {
            map.next_value_seed(Check)?;
        }
        Ok(true)
    }
}

/// An object's key, borrowed from the input when it has no escapes.
enum Key<'de> {
    Borrowed(&'de str),
    Owned(String),
}

impl Key<'_> {
    fn as_str(&self) -> &str {
        match self {
            Key::Borrowed(key) => key,
            Key::Owned(key) => key,
        }
    }
}

impl<'de> serde::Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(input: D) -> Result<Self, D::Error> {
        struct Keys;
        impl<'de> Visitor<'de> for Keys {
            type Value = Key<'de>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a key")
            }

            fn visit_borrowed_str<E>(self, key: &'de str) -> Result<Key<'de>, E> {
                Ok(Key::Borrowed(key))
            }

            fn visit_str<E>(self, key: &str) -> Result<Key<'de>, E> {
                Ok(Key::Owned(key.to_string()))
            }
        }
        input.deserialize_str(Keys)
    }
}

#[cfg(test)]
mod tests {
    use crate::value::field_names;
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
        crate::json::write_payload(&record.clone().into(), &mut json);
        let reader = TypedJson::new(Some(&schema()));
        let read = reader.read(&json).unwrap();
        assert_eq!(read, record, "{}", String::from_utf8_lossy(&json));
        // A second record of the same keys shares the first one's names.
        let again = reader.read(&json).unwrap();
        assert!(Arc::ptr_eq(again.names(), read.names()));
    }

    #[test]
    fn without_a_schema_json_is_kept_as_it_is_and_non_objects_are_refused() {
        let reader = TypedJson::new(None);
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

    /// Whatever bytes arrive, a record or an error comes back, never a
    /// panic: JSON of the schema's shape with values swapped for others
    /// and bytes cut or changed. `ARBTEST_BUDGET_MS` sets how long.
    #[test]
    fn fuzz_any_value_reads_or_is_refused_without_panicking() {
        let reader = TypedJson::new(Some(&schema()));
        let keys = [
            "serial", "counter", "huge", "load", "seen", "mac", "up", "port", "ports", "labels",
            "x",
        ];
        arbtest::arbtest(|u| {
            let mut object = serde_json::Map::new();
            for _ in 0..u.int_in_range(0..=12)? {
                let value = match u.int_in_range(0..=7)? {
                    0 => Json::Null,
                    1 => json!(u.arbitrary::<i64>()?),
                    2 => json!(u.arbitrary::<u64>()?),
                    3 => json!(u.arbitrary::<f64>()?),
                    4 => json!(u.arbitrary::<String>()?),
                    5 => json!([u.arbitrary::<bool>()?, {"speed": u.arbitrary::<String>()?}]),
                    6 => json!({"speed": u.arbitrary::<i64>()?, "more": [1, "2"]}),
                    _ => json!("2026-12-05T00:00:00.123Z"),
                };
                object.insert(u.choose(&keys)?.to_string(), value);
            }
            let mut data = Json::Object(object).to_string().into_bytes();
            for _ in 0..u.int_in_range(0..=2)? {
                let at = u.int_in_range(0..=data.len())?;
                match u.int_in_range(0..=1)? {
                    0 => data.truncate(at),
                    _ => data.insert(at, u.arbitrary()?),
                }
            }
            let _ = reader.read(&data);
            Ok(())
        });
    }
}
