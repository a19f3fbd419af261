//! Fuzz targets for what NSO and the bridge send, with oracles: a
//! notification, a stream list and a bridge line damaged at random are read
//! or refused, never half read; what is read says what the input says, as
//! an independent `serde_json` reading of the same text finds it.
//!
//! `ARBTEST_BUDGET_MS` sets how long each runs.

use std::sync::Arc;

use arbtest::arbitrary::{Result as Draw, Unstructured};
use netpipe_core::{Timestamp, json};
use serde_json::Value as Json;

use crate::{bridge, notification};

/// Pieces damage is made of: JSON's own tokens, times, numbers and text.
const PIECES: [&str; 16] = [
    "{",
    "}",
    "[",
    "]",
    "\"",
    ",",
    ":",
    "\\",
    "null",
    "1e400",
    "-9223372036854775808",
    "99999999999999999999",
    "2026-12-05T10:00:00+00:00",
    "eventTime",
    "timestamp",
    "Zürich",
];

/// `text` with 1 to 4 random edits: a run cut out, a piece or a random
/// character put in, or cut short (at character boundaries).
fn damaged(u: &mut Unstructured<'_>, text: &str) -> Draw<String> {
    let mut chars: Vec<char> = text.chars().collect();
    for _ in 0..u.int_in_range(1..=4)? {
        let at = u.int_in_range(0..=chars.len())?;
        match u.int_in_range(0..=3)? {
            0 => drop(chars.drain(at..u.int_in_range(at..=chars.len())?)),
            1 => drop(chars.splice(at..at, u.choose(&PIECES)?.chars())),
            2 => chars.insert(at, u.arbitrary()?),
            _ => chars.truncate(at),
        }
    }
    Ok(chars.into_iter().collect())
}

fn payload_json(event: &netpipe_core::Event) -> Json {
    let mut out = Vec::new();
    json::write_payload(&event.payload, &mut out);
    serde_json::from_slice(&out)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out)))
}

#[test]
fn fuzz_damaged_notifications_are_read_as_serde_reads_them_or_refused() {
    let source: Arc<str> = Arc::from("nso");
    let stream: Arc<str> = Arc::from("nso.ncs-alarms");
    let sample = r#"{"ietf-restconf:notification": {"eventTime": "2026-12-05T03:31:25.123456+01:00", "tailf-ncs-alarms:alarm-notification": {"device": "ce0", "alarm-text": "Zürich down", "perceived-severity": "major", "count": 3}}}"#;
    let (mut read, mut refused) = (0, 0);
    arbtest::arbtest(|u| {
        let data = damaged(u, sample)?;
        let Ok(got) = notification::notification(&source, &stream, &data) else {
            refused += 1;
            return Ok(());
        };
        read += 1;
        let expected: Json = serde_json::from_str(&data).expect("read, so it is JSON");
        let inner = &expected["ietf-restconf:notification"];
        assert_eq!(payload_json(&got.event), *inner, "{data}");
        let time = Timestamp::parse_rfc3339(inner["eventTime"].as_str().unwrap());
        assert_eq!(Some(got.time), time);
        assert_eq!(got.event.event_time, got.time);
        // The typed form reads too.
        assert!(got.event.payload.record().get("eventTime").is_some());
        Ok(())
    })
    .size_min(64);
    assert!(read > 0 && refused > 0, "{read} read, {refused} refused");
}

#[test]
fn fuzz_damaged_stream_lists_are_read_as_serde_reads_them_or_refused() {
    let sample = r#"{"ietf-restconf-monitoring:streams": {"stream": [{"name": "NETCONF", "replay-support": false, "access": [{"encoding": "xml", "location": "/x"}, {"encoding": "json", "location": "https://nso:8888/restconf/streams/NETCONF/json"}]}, {"name": "ncs-alarms", "replay-support": "true"}]}}"#;
    arbtest::arbtest(|u| {
        let body = damaged(u, sample)?;
        if let Ok(streams) = notification::streams(body.as_bytes()) {
            let expected: Json = serde_json::from_str(&body).expect("read, so it is JSON");
            let list = expected
                .get("ietf-restconf-monitoring:streams")
                .or_else(|| expected.get("streams"))
                .and_then(|s| s["stream"].as_array())
                .expect("read, so it has a list");
            assert_eq!(streams.len(), list.len());
            for (stream, json) in streams.iter().zip(list) {
                assert_eq!(Some(stream.name.as_str()), json["name"].as_str());
            }
        }
        Ok(())
    })
    .size_min(64);
}

#[test]
fn fuzz_damaged_bridge_lines_are_read_as_serde_reads_them_or_refused() {
    let source: Arc<str> = Arc::from("bridge");
    let sample = r#"{"seq": 7, "type": "NOTIF_PROGRESS", "received_at": "2026-12-05T10:00:01Z", "event": {"type": 2, "timestamp": 1764928800000000, "msg": "Zürich"}}"#;
    arbtest::arbtest(|u| {
        let line = damaged(u, sample)?;
        let _ = bridge::line::hello_token(&line);
        let Ok(got) = bridge::line::notification(&source, &line) else {
            return Ok(());
        };
        let expected: Json = serde_json::from_str(&line).expect("read, so it is JSON");
        assert_eq!(Some(got.seq), expected["seq"].as_u64());
        assert_eq!(payload_json(&got.event), expected["event"], "{line}");
        assert_eq!(
            got.event.stream.as_ref(),
            bridge::line::stream_of(expected["type"].as_str().unwrap())
        );
        assert!(got.event.payload.record().get("type").is_some());
        Ok(())
    })
    .size_min(64);
}
