//! Into Kafka: a real Kafka-protocol broker (tansu) started per test, a
//! pipeline that writes to it, and a consumer that reads every event back.

mod support;

use std::time::{Duration, Instant};

use apache_avro::Schema;
use apache_avro::types::Value as Avro;
use serde_json::Value;
use support::broker::Broker;
use support::registry::registry_double;
use support::simulator::Simulator;
use support::*;

#[test]
fn demo_events_arrive_as_json_with_keys_headers_and_templated_topics() {
    let broker = Broker::start();
    let dir = tempfile::tempdir().unwrap();
    let file = pipeline(
        dir.path(),
        "kafka.yaml",
        &format!(
            "
sources:
  demo: {{ type: demo, count: 3000, devices: 6 }}
sinks:
  kafka:
    type: kafka
    inputs: [demo]
    bootstrap_servers: {}
    topic: \"netops.{{stream}}\"
    create_topics: {{ partitions: 3 }}
    librdkafka: {{ linger.ms: \"5\" }}
",
            broker.address()
        ),
    );
    let output = run(&file);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let records = broker.consume("netops.demo.interface", 3, 3000);
    let mut by_key = std::collections::HashMap::<String, std::collections::HashSet<i32>>::new();
    for r in &records {
        let payload: Value = serde_json::from_slice(&r.value).unwrap();
        let key = r.key.clone().expect("keyed by device");
        assert_eq!(payload["device"], key.as_str());
        assert_eq!(r.header("stream"), Some("demo.interface"));
        assert_eq!(r.header("source"), Some("demo"));
        assert!(r.header("event_time").unwrap().ends_with('Z'));
        assert!(r.header("receive_time").unwrap() >= r.header("event_time").unwrap());
        by_key.entry(key).or_default().insert(r.partition);
    }
    assert_eq!(by_key.len(), 6, "one key per device");
    assert!(
        by_key.values().all(|p| p.len() == 1),
        "a key always lands on one partition: {by_key:?}"
    );
    let partitions: std::collections::HashSet<i32> = records.iter().map(|r| r.partition).collect();
    assert!(
        partitions.len() > 1,
        "keys spread over partitions: {partitions:?}"
    );
    // The exit summary counts per topic what the broker acknowledged.
    let bytes: usize = records.iter().map(|r| r.value.len()).sum();
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains(&format!(
            "kafka topic summary topic=netops.demo.interface messages=3000 bytes={bytes} retries=0 errors=0"
        )),
        "{stderr}"
    );
}

fn schema(stream: &str) -> Schema {
    let text = std::fs::read_to_string(repo_root().join(format!("schemas/{stream}.avsc"))).unwrap();
    Schema::parse_str(&text).unwrap()
}

fn field<'a>(record: &'a Avro, name: &str) -> &'a Avro {
    let Avro::Record(fields) = record else {
        panic!("not a record: {record:?}")
    };
    let value = &fields
        .iter()
        .find(|(n, _)| n == name)
        .unwrap_or_else(|| panic!("no field {name}"))
        .1;
    match value {
        Avro::Union(_, inner) => inner,
        other => other,
    }
}

#[test]
fn aruba_events_arrive_as_avro_that_decodes_with_the_committed_schemas() {
    let broker = Broker::start();
    let sim = Simulator::start(&["--count", "4"]);
    let dir = tempfile::tempdir().unwrap();
    let file = pipeline(dir.path(), "kafka.yaml", &format!("
sources:
  central:
    type: aruba_central
    url: {}
    customers: [{{ name: A, key: sim-key, topics: [audit, monitoring] }}]
sinks:
  kafka: {{ type: kafka, inputs: [central], bootstrap_servers: {}, encoding: avro, create_topics: {{ partitions: 1 }} }}
", sim.url(), broker.address()));
    let child = spawn_run(&file);
    let audit = broker.consume("aruba.audit", 1, 4);
    let monitoring = broker.consume("aruba.monitoring", 1, 4);
    signal(&child, "INT");
    assert!(
        wait_with_limit(child, Duration::from_secs(20))
            .status
            .success()
    );

    let audit_schema = schema("aruba.audit");
    for r in &audit {
        let value =
            apache_avro::from_avro_datum(&audit_schema, &mut r.value.as_slice(), None).unwrap();
        let Avro::String(ip) = field(&value, "client_ip") else {
            panic!("client_ip is a string")
        };
        ip.parse::<std::net::IpAddr>()
            .unwrap_or_else(|_| panic!("not an IP address: {ip}"));
        assert!(matches!(field(&value, "timestamp"), Avro::Long(t) if *t > 1_700_000_000));
    }
    let monitoring_schema = schema("aruba.monitoring");
    let value = apache_avro::from_avro_datum(
        &monitoring_schema,
        &mut monitoring[0].value.as_slice(),
        None,
    )
    .unwrap();
    let Avro::Array(aps) = field(&value, "aps") else {
        panic!("aps is a list")
    };
    assert_eq!(aps.len(), 3);
    assert!(
        matches!(field(&aps[0], "macaddr"), Avro::String(mac) if mac.len() == 17),
        "{:?}",
        aps[0]
    );
}

#[test]
fn with_a_schema_registry_values_carry_the_confluent_framing() {
    let broker = Broker::start();
    let (registry, requests) = registry_double();
    let dir = tempfile::tempdir().unwrap();
    let file = pipeline(
        dir.path(),
        "kafka.yaml",
        &format!(
            "
sources:
  demo: {{ type: demo, count: 10 }}
sinks:
  kafka:
    type: kafka
    inputs: [demo]
    bootstrap_servers: {}
    topic: \"netops.{{stream}}\"
    encoding: avro
    schema_registry: {{ url: {registry} }}
    create_topics: {{ partitions: 1 }}
",
            broker.address()
        ),
    );
    let output = run(&file);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let request = requests.recv_timeout(Duration::from_secs(5)).unwrap();
    // The subject is named after the topic (TopicNameStrategy), which the
    // template makes differ from the stream.
    assert!(
        request.starts_with("POST /subjects/netops.demo.interface-value/versions"),
        "{request}"
    );
    let body: Value = serde_json::from_str(request.split_once('\n').unwrap().1).unwrap();
    Schema::parse_str(body["schema"].as_str().unwrap())
        .expect("the registered schema is valid Avro");
    let records = broker.consume("netops.demo.interface", 1, 10);
    let value = &records[0].value;
    assert_eq!(value[0], 0, "magic byte");
    assert_eq!(
        u32::from_be_bytes(value[1..5].try_into().unwrap()),
        42,
        "schema id"
    );
    let decoded =
        apache_avro::from_avro_datum(&schema("demo.interface"), &mut &value[5..], None).unwrap();
    assert!(matches!(field(&decoded, "device"), Avro::String(d) if d.starts_with("sw-")));
}

#[test]
fn an_absent_broker_is_a_clear_error_within_the_timeout() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = tempfile::tempdir().unwrap();
    let file = pipeline(dir.path(), "kafka.yaml", &format!("
sources:
  demo: {{ type: demo, count: 10 }}
sinks:
  kafka: {{ type: kafka, inputs: [demo], bootstrap_servers: \"127.0.0.1:{port}\", connect_timeout: 2s }}
"));
    let start = Instant::now();
    let output = run(&file);
    assert!(!output.status.success());
    assert!(
        start.elapsed() < Duration::from_secs(15),
        "took {:?}",
        start.elapsed()
    );
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains(&format!("cannot reach Kafka at 127.0.0.1:{port} within 2s")),
        "{stderr}"
    );
}

#[test]
fn a_frozen_broker_stalls_the_pipeline_and_every_event_arrives_after_it_resumes() {
    let broker = Broker::start();
    let dir = tempfile::tempdir().unwrap();
    let file = pipeline(
        dir.path(),
        "kafka.yaml",
        &format!(
            "
sources:
  demo: {{ type: demo, rate: 2000, count: 40000 }}
sinks:
  kafka:
    type: kafka
    inputs: [demo]
    bootstrap_servers: {}
    create_topics: {{ partitions: 2 }}
    batch: {{ max_events: 1000, timeout: 100ms }}
    # Deliveries time out within the freeze, so the sink's own resending runs.
    librdkafka: {{ message.timeout.ms: \"5000\" }}
",
            broker.address()
        ),
    );
    let mut child = spawn_run(&file);
    std::thread::sleep(Duration::from_secs(2));
    broker.signal("STOP");
    // The pipeline's resident memory; it must still be running (a process
    // that ended has none), and if it is not, its stderr says why.
    let rss = |child: &mut std::process::Child| -> u64 {
        if let Ok(Some(status)) = child.try_wait() {
            broker.signal("CONT");
            let mut stderr = String::new();
            let _ = std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut stderr);
            panic!("the pipeline ended ({status}) while the broker was frozen:\n{stderr}");
        }
        rss_kib(child.id())
    };
    let steady = rss(&mut child);
    let mut peak = steady;
    // A minute and a half: longer than any of librdkafka's own timeouts.
    for _ in 0..90 {
        std::thread::sleep(Duration::from_secs(1));
        peak = peak.max(rss(&mut child));
    }
    broker.signal("CONT");
    let output = wait_with_limit(child, Duration::from_secs(120));
    let stderr = text(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(
        peak <= steady * 3 / 2 + 4096,
        "memory grew from {steady} kB to {peak} kB while the broker was frozen"
    );
    assert_eq!(summary_counts(&stderr, "kafka"), (40000, 40000), "{stderr}");
    // The outage was visible while it lasted, and its end too.
    assert!(
        stderr.contains("Kafka has not acknowledged")
            && stderr.contains("for 10s (broker away or slow?)"),
        "{stderr}"
    );
    assert!(
        stderr.contains("Kafka acknowledged again, after"),
        "{stderr}"
    );
    // Deliveries failed and were sent again: the sink's resend path ran.
    assert!(
        stderr.contains("delivery failed, will send again"),
        "{stderr}"
    );
    let retries: u64 = stderr
        .lines()
        .find(|l| l.contains("kafka topic summary topic=demo.interface"))
        .and_then(|l| l.split("retries=").nth(1))
        .and_then(|r| r.split_whitespace().next())
        .and_then(|r| r.parse().ok())
        .unwrap_or_else(|| panic!("no retries in the topic summary: {stderr}"));
    assert!(retries > 0, "{stderr}");
    // The run's summary row says it too: retries, and time spent blocked.
    let row: Vec<&str> = stderr
        .lines()
        .find(|l| l.starts_with("kafka "))
        .unwrap()
        .split_whitespace()
        .collect();
    assert_eq!(row[9].parse::<u64>().unwrap(), retries, "{stderr}");
    assert!(
        row[10].parse::<f64>().unwrap() >= 10.0,
        "blocked through the freeze: {stderr}"
    );
    broker.consume("demo.interface", 2, 40000);
}

#[test]
fn an_unknown_topic_without_create_topics_is_a_clear_error_and_nothing_is_acknowledged() {
    let broker = Broker::start();
    let dir = tempfile::tempdir().unwrap();
    let file = pipeline(
        dir.path(),
        "kafka.yaml",
        &format!(
            "
sources:
  demo: {{ type: demo, count: 10 }}
sinks:
  kafka:
    type: kafka
    inputs: [demo]
    bootstrap_servers: {}
    topic: missing.topic
    librdkafka: {{ topic.metadata.propagation.max.ms: \"1000\" }}
",
            broker.address()
        ),
    );
    let output = run(&file);
    let stderr = text(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(stderr.contains("topic `missing.topic`"), "{stderr}");
    assert!(stderr.to_lowercase().contains("unknown topic"), "{stderr}");
    assert_eq!(
        summary_counts(&stderr, "kafka").1,
        0,
        "nothing written, nothing acknowledged: {stderr}"
    );
}

/// Stopping while the broker is frozen: the drain says what it waits for,
/// and at `--drain-timeout` the run ends with status 3, the unwritten
/// events named and not acknowledged, instead of waiting forever.
#[test]
fn a_drain_against_a_frozen_broker_reports_and_ends_at_its_deadline() {
    let broker = Broker::start();
    let dir = tempfile::tempdir().unwrap();
    let file = pipeline(
        dir.path(),
        "kafka.yaml",
        &format!(
            "
sources:
  demo: {{ type: demo, rate: 2000 }}
sinks:
  kafka:
    type: kafka
    inputs: [demo]
    bootstrap_servers: {}
    create_topics: {{ partitions: 1 }}
    batch: {{ max_events: 500, timeout: 50ms }}
",
            broker.address()
        ),
    );
    let child = netpipe()
        .args(["run", "--drain-timeout", "7s"])
        .arg(&file)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(2));
    broker.signal("STOP");
    std::thread::sleep(Duration::from_secs(1));
    signal(&child, "INT");
    let stopped = std::time::Instant::now();
    let output = wait_with_limit(child, Duration::from_secs(30));
    let waited = stopped.elapsed();
    broker.signal("CONT");
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert!(
        waited >= Duration::from_secs(7) && waited < Duration::from_secs(15),
        "ended {waited:?} after the signal"
    );
    assert!(
        stderr.contains("still draining after 5s: waiting for `kafka` ("),
        "{stderr}"
    );
    assert!(
        stderr.contains("the drain did not finish within 7s (--drain-timeout)"),
        "{stderr}"
    );
    let (sent, written) = {
        let source = summary_counts(&stderr, "demo");
        let sink = summary_counts(&stderr, "kafka");
        (source.1, sink.1)
    };
    assert!(written < sent, "some events were unwritten: {stderr}");
}

/// The sink's options end to end, as a user combines them: a payload field
/// as the key, no key, `{source}` in the topic, compressions, and Aruba
/// frames forwarded as received (`encoding: protobuf`) with their customer
/// header.
#[test]
fn keys_topics_compression_and_forwarded_frames_arrive_as_configured() {
    let broker = Broker::start();
    let sim = Simulator::start(&["--count", "3"]);
    let dir = tempfile::tempdir().unwrap();
    let file = pipeline(
        dir.path(),
        "kafka.yaml",
        &format!(
            "
sources:
  demo: {{ type: demo, count: 200, devices: 2, interfaces: 4 }}
  central:
    type: aruba_central
    url: {url}
    customers: [{{ name: A, key: sim-key, topics: [audit] }}]
sinks:
  by_field:
    type: kafka
    inputs: [demo]
    bootstrap_servers: {kafka}
    topic: \"f.{{source}}\"
    key: interface
    compression: lz4
    create_topics: {{ partitions: 1 }}
  unkeyed:
    type: kafka
    inputs: [demo]
    bootstrap_servers: {kafka}
    topic: \"n.{{stream}}\"
    key: none
    compression: snappy
    create_topics: {{ partitions: 1 }}
  raw:
    type: kafka
    inputs: [central]
    bootstrap_servers: {kafka}
    topic: \"raw.{{stream}}\"
    encoding: protobuf
    compression: gzip
    create_topics: {{ partitions: 1 }}
",
            url = sim.url(),
            kafka = broker.address()
        ),
    );
    let child = spawn_run(&file);
    let by_field = broker.consume("f.demo", 1, 200);
    let unkeyed = broker.consume("n.demo.interface", 1, 200);
    let raw = broker.consume("raw.aruba.audit", 1, 3);
    signal(&child, "INT");
    let output = wait_with_limit(child, Duration::from_secs(20));
    assert!(output.status.success(), "{}", text(&output.stderr));

    for r in &by_field {
        let payload: Value = serde_json::from_slice(&r.value).unwrap();
        assert_eq!(
            r.key.as_deref(),
            payload["interface"].as_str(),
            "keyed by the payload field"
        );
    }
    assert!(unkeyed.iter().all(|r| r.key.is_none()), "key: none");
    let decoder = netpipe_source_aruba::Decoder::new();
    for r in &raw {
        let frame = bytes::Bytes::from(r.value.clone());
        let envelope = decoder
            .decode_envelope(&frame, netpipe_source_aruba::Topic::Audit)
            .expect("the value is the frame Central sent");
        assert_eq!(r.header("customer_id"), Some(&*envelope.customer_id));
        assert_eq!(r.header("stream"), Some("aruba.audit"));
    }
}

/// Gaps and dead letters reach Kafka as Avro that the committed schemas
/// read: the gap's scope as a map, the dead letter's raw bytes whole.
#[test]
fn gaps_and_dead_letters_arrive_as_avro() {
    let broker = Broker::start();
    let sim = Simulator::start(&[
        "--count",
        "10",
        "--drop-every",
        "5",
        "--malformed-every",
        "4",
    ]);
    let dir = tempfile::tempdir().unwrap();
    let file = pipeline(
        dir.path(),
        "kafka.yaml",
        &format!(
            "
sources:
  central:
    type: aruba_central
    url: {}
    max_backoff: 200ms
    customers: [{{ name: A, key: sim-key, topic: audit }}]
sinks:
  kafka: {{ type: kafka, inputs: [central], bootstrap_servers: {}, encoding: avro, create_topics: {{ partitions: 1 }} }}
",
            sim.url(),
            broker.address()
        ),
    );
    let child = spawn_run(&file);
    // 10 frames, 2 of them malformed, over connections of 5: one reconnect.
    let dead = broker.consume("netpipe.dead_letter", 1, 2);
    let gaps = broker.consume("netpipe.gap", 1, 1);
    signal(&child, "INT");
    let output = wait_with_limit(child, Duration::from_secs(20));
    assert!(output.status.success(), "{}", text(&output.stderr));

    let dead_schema = schema("netpipe.dead_letter");
    for r in &dead {
        let letter =
            apache_avro::from_avro_datum(&dead_schema, &mut r.value.as_slice(), None).unwrap();
        assert_eq!(
            field(&letter, "raw"),
            &Avro::Bytes(b"\x12\x0amonitoring\x1a\xff\xff\xff\x0f\x01".to_vec())
        );
        assert_eq!(
            field(&letter, "origin"),
            &Avro::String("aruba.audit".into())
        );
    }
    let gap =
        apache_avro::from_avro_datum(&schema("netpipe.gap"), &mut gaps[0].value.as_slice(), None)
            .unwrap();
    let Avro::Map(scope) = field(&gap, "scope") else {
        panic!("the scope is not a map: {gap:?}")
    };
    assert_eq!(scope["customer"], Avro::String("A".into()));
    assert_eq!(scope["topic"], Avro::String("audit".into()));
}
