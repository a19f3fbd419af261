//! Out of Kafka: what netpipe's kafka sink wrote to a real broker (tansu),
//! read back by the kafka source in a consumer group.

mod support;

use std::time::Duration;

use support::broker::Broker;
use support::kafka::*;
use support::lake::{assert_same_events, essence};
use support::watch::Watched;
use support::*;

#[test]
fn a_group_reads_what_the_kafka_sink_wrote_and_commits_it() {
    let broker = Broker::start();
    let dir = tempfile::tempdir().unwrap();
    let written = demo_into_kafka(dir.path(), &broker, 600, 3);
    let file = reader(
        dir.path(),
        "read.yaml",
        &broker,
        "topics: [demo.interface], group_id: lake, commit_interval: 200ms",
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
        "topics: [junk], group_id: g, commit_interval: 200ms",
        TO_STDOUT,
    );
    let run = Watched::run(&file);
    run.wait_for("3 events", Duration::from_secs(60), |out, _| out.len() >= 3);
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

/// Demo events into `topic` as Avro by the kafka sink, with `options`
/// (a schema registry), read back by the kafka source with the same
/// options: the events come back as they went in.
fn avro_round_trip(broker: &Broker, topic: &str, options: &str) {
    let dir = tempfile::tempdir().unwrap();
    let into = pipeline(
        dir.path(),
        "into.yaml",
        &format!(
            "
sources:
  demo: {{ type: demo, count: 200, devices: 4 }}
sinks:
  kafka: {{ type: kafka, inputs: [demo], bootstrap_servers: {}, topic: {topic}, encoding: avro, create_topics: {{ partitions: 2 }}{options} }}
  out: {{ type: stdout, inputs: [demo] }}
",
            broker.address()
        ),
    );
    let output = run(&into);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let written = json_lines(&output);
    let file = reader(
        dir.path(),
        "read.yaml",
        broker,
        &format!("topics: [{topic}], group_id: g, encoding: avro{options}"),
        TO_STDOUT,
    );
    let run = Watched::run(&file);
    run.wait_for("200 events", Duration::from_secs(60), |out, _| {
        out.len() >= 200
    });
    let (status, lines, stderr) = run.stop();
    assert!(status.success(), "{stderr}");
    assert_same_events(&essence(&events(&lines)), &essence(&written));
}

/// Avro written by the kafka sink reads back with the stream's schema.
#[test]
fn avro_values_read_back_as_the_events_written() {
    avro_round_trip(&Broker::start(), "demo.avro", "");
}

/// Avro in Confluent framing, as the kafka sink writes it with a schema
/// registry, reads back with the schema the registry has under its id,
/// fetched once.
#[test]
fn framed_avro_reads_back_with_the_schema_the_registry_gives() {
    let (registry, requests) = support::registry::registry_double();
    let options = format!(", schema_registry: {{ url: {registry} }}");
    avro_round_trip(&Broker::start(), "demo.framed", &options);
    let asked: Vec<String> = requests
        .try_iter()
        .map(|r| r.lines().next().unwrap_or("").to_string())
        .collect();
    assert_eq!(
        asked
            .iter()
            .filter(|r| r.starts_with("GET /schemas/ids/42"))
            .count(),
        1,
        "the schema is fetched once: {asked:?}"
    );
}
