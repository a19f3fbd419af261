//! Arrow schemas from Avro schemas and from the values themselves.

use std::sync::Arc;

use arrow_schema::{DataType, Field, Fields, Schema, TimeUnit};
use netpipe_core::{Record, Value};
use serde_json::Value as Json;

/// The metadata columns every file starts with.
pub const METADATA_COLUMNS: [&str; 5] = ["stream", "event_time", "receive_time", "key", "source"];

#[derive(Debug, thiserror::Error)]
#[error("Avro schema cannot be mapped to Arrow: {0}")]
pub struct SchemaError(String);

fn utc_micros() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

fn metadata_fields() -> Vec<Field> {
    vec![
        Field::new("stream", DataType::Utf8, false),
        Field::new("event_time", utc_micros(), false),
        Field::new("receive_time", utc_micros(), false),
        Field::new("key", DataType::Utf8, true),
        Field::new("source", DataType::Utf8, false),
    ]
}

/// Named Avro types seen so far, for references to them.
type Named = Vec<(String, DataType)>;

fn avro_type(
    schema: &Json,
    namespace: &str,
    named: &mut Named,
) -> Result<(DataType, bool), SchemaError> {
    Ok(match schema {
        Json::String(name) => (
            match name.as_str() {
                "null" => DataType::Null,
                "boolean" => DataType::Boolean,
                "int" | "long" => DataType::Int64,
                "float" | "double" => DataType::Float64,
                "string" => DataType::Utf8,
                "bytes" => DataType::Binary,
                other => {
                    let full = if other.contains('.') {
                        other.to_string()
                    } else {
                        format!("{namespace}.{other}")
                    };
                    named
                        .iter()
                        .find(|(n, _)| *n == full || n == other)
                        .map(|(_, t)| t.clone())
                        .ok_or_else(|| SchemaError(format!("unknown type `{other}`")))?
                }
            },
            false,
        ),
        Json::Array(variants) => {
            let non_null: Vec<&Json> = variants.iter().filter(|v| *v != "null").collect();
            match non_null.as_slice() {
                [one] => (avro_type(one, namespace, named)?.0, true),
                _ => {
                    return Err(SchemaError(format!(
                        "unions other than [\"null\", T]: {schema}"
                    )));
                }
            }
        }
        Json::Object(o) => match o.get("type").and_then(Json::as_str) {
            Some("record") => {
                let name = o.get("name").and_then(Json::as_str).unwrap_or("record");
                let ns = o
                    .get("namespace")
                    .and_then(Json::as_str)
                    .unwrap_or(namespace)
                    .to_string();
                let fields = record_fields(o.get("fields"), &ns, named)?;
                let dtype = DataType::Struct(fields.into());
                named.push((format!("{ns}.{name}"), dtype.clone()));
                (dtype, false)
            }
            Some("map") => {
                let (value, _) =
                    avro_type(o.get("values").unwrap_or(&Json::Null), namespace, named)?;
                (map_of(value), false)
            }
            Some("array") => {
                let (item, _) = avro_type(o.get("items").unwrap_or(&Json::Null), namespace, named)?;
                (
                    DataType::List(Arc::new(Field::new("item", item, true))),
                    false,
                )
            }
            Some("long")
                if o.get("logicalType").and_then(Json::as_str) == Some("timestamp-micros") =>
            {
                (utc_micros(), false)
            }
            Some(_) => avro_type(o.get("type").unwrap_or(&Json::Null), namespace, named)?,
            None => return Err(SchemaError(format!("no type in {schema}"))),
        },
        other => return Err(SchemaError(format!("unexpected {other}"))),
    })
}

/// Avro's map (string keys) as Arrow's: entries of a key and a nullable value.
fn map_of(value: DataType) -> DataType {
    let entries = Fields::from(vec![
        Field::new("key", DataType::Utf8, false),
        Field::new("value", value, true),
    ]);
    DataType::Map(
        Arc::new(Field::new("entries", DataType::Struct(entries), false)),
        false,
    )
}

fn record_fields(
    fields: Option<&Json>,
    namespace: &str,
    named: &mut Named,
) -> Result<Vec<Field>, SchemaError> {
    fields
        .and_then(Json::as_array)
        .ok_or_else(|| SchemaError("record without fields".into()))?
        .iter()
        .map(|f| {
            let name = f
                .get("name")
                .and_then(Json::as_str)
                .ok_or_else(|| SchemaError("field without name".into()))?;
            let (dtype, nullable) =
                avro_type(f.get("type").unwrap_or(&Json::Null), namespace, named)?;
            // Payload columns are all nullable: a record may lack any field.
            let _ = nullable;
            Ok(Field::new(name, dtype, true))
        })
        .collect()
}

/// Metadata columns, then the payload's columns from the stream's Avro schema
/// (or none, when the stream has no schema: the values decide, see [`extend_for`]).
pub fn event_schema(avro: Option<&Json>) -> Result<Schema, SchemaError> {
    let mut fields = metadata_fields();
    if let Some(avro) = avro {
        let ns = avro
            .get("namespace")
            .and_then(Json::as_str)
            .unwrap_or("")
            .to_string();
        fields.extend(record_fields(avro.get("fields"), &ns, &mut Vec::new())?);
    }
    Ok(Schema::new(fields))
}

/// The Arrow type of a value when no schema says (`None` for null).
fn infer(value: &Value) -> Option<DataType> {
    Some(match value {
        Value::Null => return None,
        Value::Bool(_) => DataType::Boolean,
        Value::Int(_) | Value::UInt(_) => DataType::Int64,
        Value::Float(_) => DataType::Float64,
        Value::String(_) => DataType::Utf8,
        Value::Bytes(_) => DataType::Binary,
        Value::Timestamp(_) => utc_micros(),
        Value::Record(r) => DataType::Struct(infer_fields(r).into()),
        Value::List(items) => {
            let item = items.iter().find_map(infer).unwrap_or(DataType::Utf8);
            DataType::List(Arc::new(Field::new("item", item, true)))
        }
    })
}

fn infer_fields(record: &Record) -> Vec<Field> {
    record
        .iter()
        .map(|(name, v)| Field::new(name, infer(v).unwrap_or(DataType::Utf8), true))
        .collect()
}

/// `schema` extended with the top-level payload fields of `record` that it
/// lacks (new optional fields: schema evolution), or `None` if it has them all.
pub fn extend_for(schema: &Schema, record: &Record) -> Option<Schema> {
    let missing: Vec<Field> = record
        .iter()
        .filter(|(name, value)| !value.is_absent() && schema.field_with_name(name).is_err())
        .filter_map(|(name, value)| infer(value).map(|t| Field::new(name, t, true)))
        .collect();
    if missing.is_empty() {
        return None;
    }
    let fields: Fields = schema
        .fields()
        .iter()
        .cloned()
        .chain(missing.into_iter().map(Arc::new))
        .collect();
    Some(Schema::new(fields))
}
