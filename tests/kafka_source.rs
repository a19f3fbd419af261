//! Out of Kafka: what netpipe's kafka sink wrote to a real broker (tansu),
//! read back by the kafka source in a consumer group, as a lake writer does.

mod support;

use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use support::broker::Broker;
use support::lake::{assert_same_events, essence};
use support::watch::Watched;
use support::*;

/// `count` demo events into topic `demo.interface` (`partitions` of it),
/// and to stdout: the events as they went in.
fn demo_into_kafka(
    dir: &std::path::Path,
    broker: &Broker,
    count: u64,
    partitions: u32,
) -> Vec<serde_json::Value> {
    let file = pipeline(
        dir,
        "into.yaml",
        &format!(
            "
sources:
  demo: {{ type: demo, count: {count}, devices: 12 }}
sinks:
  kafka: {{ type: kafka, inputs: [demo], bootstrap_servers: {}, create_topics: {{ partitions: {partitions} }} }}
  out: {{ type: stdout, inputs: [demo] }}
",
            broker.address()
        ),
    );
    let output = run(&file);
    assert!(output.status.success(), "{}", text(&output.stderr));
    json_lines(&output)
}

/// A pipeline reading `topics` in group `group` into `sinks` (`SOURCE`
/// names the source in them).
fn reader(
    dir: &std::path::Path,
    name: &str,
    broker: &Broker,
    options: &str,
    sinks: &str,
) -> std::path::PathBuf {
    pipeline(
        dir,
        name,
        &format!(
            "
sources:
  lake_in: {{ type: kafka, bootstrap_servers: {}, commit_interval: 200ms, {options} }}
sinks:
{sinks}",
            broker.address()
        ),
    )
}

const TO_STDOUT: &str = "  out: { type: stdout, inputs: [lake_in] }\n";

/// Every JSON line of `lines`.
fn events(lines: &[String]) -> Vec<serde_json::Value> {
    lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

#[test]
fn a_group_reads_what_the_kafka_sink_wrote_and_commits_it() {
    let broker = Broker::start();
    let dir = tempfile::tempdir().unwrap();
    let written = demo_into_kafka(dir.path(), &broker, 600, 3);
    let file = reader(
        dir.path(),
        "read.yaml",
        &broker,
        "topics: [demo.interface], group_id: lake",
        TO_STDOUT,
    );
    let run = Watched::run(&file);
    run.wait_for("600 events", Duration::from_secs(60), |out, _| {
        out.len() >= 600
    });
    // Committed within 200 ms; the lag is read once a second.
    std::thread::sleep(Duration::from_millis(2500));
    let (status, lines, stderr) = run.stop();
    assert!(status.success(), "{stderr}");
    // Each once, as it went in: stream, key, event time and payload.
    assert_same_events(&essence(&events(&lines)), &essence(&written));
    let read = events(&lines);
    assert!(
        read.iter().all(|e| e["source"] == "demo"),
        "the source header is honoured"
    );
    assert!(
        stderr.contains("lake_in lag: demo.interface/0=0 demo.interface/1=0 demo.interface/2=0"),
        "every partition read and committed:\n{stderr}"
    );
    // The same group again: its offsets were committed, nothing is left.
    let again = Watched::run(&file);
    again.wait_for("partitions assigned", Duration::from_secs(30), |_, err| {
        watch::count(err, "partitions assigned") > 0
    });
    std::thread::sleep(Duration::from_secs(2));
    let (status, lines, stderr) = again.stop();
    assert!(status.success(), "{stderr}");
    assert!(
        lines.is_empty(),
        "read again: {} events\n{stderr}",
        lines.len()
    );
}

/// Creates `topic` with `partitions` and writes `values` to partition 0.
fn produce(broker: &Broker, topic: &str, partitions: i32, values: &[&str]) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", broker.address())
        .create()
        .unwrap();
    let new = NewTopic::new(topic, partitions, TopicReplication::Fixed(1));
    let created = runtime
        .block_on(admin.create_topics(&[new], &AdminOptions::new()))
        .unwrap();
    assert!(created.iter().all(Result::is_ok), "{created:?}");
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", broker.address())
        .create()
        .unwrap();
    for value in values {
        producer
            .send(BaseRecord::<(), str>::to(topic).payload(value).partition(0))
            .unwrap();
    }
    producer.flush(Duration::from_secs(10)).unwrap();
}

/// A message that does not read is a dead letter naming its topic,
/// partition and offset; the messages after it in its partition go on.
#[test]
fn a_message_that_does_not_read_is_a_dead_letter_and_its_partition_goes_on() {
    let broker = Broker::start();
    produce(
        &broker,
        "junk",
        1,
        &[r#"{"n": 1}"#, "not json", r#"{"n": 3}"#],
    );
    let dir = tempfile::tempdir().unwrap();
    let file = reader(
        dir.path(),
        "read.yaml",
        &broker,
        "topics: [junk], group_id: g",
        TO_STDOUT,
    );
    let run = Watched::run(&file);
    run.wait_for("3 events", Duration::from_secs(60), |out, _| {
        out.len() >= 3
    });
    let (status, lines, stderr) = run.stop();
    assert!(status.success(), "{stderr}");
    let read = events(&lines);
    let streams: Vec<&str> = read.iter().map(|e| e["stream"].as_str().unwrap()).collect();
    assert_eq!(
        streams,
        ["junk", "netpipe.dead_letter", "junk"],
        "{lines:?}"
    );
    assert_eq!(read[1]["payload"]["origin"], "junk/0@1");
    assert!(
        read[1]["payload"]["error"]
            .as_str()
            .unwrap()
            .contains("not JSON")
    );
    assert_eq!(read[2]["payload"]["n"], 3);
    assert_eq!(summary_counts(&stderr, "lake_in").0, 3, "{stderr}");
    assert!(
        stderr
            .lines()
            .any(|l| l.starts_with("lake_in ") && l.split_whitespace().nth(7) == Some("1")),
        "one dead letter:\n{stderr}"
    );
}
