//! PacketFabric streaming events, as a user sees them: start the simulator,
//! run a pipeline against it, check what arrived.

mod support;

use std::time::Duration;

use serde_json::Value;
use support::simulator::{Simulator, garbage_leaves_memory_flat};
use support::watch::Watched;
use support::*;

const ALL_STREAMS: &str = "
      - { type: customer, events: [auth, physical_interface] }
      - { type: port, events: [metrics, etherstats, errors, optical] }
      - { type: vc, events: [metrics] }";

fn pipeline_for(
    sim: &Simulator,
    dir: &std::path::Path,
    auth: &str,
    extra: &str,
) -> std::path::PathBuf {
    pipeline(
        dir,
        "pf.yaml",
        &format!(
            "
sources:
  pf:
    type: packetfabric
    base_url: {}
    {auth}
    max_backoff: 200ms
    {extra}
    streams:{ALL_STREAMS}
sinks:
  out: {{ type: stdout, inputs: [pf] }}
",
            sim.base_url()
        ),
    )
}

fn of_stream<'a>(events: &'a [Value], stream: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["stream"] == stream).collect()
}

#[test]
fn every_event_kind_decodes_with_typed_fields() {
    let sim = Simulator::packetfabric(&["--count", "21"]);
    let dir = tempfile::tempdir().unwrap();
    let file = pipeline_for(&sim, dir.path(), "api_key: sim-api-key", "");
    let (events, _) = run_until(&file, 21);
    assert_eq!(events.len(), 21);
    assert_eq!(sim.stats()["events"], 21);
    for kind in [
        "customer.auth",
        "customer.physical_interface",
        "port.metrics",
        "port.etherstats",
        "port.errors",
        "port.optical",
        "vc.metrics",
    ] {
        assert_eq!(
            of_stream(&events, &format!("packetfabric.{kind}")).len(),
            3,
            "{kind}"
        );
    }
    let metrics = &of_stream(&events, "packetfabric.port.metrics")[0];
    assert!(metrics["payload"]["bytes_rx_bps"].is_i64());
    assert_eq!(metrics["key"], metrics["payload"]["port_circuit_id"]);
    let optical = &of_stream(&events, "packetfabric.port.optical")[0]["payload"];
    assert!(optical["lane_3_rx_dbm"].is_f64(), "{optical}");
    for vc in of_stream(&events, "packetfabric.vc.metrics") {
        assert!(
            vc["payload"]["vlan"].is_i64(),
            "vlan is a number even when sent as text: {vc}"
        );
        let key = format!(
            "{}&{}",
            vc["payload"]["vc_circuit_id"].as_str().unwrap(),
            vc["payload"]["port_circuit_id"].as_str().unwrap()
        );
        assert_eq!(vc["key"], key.as_str());
    }
    let auth = &of_stream(&events, "packetfabric.customer.auth")[0];
    assert!(
        auth["payload"]["ip_address"]
            .as_str()
            .unwrap()
            .starts_with("192.0.2."),
        "unknown fields are kept"
    );
    // Every event's time is its payload's own, read in whichever of the
    // API's formats the simulator wrote it (it rotates them), never the
    // time of receipt.
    for event in events
        .iter()
        .filter(|e| e["payload"].get("timestamp").is_some())
    {
        assert_eq!(
            event["event_time"], event["payload"]["timestamp"],
            "{event}"
        );
    }
}

#[test]
fn login_mode_logs_out_on_shutdown() {
    let sim = Simulator::packetfabric(&["--count", "7"]);
    let dir = tempfile::tempdir().unwrap();
    let file = pipeline_for(
        &sim,
        dir.path(),
        "login: sim-user\n    password: ${PF_PASSWORD}",
        "",
    );
    let run = Watched::spawn(
        netpipe()
            .arg("run")
            .arg(&file)
            .env("PF_PASSWORD", "sim-password"),
    );
    run.wait_for("seven events", Duration::from_secs(20), |out, _| {
        out.len() >= 7
    });
    let (status, events, stderr) = run.stop();
    assert!(status.success(), "{stderr}");
    assert_eq!(events.len(), 7);
    let stats = sim.stats();
    assert_eq!(
        (stats["logins"].as_u64(), stats["logouts"].as_u64()),
        (Some(1), Some(1)),
        "{stats}"
    );
    assert!(
        !stderr.contains("sim-password"),
        "the password leaked into logs:\n{stderr}"
    );
}

#[test]
fn closed_streams_reconnect_with_gap_events_and_bad_data_becomes_dead_letters() {
    let sim = Simulator::packetfabric(&[
        "--count",
        "30",
        "--close-every",
        "10",
        "--malformed-every",
        "8",
    ]);
    let dir = tempfile::tempdir().unwrap();
    let file = pipeline_for(&sim, dir.path(), "api_key: sim-api-key", "");
    // 30 messages (3 malformed) over 3 streams of 10, each closed: 3 reconnects.
    let (events, stderr) = run_until(&file, 33);
    let stats = sim.stats();
    assert_eq!(stats["events"], 27);
    assert_eq!(stats["malformed"], 3);
    let decoded = events
        .iter()
        .filter(|e| e["stream"].as_str().unwrap().starts_with("packetfabric."))
        .count();
    assert_eq!(decoded, 27, "nothing received is lost");
    let dead = of_stream(&events, "netpipe.dead_letter");
    assert_eq!(dead.len(), 3);
    assert!(
        dead[0]["payload"]["error"]
            .as_str()
            .unwrap()
            .contains("not JSON")
    );
    // The data is kept as it came, to the byte (raw bytes: base64 in JSON).
    use base64::Engine as _;
    for letter in &dead {
        let raw = base64::engine::general_purpose::STANDARD
            .decode(letter["payload"]["raw"].as_str().unwrap())
            .unwrap();
        assert_eq!(raw, b"{\"timestamp\": not json", "{letter}");
    }
    let gaps = of_stream(&events, "netpipe.gap");
    assert_eq!(gaps.len(), 3, "{stderr}");
    assert_eq!(
        stats["subscriptions"], 1,
        "the same bundle is streamed again"
    );
}

#[test]
fn an_expired_subscription_is_replaced_by_a_new_one() {
    let sim = Simulator::packetfabric(&[
        "--count",
        "20",
        "--close-every",
        "10",
        "--expire-after",
        "1",
    ]);
    let dir = tempfile::tempdir().unwrap();
    let file = pipeline_for(&sim, dir.path(), "api_key: sim-api-key", "");
    // Each bundle streams once: 10 events, closed, answered 404, replaced.
    // The third bundle has nothing left to send.
    let (events, _) = run_until(&file, 22);
    assert_eq!(of_stream(&events, "netpipe.gap").len(), 2);
    assert_eq!(sim.stats()["subscriptions"], 3);
    assert_eq!(events.len(), 22);
}

#[test]
fn bad_credentials_and_mfa_accounts_are_clear_errors_not_retry_storms() {
    let sim = Simulator::packetfabric(&["--count", "1"]);
    let dir = tempfile::tempdir().unwrap();
    for (auth, expected) in [
        (
            "api_key: wrong-key-123",
            "PacketFabric rejected the API key (HTTP 401)",
        ),
        (
            "login: mfa-user\n    password: whatever-456",
            "requires MFA: use an API key",
        ),
        (
            "login: sim-user\n    password: wrong-789",
            "rejected the login of `sim-user` (HTTP 401)",
        ),
    ] {
        let file = pipeline_for(&sim, dir.path(), auth, "");
        let output = run(&file);
        let stderr = text(&output.stderr);
        assert!(!output.status.success(), "{stderr}");
        assert!(stderr.contains(expected), "{stderr}");
        for secret in ["wrong-key-123", "whatever-456", "wrong-789"] {
            assert!(!stderr.contains(secret), "a secret leaked:\n{stderr}");
        }
    }
    assert_eq!(sim.stats()["subscriptions"], 0);
}

#[test]
fn aruba_and_packetfabric_flow_into_one_sink() {
    let aruba = Simulator::start(&["--count", "4"]);
    let pf = Simulator::packetfabric(&["--count", "7"]);
    let dir = tempfile::tempdir().unwrap();
    let file = pipeline(
        dir.path(),
        "fan-in.yaml",
        &format!(
            "
sources:
  central:
    type: aruba_central
    url: {}
    customers: [{{ name: A, key: sim-key, topic: monitoring }}]
  pf:
    type: packetfabric
    base_url: {}
    api_key: sim-api-key
    streams:{ALL_STREAMS}
sinks:
  out: {{ type: stdout, inputs: [central, pf] }}
",
            aruba.url(),
            pf.base_url()
        ),
    );
    let (events, _) = run_until(&file, 11);
    let from = |source: &str| events.iter().filter(|e| e["source"] == source).count();
    assert_eq!((from("central"), from("pf")), (4, 7));
}

/// Heartbeats are liveness: a stream with no events for three times its
/// `idle_timeout`, but a `:` heartbeat every 500 ms, is kept (silence
/// itself ends a stream: crates/connect's SSE tests).
#[test]
fn heartbeats_keep_a_quiet_stream() {
    let sim = Simulator::packetfabric(&["--count", "2"]);
    let dir = tempfile::tempdir().unwrap();
    let file = pipeline_for(&sim, dir.path(), "api_key: sim-api-key", "idle_timeout: 1s");
    let child = spawn_run(&file);
    // Two events, then three seconds of heartbeats only.
    std::thread::sleep(Duration::from_secs(4));
    let streams_while_beating = sim.stats()["streams"].as_u64().unwrap();
    signal(&child, "INT");
    let output = wait_with_limit(child, Duration::from_secs(20));
    let stderr = text(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert_eq!(
        streams_while_beating, 1,
        "a beating stream was replaced: {stderr}"
    );
    assert!(!stderr.contains("nothing for 1s"), "{stderr}");
    assert_eq!(json_lines(&output).len(), 2, "{stderr}");
}

/// A session that ends mid-stream (a 401 on the next request) is logged in
/// again, and the stream goes on with nothing lost.
#[test]
fn a_session_that_ends_mid_stream_is_logged_in_again() {
    let sim = Simulator::packetfabric(&["--count", "15", "--close-every", "5", "--end-sessions"]);
    let dir = tempfile::tempdir().unwrap();
    let file = pipeline_for(
        &sim,
        dir.path(),
        "login: sim-user\n    password: sim-password",
        "",
    );
    // 15 events and a gap for each of the two reconnects.
    let (events, stderr) = run_until(&file, 17);
    let decoded = events
        .iter()
        .filter(|e| e["stream"].as_str().unwrap().starts_with("packetfabric."))
        .count();
    assert_eq!(decoded, 15, "{stderr}");
    assert!(
        stderr.contains("session ended: logging in again"),
        "{stderr}"
    );
    assert!(sim.stats()["logins"].as_u64().unwrap() >= 3, "{stderr}");
}

/// Garbage, event after event: 10,000 events whose data is not JSON are
/// all dead letters, counted, and the pipeline stays up with memory flat.
#[test]
fn ten_thousand_garbage_events_are_dead_letters_and_memory_stays_flat() {
    let sim = Simulator::packetfabric(&["--malformed-every", "1", "--count", "10000"]);
    let dir = tempfile::tempdir().unwrap();
    let file = pipeline(
        dir.path(),
        "pf.yaml",
        &format!(
            "sources:\n  pf:\n    type: packetfabric\n    base_url: {}\n    api_key: sim-api-key\n    streams: [{{ type: port }}]\nsinks:\n  none: {{ type: blackhole, inputs: [pf] }}\n",
            sim.base_url()
        ),
    );
    garbage_leaves_memory_flat(&file, &sim, "pf", 10_000);
}
