//! The Kafka-source scenarios: a topic of four partitions filled with demo
//! events by netpipe's kafka sink once, by the parent, then read by the
//! kafka source into a blackhole or a Parquet lake, beside a plain rdkafka
//! consumer reading the same messages (and, for Parquet, writing the same
//! Arrow batches with the parquet crate). Each side reads it in a consumer
//! group of its own; its peak memory is its own, not the filling's.

use rdkafka::consumer::{BaseConsumer, Consumer as _};
use rdkafka::message::Message as _;

use super::*;

/// Messages each Kafka-source side reads.
const CONSUMED: u64 = 200_000;

/// A new topic of four partitions holding the demo events every side
/// reads, as JSON, written by netpipe's kafka sink: for the parent to make
/// once and pass on in `NETPIPE_BENCH_TOPIC`.
pub fn fill_topic(broker: &str) -> anyhow::Result<String> {
    let count = CONSUMED;
    let topic = unique("bench-consume");
    let yaml = format!(
        "sources:\n  demo: {{ type: demo, count: {count}, devices: 64 }}\nsinks:\n  sink: {{ type: kafka, inputs: [demo], bootstrap_servers: \"{}\", topic: \"{topic}\", create_topics: {{ partitions: 4 }} }}\n",
        broker
    );
    run_pipeline(&yaml, "sink", count, 2)?;
    Ok(topic)
}

fn filled_topic() -> anyhow::Result<String> {
    std::env::var("NETPIPE_BENCH_TOPIC").context("NETPIPE_BENCH_TOPIC is not set")
}

/// The kafka source reading `topic` in group `group`.
fn kafka_source(topic: &str, group: &str) -> anyhow::Result<String> {
    Ok(format!(
        "  lake_in: {{ type: kafka, bootstrap_servers: \"{}\", topics: [\"{topic}\"], group_id: \"{group}\" }}\n",
        broker()?
    ))
}

pub(super) fn blackhole_netpipe() -> anyhow::Result<f64> {
    let topic = filled_topic()?;
    let yaml = format!(
        "sources:\n{}sinks:\n  sink: {{ type: blackhole, inputs: [lake_in], {ENDLESS_BATCH} }}\n",
        kafka_source(&topic, &unique("bench-group"))?
    );
    Ok(CONSUMED as f64 / run_pipeline(&yaml, "sink", CONSUMED, 2)?.as_secs_f64())
}

/// Reads `count` messages of `topic` from the start with a plain consumer
/// configured as the source's is (assignment, prefetch bound), subscribing
/// first as the source does, handing each value to `take`.
fn consume_raw(topic: &str, count: u64, mut take: impl FnMut(&[u8])) -> anyhow::Result<()> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", broker()?)
        .set("group.id", unique("bench-raw-group"))
        .set("enable.auto.commit", "false")
        .set("auto.offset.reset", "earliest")
        .set("partition.assignment.strategy", "cooperative-sticky")
        .set("queued.max.messages.kbytes", "16384")
        .create()?;
    let start = Instant::now();
    consumer.subscribe(&[topic])?;
    let mut read = 0;
    while read < count {
        if let Some(message) = consumer.poll(Duration::from_millis(100)) {
            take(message?.payload().unwrap_or_default());
            read += 1;
        }
        anyhow::ensure!(
            start.elapsed() < Duration::from_secs(300),
            "read {read} of {count}"
        );
    }
    Ok(())
}

pub(super) fn blackhole_baseline() -> anyhow::Result<f64> {
    let topic = filled_topic()?;
    let mut bytes = 0usize;
    let start = Instant::now();
    consume_raw(&topic, CONSUMED, |value| bytes += value.len())?;
    std::hint::black_box(bytes);
    Ok(CONSUMED as f64 / start.elapsed().as_secs_f64())
}

/// A lake writer of `topic` into `lake`, in group `group`.
fn lake_writer(topic: &str, group: &str, lake: &std::path::Path) -> anyhow::Result<String> {
    Ok(format!(
        "sources:\n{}sinks:\n  sink: {{ type: parquet, inputs: [lake_in], path: \"{}\", {ENDLESS_BATCH} }}\n",
        kafka_source(topic, group)?,
        lake.display()
    ))
}

pub(super) fn parquet_netpipe() -> anyhow::Result<f64> {
    let topic = filled_topic()?;
    let dir = tempfile::tempdir()?;
    let yaml = lake_writer(&topic, &unique("bench-group"), dir.path())?;
    Ok(CONSUMED as f64 / run_pipeline(&yaml, "sink", CONSUMED, 2)?.as_secs_f64())
}

/// Two lake writers in one group share the partitions and one lake.
pub(super) fn two_writers() -> anyhow::Result<f64> {
    let topic = filled_topic()?;
    let dir = tempfile::tempdir()?;
    let group = unique("bench-group");
    let yaml = lake_writer(&topic, &group, dir.path())?;
    let time = run_pipelines(&[&yaml, &yaml], "sink", CONSUMED, 2)?;
    Ok(CONSUMED as f64 / time.as_secs_f64())
}

/// The plain consumer reads the messages and, every 10,000, writes one of
/// the Arrow batches the sink would build for them (made before the clock)
/// with the parquet crate, as the sink is configured.
pub(super) fn parquet_baseline() -> anyhow::Result<f64> {
    use parquet::arrow::ArrowWriter;
    use parquet::basic::{Compression, ZstdLevel};
    use parquet::file::properties::WriterProperties;
    let topic = filled_topic()?;
    let (schema, batches) = lake::demo_batches(CONSUMED)?;
    let dir = tempfile::tempdir()?;
    let start = Instant::now();
    let properties = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::default()))
        .set_max_row_group_row_count(Some(65_536))
        .build();
    let file = std::fs::File::create(dir.path().join("baseline.parquet"))?;
    let mut writer = ArrowWriter::try_new(file, schema, Some(properties))?;
    let mut next = batches.iter();
    let mut read = 0usize;
    let mut failed = None;
    let consumed = consume_raw(&topic, CONSUMED, |_| {
        read += 1;
        if read.is_multiple_of(lake::BATCH_ROWS)
            && let Some(batch) = next.next()
            && let Err(e) = writer.write(batch)
        {
            failed = Some(e);
        }
    });
    consumed?;
    if let Some(e) = failed {
        return Err(e.into());
    }
    for batch in next {
        writer.write(batch)?;
    }
    writer.into_inner()?.sync_all()?;
    Ok(CONSUMED as f64 / start.elapsed().as_secs_f64())
}
