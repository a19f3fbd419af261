//! Notifications in the shapes NSO's built-in streams send (RFC 8040 JSON
//! encoding): alarms (`tailf-ncs-alarms`), commit-queue progress
//! (`tailf-ncs`), and the RFC 6470 base notifications on `NETCONF`.

use netpipe_core::Timestamp;
use serde_json::{Value as Json, json};

const DEVICES: [&str; 4] = ["ce0", "ce1", "pe-zürich-1", "pe-genève-2"];
const SEVERITIES: [&str; 4] = ["major", "critical", "minor", "warning"];
const QUEUE_STATES: [&str; 3] = ["waiting", "executing", "completed"];

/// The `n`th notification of stream `name`, at `time`.
pub fn notification(name: &str, n: u64, time: Timestamp) -> Json {
    let device = DEVICES[(n as usize) % DEVICES.len()];
    let (key, body) = match name {
        "ncs-alarms" => (
            "tailf-ncs-alarms:alarm-notification",
            json!({
                "alarm-class": if n.is_multiple_of(3) { "cleared-alarm" } else { "new-alarm" },
                "device": device,
                "type": "tailf-ncs:connection-failure",
                "managed-object": format!("/ncs:devices/ncs:device[ncs:name='{device}']"),
                "specific-problem": "",
                "event-type": "communicationsAlarm",
                "has-clear": "true",
                "kind-of-alarm": "root-cause",
                "probable-cause": 0,
                "event-time": nso_time(time),
                "perceived-severity": SEVERITIES[(n as usize) % SEVERITIES.len()],
                "alarm-text": format!("Failed to connect to device {device}: connection refused (#{n})"),
            }),
        ),
        "ncs-events" => (
            "tailf-ncs:ncs-commit-queue-progress-event",
            json!({
                "id": 1_764_900_000_000u64 + n,
                "tag": format!("change-{n}"),
                "status": QUEUE_STATES[(n as usize) % QUEUE_STATES.len()],
                "trace-id": format!("{n:032x}"),
                "completed": [device],
            }),
        ),
        _ if n.is_multiple_of(4) => (
            "ietf-netconf-notifications:netconf-session-start",
            json!({
                "username": "admin",
                "session-id": n,
                "source-host": "10.0.0.7",
            }),
        ),
        _ => (
            "ietf-netconf-notifications:netconf-config-change",
            json!({
                "changed-by": { "username": "admin", "session-id": n, "source-host": "10.0.0.7" },
                "datastore": "running",
                "edit": [
                    { "target": format!("/ncs:devices/ncs:device[ncs:name='{device}']/ncs:config"), "operation": "merge" }
                ],
            }),
        ),
    };
    json!({ "ietf-restconf:notification": { "eventTime": nso_time(time), key: body } })
}

/// A time as NSO writes it: microseconds and a `+00:00` offset.
pub fn nso_time(time: Timestamp) -> String {
    chrono::DateTime::from_timestamp_nanos(time.as_nanos())
        .format("%Y-%m-%dT%H:%M:%S%.6f+00:00")
        .to_string()
}
