//! The scenarios that are not rates: receive-to-Kafka latency at a steady
//! rate, and memory while the broker is frozen.

use super::*;

const LATENCY_RATE: f64 = 2_000.0;
const LATENCY_MESSAGES: u64 = 10_000;
/// The batch timeout of the latency scenario's Kafka sink.
pub const LATENCY_TIMEOUT_MS: f64 = 100.0;

/// Receive → broker latency at a steady rate (about half the Kafka
/// scenario's maximum): for each message, the time from netpipe receiving
/// its frame (the `receive_time` header) to a consumer reading it.
pub fn latency() -> anyhow::Result<serde_json::Value> {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    use rdkafka::message::{Headers, Message as _};
    let address = simulator(LATENCY_MESSAGES, Some(LATENCY_RATE), false)?;
    let topic = unique("bench-latency");
    let sink = kafka_sink(&broker()?, &topic, "protobuf").replace("SOURCE", "central").replace(
        "create_topics: { partitions: 1 } }",
        &format!("create_topics: {{ partitions: 1 }}, batch: {{ timeout: {LATENCY_TIMEOUT_MS}ms }} }}"),
    );
    let yaml = format!("sources:\n{}sinks:\n{sink}", aruba_source(address));
    let pipeline = std::thread::spawn(move || run_pipeline(&yaml, "sink", LATENCY_MESSAGES, 2));
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", broker()?)
        .set("group.id", "netpipe-bench")
        .set("enable.auto.commit", "false")
        .set("fetch.wait.max.ms", "5")
        .create()?;
    let mut assignment = rdkafka::TopicPartitionList::new();
    assignment.add_partition_offset(&topic, 0, rdkafka::Offset::Beginning)?;
    consumer.assign(&assignment)?;
    // (receive time, latency) of each message read.
    let mut latencies = Vec::with_capacity(LATENCY_MESSAGES as usize);
    let mut first_read = None;
    let deadline = Instant::now() + Duration::from_secs(120);
    while (latencies.len() as u64) < LATENCY_MESSAGES && Instant::now() < deadline {
        let Some(Ok(message)) = consumer.poll(Duration::from_millis(50)) else {
            continue;
        };
        let now = Timestamp::now();
        let received = message
            .headers()
            .and_then(|h| {
                h.iter()
                    .find(|h| h.key == "receive_time")
                    .and_then(|h| h.value)
            })
            .and_then(|v| std::str::from_utf8(v).ok())
            .and_then(Timestamp::parse_rfc3339)
            .context("a message without a receive_time header")?;
        first_read.get_or_insert(now);
        latencies.push((
            received,
            (now.as_nanos() - received.as_nanos()) as f64 / 1e6,
        ));
    }
    pipeline
        .join()
        .map_err(|_| anyhow::anyhow!("pipeline thread panicked"))??;
    anyhow::ensure!(
        latencies.len() as u64 == LATENCY_MESSAGES,
        "read {} messages",
        latencies.len()
    );
    // Steady state only: messages netpipe received from one second after
    // the consumer's first read. Before that they wait for the topic to be
    // created and the consumer to start, which is not netpipe's latency.
    let steady_from = first_read.map_or(0, |t| t.as_nanos()) + 1_000_000_000;
    let mut latencies: Vec<f64> = latencies
        .into_iter()
        .filter(|(received, _)| received.as_nanos() >= steady_from)
        .map(|(_, latency)| latency)
        .collect();
    anyhow::ensure!(
        !latencies.is_empty(),
        "no message was received in steady state"
    );
    latencies.sort_by(f64::total_cmp);
    let at = |q: f64| latencies[((latencies.len() - 1) as f64 * q) as usize];
    Ok(serde_json::json!({ "p50_ms": at(0.5), "p99_ms": at(0.99) }))
}

const FROZEN_RATE: f64 = 1_000.0;
const FROZEN_MESSAGES: u64 = 30_000;

/// The Kafka scenario with the broker frozen (SIGSTOP) for 20 s: resident
/// memory while frozen against its steady value, and whether every message
/// arrives after SIGCONT.
pub fn frozen() -> anyhow::Result<serde_json::Value> {
    let pid =
        std::env::var("NETPIPE_BENCH_BROKER_PID").context("NETPIPE_BENCH_BROKER_PID is not set")?;
    let signal = |name: &str| {
        Command::new("kill")
            .arg(format!("-{name}"))
            .arg(&pid)
            .status()
    };
    let address = simulator(FROZEN_MESSAGES, Some(FROZEN_RATE), false)?;
    let sink =
        kafka_sink(&broker()?, &unique("bench-frozen"), "protobuf").replace("SOURCE", "central");
    let yaml = format!("sources:\n{}sinks:\n{sink}", aruba_source(address));
    let pipeline = std::thread::spawn(move || run_pipeline(&yaml, "sink", FROZEN_MESSAGES, 2));
    std::thread::sleep(Duration::from_secs(4));
    let steady = rss_kib();
    signal("STOP")?;
    let mut peak = steady;
    for _ in 0..40 {
        std::thread::sleep(Duration::from_millis(500));
        peak = peak.max(rss_kib());
    }
    signal("CONT")?;
    let arrived = pipeline
        .join()
        .map_err(|_| anyhow::anyhow!("pipeline thread panicked"))?
        .is_ok();
    Ok(serde_json::json!({ "steady_kib": steady, "peak_kib": peak, "arrived": arrived }))
}
