//! Aruba Central streaming, as a user sees it: start the simulator, run a
//! pipeline against it, check what arrived.

mod support;

use std::time::Duration;

use serde_json::Value;
use support::simulator::{Simulator, garbage_leaves_memory_flat};
use support::watch::{self, Watched};
use support::*;

/// A pipeline file in `dir` reading the simulator at `url` into stdout;
/// `options` are the source's others, one per line, indented.
fn stdout_pipeline(dir: &std::path::Path, url: &str, options: &str) -> std::path::PathBuf {
    let yaml = format!(
        "sources:\n  central:\n    type: aruba_central\n    url: {url}\n{options}sinks:\n  out: {{ type: stdout, inputs: [central] }}\n"
    );
    pipeline(dir, "aruba.yaml", &yaml)
}

fn of_stream<'a>(events: &'a [Value], stream: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["stream"] == stream).collect()
}

#[test]
fn every_topic_decodes_with_readable_addresses() {
    let sim = Simulator::start(&["--count", "5"]);
    let dir = tempfile::tempdir().unwrap();
    let file = pipeline(dir.path(), "aruba.yaml", &format!("
sources:
  central:
    type: aruba_central
    url: {}
    customers:
      - {{ name: CustomerA, key: sim-key, topics: [audit, apprf, location, monitoring, presence, security] }}
sinks:
  out: {{ type: stdout, inputs: [central] }}
", sim.url()));
    let (events, _) = run_until(&file, 30);
    assert_eq!(events.len(), 30);
    for topic in [
        "audit",
        "apprf",
        "location",
        "monitoring",
        "presence",
        "security",
    ] {
        let stream = format!("aruba.{topic}");
        assert_eq!(of_stream(&events, &stream).len(), 5, "{stream}");
    }
    assert_eq!(sim.stats()["frames"], 30);

    let audit = &of_stream(&events, "aruba.audit")[0]["payload"];
    assert!(
        audit["client_ip"].as_str().unwrap().starts_with("10.1."),
        "{audit}"
    );
    assert!(
        ["CONFIGURATION", "FIRMWARE", "DEVICE_MGMT"].contains(&audit["service"].as_str().unwrap())
    );
    let location = &of_stream(&events, "aruba.location")[0];
    let mac = location["payload"]["sta_eth_mac"].as_str().unwrap();
    assert!(mac.starts_with("20:4c:03:") && mac.len() == 17, "{mac}");
    assert_eq!(
        location["key"], mac,
        "location events are keyed by the station MAC"
    );
    let monitoring = &of_stream(&events, "aruba.monitoring")[0];
    let vap = &monitoring["payload"]["vaps"][0];
    assert!(
        ["Corp-WiFi", "Guest", "IoT-Sensors", "Café-Lobby"]
            .contains(&vap["essid"].as_str().unwrap()),
        "{vap}"
    );
    assert_eq!(
        monitoring["headers"]["customer_id"],
        "4b2e0e1a9c8d4f0e8a7b6c5d4e3f2a1b"
    );
    let apprf = &of_stream(&events, "aruba.apprf")[0];
    assert!(
        apprf["key"].as_str().unwrap().starts_with("CNF7J"),
        "apprf is keyed by serial: {apprf}"
    );
    assert!(apprf["payload"]["client_firewall_session"][0]["tx_bytes"].is_u64());
}

#[test]
fn dropped_connections_reconnect_with_gap_events_and_malformed_frames_become_dead_letters() {
    let sim = Simulator::start(&[
        "--count",
        "40",
        "--drop-every",
        "10",
        "--malformed-every",
        "7",
    ]);
    let dir = tempfile::tempdir().unwrap();
    let file = stdout_pipeline(
        dir.path(),
        &sim.url(),
        "    max_backoff: 200ms\n    customers: [{ name: CustomerA, key: sim-key, topic: monitoring }]\n",
    );
    // 40 frames (5 malformed) in 4 connections of 10, each closed by the
    // simulator, so 4 reconnects with a gap event each.
    let (events, stderr) = run_until(&file, 44);
    let stats = sim.stats();
    assert_eq!(stats["frames"], 35);
    assert_eq!(stats["malformed"], 5);
    assert_eq!(
        of_stream(&events, "aruba.monitoring").len(),
        35,
        "nothing received is lost"
    );
    let dead = of_stream(&events, "netpipe.dead_letter");
    assert_eq!(dead.len(), 5);
    assert_eq!(dead[0]["payload"]["origin"], "aruba.monitoring");
    assert!(
        dead[0]["payload"]["error"]
            .as_str()
            .unwrap()
            .contains("truncated"),
        "{}",
        dead[0]
    );
    // The raw bytes are the frame as received (base64 in JSON: not text).
    use base64::Engine as _;
    for letter in &dead {
        let raw = base64::engine::general_purpose::STANDARD
            .decode(letter["payload"]["raw"].as_str().unwrap())
            .unwrap();
        assert_eq!(
            raw, b"\x12\x0amonitoring\x1a\xff\xff\xff\x0f\x01",
            "{letter}"
        );
    }
    let gaps = of_stream(&events, "netpipe.gap");
    assert_eq!(gaps.len(), 4, "{stderr}");
    // In order: each connection's ten frames, then the next one's gap.
    let gaps_at: Vec<usize> = (0..events.len())
        .filter(|&i| events[i]["stream"] == "netpipe.gap")
        .collect();
    assert_eq!(gaps_at, [10, 21, 32, 43]);
    assert_eq!(gaps[0]["payload"]["scope"]["customer"], "CustomerA");
    assert_eq!(gaps[0]["payload"]["scope"]["topic"], "monitoring");
    assert!(gaps[0]["payload"]["from"].as_str() <= gaps[0]["payload"]["to"].as_str());
    // The exit summary counts them: dead_letters and reconnects columns.
    let row: Vec<&str> = stderr
        .lines()
        .find(|l| l.starts_with("central "))
        .unwrap_or_else(|| panic!("no summary row: {stderr}"))
        .split_whitespace()
        .collect();
    assert_eq!(
        (row[7], row[8]),
        ("5", "4"),
        "dead letters, reconnects: {stderr}"
    );
}

/// A payload without its times: the simulator's frames carry the time
/// they were made, and those the test makes are made later.
fn timeless(value: Value) -> Value {
    match value {
        Value::Object(members) => Value::Object(
            members
                .into_iter()
                .filter(|(name, _)| !name.contains("time"))
                .map(|(name, v)| (name, timeless(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(timeless).collect()),
        other => other,
    }
}

/// Frames are checked on every core, a run of frames on each, and their
/// events still leave in the order the frames came: the simulator cycles
/// through 32 frames of distinct keys, with a malformed one every 97th, and
/// each event is where its frame was sent.
#[test]
fn events_leave_in_the_order_their_frames_came() {
    use netpipe_source_aruba::simulator::sample_frames;
    use netpipe_source_aruba::{Decoder, Topic};
    const FRAMES: u64 = 1500;
    const MALFORMED_EVERY: u64 = 97;
    let sim = Simulator::start(&[
        "--count",
        &FRAMES.to_string(),
        "--malformed-every",
        &MALFORMED_EVERY.to_string(),
    ]);
    let decoder = Decoder::new();
    let payloads: Vec<Value> = sample_frames(Topic::Monitoring, 32)
        .iter()
        .map(|frame| {
            let (_, record) = decoder.decode_frame(frame, Topic::Monitoring).unwrap();
            let mut json = Vec::new();
            netpipe_core::json::write_payload(&record.into(), &mut json);
            timeless(serde_json::from_slice(&json).unwrap())
        })
        .collect();
    assert!(
        (1..payloads.len()).all(|i| !payloads[..i].contains(&payloads[i])),
        "the cycle's frames are told apart by their payloads"
    );
    // The simulator's `total`-th frame (from 1): malformed, or the cycle's.
    let expected: Vec<Option<Value>> = (1..=FRAMES)
        .map(|total| match total % MALFORMED_EVERY {
            0 => None,
            _ => Some(payloads[(total % 32) as usize].clone()),
        })
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let file = stdout_pipeline(
        dir.path(),
        &sim.url(),
        "    customers: [{ name: CustomerA, key: sim-key, topic: monitoring }]\n",
    );
    let (events, _) = run_until(&file, FRAMES as usize);
    let arrived: Vec<Option<Value>> = events
        .iter()
        .map(|e| match e["stream"].as_str() {
            Some("netpipe.dead_letter") => None,
            _ => Some(timeless(e["payload"].clone())),
        })
        .collect();
    assert_eq!(arrived.len(), expected.len());
    let first_out_of_place = arrived.iter().zip(&expected).position(|(a, e)| a != e);
    assert_eq!(first_out_of_place, None);
}

/// A customers file holding `key` for customer `lab`'s audit topic, and a
/// pipeline that streams it to stdout: their paths.
fn customers_file_pipeline(
    dir: &std::path::Path,
    sim: &Simulator,
    key: &str,
) -> (std::path::PathBuf, std::path::PathBuf) {
    let customers = dir.join("input.json");
    let entry = serde_json::json!({"customers": {"lab": {"wsskey": key, "topic": "audit"}}});
    std::fs::write(&customers, entry.to_string()).unwrap();
    let file = pipeline(
        dir,
        "aruba.yaml",
        &format!(
            "
sources:
  central: {{ type: aruba_central, url: {}, customers_file: input.json }}
sinks:
  out: {{ type: stdout, inputs: [central] }}
",
            sim.url()
        ),
    );
    (customers, file)
}

#[test]
fn a_renewed_key_is_used_and_written_back_to_the_customers_file() {
    let sim = Simulator::start(&[
        "--count",
        "3",
        "--key",
        "new-key",
        "--renew-from",
        "old-key",
    ]);
    let dir = tempfile::tempdir().unwrap();
    let (customers, file) = customers_file_pipeline(dir.path(), &sim, "old-key");
    let (events, stderr) = run_until(&file, 3);
    assert_eq!(of_stream(&events, "aruba.audit").len(), 3);
    let written: Value =
        serde_json::from_str(&std::fs::read_to_string(&customers).unwrap()).unwrap();
    assert_eq!(written["customers"]["lab"]["wsskey"], "new-key");
    assert_eq!(written["customers"]["lab"]["topic"], "audit");
    assert!(
        !stderr.contains("old-key") && !stderr.contains("new-key"),
        "keys leaked into logs:\n{stderr}"
    );
}

/// A rejected key is a clear error naming the customer (never the key),
/// retried at `auth_retry` (one line per retry, not a storm, not never),
/// while the other entries stream on.
#[test]
fn a_bad_key_is_a_clear_error_without_the_key_and_other_entries_keep_streaming() {
    let sim = Simulator::start(&["--count", "4", "--unsubscribed", "security"]);
    let dir = tempfile::tempdir().unwrap();
    let file = pipeline(
        dir.path(),
        "aruba.yaml",
        &format!(
            "
sources:
  central:
    type: aruba_central
    url: {}
    auth_retry: 1s
    customers:
      - {{ name: Good, key: sim-key, topics: [audit, security] }}
      - {{ name: Bad, key: wrong-secret-key, topic: audit }}
sinks:
  out: {{ type: stdout, inputs: [central] }}
",
            sim.url()
        ),
    );
    let run = Watched::run(&file);
    let rejected = "the streaming key of customer `Bad` was rejected";
    run.wait_for(
        "three rejections and four events",
        Duration::from_secs(20),
        |out, err| watch::count(err, rejected) >= 3 && watch::count(out, "aruba.audit") >= 4,
    );
    let times: Vec<_> = run
        .stderr()
        .into_iter()
        .filter(|(_, l)| l.contains(rejected))
        .map(|(at, _)| at)
        .collect();
    let (status, events, stderr) = run.stop();
    assert!(status.success(), "{stderr}");
    for pair in times.windows(2) {
        let gap = pair[1] - pair[0];
        assert!(
            gap >= Duration::from_millis(900),
            "retried after {gap:?}, not auth_retry:\n{stderr}"
        );
    }
    let audit = events
        .iter()
        .filter(|l| l.contains(r#""stream":"aruba.audit""#))
        .count();
    assert_eq!(audit, 4, "{stderr}");
    assert!(
        stderr.contains("topic `security` is not subscribed for customer `Good`"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("wrong-secret-key"),
        "the key leaked into logs:\n{stderr}"
    );
}

/// Central renews a key mid-session: the connections made with the old one
/// close and it is refused from then on. The source validates it, takes the
/// renewed key, streams on with it, and writes it back to the customers file.
#[test]
fn a_key_renewed_mid_session_is_taken_up_and_written_back() {
    let sim = Simulator::start(&["--count", "6", "--renew-after", "3"]);
    let dir = tempfile::tempdir().unwrap();
    let (customers, file) = customers_file_pipeline(dir.path(), &sim, "sim-key");
    let run = Watched::run(&file);
    run.wait_for("six audit events", Duration::from_secs(20), |out, _| {
        watch::count(out, "aruba.audit") >= 6
    });
    let (status, _, stderr) = run.stop();
    assert!(status.success(), "{stderr}");
    let written: Value =
        serde_json::from_str(&std::fs::read_to_string(&customers).unwrap()).unwrap();
    assert_eq!(written["customers"]["lab"]["wsskey"], "sim-key-renewed");
    assert!(
        !stderr.contains("sim-key"),
        "keys leaked into logs:\n{stderr}"
    );
}

#[test]
fn split_monitoring_gives_one_event_per_element_with_the_parents_customer_and_time() {
    let sim = Simulator::start(&["--count", "2"]);
    let dir = tempfile::tempdir().unwrap();
    let file = pipeline(
        dir.path(),
        "aruba.yaml",
        &format!(
            "
sources:
  central:
    type: aruba_central
    url: {}
    split: true
    customers: [{{ name: A, key: sim-key, topic: monitoring }}]
sinks:
  out: {{ type: stdout, inputs: [central] }}
",
            sim.url()
        ),
    );
    // Each simulated message has 3 elements in each of its element lists.
    let (events, _) = run_until(&file, 60);
    let aps = of_stream(&events, "aruba.monitoring.aps");
    assert_eq!(aps.len(), 6, "3 access points per message, 2 messages");
    let ap = &aps[0]["payload"];
    assert_eq!(ap["customer_id"], "4b2e0e1a9c8d4f0e8a7b6c5d4e3f2a1b");
    assert!(ap["timestamp"].as_str().unwrap().ends_with('Z'), "{ap}");
    assert!(ap["macaddr"].as_str().unwrap().len() == 17, "{ap}");
    assert!(
        of_stream(&events, "aruba.monitoring").is_empty(),
        "no whole messages when split"
    );
    assert!(!of_stream(&events, "aruba.monitoring.radios").is_empty());
}

/// An Aruba pipeline reading `url`, with `tls` (extra YAML keys) added to the source.
fn tls_pipeline(dir: &std::path::Path, url: &str, tls: &str) -> std::path::PathBuf {
    pipeline(
        dir,
        "aruba-tls.yaml",
        &format!(
            "
sources:
  central:
    type: aruba_central
    url: {url}
    customers: [{{ name: CustomerA, key: sim-key, topic: audit }}]
    {tls}
sinks:
  out: {{ type: stdout, inputs: [central] }}
"
        ),
    )
}

#[test]
fn tls_trusts_a_ca_file_refuses_unknown_certificates_and_skips_checks_only_when_told() {
    let certs = repo_root().join("tests/fixtures/tls");
    let (cert, key) = (certs.join("server.pem"), certs.join("server.key"));
    let sim = Simulator::start(&[
        "--rate",
        "50",
        "--tls-cert",
        cert.to_str().unwrap(),
        "--tls-key",
        key.to_str().unwrap(),
    ]);
    let url = sim.url().replace("ws://", "wss://");
    let dir = tempfile::tempdir().unwrap();

    let ca_file = format!("ca_file: {}", certs.join("ca.pem").display());
    let (events, _) = run_until(&tls_pipeline(dir.path(), &url, &ca_file), 3);
    assert!(of_stream(&events, "aruba.audit").len() >= 3);

    // The simulator's CA is in no system store: refused, saying why.
    let run = Watched::run(&tls_pipeline(dir.path(), &url, ""));
    run.wait_for("a refusal", Duration::from_secs(20), |_, err| {
        watch::count(err, "UnknownIssuer") > 0
    });
    let (_, events, stderr) = run.stop();
    assert!(events.is_empty(), "{stderr}");

    let (events, stderr) = run_until(
        &tls_pipeline(dir.path(), &url, "insecure_skip_verify: true"),
        3,
    );
    assert!(of_stream(&events, "aruba.audit").len() >= 3);
    assert!(
        stderr.contains("server certificates are NOT checked"),
        "{stderr}"
    );
}

/// A sink that cannot keep up holds the source back (back-pressure); that
/// wait is not Central's silence, so the connection stays and nothing is
/// lost, however much longer than `idle_timeout` it lasts.
#[test]
fn back_pressure_longer_than_idle_timeout_is_not_a_dead_connection() {
    let sim = Simulator::start(&["--rate", "20", "--count", "40"]);
    let dir = tempfile::tempdir().unwrap();
    let file = pipeline(
        dir.path(),
        "aruba.yaml",
        &format!(
            "sources:\n  central:\n    type: aruba_central\n    url: {}\n    ping_interval: 200ms\n    idle_timeout: 1s\n    customers: [{{ name: A, key: sim-key, topics: [monitoring] }}]\nsinks:\n  out: {{ type: stdout, inputs: [central], batch: {{ max_events: 1, timeout: 10ms }} }}\n",
            sim.url()
        ),
    );
    let mut child = spawn_run(&file);
    let stdout = child.stdout.take().unwrap();
    // Reads a line when asked, so that not asking stops the reading.
    let (ask, asked) = std::sync::mpsc::channel::<()>();
    let (give, lines) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        let mut reader = std::io::BufRead::lines(std::io::BufReader::new(stdout));
        while asked.recv().is_ok() {
            let Some(Ok(line)) = reader.next() else { break };
            if give.send(line).is_err() {
                break;
            }
        }
    });
    let mut events: Vec<Value> = Vec::new();
    let read = |events: &mut Vec<Value>, until: usize| {
        while events.len() < until {
            ask.send(()).unwrap();
            match lines.recv_timeout(Duration::from_secs(15)) {
                Ok(line) => events.push(serde_json::from_str(&line).unwrap()),
                Err(_) => return false,
            }
        }
        true
    };
    // Four times, stop reading: the pipe fills, the sink blocks, and the
    // source waits 2.5 s, longer than its idle_timeout.
    let mut all = true;
    for until in [2, 10, 18, 26] {
        all &= read(&mut events, until);
        std::thread::sleep(Duration::from_millis(2500));
    }
    all &= read(&mut events, 40);
    signal(&child, "INT");
    let output = wait_with_limit(child, Duration::from_secs(20));
    let stderr = text(&output.stderr);
    assert!(all, "not every event arrived: {stderr}");
    assert_eq!(of_stream(&events, "aruba.monitoring").len(), 40, "{stderr}");
    assert!(of_stream(&events, "netpipe.gap").is_empty(), "{stderr}");
    assert!(!stderr.contains("no frame or pong"), "{stderr}");
}

/// A key holding `#` (a YAML comment, were it pasted into the text) reaches
/// Central whole.
#[test]
fn a_key_with_a_hash_from_a_variable_stays_whole() {
    let sim = Simulator::start(&["--count", "2", "--key", "k3y #x"]);
    let dir = tempfile::tempdir().unwrap();
    let file = pipeline(
        dir.path(),
        "aruba.yaml",
        &format!(
            "sources:\n  central:\n    type: aruba_central\n    url: {}\n    customers:\n      - {{ name: A, key: ${{NETPIPE_TEST_UNSET:-k3y #x}}, topics: [audit] }}\nsinks:\n  out: {{ type: stdout, inputs: [central] }}\n",
            sim.url()
        ),
    );
    let (events, stderr) = run_until(&file, 2);
    assert_eq!(of_stream(&events, "aruba.audit").len(), 2, "{stderr}");
}

/// Garbage, frame after frame: 10,000 malformed frames in a row are all
/// dead letters, counted, and the pipeline stays up with its memory flat.
#[test]
fn ten_thousand_garbage_frames_are_dead_letters_and_memory_stays_flat() {
    let sim = Simulator::start(&["--malformed-every", "1", "--count", "10000"]);
    let dir = tempfile::tempdir().unwrap();
    let file = pipeline(
        dir.path(),
        "aruba.yaml",
        &format!(
            "sources:\n  central:\n    type: aruba_central\n    url: {}\n    customers: [{{ name: A, key: sim-key, topics: [monitoring] }}]\nsinks:\n  none: {{ type: blackhole, inputs: [central] }}\n",
            sim.url()
        ),
    );
    garbage_leaves_memory_flat(&file, &sim, "central", 10_000);
}

/// A connection that hangs without closing (no frames, pings unanswered)
/// is found dead after `idle_timeout`, thanks to the pings sent every
/// `ping_interval`, and replaced, with a gap event for the time lost.
#[test]
fn a_server_that_hangs_without_closing_is_found_dead_and_replaced() {
    let sim = Simulator::start(&["--silent-after", "3", "--rate", "50"]);
    let dir = tempfile::tempdir().unwrap();
    let file = pipeline(
        dir.path(),
        "aruba.yaml",
        &format!(
            "sources:\n  central:\n    type: aruba_central\n    url: {}\n    ping_interval: 200ms\n    idle_timeout: 1s\n    max_backoff: 200ms\n    customers: [{{ name: A, key: sim-key, topics: [audit] }}]\nsinks:\n  out: {{ type: stdout, inputs: [central], batch: {{ max_events: 1, timeout: 10ms }} }}\n",
            sim.url()
        ),
    );
    // Three frames per connection, then a hang: nine frames need two replacements.
    let (events, stderr) = run_until(&file, 11);
    assert!(of_stream(&events, "aruba.audit").len() >= 9, "{stderr}");
    let gaps = of_stream(&events, "netpipe.gap");
    assert!(gaps.len() >= 2, "{stderr}");
    for gap in gaps {
        assert_eq!(
            gap["payload"]["reason"],
            "reconnected; Central keeps no replay"
        );
    }
    assert!(
        stderr.contains("disconnected: no frame or pong for 1s"),
        "{stderr}"
    );
    assert!(sim.stats()["connections"].as_u64().unwrap() >= 3);
}
