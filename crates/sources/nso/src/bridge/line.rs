//! Sans-IO reading of the bridge's lines: the protocol between
//! `bridge/nso_bridge.py` (next to NSO) and the `nso_bridge` source.
//!
//! One JSON object per line. The bridge opens with
//! `{"hello": {"bridge": "nso_bridge", "token": "..."}}` and netpipe answers
//! `{"welcome": {}}` or `{"error": "..."}`. Then each `_ncs.events`
//! notification is `{"seq": N, "type": "NOTIF_AUDIT", "received_at":
//! RFC 3339, "event": {...}}`, and netpipe answers `{"ack": N}` once every
//! sink has written notifications up to `N`.

use std::sync::Arc;

use bytes::Bytes;
use netpipe_core::value::field_names;
use netpipe_core::{Codec, Event, FieldNames, Payload, Record, Timestamp, Value};
use serde::Deserialize;
use serde_json::value::RawValue;

/// The stream of a notification type, the mask bit's name:
/// `NOTIF_AUDIT` → `nso.events.audit`, `NCS_NOTIF_CQ_PROGRESS` →
/// `nso.events.cq_progress`.
pub fn stream_of(notification_type: &str) -> String {
    let name = notification_type
        .strip_prefix("NCS_NOTIF_")
        .or_else(|| notification_type.strip_prefix("NOTIF_"))
        .unwrap_or(notification_type);
    format!("nso.events.{}", name.to_ascii_lowercase())
}

#[derive(Deserialize)]
struct Hello {
    hello: HelloBody,
}

#[derive(Deserialize)]
struct HelloBody {
    #[serde(default)]
    token: Option<String>,
}

/// The token of a hello line; an error when the line is not one.
pub fn hello_token(line: &str) -> Result<Option<String>, String> {
    serde_json::from_str::<Hello>(line)
        .map(|h| h.hello.token)
        .map_err(|_| "the first line is not the bridge's hello".to_string())
}

#[derive(Deserialize)]
struct Line<'a> {
    seq: u64,
    #[serde(rename = "type", borrow)]
    notification_type: &'a str,
    #[serde(borrow)]
    received_at: &'a str,
    #[serde(borrow)]
    event: &'a RawValue,
}

/// One notification line read.
#[derive(Debug)]
pub struct Notification {
    pub seq: u64,
    pub event: Event,
}

/// Reads a notification line. The event's time is its `timestamp` when it
/// has one that reads as a time (progress events: microseconds; commit
/// queue events: RFC 3339), else when the bridge received it.
pub fn notification(source: &Arc<str>, line: &str) -> Result<Notification, String> {
    let read: Line<'_> =
        serde_json::from_str(line).map_err(|e| format!("not a notification line: {e}"))?;
    let received = Timestamp::parse_rfc3339(read.received_at)
        .ok_or_else(|| format!("`received_at` is not a time: `{}`", read.received_at))?;
    let event_json = read.event.get();
    // Read whole, as every JSON reader downstream will: a number out of
    // range (`1e400`) is well-formed but refused by most of them.
    let event: serde_json::Value = serde_json::from_str(event_json)
        .map_err(|e| format!("the event does not read as JSON: {e}"))?;
    let time = event_time(&event).unwrap_or(received);
    let stream: Arc<str> = Arc::from(stream_of(read.notification_type));
    let bytes = Bytes::copy_from_slice(event_json.as_bytes());
    let size = bytes.len();
    let codec = Arc::new(BridgeEnvelope {
        notification_type: Arc::from(read.notification_type),
    });
    let payload = Payload::with_json(bytes.clone(), codec, bytes);
    let event =
        Event::sized(source.clone(), stream, time, payload, size).with_receive_time(received);
    Ok(Notification {
        seq: read.seq,
        event,
    })
}

fn event_time(event: &serde_json::Value) -> Option<Timestamp> {
    match event.get("timestamp")? {
        serde_json::Value::String(text) => Timestamp::parse_rfc3339(text),
        serde_json::Value::Number(n) => n.as_i64()?.checked_mul(1_000).map(Timestamp),
        _ => None,
    }
}

/// The typed form of a bridged notification: its type and the event as
/// JSON text (NSO's dictionaries vary by version); JSON sinks write the
/// event as the bridge sent it.
#[derive(Debug)]
struct BridgeEnvelope {
    notification_type: Arc<str>,
}

fn envelope_fields() -> FieldNames {
    static NAMES: std::sync::OnceLock<FieldNames> = std::sync::OnceLock::new();
    NAMES.get_or_init(|| field_names(&["type", "data"])).clone()
}

impl Codec for BridgeEnvelope {
    fn decode(&self, bytes: &Bytes) -> Record {
        Record::new(
            envelope_fields(),
            vec![
                Value::String(self.notification_type.clone()),
                Value::string(&String::from_utf8_lossy(bytes)),
            ],
        )
    }

    fn write_json(&self, bytes: &Bytes, out: &mut Vec<u8>) {
        out.extend_from_slice(bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_name_their_streams() {
        assert_eq!(stream_of("NOTIF_AUDIT"), "nso.events.audit");
        assert_eq!(stream_of("NCS_NOTIF_CQ_PROGRESS"), "nso.events.cq_progress");
        assert_eq!(stream_of("NOTIF_COMMIT_DIFF"), "nso.events.commit_diff");
    }

    #[test]
    fn a_line_becomes_an_event_as_sent_timed_by_its_timestamp() {
        let source: Arc<str> = Arc::from("bridge");
        let line = r#"{"seq": 7, "type": "NOTIF_PROGRESS", "received_at": "2026-12-05T10:00:01Z", "event": {"type": 2, "timestamp": 1764928800000000, "msg": "Zürich"}}"#;
        let read = notification(&source, line).unwrap();
        assert_eq!(read.seq, 7);
        assert_eq!(read.event.stream.as_ref(), "nso.events.progress");
        assert_eq!(read.event.event_time, Timestamp(1_764_928_800_000_000_000));
        let mut json = Vec::new();
        netpipe_core::json::write_payload(&read.event.payload, &mut json);
        assert_eq!(
            String::from_utf8(json).unwrap(),
            r#"{"type": 2, "timestamp": 1764928800000000, "msg": "Zürich"}"#
        );
        assert_eq!(
            read.event
                .payload
                .record()
                .get("type")
                .and_then(Value::as_str),
            Some("NOTIF_PROGRESS")
        );
        let untimed = r#"{"seq": 8, "type": "NOTIF_AUDIT", "received_at": "2026-12-05T10:00:01Z", "event": {"msg": "x"}}"#;
        assert_eq!(
            notification(&source, untimed).unwrap().event.event_time,
            Timestamp::parse_rfc3339("2026-12-05T10:00:01Z").unwrap()
        );
        assert!(
            notification(&source, "{")
                .unwrap_err()
                .contains("not a notification")
        );
        assert_eq!(
            hello_token(r#"{"hello": {"bridge": "nso_bridge", "token": "t"}}"#),
            Ok(Some("t".into()))
        );
        assert!(hello_token(r#"{"seq": 1}"#).is_err());
    }

    /// Found by fuzzing: a number JSON readers refuse, and a timestamp
    /// whose nanoseconds overflow.
    #[test]
    fn an_event_that_does_not_read_back_is_refused_and_a_huge_timestamp_is_not_a_time() {
        let source: Arc<str> = Arc::from("bridge");
        let line = |event: &str| {
            format!(
                r#"{{"seq": 1, "type": "NOTIF_AUDIT", "received_at": "2026-12-05T10:00:01Z", "event": {event}}}"#
            )
        };
        let error = notification(&source, &line(r#"{"x": 1e400}"#)).unwrap_err();
        assert!(error.contains("does not read as JSON"), "{error}");
        let huge = notification(&source, &line(r#"{"timestamp": 9223372036854775807}"#)).unwrap();
        assert_eq!(huge.event.event_time, huge.event.receive_time);
    }
}
