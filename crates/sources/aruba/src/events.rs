//! Decoded frames become events: stream `aruba.<topic>` (or, split,
//! `aruba.monitoring.<element>`), event time from the payload or envelope,
//! a key that keeps per-device order in Kafka, and the customer as a header.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use bytes::Bytes;
use netpipe_core::value::field_names;
use netpipe_core::{Codec, Event, FieldNames, Payload, PayloadDecoder, Record, Timestamp, Value};

use netpipe_protobuf::summary::Summarizer;

use crate::decode::{DecodeError, Decoder, Envelope};
use crate::rules::RULES;
use crate::topic::Topic;

/// The parent's fields that lead each split element's record.
const LEADING: [&str; 2] = ["customer_id", "timestamp"];

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

/// Decodes one topic's payloads for the sinks that read them.
struct TopicCodec {
    decoder: Arc<Decoder>,
    plan: usize,
}

impl fmt::Debug for TopicCodec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.decoder.plans().messages[self.plan].full_name)
    }
}

// The payload was walked whole when its frame arrived: walking it again cannot fail.
const CHECKED: &str = "payload checked when its frame arrived";

impl Codec for TopicCodec {
    fn decode(&self, bytes: &Bytes) -> Record {
        self.decoder
            .decode_message(self.plan, bytes, bytes)
            .expect(CHECKED)
    }

    fn write_json(&self, bytes: &Bytes, out: &mut Vec<u8>) {
        self.decoder
            .codec()
            .write_json(self.plan, bytes, out)
            .expect(CHECKED);
    }
}

/// Reads one topic's frames back into payloads: what the kafka sink
/// forwards with `encoding: protobuf`, as the kafka source reads it. The
/// frame is checked whole; its payload stays encoded until a sink reads it.
pub struct FrameDecoder {
    topic: Topic,
    summarizer: Summarizer,
    codec: Arc<TopicCodec>,
}

impl fmt::Debug for FrameDecoder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FrameDecoder({})", self.topic)
    }
}

impl PayloadDecoder for FrameDecoder {
    fn decode(&self, frame: Bytes) -> Result<Payload, String> {
        let decoder = &self.codec.decoder;
        let envelope = decoder
            .decode_envelope(&frame, self.topic)
            .map_err(|e| e.to_string())?;
        decoder
            .codec()
            .summarize(&self.summarizer, &envelope.data)
            .map_err(|e| e.to_string())?;
        Ok(Payload::encoded(envelope.data, self.codec.clone()))
    }
}

/// A frame decoder per topic stream (`aruba.<topic>`; split element
/// streams forward their whole frame, so they have none).
pub fn frame_decoders() -> netpipe_core::StreamDecoders {
    let decoder = Arc::new(Decoder::new());
    Topic::ALL
        .iter()
        .map(|&topic| {
            let plan = decoder.topic_plan(topic);
            let frames = FrameDecoder {
                topic,
                summarizer: decoder.codec().summarizer(plan),
                codec: Arc::new(TopicCodec {
                    decoder: decoder.clone(),
                    plan,
                }),
            };
            (
                format!("aruba.{topic}"),
                Arc::new(frames) as Arc<dyn PayloadDecoder>,
            )
        })
        .collect()
}

/// Turns frames of one connection into events. Clones made before any
/// frame share the topic stream's name, so its events carry one `Arc`
/// whichever clone built them (split element streams are named by each
/// clone as it meets them).
#[derive(Clone)]
pub struct EventBuilder {
    decoder: Arc<Decoder>,
    codec: Arc<TopicCodec>,
    source: Arc<str>,
    topic: Topic,
    split: bool,
    stream: Arc<str>,
    customer_header: Arc<str>,
    summarizer: Summarizer,
    /// Render each unsplit payload's JSON on arrival ([`Self::render_json`]),
    /// into this much room: the last one's length and an eighth, as the
    /// payloads of one connection are alike.
    json_room: Option<usize>,
    /// Split element streams and their field names (parent fields first), by element field.
    elements: HashMap<String, (Arc<str>, FieldNames)>,
}

fn key_of(record: &Record) -> Option<Arc<str>> {
    RULES
        .key_paths
        .iter()
        .find_map(|name| match record.get(name) {
            Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
            _ => None,
        })
}

/// An event time from the payload's timestamp, else the envelope's, else the receive time.
fn event_time(payload: Option<i64>, envelope: Option<i64>, received: Timestamp) -> Timestamp {
    payload
        .or(envelope)
        .filter(|t| *t > 0)
        .map(timestamp_of_unknown_unit)
        .unwrap_or(received)
}

impl EventBuilder {
    pub fn new(decoder: Arc<Decoder>, source: Arc<str>, topic: Topic, split: bool) -> Self {
        let plan = decoder.topic_plan(topic);
        EventBuilder {
            summarizer: decoder.codec().summarizer(plan),
            codec: Arc::new(TopicCodec {
                decoder: decoder.clone(),
                plan,
            }),
            decoder,
            stream: Arc::from(format!("aruba.{topic}")),
            source,
            topic,
            split: split && topic == Topic::Monitoring,
            customer_header: Arc::from("customer_id"),
            json_room: None,
            elements: HashMap::new(),
        }
    }

    /// Renders each unsplit payload's JSON as its frame arrives, in the pass
    /// that checks it, for sources whose every reader writes JSON: one pass
    /// instead of a check now and a transcode later. The payload's bytes are
    /// kept too, for anything that still decodes it.
    pub fn render_json(mut self, render: bool) -> Self {
        self.json_room = render.then_some(0);
        self
    }

    /// Turns one frame into events (one, or one per monitoring element when
    /// split). The whole frame is checked now; an unsplit payload stays
    /// encoded until a sink reads it, its JSON rendered already when
    /// [`Self::render_json`] says so.
    pub fn events(&mut self, frame: Bytes, received: Timestamp) -> Result<Vec<Event>, DecodeError> {
        if self.split {
            let (envelope, payload) = self.decoder.decode_frame(&frame, self.topic)?;
            return Ok(self.split_events(&envelope, &payload, received));
        }
        let envelope = self.decoder.decode_envelope(&frame, self.topic)?;
        let decoder = self.decoder.codec();
        let codec: Arc<dyn Codec> = self.codec.clone();
        let (summary, payload) = match &mut self.json_room {
            Some(room) => {
                let mut json = Vec::with_capacity(*room);
                let summary =
                    decoder.summarize_to_json(&self.summarizer, &envelope.data, &mut json)?;
                *room = json.len() + json.len() / 8;
                (
                    summary,
                    Payload::with_json(envelope.data, codec, json.into()),
                )
            }
            None => {
                let summary = decoder.summarize(&self.summarizer, &envelope.data)?;
                (summary, Payload::encoded(envelope.data, codec))
            }
        };
        let time = event_time(summary.timestamp, envelope.timestamp, received);
        let key = summary.key().cloned();
        // Sized by the decoded payload (or the JSON rendered now), not the
        // much smaller frame: batch limits must follow what events hold once
        // a sink reads them.
        let mut event = Event::sized(
            self.source.clone(),
            self.stream.clone(),
            time,
            payload,
            summary.size,
        )
        .with_key(Some(key.unwrap_or_else(|| envelope.customer_id.clone())))
        .with_raw(frame)
        .with_receive_time(received);
        event.headers = vec![(self.customer_header.clone(), envelope.customer_id)];
        Ok(vec![event])
    }

    fn split_events(
        &mut self,
        envelope: &Envelope,
        payload: &Record,
        received: Timestamp,
    ) -> Vec<Event> {
        let time = event_time(
            payload.get("timestamp").and_then(Value::as_int),
            envelope.timestamp,
            received,
        );
        let mut events = Vec::new();
        let customer = Value::String(envelope.customer_id.clone());
        let timestamp = Value::Timestamp(time);
        for (field, value) in payload.iter() {
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
                    let mut names = LEADING.to_vec();
                    let own = element.names().iter().map(|n| &**n);
                    names.extend(own.filter(|n| !LEADING.contains(n)));
                    (
                        Arc::from(format!("aruba.monitoring.{field}")),
                        field_names(&names),
                    )
                });
                let mut values = Vec::with_capacity(element.len() + 2);
                values.push(customer.clone());
                values.push(timestamp.clone());
                // An element's own field of a leading name (a `timestamp`
                // of its own) gives way: one field, one column, one JSON key.
                let own = element.iter().filter(|(n, _)| !LEADING.contains(n));
                values.extend(own.map(|(_, v)| v.clone()));
                let key = key_of(element).unwrap_or_else(|| envelope.customer_id.clone());
                let mut event = Event::new(
                    self.source.clone(),
                    stream.clone(),
                    time,
                    Record::new(names.clone(), values),
                )
                .with_key(Some(key))
                .with_receive_time(received);
                event.headers = vec![(self.customer_header.clone(), envelope.customer_id.clone())];
                events.push(event);
            }
        }
        events
    }
}

#[cfg(test)]
mod tests {
    use netpipe_core::json;

    use super::*;
    use crate::simulator::{mixed_frames, sample_frames};
    use netpipe_protobuf::wire::first_field_last;

    /// The event as built before payloads stayed encoded: decoded first.
    fn decoded_event(decoder: &Decoder, topic: Topic, frame: Bytes, received: Timestamp) -> Event {
        let (envelope, record) = decoder.decode_frame(&frame, topic).unwrap();
        let time = event_time(
            record.get("timestamp").and_then(Value::as_int),
            envelope.timestamp,
            received,
        );
        let key = key_of(&record).unwrap_or_else(|| envelope.customer_id.clone());
        let mut event = Event::new("src".into(), format!("aruba.{topic}").into(), time, record)
            .with_key(Some(key))
            .with_raw(frame)
            .with_receive_time(received);
        event.headers = vec![("customer_id".into(), envelope.customer_id)];
        event
    }

    /// Mixed frames are what their name says: of several sizes, the
    /// largest as dense as the simulator's usual ones.
    #[test]
    fn mixed_frames_come_in_several_sizes() {
        let sizes: Vec<usize> = mixed_frames(Topic::Monitoring, 8)
            .iter()
            .map(Bytes::len)
            .collect();
        let dense = sample_frames(Topic::Monitoring, 1)[0].len();
        assert!(
            sizes[0] < sizes[1] && sizes[1] < sizes[2] && sizes[2] < sizes[3],
            "{sizes:?}"
        );
        assert!(
            sizes[3].abs_diff(dense) < dense / 10,
            "{sizes:?} against {dense}"
        );
        assert_eq!(sizes[..4].len(), sizes[4..].len());
    }

    #[test]
    fn encoded_payloads_read_and_transcode_as_decoded_ones_for_every_topic() {
        let decoder = Arc::new(Decoder::new());
        for (topic, render) in Topic::ALL.into_iter().flat_map(|t| [(t, false), (t, true)]) {
            let mut builder =
                EventBuilder::new(decoder.clone(), "src".into(), topic, false).render_json(render);
            for frame in sample_frames(topic, 8)
                .into_iter()
                .chain(mixed_frames(topic, 4))
            {
                let received = Timestamp(1);
                let event = builder.events(frame.clone(), received).unwrap().remove(0);
                let mut expected = decoded_event(&decoder, topic, frame.clone(), received);
                if let Some(json) = event.payload.rendered_json() {
                    // Sized by what it holds: the JSON, or the frame kept beside it.
                    assert_eq!(event.size, json.len().max(frame.len()), "{topic}");
                    expected.size = event.size;
                }
                assert_eq!(event.payload.rendered_json().is_some(), render, "{topic}");
                let (mut transcoded, mut serialized) = (Vec::new(), Vec::new());
                json::write_event(&event, &mut transcoded, false);
                assert!(event.payload.undecoded().is_some(), "{topic}");
                json::write_event(&expected, &mut serialized, false);
                assert_eq!(
                    String::from_utf8(transcoded).unwrap(),
                    String::from_utf8(serialized).unwrap(),
                    "{topic} rendering JSON: {render}"
                );
                // Key, time, estimated size and the payload itself, decoded now.
                assert_eq!(event, expected, "{topic} rendering JSON: {render}");
            }
        }
    }

    #[test]
    fn fields_in_any_order_decode_alike() {
        let decoder = Decoder::new();
        let plan = decoder.topic_plan(Topic::Monitoring);
        let frame = &sample_frames(Topic::Monitoring, 1)[0];
        let (envelope, record) = decoder.decode_frame(frame, Topic::Monitoring).unwrap();
        let moved = Bytes::from(first_field_last(&envelope.data));
        assert_eq!(
            decoder.decode_message(plan, &moved, &moved).unwrap(),
            record
        );
        // The generated readers give up on the moved payload part-way:
        // records, JSON and the arrival summary start over with the walk and
        // come out as for the original.
        let (mut transcoded, mut expected) = (Vec::new(), Vec::new());
        let codec = decoder.codec();
        codec.write_json(plan, &moved, &mut transcoded).unwrap();
        json::write_payload(&Payload::from(record), &mut expected);
        assert_eq!(transcoded, expected);
        let summarizer = codec.summarizer(plan);
        let summarize = |payload: &[u8]| codec.summarize(&summarizer, payload).unwrap();
        assert_eq!(summarize(&moved), summarize(&envelope.data));
    }

    /// Keys and times checked against an independent decoding: prost-reflect
    /// reads each sample frame and its payload, and the key and time rules
    /// (the README's) are applied to what it read: the first of the key
    /// fields that is set, MACs as colon-separated hex, else the customer
    /// id; the payload's timestamp, else the envelope's, by magnitude.
    #[test]
    fn keys_and_times_are_what_an_independent_decoding_gives() {
        use prost_reflect::{DynamicMessage, ReflectMessage as _, Value as Reflected};
        let pool = crate::readers::descriptor_pool();
        let envelope_type = pool.get_message_by_name("StreamMessage.MsgProto").unwrap();
        let decoder = Arc::new(Decoder::new());
        let mut checked = 0;
        for topic in Topic::ALL {
            let payload_type = pool.get_message_by_name(topic.message()).unwrap();
            let mut builder = EventBuilder::new(decoder.clone(), "src".into(), topic, false);
            for frame in sample_frames(topic, 6) {
                let envelope =
                    DynamicMessage::decode(envelope_type.clone(), frame.clone()).unwrap();
                let field = |m: &DynamicMessage, name: &str| {
                    m.descriptor()
                        .get_field_by_name(name)
                        .filter(|f| m.has_field(f))
                        .map(|f| m.get_field(&f).into_owned())
                };
                let Some(Reflected::Bytes(data)) = field(&envelope, "data") else {
                    panic!("{topic}: no data")
                };
                let payload = DynamicMessage::decode(payload_type.clone(), data).unwrap();
                let key = RULES
                    .key_paths
                    .iter()
                    .find_map(|name| match field(&payload, name)? {
                        Reflected::String(s) if !s.is_empty() => Some(s),
                        Reflected::Message(mac) => match field(&mac, "addr")? {
                            Reflected::Bytes(b) if !b.is_empty() => Some(
                                b.iter()
                                    .map(|x| format!("{x:02x}"))
                                    .collect::<Vec<_>>()
                                    .join(":"),
                            ),
                            _ => None,
                        },
                        _ => None,
                    });
                let customer = match field(&envelope, "customer_id") {
                    Some(Reflected::String(c)) => c,
                    _ => String::new(),
                };
                let int = |v: Option<Reflected>| match v? {
                    Reflected::I64(i) => Some(i),
                    Reflected::U64(u) => Some(u as i64),
                    Reflected::I32(i) => Some(i64::from(i)),
                    Reflected::U32(u) => Some(i64::from(u)),
                    _ => None,
                };
                let seconds_or_finer = int(field(&payload, "timestamp"))
                    .or(int(field(&envelope, "timestamp")))
                    .filter(|t| *t > 0)
                    .unwrap();
                // 10^11 s is the year 5138: a larger number is ms, µs or ns.
                let nanos = match seconds_or_finer {
                    t if t >= 100_000_000_000_000_000 => t,
                    t if t >= 100_000_000_000_000 => t * 1_000,
                    t if t >= 100_000_000_000 => t * 1_000_000,
                    t => t * 1_000_000_000,
                };
                let event = builder.events(frame, Timestamp(1)).unwrap().remove(0);
                assert_eq!(
                    event.key.as_deref(),
                    Some(key.as_deref().unwrap_or(&customer)),
                    "{topic}"
                );
                assert_eq!(event.event_time, Timestamp(nanos), "{topic}");
                checked += 1;
            }
        }
        assert_eq!(checked, 6 * Topic::ALL.len());
    }
}
