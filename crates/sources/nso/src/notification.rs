//! Sans-IO reading of what a RESTCONF server sends: the stream list of
//! `ietf-restconf-monitoring`, and notifications (RFC 8040 §6.4) as events.
//!
//! A notification's payload stays what NSO sent: JSON sinks write it as it
//! came (`eventTime` unchanged, module-prefixed member names), rendered
//! once on arrival. NSO's notifications follow YANG modules netpipe does not
//! know, so typed sinks (Avro, Parquet) get an envelope instead:
//! `eventTime`, the notification's name (`tailf-ncs-alarms:alarm-notification`)
//! and its body as JSON text.

use std::hash::{Hash, Hasher};
use std::sync::Arc;

use bytes::Bytes;
use netpipe_core::payload::Codec;
use netpipe_core::schema::field;
use netpipe_core::value::field_names;
use netpipe_core::{Event, FieldNames, Payload, Record, Timestamp, Value};
use serde_json::{Map, Value as Json, json};

/// A stream the server lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamInfo {
    pub name: String,
    /// Whether it replays from a `start-time`.
    pub replay: bool,
    /// Where its JSON encoding is served, as the server announces it.
    pub json_location: Option<String>,
}

/// The streams of a `restconf-state/streams` reply.
pub fn streams(body: &[u8]) -> Result<Vec<StreamInfo>, String> {
    let json: Json =
        serde_json::from_slice(body).map_err(|e| format!("the stream list is not JSON: {e}"))?;
    let list = json
        .get("ietf-restconf-monitoring:streams")
        .or_else(|| json.get("streams"))
        .and_then(|s| s.get("stream"))
        .and_then(Json::as_array)
        .ok_or("the stream list has no `ietf-restconf-monitoring:streams/stream`")?;
    list.iter()
        .map(|stream| {
            let name = stream
                .get("name")
                .and_then(Json::as_str)
                .ok_or("a stream without a name")?;
            let replay = match stream.get("replay-support") {
                Some(Json::Bool(b)) => *b,
                Some(Json::String(s)) => s == "true",
                _ => false,
            };
            let json_location = stream
                .get("access")
                .and_then(Json::as_array)
                .into_iter()
                .flatten()
                .find(|a| a.get("encoding").and_then(Json::as_str) == Some("json"))
                .and_then(|a| a.get("location"))
                .and_then(Json::as_str)
                .map(str::to_string);
            Ok(StreamInfo {
                name: name.to_string(),
                replay,
                json_location,
            })
        })
        .collect()
}

/// A `start-time` as NSO writes times: a `+00:00` offset.
pub fn start_time_text(time: Timestamp) -> String {
    chrono::DateTime::from_timestamp_nanos(time.as_nanos())
        .format("%Y-%m-%dT%H:%M:%S%.f+00:00")
        .to_string()
}

/// The stream name of NSO stream `name`: `nso.<name>`.
pub fn stream_name(name: &str) -> String {
    format!("nso.{name}")
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotificationError {
    #[error("data is not JSON: {0}")]
    NotJson(String),
    #[error("not a RESTCONF notification: no `ietf-restconf:notification` object")]
    NotNotification,
    #[error("the notification has no `eventTime`")]
    NoEventTime,
    #[error("`eventTime` is not an RFC 3339 time: `{0}`")]
    BadEventTime(String),
}

/// One notification read.
#[derive(Debug)]
pub struct Notification {
    pub event: Event,
    /// Its `eventTime`.
    pub time: Timestamp,
    /// A hash of the whole notification: replays repeat the notifications of
    /// their start time, which this tells apart.
    pub digest: u64,
}

/// Reads the `data` of one SSE event of stream `stream` (`nso.<name>`).
pub fn notification(
    source: &Arc<str>,
    stream: &Arc<str>,
    data: &str,
) -> Result<Notification, NotificationError> {
    // Compact, in the order it came: what JSON sinks write.
    let compact = crate::compact::notification_object(data)
        .map_err(|e| match serde_json::from_str::<Json>(data) {
            // JSON, but not an object.
            Ok(_) => NotificationError::NotNotification,
            Err(_) => NotificationError::NotJson(e.to_string()),
        })?
        .filter(|object| object.first() == Some(&b'{'))
        .ok_or(NotificationError::NotNotification)?;
    let event_time = crate::compact::event_time(&compact).ok_or(NotificationError::NoEventTime)?;
    let time = Timestamp::parse_rfc3339(&event_time)
        .ok_or_else(|| NotificationError::BadEventTime(event_time.clone()))?;
    let compact = Bytes::from(compact);
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    compact.hash(&mut hasher);
    let size = compact.len();
    let payload = Payload::with_json(compact.clone(), Arc::new(Envelope), compact);
    let event = Event::sized(source.clone(), stream.clone(), time, payload, size);
    Ok(Notification {
        event,
        time,
        digest: hasher.finish(),
    })
}

/// The typed form of a notification: `eventTime`, its name, its body as
/// JSON text.
#[derive(Debug)]
struct Envelope;

fn envelope_fields() -> FieldNames {
    static NAMES: std::sync::OnceLock<FieldNames> = std::sync::OnceLock::new();
    NAMES
        .get_or_init(|| field_names(&["eventTime", "notification", "data"]))
        .clone()
}

impl Codec for Envelope {
    fn decode(&self, bytes: &Bytes) -> Record {
        let inner: Map<String, Json> = serde_json::from_slice(bytes).unwrap_or_default();
        let event_time = inner.get("eventTime").and_then(Json::as_str);
        let body = inner.iter().find(|(name, _)| name.as_str() != "eventTime");
        Record::new(
            envelope_fields(),
            vec![
                event_time.map_or(Value::Null, Value::string),
                body.map_or(Value::Null, |(name, _)| Value::string(name)),
                body.map_or(Value::Null, |(_, b)| Value::string(&b.to_string())),
            ],
        )
    }

    fn write_json(&self, bytes: &Bytes, out: &mut Vec<u8>) {
        out.extend_from_slice(bytes);
    }
}

/// Where a stream is: an `eventTime` (to the microsecond, NSO's precision)
/// and how many notifications of that time were written before. As an
/// event's position offset: the microseconds shifted left 10 bits, the
/// count in the low 10 bits (more than 1023 notifications of one
/// microsecond count as 1023), so offsets order as the stream does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mark {
    pub time: Timestamp,
    /// Notifications of `time` written, this one included.
    pub count: u64,
}

const COUNT_BITS: u32 = 10;

impl Mark {
    pub fn offset(self) -> u64 {
        let micros = (self.time.as_nanos() / 1_000).max(0) as u64;
        (micros << COUNT_BITS) | self.count.min((1 << COUNT_BITS) - 1)
    }

    pub fn from_offset(offset: u64) -> Self {
        Mark {
            time: Timestamp(((offset >> COUNT_BITS) * 1_000) as i64),
            count: offset & ((1 << COUNT_BITS) - 1),
        }
    }
}

/// What was written of one stream, to resume it. NSO replays from a
/// `start-time` inclusively: after a resubscription, the notifications of
/// that time that were written already come again, and are passed over.
/// Live notifications are never dropped, even when a device's clock puts
/// one before the last.
#[derive(Debug, Default)]
pub struct Resume {
    /// The newest `eventTime` written (to the microsecond).
    last: Option<Timestamp>,
    /// Digests of the notifications written at `last`, in order.
    at_last: Vec<u64>,
    /// Resumed from a checkpoint, nothing newer written yet: how many
    /// notifications of `last` were written (their digests are not kept,
    /// so the replay's first ones are taken for them).
    from_checkpoint: Option<u64>,
    /// Resubscribed from `last`, and nothing newer seen yet: how many of
    /// the replay's notifications of `last` came so far.
    replaying: Option<u64>,
}

fn micros(time: Timestamp) -> Timestamp {
    Timestamp(time.as_nanos().div_euclid(1_000) * 1_000)
}

impl Resume {
    /// Resumes after a checkpoint's mark.
    pub fn after(mark: Mark) -> Self {
        Resume {
            last: Some(mark.time),
            at_last: Vec::new(),
            from_checkpoint: Some(mark.count),
            replaying: None,
        }
    }

    /// The `start-time` to resubscribe with, if anything was written:
    /// what comes next is a replay from it.
    pub fn resubscribe(&mut self) -> Option<Timestamp> {
        self.replaying = self.last.map(|_| 0);
        self.last
    }

    /// The mark of `notification` if it is new (and notes it); `None` for
    /// one written before.
    pub fn is_new(&mut self, notification: &Notification) -> Option<Mark> {
        let time = micros(notification.time);
        if let (Some(seen), Some(last)) = (self.replaying, self.last) {
            if time < last {
                return None;
            }
            if time == last {
                self.replaying = Some(seen + 1);
                let written = seen < self.from_checkpoint.unwrap_or(0)
                    || self.at_last.contains(&notification.digest);
                if written {
                    return None;
                }
            } else {
                self.replaying = None;
            }
        }
        match self.last {
            Some(last) if time == last => {
                self.at_last.push(notification.digest);
                let count = self.from_checkpoint.unwrap_or(0) + self.at_last.len() as u64;
                Some(Mark { time, count })
            }
            Some(last) if time < last => Some(Mark { time, count: 0 }),
            _ => {
                self.last = Some(time);
                self.at_last.clear();
                self.at_last.push(notification.digest);
                self.from_checkpoint = None;
                Some(Mark { time, count: 1 })
            }
        }
    }
}

/// The schemas of NSO's built-in streams: the envelope, for typed sinks.
pub fn stream_schemas() -> Vec<(String, Json)> {
    ["NETCONF", "ncs-alarms", "ncs-events", "kicker-events", "device-notifications", "service-state-changes"]
        .iter()
        .map(|name| {
            let schema = json!({
                "type": "record",
                "name": name.replace('-', "_"),
                "namespace": "netpipe.nso",
                "doc": format!("A notification of NSO's `{name}` stream (RESTCONF, JSON encoding): its time as sent, its module-prefixed name, and its body as JSON text."),
                "fields": [
                    field("eventTime", json!("string")),
                    field("notification", json!("string")),
                    field("data", json!("string")),
                ],
            });
            (stream_name(name), schema)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(data: &str) -> Notification {
        notification(&Arc::from("nso"), &Arc::from("nso.ncs-alarms"), data).unwrap()
    }

    fn alarm(time: &str, text: &str) -> String {
        format!(
            r#"{{"ietf-restconf:notification": {{"eventTime": "{time}", "tailf-ncs-alarms:alarm-notification": {{"device": "ce0", "alarm-text": "{text}"}}}}}}"#
        )
    }

    #[test]
    fn a_notification_is_written_as_sent_and_typed_as_an_envelope() {
        let data = "{\n  \"ietf-restconf:notification\": {\n    \"eventTime\": \"2026-12-05T03:31:25.123456+01:00\",\n    \"tailf-ncs-alarms:alarm-notification\": {\"device\": \"ce0\", \"alarm-text\": \"Zürich down\"}\n  }\n}";
        let read = read(data);
        assert_eq!(read.event.stream.as_ref(), "nso.ncs-alarms");
        assert_eq!(
            read.event.event_time,
            Timestamp::parse_rfc3339("2026-12-05T02:31:25.123456Z").unwrap()
        );
        let mut json = Vec::new();
        netpipe_core::json::write_payload(&read.event.payload, &mut json);
        assert_eq!(
            String::from_utf8(json).unwrap(),
            r#"{"eventTime":"2026-12-05T03:31:25.123456+01:00","tailf-ncs-alarms:alarm-notification":{"device":"ce0","alarm-text":"Zürich down"}}"#
        );
        let record = read.event.payload.record();
        assert_eq!(
            record.get("notification").and_then(Value::as_str),
            Some("tailf-ncs-alarms:alarm-notification")
        );
        assert_eq!(
            record.get("data").and_then(Value::as_str),
            Some(r#"{"device":"ce0","alarm-text":"Zürich down"}"#)
        );
        assert_eq!(
            record.get("eventTime").and_then(Value::as_str),
            Some("2026-12-05T03:31:25.123456+01:00")
        );
    }

    #[test]
    fn what_is_not_a_notification_says_why() {
        let source: Arc<str> = Arc::from("nso");
        let stream: Arc<str> = Arc::from("nso.x");
        let error = |data: &str| notification(&source, &stream, data).unwrap_err();
        assert!(matches!(error("{not json"), NotificationError::NotJson(_)));
        assert_eq!(error(r#"{"a": 1}"#), NotificationError::NotNotification);
        assert_eq!(
            error(r#"{"ietf-restconf:notification": {"x": {}}}"#),
            NotificationError::NoEventTime
        );
        assert_eq!(
            error(r#"{"ietf-restconf:notification": {"eventTime": "yesterday"}}"#),
            NotificationError::BadEventTime("yesterday".into())
        );
    }

    #[test]
    fn a_replay_passes_over_what_was_written_and_keeps_what_was_not() {
        let mut resume = Resume::default();
        let t1 = "2026-12-05T10:00:00+00:00";
        let t2 = "2026-12-05T10:00:01+00:00";
        let time2 = Timestamp::parse_rfc3339(t2).unwrap();
        assert!(resume.is_new(&read(&alarm(t1, "a"))).is_some());
        assert!(resume.is_new(&read(&alarm(t2, "b"))).is_some());
        assert_eq!(
            resume.is_new(&read(&alarm(t2, "c"))),
            Some(Mark {
                time: time2,
                count: 2
            })
        );
        // A live notification stamped earlier (a device's clock) is kept.
        assert!(resume.is_new(&read(&alarm(t1, "late"))).is_some());
        assert_eq!(resume.resubscribe(), Some(time2));
        // The replay from t2, inclusive: b and c again, then d (same time, new).
        assert_eq!(resume.is_new(&read(&alarm(t2, "b"))), None);
        assert_eq!(resume.is_new(&read(&alarm(t2, "c"))), None);
        assert_eq!(
            resume.is_new(&read(&alarm(t2, "d"))),
            Some(Mark {
                time: time2,
                count: 3
            })
        );
        assert!(
            resume
                .is_new(&read(&alarm("2026-12-05T10:00:02+00:00", "e")))
                .is_some()
        );
    }

    #[test]
    fn after_a_checkpoint_the_notifications_of_its_time_written_are_passed_over() {
        let t = "2026-12-05T10:00:00.000001+00:00";
        let time = Timestamp::parse_rfc3339(t).unwrap();
        let mark = Mark { time, count: 2 };
        assert_eq!(Mark::from_offset(mark.offset()), mark);
        let mut resume = Resume::after(mark);
        assert_eq!(resume.resubscribe(), Some(time));
        // Two of that time were written; the third was not.
        assert_eq!(resume.is_new(&read(&alarm(t, "a"))), None);
        assert_eq!(resume.is_new(&read(&alarm(t, "b"))), None);
        assert_eq!(
            resume.is_new(&read(&alarm(t, "c"))),
            Some(Mark { time, count: 3 })
        );
        assert!(
            resume
                .is_new(&read(&alarm("2026-12-05T10:00:01+00:00", "d")))
                .is_some()
        );
    }

    #[test]
    fn the_stream_list_gives_names_replay_and_the_json_location() {
        let body = br#"{"ietf-restconf-monitoring:streams": {"stream": [
            {"name": "NETCONF", "replay-support": false, "access": [
                {"encoding": "xml", "location": "https://nso:8888/restconf/streams/NETCONF/xml"},
                {"encoding": "json", "location": "https://nso:8888/restconf/streams/NETCONF/json"}]},
            {"name": "ncs-alarms", "replay-support": true, "access": [
                {"encoding": "json", "location": "https://nso:8888/x/ncs-alarms"}]}]}}"#;
        let list = streams(body).unwrap();
        assert_eq!(
            list,
            [
                StreamInfo {
                    name: "NETCONF".into(),
                    replay: false,
                    json_location: Some("https://nso:8888/restconf/streams/NETCONF/json".into())
                },
                StreamInfo {
                    name: "ncs-alarms".into(),
                    replay: true,
                    json_location: Some("https://nso:8888/x/ncs-alarms".into())
                },
            ]
        );
        assert!(streams(b"{}").unwrap_err().contains("stream"));
    }
}
