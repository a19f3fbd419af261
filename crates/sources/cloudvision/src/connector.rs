//! CloudVision Connector streams, sans-IO: the `GetAndSubscribe` request
//! of a dataset and path, and what its `NotificationBatch`es hold made
//! into events, one per key updated or deleted.
//!
//! The messages are prost structs with the field numbers of the project's
//! `proto/cloudvision/Connector/*.proto` (a test holds them to the
//! descriptors compiled from those files). Keys, values and path elements
//! are NEAT ([`crate::neat`]): a record holds the dataset, the path, the
//! key as text, the value as JSON text (Connector values have no schema)
//! or typed by a schema the user gives, and the operation; JSON sinks get
//! the value as JSON.

use std::sync::Arc;

use bytes::Bytes;
use netpipe_core::typed_json::TypedJson;
use netpipe_core::value::{FieldNames, field_names};
use netpipe_core::{Event, Payload, Record, Timestamp, Value};

use crate::neat;

#[derive(Clone, PartialEq, prost::Message)]
pub struct Dataset {
    #[prost(string, tag = "1")]
    pub r#type: String,
    #[prost(string, tag = "2")]
    pub name: String,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Path {
    #[prost(bytes = "vec", repeated, tag = "3")]
    pub keys: Vec<Vec<u8>>,
    #[prost(bytes = "vec", repeated, tag = "4")]
    pub path_elements: Vec<Vec<u8>>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Query {
    #[prost(message, optional, tag = "1")]
    pub dataset: Option<Dataset>,
    #[prost(message, repeated, tag = "2")]
    pub paths: Vec<Path>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct GetAndSubscribeRequest {
    #[prost(message, repeated, tag = "1")]
    pub query: Vec<Query>,
    /// Nanoseconds since the epoch; 0 for now.
    #[prost(uint64, tag = "2")]
    pub start: u64,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Update {
    #[prost(bytes = "vec", tag = "1")]
    pub key: Vec<u8>,
    #[prost(bytes = "vec", tag = "2")]
    pub value: Vec<u8>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct Notification {
    #[prost(message, optional, tag = "1")]
    pub timestamp: Option<prost_reflect::prost_types::Timestamp>,
    #[prost(bool, tag = "3")]
    pub delete_all: bool,
    #[prost(bytes = "vec", repeated, tag = "4")]
    pub deletes: Vec<Vec<u8>>,
    #[prost(message, repeated, tag = "5")]
    pub updates: Vec<Update>,
    #[prost(bytes = "vec", repeated, tag = "7")]
    pub path_elements: Vec<Vec<u8>>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct NotificationBatch {
    #[prost(message, repeated, tag = "2")]
    pub notifications: Vec<Notification>,
    #[prost(message, optional, tag = "3")]
    pub dataset: Option<Dataset>,
    #[prost(map = "string, string", tag = "4")]
    pub metadata: std::collections::HashMap<String, String>,
}

/// The gRPC path of the call.
pub const GET_AND_SUBSCRIBE: &str = "/RouterV1/GetAndSubscribe";

/// The request for one dataset and path, from `start` (ns) when resuming.
pub fn request(
    dataset_type: &str,
    name: &str,
    path: &[String],
    start: u64,
) -> GetAndSubscribeRequest {
    GetAndSubscribeRequest {
        query: vec![Query {
            dataset: Some(Dataset {
                r#type: dataset_type.to_string(),
                name: name.to_string(),
            }),
            paths: vec![Path {
                keys: Vec::new(),
                path_elements: path.iter().map(|e| neat::encode_str(e)).collect(),
            }],
        }],
        start,
    }
}

/// `cloudvision.<dataset>.<path joined by .>`, lower case.
pub fn stream_name(dataset: &str, path: &[String]) -> String {
    let mut name = format!("cloudvision.{dataset}");
    for element in path {
        name.push('.');
        name.push_str(element);
    }
    name.to_lowercase()
}

/// Whether the batch ends the current state of a `GetAndSubscribe`.
pub fn ends_current_state(batch: &NotificationBatch) -> bool {
    batch.metadata.get("GetRequest").is_some_and(|v| v == "EOF")
}

fn record_fields() -> FieldNames {
    static NAMES: std::sync::OnceLock<FieldNames> = std::sync::OnceLock::new();
    NAMES
        .get_or_init(|| field_names(&["dataset", "path", "key", "value", "operation"]))
        .clone()
}

/// A notification that does not read: what and why, for a dead letter.
#[derive(Debug, PartialEq)]
pub struct Unreadable {
    pub error: String,
    pub raw: Bytes,
}

/// The events of one notification of `dataset`, on `stream`: one per key
/// updated or deleted, one for a delete of everything. With `values` (a
/// user's schema), typed sinks get each value typed by it.
pub fn events(
    source: &Arc<str>,
    stream: &Arc<str>,
    dataset: &str,
    notification: &Notification,
    values: Option<&TypedJson>,
) -> Result<Vec<Event>, Unreadable> {
    let unreadable = |error: String| Unreadable {
        error,
        raw: Bytes::from(prost::Message::encode_to_vec(notification)),
    };
    let time = notification
        .timestamp
        .as_ref()
        .and_then(|t| {
            t.seconds
                .checked_mul(1_000_000_000)?
                .checked_add(i64::from(t.nanos))
        })
        .map(Timestamp)
        .unwrap_or_else(Timestamp::now);
    let path: Vec<Value> = notification
        .path_elements
        .iter()
        .map(|e| neat::to_text(e).map(|t| Value::string(&t)))
        .collect::<Result<_, _>>()
        .map_err(|e| unreadable(format!("a path element: {e}")))?;
    let path_json = serde_json::to_string(
        &path
            .iter()
            .map(|p| p.as_str().unwrap_or_default())
            .collect::<Vec<_>>(),
    )
    .unwrap_or_default();
    let dataset_value = Value::string(dataset);
    let mut out = Vec::with_capacity(notification.updates.len() + notification.deletes.len() + 1);
    let mut push =
        |key: Option<&[u8]>, value: Option<&[u8]>, operation: &str| -> Result<(), Unreadable> {
            let key_text = key
                .map(neat::to_text)
                .transpose()
                .map_err(|e| unreadable(format!("a key: {e}")))?;
            let mut value_json = Vec::new();
            match value {
                Some(v) => neat::write_json(v, &mut value_json)
                    .map_err(|e| unreadable(format!("a value: {e}")))?,
                None => value_json.extend_from_slice(b"null"),
            }
            let typed_value = match (values, value) {
                (Some(values), Some(_)) => {
                    Value::Record(values.read(&value_json).map_err(|e| {
                        unreadable(format!("a value the schema does not describe: {e}"))
                    })?)
                }
                (None, Some(_)) => Value::string(&String::from_utf8_lossy(&value_json)),
                (_, None) => Value::Null,
            };
            let record = Record::new(
                record_fields(),
                vec![
                    dataset_value.clone(),
                    Value::List(path.clone()),
                    key_text.as_deref().map_or(Value::Null, Value::string),
                    typed_value,
                    Value::string(operation),
                ],
            );
            let mut json = Vec::with_capacity(value_json.len() + path_json.len() + 64);
            json.extend_from_slice(b"{\"dataset\":");
            let _ = serde_json::to_writer(&mut json, dataset);
            json.extend_from_slice(b",\"path\":");
            json.extend_from_slice(path_json.as_bytes());
            json.extend_from_slice(b",\"key\":");
            let _ = serde_json::to_writer(&mut json, &key_text);
            json.extend_from_slice(b",\"value\":");
            json.extend_from_slice(&value_json);
            json.extend_from_slice(b",\"operation\":");
            let _ = serde_json::to_writer(&mut json, operation);
            json.push(b'}');
            let size = json.len();
            let event_key = key_text.map(|k| Arc::from(k.as_str()));
            out.push(
                Event::sized(
                    source.clone(),
                    stream.clone(),
                    time,
                    Payload::decoded_with_json(record, Bytes::from(json)),
                    size,
                )
                .with_key(event_key),
            );
            Ok(())
        };
    if notification.delete_all {
        push(None, None, "delete_all")?;
    }
    for key in &notification.deletes {
        push(Some(key), None, "delete")?;
    }
    for update in &notification.updates {
        push(Some(&update.key), Some(&update.value), "update")?;
    }
    Ok(out)
}

#[cfg(test)]
#[path = "connector_tests.rs"]
mod tests;
