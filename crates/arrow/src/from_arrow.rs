//! Arrow record batches (as written by the Parquet sink) back into events.

use std::collections::HashMap;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int64Type, TimestampMicrosecondType};
use arrow_array::{Array, RecordBatch};
use arrow_schema::{DataType, Schema, TimeUnit};
use netpipe_core::{Event, FieldNames, Position, Record, Timestamp, Value};

#[derive(Debug, thiserror::Error)]
#[error("cannot read events from Arrow: {0}")]
pub struct FromArrowError(String);

/// Column values of one Arrow column, as netpipe values, row by row.
fn values(
    array: &dyn Array,
    names: &mut HashMap<String, FieldNames>,
) -> Result<Vec<Value>, FromArrowError> {
    let n = array.len();
    let valid = |i: usize| array.is_valid(i);
    Ok(match array.data_type() {
        DataType::Null => vec![Value::Null; n],
        DataType::Boolean => {
            let a = array.as_boolean();
            (0..n)
                .map(|i| {
                    if valid(i) {
                        Value::Bool(a.value(i))
                    } else {
                        Value::Null
                    }
                })
                .collect()
        }
        DataType::Int64 => {
            let a = array.as_primitive::<Int64Type>();
            (0..n)
                .map(|i| {
                    if valid(i) {
                        Value::Int(a.value(i))
                    } else {
                        Value::Null
                    }
                })
                .collect()
        }
        DataType::Float64 => {
            let a = array.as_primitive::<Float64Type>();
            (0..n)
                .map(|i| {
                    if valid(i) {
                        Value::Float(a.value(i))
                    } else {
                        Value::Null
                    }
                })
                .collect()
        }
        DataType::Utf8 => {
            let a = array.as_string::<i32>();
            (0..n)
                .map(|i| {
                    if valid(i) {
                        Value::string(a.value(i))
                    } else {
                        Value::Null
                    }
                })
                .collect()
        }
        DataType::Binary => {
            let a = array.as_binary::<i32>();
            (0..n)
                .map(|i| {
                    if valid(i) {
                        Value::Bytes(bytes::Bytes::copy_from_slice(a.value(i)))
                    } else {
                        Value::Null
                    }
                })
                .collect()
        }
        DataType::Timestamp(TimeUnit::Microsecond, _) => {
            let a = array.as_primitive::<TimestampMicrosecondType>();
            (0..n)
                .map(|i| {
                    if valid(i) {
                        Value::Timestamp(Timestamp(a.value(i).saturating_mul(1_000)))
                    } else {
                        Value::Null
                    }
                })
                .collect()
        }
        DataType::Struct(fields) => {
            let a = array.as_struct();
            let key = fields
                .iter()
                .map(|f| f.name().as_str())
                .collect::<Vec<_>>()
                .join(",");
            let shape = names
                .entry(key)
                .or_insert_with(|| {
                    fields
                        .iter()
                        .map(|f| Arc::from(f.name().as_str()))
                        .collect()
                })
                .clone();
            let mut columns = a
                .columns()
                .iter()
                .map(|c| values(c.as_ref(), names).map(Vec::into_iter))
                .collect::<Result<Vec<_>, _>>()?;
            (0..n)
                .map(|i| {
                    let row: Vec<Value> = columns
                        .iter_mut()
                        .map(|c| c.next().unwrap_or_default())
                        .collect();
                    if valid(i) {
                        Value::Record(Record::new(shape.clone(), row))
                    } else {
                        Value::Null
                    }
                })
                .collect()
        }
        DataType::List(_) => {
            let a = array.as_list::<i32>();
            let mut flat = values(a.values().as_ref(), names)?.into_iter();
            let offsets = a.value_offsets();
            (0..n)
                .map(|i| {
                    let len = (offsets[i + 1] - offsets[i]) as usize;
                    let items: Vec<Value> = flat.by_ref().take(len).collect();
                    if valid(i) {
                        Value::List(items)
                    } else {
                        Value::Null
                    }
                })
                .collect()
        }
        DataType::Map(_, _) => {
            let a = array.as_map();
            let keys = a.keys().as_string::<i32>();
            let mut flat = values(a.values().as_ref(), names)?.into_iter();
            let offsets = a.value_offsets();
            (0..n)
                .map(|i| {
                    let (start, end) = (offsets[i] as usize, offsets[i + 1] as usize);
                    let entries: Vec<Value> = flat.by_ref().take(end - start).collect();
                    if !valid(i) {
                        return Value::Null;
                    }
                    // A map's keys are its own: its record's names are not shared.
                    let names: Vec<&str> = (start..end).map(|k| keys.value(k)).collect();
                    Value::Record(Record::new(
                        netpipe_core::value::field_names(&names),
                        entries,
                    ))
                })
                .collect()
        }
        other => return Err(FromArrowError(format!("unsupported column type {other}"))),
    })
}

/// Column types [`values`] reads.
fn readable(data_type: &DataType) -> bool {
    match data_type {
        DataType::Null
        | DataType::Boolean
        | DataType::Int64
        | DataType::Float64
        | DataType::Utf8
        | DataType::Binary
        | DataType::Timestamp(TimeUnit::Microsecond, _) => true,
        DataType::Struct(fields) => fields.iter().all(|f| readable(f.data_type())),
        DataType::List(item) => readable(item.data_type()),
        DataType::Map(entries, _) => match entries.data_type() {
            DataType::Struct(kv) => {
                kv.len() == 2 && *kv[0].data_type() == DataType::Utf8 && readable(kv[1].data_type())
            }
            _ => false,
        },
        _ => false,
    }
}

/// Reads events from batches of one file.
pub struct EventReader {
    source: Arc<str>,
    partition: Arc<str>,
    streams: HashMap<String, Arc<str>>,
    names: HashMap<String, FieldNames>,
}

impl EventReader {
    /// Events will name `source` as their source and carry positions in `partition` (a file).
    pub fn new(source: Arc<str>, partition: Arc<str>) -> Self {
        EventReader {
            source,
            partition,
            streams: HashMap::new(),
            names: HashMap::new(),
        }
    }

    /// The file whose positions events carry.
    pub fn partition(&self) -> &Arc<str> {
        &self.partition
    }

    /// Checks that batches of `schema` hold netpipe events this reader
    /// reads: [`EventReader::events`] cannot fail on batches that pass.
    pub fn check(schema: &Schema) -> Result<(), FromArrowError> {
        let timestamp = DataType::Timestamp(TimeUnit::Microsecond, None);
        let metadata = [
            ("stream", DataType::Utf8),
            ("key", DataType::Utf8),
            ("event_time", timestamp.clone()),
            ("receive_time", timestamp),
        ];
        for (name, data_type) in metadata {
            let field = schema
                .field_with_name(name)
                .map_err(|_| FromArrowError(format!("no `{name}` column: not a netpipe file")))?;
            // Timestamps of any time zone: the values are UTC either way.
            let same_kind = match (field.data_type(), &data_type) {
                (DataType::Timestamp(a, _), DataType::Timestamp(b, _)) => a == b,
                (a, b) => a == b,
            };
            if !same_kind {
                return Err(FromArrowError(format!(
                    "`{name}` is {}, not {data_type}",
                    field.data_type()
                )));
            }
        }
        match schema
            .fields()
            .iter()
            .skip(crate::METADATA_COLUMNS.len())
            .find(|f| !readable(f.data_type()))
        {
            Some(f) => Err(FromArrowError(format!(
                "unsupported column type {} of `{}`",
                f.data_type(),
                f.name()
            ))),
            None => Ok(()),
        }
    }

    /// The events of `batch`, whose first row is row `first_row` of the file.
    /// Fails only where [`EventReader::check`] fails.
    pub fn events(
        &mut self,
        batch: &RecordBatch,
        first_row: u64,
    ) -> Result<Vec<Event>, FromArrowError> {
        Self::check(&batch.schema())?;
        // Checked above: present and of these types.
        let column = |name: &str| batch.column_by_name(name).expect("checked");
        let stream = column("stream").as_string::<i32>();
        let key = column("key").as_string::<i32>();
        let time = |name| column(name).as_primitive::<TimestampMicrosecondType>();
        let (event_time, receive_time) = (time("event_time"), time("receive_time"));
        let payload_schema = batch.schema();
        let payload_fields: Vec<_> = payload_schema
            .fields()
            .iter()
            .skip(crate::METADATA_COLUMNS.len())
            .collect();
        let shape_key = payload_fields
            .iter()
            .map(|f| f.name().as_str())
            .collect::<Vec<_>>()
            .join(",");
        let shape = self
            .names
            .entry(format!("payload:{shape_key}"))
            .or_insert_with(|| {
                payload_fields
                    .iter()
                    .map(|f| Arc::from(f.name().as_str()))
                    .collect()
            })
            .clone();
        let mut columns = batch
            .columns()
            .iter()
            .skip(crate::METADATA_COLUMNS.len())
            .map(|c| values(c.as_ref(), &mut self.names).map(Vec::into_iter))
            .collect::<Result<Vec<_>, _>>()?;
        let mut events = Vec::with_capacity(batch.num_rows());
        for i in 0..batch.num_rows() {
            let row: Vec<Value> = columns
                .iter_mut()
                .map(|c| c.next().unwrap_or_default())
                .collect();
            let stream_name = stream.value(i);
            let stream = match self.streams.get(stream_name) {
                Some(s) => s.clone(),
                None => self
                    .streams
                    .entry(stream_name.to_string())
                    .or_insert_with(|| Arc::from(stream_name))
                    .clone(),
            };
            let event = Event::new(
                self.source.clone(),
                stream,
                Timestamp(event_time.value(i).saturating_mul(1_000)),
                Record::new(shape.clone(), row),
            )
            .with_key(key.is_valid(i).then(|| Arc::from(key.value(i))))
            .with_receive_time(Timestamp(receive_time.value(i).saturating_mul(1_000)))
            .with_position(Position {
                partition: self.partition.clone(),
                offset: first_row + i as u64,
            });
            events.push(event);
        }
        Ok(events)
    }
}
