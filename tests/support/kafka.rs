//! Kafka fixtures of the kafka-source stories: demo events into a topic,
//! reader pipelines in a consumer group, messages produced directly.

use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};

use super::broker::Broker;
use super::{json_lines, pipeline, run, text};

/// `count` demo events into topic `demo.interface` (`partitions` of it),
/// and to stdout: the events as they went in.
pub fn demo_into_kafka(
    dir: &std::path::Path,
    broker: &Broker,
    count: u64,
    partitions: u32,
) -> Vec<serde_json::Value> {
    demo_into_kafka_with(dir, broker, count, partitions, "")
}

/// As [`demo_into_kafka`], the kafka sink with `options` too.
pub fn demo_into_kafka_with(
    dir: &std::path::Path,
    broker: &Broker,
    count: u64,
    partitions: u32,
    options: &str,
) -> Vec<serde_json::Value> {
    let file = pipeline(
        dir,
        "into.yaml",
        &format!(
            "
sources:
  demo: {{ type: demo, count: {count}, devices: 12 }}
sinks:
  kafka: {{ type: kafka, inputs: [demo], bootstrap_servers: {}, create_topics: {{ partitions: {partitions} }}{options} }}
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
pub fn reader(
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
  lake_in: {{ type: kafka, bootstrap_servers: {}, {options} }}
sinks:
{sinks}",
            broker.address()
        ),
    )
}

pub const TO_STDOUT: &str = "  out: { type: stdout, inputs: [lake_in] }\n";

/// Every JSON line of `lines`.
pub fn events(lines: &[String]) -> Vec<serde_json::Value> {
    lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

/// Creates `topic` with `partitions` and writes `values` to partition 0.
pub fn produce(broker: &Broker, topic: &str, partitions: i32, values: &[&str]) {
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
