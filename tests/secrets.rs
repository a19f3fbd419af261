//! Secrets never show: every key, token and password option of every
//! component, with errors forced and logging at its most verbose, is absent
//! from stdout, stderr, `/metrics` and the checked config's `Debug` output.

mod support;

use std::time::Duration;

use support::simulator::Simulator;
use support::watch::Watched;
use support::*;

const SECRETS: [&str; 9] = [
    "sim-key",
    "wrong-secret-key",
    "sim-password",
    "kafka-pass-123",
    "oauth-tok-456",
    "nso-pass-789",
    "bridge-tok-321",
    "wrong-bridge-tok",
    "cv-tok-654",
];

fn assert_hidden(what: &str, text: &str) {
    for secret in SECRETS {
        assert!(!text.contains(secret), "`{secret}` in {what}:\n{text}");
    }
}

#[test]
fn no_secret_shows_in_output_logs_metrics_or_debug() {
    let aruba = Simulator::start(&["--count", "3"]);
    let pf = Simulator::packetfabric(&["--count", "3"]);
    let nso = Simulator::nso(&["--count", "3"]);
    let cv = Simulator::cloudvision(&[]);
    let dir = tempfile::tempdir().unwrap();
    let metrics_port = netpipe_testkit::free_port().unwrap();
    let bridge_port = netpipe_testkit::free_port().unwrap();
    let yaml = format!(
        "
sources:
  central:
    type: aruba_central
    url: {}
    auth_retry: 200ms
    customers:
      - {{ name: Good, key: sim-key, topics: [audit] }}
      - {{ name: Bad, key: wrong-secret-key, topic: audit }}
  pf:
    type: packetfabric
    base_url: {}
    login: sim-user
    password: sim-password
    streams: [{{ type: port }}]
  nso:
    type: nso
    url: {}
    username: admin
    password: nso-pass-789
    auth_retry: 200ms
  bridge:
    type: nso_bridge
    listen: 127.0.0.1:{bridge_port}
    token: bridge-tok-321
  cv:
    type: cloudvision
    url: {}
    token: cv-tok-654
    auth_retry: 200ms
    resources: [{{ model: arista.event.v1.Event }}]
sinks:
  out: {{ type: stdout, inputs: [central, pf, nso, bridge, cv] }}
metrics: {{ address: 127.0.0.1:{metrics_port} }}
",
        aruba.url(),
        pf.base_url(),
        nso.base_url(),
        cv.base_url(),
    );
    let file = pipeline(dir.path(), "secrets.yaml", &yaml);

    let registry = netpipe::components::registry();
    let checked = netpipe_core::config::parse("secrets.yaml", &yaml, &registry, &|_| None).unwrap();
    assert_hidden("the config's Debug", &format!("{checked:?}"));

    // Read as it comes: trace-level logs fill a pipe nobody empties, and
    // a writer blocked on it stalls the run.
    let run = Watched::spawn(netpipe().args(["--log-level", "trace", "run"]).arg(&file));
    // Until the bad key has been refused twice and events flowed.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while aruba.stats()["frames"].as_u64().unwrap_or(0) < 3
        || pf.stats()["events"].as_u64().unwrap_or(0) < 1
    {
        assert!(std::time::Instant::now() < deadline, "no events flowed");
        std::thread::sleep(Duration::from_millis(50));
    }
    // NSO refuses the password twice, CloudVision the token; a bridge presents a wrong token.
    while cv.stats()["refused"].as_u64().unwrap_or(0) < 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "CloudVision was not asked twice"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    while nso.stats()["refused"].as_u64().unwrap_or(0) < 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "NSO was not asked twice"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut bridge = std::net::TcpStream::connect(("127.0.0.1", bridge_port)).unwrap();
    std::io::Write::write_all(
        &mut bridge,
        b"{\"hello\": {\"bridge\": \"nso_bridge\", \"token\": \"wrong-bridge-tok\"}}\n",
    )
    .unwrap();
    let mut refusal = String::new();
    let _ = std::io::Read::read_to_string(&mut bridge, &mut refusal);
    assert_hidden("the bridge's refusal", &refusal);
    std::thread::sleep(Duration::from_millis(500));
    let page = metrics(metrics_port);
    assert!(page.contains("netpipe_errors_total"), "{page}");
    assert_hidden("/metrics", &page);
    let (status, stdout, stderr) = run.stop();
    assert!(status.success(), "{stderr}");
    assert!(stderr.contains("customer `Bad` was rejected"), "{stderr}");
    assert!(stderr.contains("401"), "NSO's refusal is logged: {stderr}");
    assert!(
        stderr.contains("refused the token"),
        "CloudVision's refusal is logged: {stderr}"
    );
    assert!(
        stderr.contains("token is not the one configured"),
        "{stderr}"
    );
    assert!(stderr.contains("TRACE"), "not at trace level: {stderr}");
    assert_hidden("stdout", &stdout.join("\n"));
    assert_hidden("stderr", &stderr);
}

#[test]
fn kafka_secrets_stay_hidden_when_the_broker_cannot_be_reached() {
    let dir = tempfile::tempdir().unwrap();
    let port = netpipe_testkit::free_port().unwrap();
    let yaml = format!(
        "
sources:
  demo: {{ type: demo, count: 10 }}
sinks:
  kafka:
    type: kafka
    inputs: [demo]
    bootstrap_servers: 127.0.0.1:{port}
    connect_timeout: 1s
    librdkafka:
      security.protocol: SASL_PLAINTEXT
      sasl.mechanisms: PLAIN
      sasl.username: netpipe
      sasl.password: kafka-pass-123
      sasl.oauthbearer.config: \"principal=x token=oauth-tok-456\"
"
    );
    let file = pipeline(dir.path(), "kafka.yaml", &yaml);
    let registry = netpipe::components::registry();
    let checked = netpipe_core::config::parse("kafka.yaml", &yaml, &registry, &|_| None).unwrap();
    assert_hidden("the config's Debug", &format!("{checked:?}"));
    let output = netpipe()
        .args(["--log-level", "trace", "run"])
        .arg(&file)
        .output()
        .unwrap();
    let stderr = text(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(stderr.contains("cannot reach Kafka"), "{stderr}");
    assert_hidden("stderr", &stderr);
}
