//! Messages into events, without I/O: what a consumer received (topic,
//! partition, offset, key, headers, value) in, an event out, or an error
//! that makes the message a dead letter.
//!
//! The stream is the `stream` header the kafka sink writes, else the
//! topic; the `source`, `event_time` and `receive_time` headers are
//! honoured; the key and the other headers are kept; the value is read by
//! the `encoding` into the typed record the original source made.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use netpipe_core::schema::StreamSchemas;
use netpipe_core::value::field_names;
use netpipe_core::{Codec, Event, FieldNames, Payload, Position, Record, Timestamp, Value};
use netpipe_kafka::headers;

use crate::avro::{AvroReader, framing_id};
use crate::config::Encoding;
use netpipe_core::typed_json::TypedJson;

/// One stream's JSON payloads: checked whole when they arrive (valid JSON,
/// an object), so that reading them later cannot fail.
#[derive(Debug)]
struct JsonCodec(TypedJson);

const CHECKED: &str = "JSON checked when its message arrived";

impl Codec for JsonCodec {
    fn decode(&self, bytes: &Bytes) -> Record {
        self.0.read(bytes).expect(CHECKED)
    }

    fn write_json(&self, bytes: &Bytes, out: &mut Vec<u8>) {
        netpipe_core::json::write_payload(&self.decode(bytes).into(), out);
    }
}

/// A time header's last text and what it read as.
#[derive(Debug, Default)]
struct LastTime {
    text: Vec<u8>,
    time: Option<Timestamp>,
}

impl LastTime {
    fn parse(&mut self, key: &str, text: &[u8]) -> Result<Timestamp, String> {
        if let Some(time) = self.time.filter(|_| self.text == text) {
            return Ok(time);
        }
        let time = std::str::from_utf8(text)
            .ok()
            .and_then(Timestamp::parse_rfc3339)
            .ok_or_else(|| format!("header `{key}` is not an RFC 3339 time"))?;
        self.text.clear();
        self.text.extend_from_slice(text);
        self.time = Some(time);
        Ok(time)
    }
}

/// Names seen before, shared by their events. The last one is compared
/// first: the messages of a batch repeat their stream and source.
#[derive(Debug, Default)]
struct Names {
    known: HashMap<Box<[u8]>, Arc<str>>,
    last: Option<Arc<str>>,
}

impl Names {
    /// The name `bytes` spell, or `None` when they are not UTF-8.
    fn get(&mut self, bytes: &[u8]) -> Option<Arc<str>> {
        if let Some(last) = self.last.as_ref().filter(|l| l.as_bytes() == bytes) {
            return Some(last.clone());
        }
        let name = match self.known.get(bytes) {
            Some(name) => name.clone(),
            None => {
                let name: Arc<str> = Arc::from(std::str::from_utf8(bytes).ok()?);
                self.known.insert(Box::from(bytes), name.clone());
                name
            }
        };
        self.last = Some(name.clone());
        Some(name)
    }
}

/// A message as the consumer handed it over.
#[derive(Debug, Clone, Copy)]
pub struct Message<'a> {
    pub topic: &'a str,
    pub partition: i32,
    pub offset: i64,
    pub key: Option<&'a [u8]>,
    pub value: Option<&'a [u8]>,
    /// The broker's timestamp, in milliseconds.
    pub timestamp: Option<i64>,
}

/// Reads messages of many streams into events.
pub struct Decoder {
    source: Arc<str>,
    encoding: Encoding,
    schemas: Arc<StreamSchemas>,
    streams: Names,
    sources: Names,
    /// The names of the headers kept.
    header_names: Names,
    /// `topic/partition` of each partition, shared by its events' positions.
    partitions: HashMap<Box<str>, HashMap<i32, Arc<str>>>,
    /// The last partition's topic, number and name.
    last_partition: Option<(Box<str>, i32, Arc<str>)>,
    json: HashMap<Arc<str>, Arc<JsonCodec>>,
    /// The last stream's codec (stream names are shared: compared by address).
    last_json: Option<(Arc<str>, Arc<JsonCodec>)>,
    avro: HashMap<Arc<str>, Result<AvroReader, String>>,
    /// The last event and receive time headers read: messages written
    /// together (the events of one frame, one batch) repeat them.
    times: [LastTime; 2],
    /// With a schema registry: the writers' schemas, by id, as fetched.
    writers: Option<HashMap<u32, Result<AvroReader, String>>>,
    raw_fields: FieldNames,
}

impl Decoder {
    /// A decoder of `encoding`; `registry` says Avro values are framed and
    /// read with the schemas the registry gives ([`Decoder::add_writer`]).
    pub fn new(
        source: Arc<str>,
        encoding: Encoding,
        registry: bool,
        schemas: Arc<StreamSchemas>,
    ) -> Self {
        Decoder {
            source,
            encoding,
            writers: registry.then(HashMap::new),
            times: Default::default(),
            schemas,
            streams: Names::default(),
            sources: Names::default(),
            header_names: Names::default(),
            partitions: HashMap::new(),
            last_partition: None,
            last_json: None,
            json: HashMap::new(),
            avro: HashMap::new(),
            raw_fields: field_names(&["value"]),
        }
    }

    /// The position name of a partition: `topic/partition`.
    pub fn partition(&mut self, topic: &str, partition: i32) -> Arc<str> {
        if let Some((_, _, name)) = self
            .last_partition
            .as_ref()
            .filter(|(t, p, _)| *p == partition && **t == *topic)
        {
            return name.clone();
        }
        let name = self
            .partitions
            .entry(Box::from(topic))
            .or_default()
            .entry(partition)
            .or_insert_with(|| Arc::from(format!("{topic}/{partition}")))
            .clone();
        self.last_partition = Some((Box::from(topic), partition, name.clone()));
        name
    }

    /// The event of `message`, whose headers are `message_headers`.
    pub fn decode<'h>(
        &mut self,
        message: &Message<'_>,
        message_headers: impl Iterator<Item = (&'h str, &'h [u8])>,
    ) -> Result<Event, String> {
        let mut stream = None;
        let mut source = None;
        let mut event_time = None;
        let mut receive_time = None;
        let mut kept = Vec::new();
        for (key, value) in message_headers {
            let not_utf8 = || format!("header `{key}` is not UTF-8");
            match key {
                headers::STREAM => stream = Some(self.streams.get(value).ok_or_else(not_utf8)?),
                headers::SOURCE => source = Some(self.sources.get(value).ok_or_else(not_utf8)?),
                headers::EVENT_TIME => event_time = Some(self.times[0].parse(key, value)?),
                headers::RECEIVE_TIME => receive_time = Some(self.times[1].parse(key, value)?),
                _ => {
                    let text = std::str::from_utf8(value).map_err(|_| not_utf8())?;
                    let name = self.header_names.get(key.as_bytes()).expect("a str");
                    kept.push((name, Arc::from(text)));
                }
            }
        }
        let stream = match stream {
            Some(stream) => stream,
            None => self.streams.get(message.topic.as_bytes()).expect("a str"),
        };
        let value = message.value.unwrap_or_default();
        let payload = self.payload(&stream, value)?;
        // The clock is read only when a header does not give the time.
        let broker_time = message.timestamp.map(Timestamp::from_millis);
        let key = match message.key {
            Some(key) => Some(Arc::from(
                std::str::from_utf8(key).map_err(|_| "the key is not UTF-8".to_string())?,
            )),
            None => None,
        };
        let event = Event {
            source: source.unwrap_or_else(|| self.source.clone()),
            stream,
            event_time: event_time.or(broker_time).unwrap_or_else(Timestamp::now),
            receive_time: receive_time.unwrap_or_else(Timestamp::now),
            key,
            headers: kept,
            position: Some(Position {
                partition: self.partition(message.topic, message.partition),
                offset: message.offset as u64,
            }),
            payload,
            raw: None,
            size: value.len(),
        };
        Ok(event)
    }

    fn payload(&mut self, stream: &Arc<str>, value: &[u8]) -> Result<Payload, String> {
        match self.encoding {
            Encoding::Raw => Ok(Record::new(
                self.raw_fields.clone(),
                vec![Value::Bytes(Bytes::copy_from_slice(value))],
            )
            .into()),
            Encoding::Protobuf => match self.schemas.decoder(stream) {
                Some(decoder) => decoder.decode(Bytes::copy_from_slice(value)),
                None => Err(format!("netpipe reads no protobuf of stream `{stream}`")),
            },
            Encoding::Json => self.json(stream, value),
            Encoding::Avro => self.avro(stream, value).map(Payload::from),
        }
    }

    /// A JSON payload, checked now and read into its record when a sink
    /// first reads it: a sink that never looks (a blackhole, a kafka sink
    /// forwarding it) costs no decoding, and a Parquet sink's batcher does
    /// it beside the consumer.
    fn json(&mut self, stream: &Arc<str>, value: &[u8]) -> Result<Payload, String> {
        TypedJson::check(value)?;
        let codec = match &self.last_json {
            Some((last, codec)) if Arc::ptr_eq(last, stream) => codec.clone(),
            _ => {
                let schemas = &self.schemas;
                let codec = self
                    .json
                    .entry(stream.clone())
                    .or_insert_with(|| Arc::new(JsonCodec(TypedJson::new(schemas.get(stream)))))
                    .clone();
                self.last_json = Some((stream.clone(), codec.clone()));
                codec
            }
        };
        Ok(Payload::encoded(Bytes::copy_from_slice(value), codec))
    }

    fn avro(&mut self, stream: &Arc<str>, value: &[u8]) -> Result<Record, String> {
        if let Some(writers) = &mut self.writers {
            let id = framing_id(value)
                .ok_or("not in Confluent framing (a zero byte, a schema id)".to_string())?;
            return match writers.get_mut(&id) {
                Some(Ok(reader)) => reader.read(value),
                Some(Err(e)) => Err(format!("schema id {id}: {e}")),
                None => Err(format!("schema id {id} was not fetched")),
            };
        }
        let schemas = &self.schemas;
        let reader = self.avro.entry(stream.clone()).or_insert_with(|| {
            let schema = schemas
                .get(stream)
                .ok_or_else(|| format!("stream `{stream}` has no schema to read Avro with"))?;
            AvroReader::new(schema, false)
        });
        match reader {
            Ok(reader) => reader.read(value),
            Err(e) => Err(e.clone()),
        }
    }

    /// The schema id of `value` when its schema must be fetched first
    /// (Avro with a registry, an id not seen yet).
    pub fn unknown_writer(&self, value: &[u8]) -> Option<u32> {
        let writers = self.writers.as_ref()?;
        let id = framing_id(value).filter(|_| self.encoding == Encoding::Avro)?;
        (!writers.contains_key(&id)).then_some(id)
    }

    /// The schema the registry gave for `id` (Avro as JSON text), or why
    /// it gave none: values of that id are read with it, or refused.
    pub fn add_writer(&mut self, id: u32, schema: Result<String, String>) {
        let reader = schema
            .and_then(|text| {
                serde_json::from_str::<serde_json::Value>(&text).map_err(|e| e.to_string())
            })
            .and_then(|json| AvroReader::new(&json, true));
        if let Some(writers) = &mut self.writers {
            writers.insert(id, reader);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(value: &[u8]) -> Message<'_> {
        Message {
            topic: "t",
            partition: 3,
            offset: 42,
            key: Some(b"device-1"),
            value: Some(value),
            timestamp: Some(1_764_892_800_000),
        }
    }

    fn decoder() -> Decoder {
        Decoder::new(
            "k".into(),
            Encoding::Json,
            false,
            Arc::new(StreamSchemas::with_common()),
        )
    }

    /// Headers say what the event was; the value reads when a sink reads it.
    #[test]
    fn headers_give_the_metadata_and_the_payload_reads_later() {
        let headers = [
            ("stream", &b"demo.interface"[..]),
            ("source", b"demo"),
            ("event_time", b"2026-12-05T00:00:00.5Z"),
            ("site", b"lab"),
        ];
        let mut decoder = decoder();
        let event = decoder
            .decode(&message(br#"{"a": 1}"#), headers.into_iter())
            .unwrap();
        // The next message's time is its own, repeated or not.
        for time in ["2026-12-05T00:00:00.5Z", "2026-12-05T01:00:00Z"] {
            let later = [("event_time", time.as_bytes())];
            let next = decoder.decode(&message(b"{}"), later.into_iter()).unwrap();
            assert_eq!(next.event_time, Timestamp::parse_rfc3339(time).unwrap());
        }
        assert_eq!((&*event.stream, &*event.source), ("demo.interface", "demo"));
        assert_eq!(event.event_time.to_rfc3339(), "2026-12-05T00:00:00.500Z");
        assert_eq!(event.key.as_deref(), Some("device-1"));
        assert_eq!(event.headers, [(Arc::from("site"), Arc::from("lab"))]);
        let position = event.position.as_ref().unwrap();
        assert_eq!((&*position.partition, position.offset), ("t/3", 42));
        assert_eq!(event.payload.get("a"), Some(&Value::Int(1)));
    }

    /// The last stream, source and partition are remembered: a message that
    /// differs from the one before gets its own, and equal names are shared.
    #[test]
    fn each_message_gets_its_own_stream_source_and_partition() {
        let mut decoder = decoder();
        let mut events = Vec::new();
        for (topic, partition, stream, source) in [
            ("t", 1, None, "a"),
            ("t", 1, Some("s"), "a"),
            ("u", 1, None, "b"),
            ("t", 2, None, "b"),
            ("t", 1, Some("s"), "a"),
        ] {
            let mut headers = vec![("source", source.as_bytes())];
            headers.extend(stream.map(|s| ("stream", s.as_bytes())));
            let message = Message {
                topic,
                partition,
                ..message(b"{}")
            };
            events.push(decoder.decode(&message, headers.into_iter()).unwrap());
        }
        let seen: Vec<_> = events
            .iter()
            .map(|e| {
                let position = e.position.as_ref().unwrap();
                (&*e.stream, &*e.source, &*position.partition)
            })
            .collect();
        assert_eq!(
            seen,
            [
                ("t", "a", "t/1"),
                ("s", "a", "t/1"),
                ("u", "b", "u/1"),
                ("t", "b", "t/2"),
                ("s", "a", "t/1"),
            ]
        );
        assert!(Arc::ptr_eq(&events[1].stream, &events[4].stream));
        let partition = |i: usize| events[i].position.as_ref().unwrap().partition.clone();
        assert!(Arc::ptr_eq(&partition(0), &partition(4)));
    }

    /// Whatever the bytes, a message the decoder takes has a payload that
    /// reads (the check on arrival and the reading later agree), and one it
    /// refuses is an error, never a panic. `ARBTEST_BUDGET_MS` sets how long.
    #[test]
    fn fuzz_what_is_taken_on_arrival_reads_later() {
        let mut decoder = decoder();
        let samples: [&[u8]; 4] = [
            br#"{"a": [1, {"b": "c"}], "d": null}"#,
            br#" {"x": 1e400, "y": "\u00e9"} "#,
            b"[1, 2]",
            br#"{"n": 18446744073709551616}"#,
        ];
        arbtest::arbtest(|u| {
            let mut value = u.choose(&samples)?.to_vec();
            for _ in 0..u.int_in_range(0..=3)? {
                let at = u.int_in_range(0..=value.len())?;
                match u.int_in_range(0..=1)? {
                    0 => value.truncate(at),
                    _ => value.insert(at, u.arbitrary()?),
                }
            }
            if let Ok(event) = decoder.decode(&message(&value), std::iter::empty()) {
                let _ = event.payload.len();
            }
            Ok(())
        });
    }
}
