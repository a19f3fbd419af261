//! Decoded frames become events: stream `aruba.<topic>` (or, split,
//! `aruba.monitoring.<element>`), event time from the payload or envelope,
//! a key that keeps per-device order in Kafka, and the customer as a header.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use netpipe_core::value::field_names;
use netpipe_core::{Event, FieldNames, Record, Timestamp, Value};

use crate::decode::{DecodeError, Decoder, Frame};
use crate::topic::Topic;

/// Fields that identify a device or client, in order of preference.
const KEY_FIELDS: [&str; 8] = [
    "serial_number",
    "serial",
    "device_id",
    "sta_eth_mac",
    "macaddr",
    "mac",
    "ap_mac",
    "client_mac",
];

/// Monitoring fields that are not lists of elements.
const NOT_ELEMENTS: [&str; 3] = ["customer_id", "data_elements", "timestamp"];

/// A timestamp of unknown unit: seconds, milliseconds, microseconds or
/// nanoseconds, told apart by magnitude (any date after 1973).
pub fn timestamp_of_unknown_unit(value: i64) -> Timestamp {
    match value {
        v if v >= 100_000_000_000_000_000 => Timestamp(v),
        v if v >= 100_000_000_000_000 => Timestamp(v.saturating_mul(1_000)),
        v if v >= 100_000_000_000 => Timestamp::from_millis(v),
        v => Timestamp::from_secs(v),
    }
}

/// Turns frames of one connection into events.
pub struct EventBuilder {
    decoder: Arc<Decoder>,
    source: Arc<str>,
    topic: Topic,
    split: bool,
    stream: Arc<str>,
    customer_header: Arc<str>,
    /// Split element streams and their field names (parent fields first), by element field.
    elements: HashMap<String, (Arc<str>, FieldNames)>,
}

fn key_of(record: &Record) -> Option<Arc<str>> {
    KEY_FIELDS.iter().find_map(|name| match record.get(name) {
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        _ => None,
    })
}

impl EventBuilder {
    pub fn new(decoder: Arc<Decoder>, source: Arc<str>, topic: Topic, split: bool) -> Self {
        EventBuilder {
            decoder,
            stream: Arc::from(format!("aruba.{topic}")),
            source,
            topic,
            split: split && topic == Topic::Monitoring,
            customer_header: Arc::from("customer_id"),
            elements: HashMap::new(),
        }
    }

    /// Decodes one frame into events (one, or one per monitoring element when split).
    pub fn events(&mut self, frame: Bytes, received: Timestamp) -> Result<Vec<Event>, DecodeError> {
        let decoded = self.decoder.decode_frame(frame.clone(), self.topic)?;
        let event_time = decoded
            .payload
            .get("timestamp")
            .and_then(Value::as_int)
            .or(decoded.timestamp)
            .filter(|t| *t > 0)
            .map(timestamp_of_unknown_unit)
            .unwrap_or(received);
        if self.split {
            return Ok(self.split_events(&decoded, event_time, received));
        }
        let key = key_of(&decoded.payload).unwrap_or_else(|| decoded.customer_id.clone());
        // Sized by the payload, not the (much smaller) frame: batch limits
        // must follow what the decoded events hold in memory.
        let mut event = Event::new(
            self.source.clone(),
            self.stream.clone(),
            event_time,
            decoded.payload,
        )
        .with_key(Some(key))
        .with_raw(frame)
        .with_receive_time(received);
        event.headers = vec![(self.customer_header.clone(), decoded.customer_id)];
        Ok(vec![event])
    }

    fn split_events(
        &mut self,
        frame: &Frame,
        event_time: Timestamp,
        received: Timestamp,
    ) -> Vec<Event> {
        let mut events = Vec::new();
        let customer = Value::String(frame.customer_id.clone());
        let timestamp = Value::Timestamp(event_time);
        for (field, value) in frame.payload.iter() {
            if NOT_ELEMENTS.contains(&field) {
                continue;
            }
            let items: &[Value] = match value {
                Value::List(items) => items,
                Value::Record(_) => std::slice::from_ref(value),
                _ => continue,
            };
            for item in items {
                let Value::Record(element) = item else {
                    continue;
                };
                let (stream, names) = self.elements.entry(field.to_string()).or_insert_with(|| {
                    let mut names = vec!["customer_id", "timestamp"];
                    names.extend(element.names().iter().map(|n| &**n));
                    (
                        Arc::from(format!("aruba.monitoring.{field}")),
                        field_names(&names),
                    )
                });
                let mut values = Vec::with_capacity(element.len() + 2);
                values.push(customer.clone());
                values.push(timestamp.clone());
                values.extend_from_slice(element.values());
                let key = key_of(element).unwrap_or_else(|| frame.customer_id.clone());
                let mut event = Event::new(
                    self.source.clone(),
                    stream.clone(),
                    event_time,
                    Record::new(names.clone(), values),
                )
                .with_key(Some(key))
                .with_receive_time(received);
                event.headers = vec![(self.customer_header.clone(), frame.customer_id.clone())];
                events.push(event);
            }
        }
        events
    }
}
