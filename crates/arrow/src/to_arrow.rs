//! Events into one Arrow record batch.

use std::sync::Arc;

use arrow_array::builder::{
    BinaryBuilder, BooleanBuilder, Float64Builder, Int64Builder, StringBuilder,
};
use arrow_array::{
    ArrayRef, ListArray, MapArray, NullArray, RecordBatch, StructArray, TimestampMicrosecondArray,
};
use arrow_buffer::{NullBuffer, OffsetBuffer};
use arrow_schema::{DataType, Fields, SchemaRef, TimeUnit};
use netpipe_core::{Event, FieldNames, Record, Value};

#[derive(Debug, thiserror::Error)]
#[error("cannot build Arrow columns: {0}")]
pub struct ToArrowError(String);

static NULL: Value = Value::Null;

/// Where each wanted field sits in records of one shape; records of a
/// stream share a few shapes, so this is computed once per shape, not per record.
struct Positions<'a> {
    wanted: Vec<&'a str>,
    shapes: Vec<(FieldNames, Vec<Option<usize>>)>,
}

impl<'a> Positions<'a> {
    fn new(wanted: Vec<&'a str>) -> Self {
        Positions {
            wanted,
            shapes: Vec::new(),
        }
    }

    fn of(&mut self, record: &Record) -> &[Option<usize>] {
        let names = record.names();
        let i = match self.shapes.iter().position(|(n, _)| Arc::ptr_eq(n, names)) {
            Some(i) => i,
            None => {
                let map = self
                    .wanted
                    .iter()
                    .map(|w| names.iter().position(|n| &**n == *w))
                    .collect();
                self.shapes.push((names.clone(), map));
                self.shapes.len() - 1
            }
        };
        &self.shapes[i].1
    }
}

/// Columns of `fields` taken from `records` (null where a record is absent).
fn columns(fields: &Fields, records: &[Option<&Record>]) -> Result<Vec<ArrayRef>, ToArrowError> {
    let mut positions = Positions::new(fields.iter().map(|f| f.name().as_str()).collect());
    let mut per_field: Vec<Vec<&Value>> = vec![Vec::with_capacity(records.len()); fields.len()];
    for record in records {
        match record {
            Some(r) => {
                let map = positions.of(r);
                for (column, slot) in per_field.iter_mut().zip(map) {
                    column.push(slot.map_or(&NULL, |i| &r.values()[i]));
                }
            }
            None => per_field.iter_mut().for_each(|c| c.push(&NULL)),
        }
    }
    fields
        .iter()
        .zip(&per_field)
        .map(|(f, values)| array(f.data_type(), values))
        .collect()
}

fn array(dtype: &DataType, values: &[&Value]) -> Result<ArrayRef, ToArrowError> {
    Ok(match dtype {
        DataType::Null => Arc::new(NullArray::new(values.len())),
        DataType::Boolean => {
            let mut b = BooleanBuilder::with_capacity(values.len());
            values.iter().for_each(|v| {
                b.append_option(if let Value::Bool(x) = v {
                    Some(*x)
                } else {
                    None
                })
            });
            Arc::new(b.finish())
        }
        DataType::Int64 => {
            let mut b = Int64Builder::with_capacity(values.len());
            for v in values {
                if let Value::UInt(u) = v {
                    return Err(ToArrowError(format!(
                        "{u} is above a long column's range (an unsigned 64-bit value)"
                    )));
                }
                b.append_option(v.as_int());
            }
            Arc::new(b.finish())
        }
        DataType::Float64 => {
            let mut b = Float64Builder::with_capacity(values.len());
            values.iter().for_each(|v| {
                b.append_option(match v {
                    Value::Float(f) => Some(*f),
                    Value::Int(i) => Some(*i as f64),
                    Value::UInt(u) => Some(*u as f64),
                    _ => None,
                })
            });
            Arc::new(b.finish())
        }
        DataType::Utf8 => {
            let mut b = StringBuilder::with_capacity(values.len(), values.len() * 16);
            for v in values {
                match v {
                    Value::String(s) => b.append_value(s),
                    Value::Null => b.append_null(),
                    Value::Int(i) => b.append_value(i.to_string()),
                    Value::UInt(u) => b.append_value(u.to_string()),
                    Value::Bool(x) => b.append_value(x.to_string()),
                    Value::Float(f) => b.append_value(f.to_string()),
                    Value::Timestamp(t) => b.append_value(t.to_rfc3339()),
                    other => return Err(ToArrowError(format!("{other:?} in a string column"))),
                }
            }
            Arc::new(b.finish())
        }
        DataType::Binary => {
            let mut b = BinaryBuilder::with_capacity(values.len(), values.len() * 16);
            for v in values {
                match v {
                    Value::Bytes(x) => b.append_value(x),
                    Value::String(s) => b.append_value(s.as_bytes()),
                    _ => b.append_null(),
                }
            }
            Arc::new(b.finish())
        }
        DataType::Timestamp(TimeUnit::Microsecond, tz) => {
            let micros: Vec<Option<i64>> = values
                .iter()
                .map(|v| match v {
                    Value::Timestamp(t) => Some(t.as_nanos().div_euclid(1_000)),
                    Value::Int(i) => Some(*i),
                    _ => None,
                })
                .collect();
            Arc::new(TimestampMicrosecondArray::from(micros).with_timezone_opt(tz.clone()))
        }
        DataType::Struct(fields) => {
            let records: Vec<Option<&Record>> = values.iter().map(|v| v.as_record()).collect();
            let nulls = NullBuffer::from_iter(records.iter().map(Option::is_some));
            let children = columns(fields, &records)?;
            Arc::new(
                StructArray::try_new(fields.clone(), children, Some(nulls))
                    .map_err(|e| ToArrowError(e.to_string()))?,
            )
        }
        DataType::List(item) => {
            let mut lengths = Vec::with_capacity(values.len());
            let mut flat: Vec<&Value> = Vec::new();
            for v in values {
                let items = v.as_list().unwrap_or_default();
                lengths.push(items.len());
                flat.extend(items.iter());
            }
            let nulls = NullBuffer::from_iter(values.iter().map(|v| v.as_list().is_some()));
            let child = array(item.data_type(), &flat)?;
            Arc::new(
                ListArray::try_new(
                    item.clone(),
                    OffsetBuffer::from_lengths(lengths),
                    child,
                    Some(nulls),
                )
                .map_err(|e| ToArrowError(e.to_string()))?,
            )
        }
        DataType::Map(entries, sorted) => {
            let DataType::Struct(key_value) = entries.data_type() else {
                return Err(ToArrowError(format!("map entries of {entries}")));
            };
            let mut lengths = Vec::with_capacity(values.len());
            let mut keys = StringBuilder::new();
            let mut flat: Vec<&Value> = Vec::new();
            for v in values {
                let record = v.as_record();
                lengths.push(record.map_or(0, Record::len));
                for (key, value) in record.into_iter().flat_map(Record::iter) {
                    keys.append_value(key);
                    flat.push(value);
                }
            }
            let value_type = key_value[1].data_type();
            let entries_array = StructArray::try_new(
                key_value.clone(),
                vec![Arc::new(keys.finish()), array(value_type, &flat)?],
                None,
            )
            .map_err(|e| ToArrowError(e.to_string()))?;
            let nulls = NullBuffer::from_iter(values.iter().map(|v| v.as_record().is_some()));
            Arc::new(
                MapArray::try_new(
                    entries.clone(),
                    OffsetBuffer::from_lengths(lengths),
                    entries_array,
                    Some(nulls),
                    *sorted,
                )
                .map_err(|e| ToArrowError(e.to_string()))?,
            )
        }
        other => return Err(ToArrowError(format!("unsupported column type {other}"))),
    })
}

/// One record batch of `events` in `schema` (from [`crate::event_schema`]).
pub fn events_to_batch(schema: &SchemaRef, events: &[&Event]) -> Result<RecordBatch, ToArrowError> {
    let n = events.len();
    let mut stream = StringBuilder::with_capacity(n, n * 16);
    let mut key = StringBuilder::with_capacity(n, n * 16);
    let mut source = StringBuilder::with_capacity(n, n * 8);
    for e in events {
        stream.append_value(&e.stream);
        key.append_option(e.key.as_deref());
        source.append_value(&e.source);
    }
    let micros = |t: netpipe_core::Timestamp| t.as_nanos().div_euclid(1_000);
    let event_time =
        TimestampMicrosecondArray::from_iter_values(events.iter().map(|e| micros(e.event_time)))
            .with_timezone("UTC");
    let receive_time =
        TimestampMicrosecondArray::from_iter_values(events.iter().map(|e| micros(e.receive_time)))
            .with_timezone("UTC");
    let mut columns_out: Vec<ArrayRef> = vec![
        Arc::new(stream.finish()),
        Arc::new(event_time),
        Arc::new(receive_time),
        Arc::new(key.finish()),
        Arc::new(source.finish()),
    ];
    let payload_fields: Fields = schema
        .fields()
        .iter()
        .skip(crate::METADATA_COLUMNS.len())
        .cloned()
        .collect();
    let records: Vec<Option<&Record>> = events.iter().map(|e| Some(e.payload.record())).collect();
    columns_out.extend(columns(&payload_fields, &records)?);
    RecordBatch::try_new(schema.clone(), columns_out).map_err(|e| ToArrowError(e.to_string()))
}
