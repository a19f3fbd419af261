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
use netpipe_core::{Event, FieldNames, Payload, Position, Record, Timestamp, Value};
use netpipe_kafka::headers;

use crate::avro::AvroReader;
use crate::config::Encoding;
use crate::typed::TypedJson;

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
    confluent_framing: bool,
    schemas: Arc<StreamSchemas>,
    /// Names seen before, shared by their events.
    names: HashMap<Box<str>, Arc<str>>,
    /// `topic/partition` of each partition, shared by its events' positions.
    partitions: HashMap<(Box<str>, i32), Arc<str>>,
    json: HashMap<Arc<str>, TypedJson>,
    avro: HashMap<Arc<str>, Result<AvroReader, String>>,
    raw_fields: FieldNames,
}

impl Decoder {
    pub fn new(
        source: Arc<str>,
        encoding: Encoding,
        confluent_framing: bool,
        schemas: Arc<StreamSchemas>,
    ) -> Self {
        Decoder {
            source,
            encoding,
            confluent_framing,
            schemas,
            names: HashMap::new(),
            partitions: HashMap::new(),
            json: HashMap::new(),
            avro: HashMap::new(),
            raw_fields: field_names(&["value"]),
        }
    }

    /// The position name of a partition: `topic/partition`.
    pub fn partition(&mut self, topic: &str, partition: i32) -> Arc<str> {
        if let Some(name) = self.partitions.get(&(Box::from(topic), partition)) {
            return name.clone();
        }
        let name: Arc<str> = Arc::from(format!("{topic}/{partition}"));
        self.partitions
            .insert((Box::from(topic), partition), name.clone());
        name
    }

    fn name(&mut self, text: &str) -> Arc<str> {
        if let Some(name) = self.names.get(text) {
            return name.clone();
        }
        let name: Arc<str> = Arc::from(text);
        self.names.insert(Box::from(text), name.clone());
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
            let text =
                || std::str::from_utf8(value).map_err(|_| format!("header `{key}` is not UTF-8"));
            match key {
                headers::STREAM => stream = Some(self.name(text()?)),
                headers::SOURCE => source = Some(self.name(text()?)),
                headers::EVENT_TIME | headers::RECEIVE_TIME => {
                    let time = Timestamp::parse_rfc3339(text()?)
                        .ok_or_else(|| format!("header `{key}` is not an RFC 3339 time"))?;
                    match key {
                        headers::EVENT_TIME => event_time = Some(time),
                        _ => receive_time = Some(time),
                    }
                }
                _ => kept.push((self.name(key), Arc::from(text()?))),
            }
        }
        let stream = match stream {
            Some(stream) => stream,
            None => self.name(message.topic),
        };
        let value = message.value.unwrap_or_default();
        let payload = self.payload(&stream, value)?;
        let now = Timestamp::now();
        let broker_time = message.timestamp.map(Timestamp::from_millis);
        let mut event = Event::sized(
            source.unwrap_or_else(|| self.source.clone()),
            stream,
            event_time.or(broker_time).unwrap_or(now),
            payload,
            value.len(),
        );
        event.receive_time = receive_time.unwrap_or(now);
        event.key = match message.key {
            Some(key) => Some(Arc::from(
                std::str::from_utf8(key).map_err(|_| "the key is not UTF-8".to_string())?,
            )),
            None => None,
        };
        event.headers = kept;
        event.position = Some(Position {
            partition: self.partition(message.topic, message.partition),
            offset: message.offset as u64,
        });
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
            Encoding::Json => self.json(stream, value).map(Payload::from),
            Encoding::Avro => self.avro(stream, value).map(Payload::from),
        }
    }

    fn json(&mut self, stream: &Arc<str>, value: &[u8]) -> Result<Record, String> {
        let schemas = &self.schemas;
        self.json
            .entry(stream.clone())
            .or_insert_with(|| TypedJson::new(schemas.get(stream)))
            .read(value)
    }

    fn avro(&mut self, stream: &Arc<str>, value: &[u8]) -> Result<Record, String> {
        let (schemas, framed) = (&self.schemas, self.confluent_framing);
        let reader = self.avro.entry(stream.clone()).or_insert_with(|| {
            let schema = schemas
                .get(stream)
                .ok_or_else(|| format!("stream `{stream}` has no schema to read Avro with"))?;
            AvroReader::new(schema, framed)
        });
        match reader {
            Ok(reader) => reader.read(value),
            Err(e) => Err(e.clone()),
        }
    }
}
