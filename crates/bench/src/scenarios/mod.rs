//! The scenarios, each with a netpipe side and a baseline side. Every side
//! handles a fixed number of events and returns its rate.

mod cloudvision;
mod consume;
mod lake;
mod latency;
mod nso;
mod serve;
mod websocket;

use serve::serve_on_a_thread;

pub use consume::fill_topic;
pub use latency::{LATENCY_TIMEOUT_MS, frozen, latency};
use websocket::*;
pub use websocket::{feeder_frames, websocket_stdout};

use std::net::SocketAddr;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use bytes::Bytes;
use futures::StreamExt;
use netpipe_core::config::parse;
use netpipe_core::metrics::{ComponentKind, Metrics};
use netpipe_core::{Event, Timestamp, json, topology};
use netpipe_sink_stdout::Lines;
use netpipe_source_aruba::Topic;
use netpipe_source_aruba::decode::Decoder;
use netpipe_source_aruba::events::EventBuilder;
use netpipe_source_aruba::simulator::{SimulatorConfig, Stats, mixed_frames, sample_frames, serve};
use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::message::OwnedHeaders;
use rdkafka::producer::{FutureProducer, FutureRecord};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_util::sync::CancellationToken;

pub enum Baseline {
    /// A fixed goal instead of a measured baseline.
    Goal(f64),
    /// The vendor sample's Python, on dense frames or on the feeder's mix of sizes.
    Python { mixed: bool },
    /// The scenario's own baseline side.
    Side,
}

pub struct Scenario {
    pub name: &'static str,
    pub title: &'static str,
    pub unit: &'static str,
    pub baseline: Baseline,
    pub baseline_name: &'static str,
    pub goal: f64,
    /// The mean size of the messages it reads, for MB/s in.
    pub message_bytes: Option<fn() -> f64>,
}

pub const ALL: [Scenario; 22] = [
    Scenario {
        name: "core",
        title: "core: demo → batching → blackhole, 1 core",
        unit: "events/s",
        baseline: Baseline::Goal(5e6),
        baseline_name: "",
        goal: 1.0,
        message_bytes: None,
    },
    Scenario {
        name: "decode_blackhole",
        title: "Aruba monitoring frames → events → blackhole (checked whole, keyed, timed; payloads stay encoded), 1 core",
        unit: "msg/s",
        baseline: Baseline::Python { mixed: false },
        baseline_name: "vendor sample: ParseFromString + MessageToDict + json.dumps",
        goal: 100.0,
        message_bytes: None,
    },
    Scenario {
        name: "decode",
        title: "Aruba monitoring frames → decode → JSON (every sink writes JSON: rendered on arrival, one pass), 1 core",
        unit: "msg/s",
        baseline: Baseline::Python { mixed: false },
        baseline_name: "vendor sample: ParseFromString + MessageToDict + json.dumps",
        goal: 100.0,
        message_bytes: None,
    },
    Scenario {
        name: "decode_transcode",
        title: "Aruba monitoring frames → decode → JSON (another sink reads records: checked on arrival, transcoded by the sink), 1 core",
        unit: "msg/s",
        baseline: Baseline::Python { mixed: false },
        baseline_name: "vendor sample: ParseFromString + MessageToDict + json.dumps",
        goal: 100.0,
        message_bytes: None,
    },
    Scenario {
        name: "decode_records",
        title: "Aruba monitoring frames → decode → typed records (what Parquet and Avro read), 1 core",
        unit: "msg/s",
        baseline: Baseline::Python { mixed: false },
        baseline_name: "vendor sample: ParseFromString + MessageToDict + json.dumps",
        goal: 100.0,
        message_bytes: None,
    },
    Scenario {
        name: "websocket",
        title: "feeder (dense frames) → WebSocket → netpipe → blackhole",
        unit: "msg/s",
        baseline: Baseline::Side,
        baseline_name: "tokio-tungstenite client that only receives",
        goal: 0.7,
        message_bytes: Some(dense_frame_bytes),
    },
    Scenario {
        name: "websocket_mixed",
        title: "feeder (frames in a mix of sizes) → WebSocket → netpipe → blackhole",
        unit: "msg/s",
        baseline: Baseline::Side,
        baseline_name: "tokio-tungstenite client that only receives",
        goal: 0.7,
        message_bytes: Some(mixed_frame_bytes),
    },
    Scenario {
        name: "websocket_stdout",
        title: "feeder (dense frames) → WebSocket → netpipe → stdout, piped to a process counting its lines",
        unit: "msg/s",
        baseline: Baseline::Python { mixed: false },
        baseline_name: "vendor sample: ParseFromString + MessageToDict + json.dumps, on the same frames",
        goal: 100.0,
        message_bytes: Some(dense_frame_bytes),
    },
    Scenario {
        name: "websocket_stdout_mixed",
        title: "feeder (frames in a mix of sizes) → WebSocket → netpipe → stdout, piped to a process counting its lines",
        unit: "msg/s",
        baseline: Baseline::Python { mixed: true },
        baseline_name: "vendor sample: ParseFromString + MessageToDict + json.dumps, on the same frames",
        goal: 100.0,
        message_bytes: Some(mixed_frame_bytes),
    },
    Scenario {
        name: "nso",
        title: "NSO simulator (ncs-alarms, made before the clock) → RESTCONF SSE → netpipe nso → blackhole",
        unit: "msg/s",
        baseline: Baseline::Side,
        baseline_name: "Python client: requests + json on the same stream",
        goal: 20.0,
        message_bytes: None,
    },
    Scenario {
        name: "cloudvision",
        title: "CloudVision simulator (events encoded before the clock) → gRPC → netpipe cloudvision → blackhole",
        unit: "msg/s",
        baseline: Baseline::Side,
        baseline_name: "Python client: grpcio + MessageToDict + json.dumps on the same stream",
        goal: 20.0,
        message_bytes: None,
    },
    Scenario {
        name: "kafka",
        title: "feeder (dense frames) → netpipe → Kafka (tansu)",
        unit: "msg/s",
        baseline: Baseline::Side,
        baseline_name: "raw rdkafka producer, the same messages (payload, key, headers) pre-built",
        goal: 0.8,
        message_bytes: Some(dense_frame_bytes),
    },
    Scenario {
        name: "kafka_mixed",
        title: "feeder (frames in a mix of sizes) → netpipe → Kafka (tansu)",
        unit: "msg/s",
        baseline: Baseline::Side,
        baseline_name: "raw rdkafka producer, the same messages (payload, key, headers) pre-built",
        goal: 0.8,
        message_bytes: Some(mixed_frame_bytes),
    },
    Scenario {
        name: "parquet",
        title: "feeder (dense frames) → netpipe → Parquet",
        unit: "msg/s",
        baseline: Baseline::Side,
        baseline_name: "the same Arrow batches written with the parquet crate",
        goal: 0.7,
        message_bytes: Some(dense_frame_bytes),
    },
    Scenario {
        name: "parquet_mixed",
        title: "feeder (frames in a mix of sizes) → netpipe → Parquet",
        unit: "msg/s",
        baseline: Baseline::Side,
        baseline_name: "the same Arrow batches written with the parquet crate",
        goal: 0.7,
        message_bytes: Some(mixed_frame_bytes),
    },
    Scenario {
        name: "parquet_rows",
        title: "demo → netpipe → Parquet (the sink alone: events → Arrow → files)",
        unit: "rows/s",
        baseline: Baseline::Side,
        baseline_name: "the same Arrow batches written with the parquet crate",
        goal: 0.7,
        message_bytes: None,
    },
    Scenario {
        name: "parquet_s3",
        title: "demo → netpipe → Parquet in S3 (moto on loopback: staged, uploaded on commit)",
        unit: "rows/s",
        baseline: Baseline::Side,
        baseline_name: "the same Arrow batches written with the parquet crate, uploaded with object_store",
        goal: 0.7,
        message_bytes: None,
    },
    Scenario {
        name: "kafka_source",
        title: "Kafka (4 partitions, JSON) → netpipe kafka source → blackhole",
        unit: "msg/s",
        baseline: Baseline::Side,
        baseline_name: "rdkafka consumer reading the same messages",
        goal: 0.8,
        message_bytes: None,
    },
    Scenario {
        name: "kafka_parquet",
        title: "Kafka (4 partitions, JSON) → netpipe kafka source → Parquet (exactly once)",
        unit: "rows/s",
        baseline: Baseline::Side,
        baseline_name: "rdkafka consumer, the parquet crate writing the same Arrow batches",
        goal: 0.7,
        message_bytes: None,
    },
    Scenario {
        name: "kafka_parquet_two",
        title: "Kafka (4 partitions) → two lake writers in one group → one Parquet lake",
        unit: "rows/s",
        baseline: Baseline::Side,
        baseline_name: "one lake writer, the same messages",
        goal: 1.0,
        message_bytes: None,
    },
    Scenario {
        name: "replay",
        title: "replay Parquet → blackhole",
        unit: "events/s",
        baseline: Baseline::Side,
        baseline_name: "plain parquet read of the same files",
        goal: 0.8,
        message_bytes: None,
    },
    Scenario {
        name: "replay_kafka",
        title: "replay Parquet → Kafka (tansu)",
        unit: "events/s",
        baseline: Baseline::Side,
        baseline_name: "raw rdkafka producer, the same messages (JSON payload, key, headers) pre-built",
        goal: 0.8,
        message_bytes: None,
    },
];

pub fn human(rate: f64, unit: &str) -> String {
    match rate {
        r if r >= 1e6 => format!("{:.2} M {unit}", r / 1e6),
        r if r >= 1e3 => format!("{:.1} k {unit}", r / 1e3),
        r => format!("{r:.1} {unit}"),
    }
}

const WS_MESSAGES: u64 = 200_000;
const KAFKA_MESSAGES: u64 = 50_000;
const PARQUET_MESSAGES: u64 = 20_000;
const REPLAY_EVENTS: u64 = 300_000;
/// Rows replay → blackhole and the plain read go through: at about 10 M
/// rows/s, a third of a second, so that start-up (runtime, file metadata)
/// does not dominate as it did at 30 ms.
const REPLAY_ROWS: u64 = 3_000_000;

pub fn run_side(spec: &str) -> anyhow::Result<f64> {
    match spec {
        "core:netpipe" => core(),
        "decode_blackhole:netpipe" => decode(100_000, false, |events| {
            std::hint::black_box(events);
        }),
        "decode:netpipe" => {
            let mut lines = Lines::default();
            decode(50_000, true, |events| write_json_lines(&mut lines, events))
        }
        "decode_transcode:netpipe" => {
            let mut lines = Lines::default();
            decode(50_000, false, |events| write_json_lines(&mut lines, events))
        }
        "decode_records:netpipe" => decode(25_000, false, |events| {
            for event in events {
                std::hint::black_box(event.payload.record());
            }
        }),
        "websocket:netpipe" => websocket_netpipe(false),
        "websocket:baseline" => websocket_baseline(false),
        "websocket_mixed:netpipe" => websocket_netpipe(true),
        "websocket_mixed:baseline" => websocket_baseline(true),
        "websocket:checking" => websocket_checking(false),
        "websocket_mixed:checking" => websocket_checking(true),
        "websocket_stdout:pipeline" => websocket_to_stdout(false),
        "websocket_stdout_mixed:pipeline" => websocket_to_stdout(true),
        "nso:netpipe" => nso::netpipe(),
        "nso:baseline" => nso::python_client(),
        "cloudvision:netpipe" => cloudvision::netpipe(),
        "cloudvision:baseline" => cloudvision::python_client(),
        "kafka:netpipe" => kafka_netpipe(false),
        "kafka:baseline" => kafka_baseline(false),
        "kafka_mixed:netpipe" => kafka_netpipe(true),
        "kafka_mixed:baseline" => kafka_baseline(true),
        "parquet:netpipe" => lake::parquet_netpipe(false),
        "parquet:baseline" => lake::parquet_baseline(false),
        "parquet_mixed:netpipe" => lake::parquet_netpipe(true),
        "parquet_mixed:baseline" => lake::parquet_baseline(true),
        "parquet_rows:netpipe" => lake::parquet_rows_netpipe(),
        "parquet_rows:baseline" => lake::parquet_rows_baseline(),
        "parquet_s3:netpipe" => lake::parquet_s3_netpipe(),
        "parquet_s3:baseline" => lake::parquet_s3_baseline(),
        "kafka_source:netpipe" => consume::blackhole_netpipe(),
        "kafka_source:baseline" => consume::blackhole_baseline(),
        "kafka_parquet:netpipe" => consume::parquet_netpipe(),
        "kafka_parquet:baseline" => consume::parquet_baseline(),
        "kafka_parquet_two:netpipe" => consume::two_writers(),
        "kafka_parquet_two:baseline" => consume::parquet_netpipe(),
        "replay:netpipe" => lake::replay_blackhole(),
        "replay:baseline" => lake::plain_read(),
        "replay_kafka:netpipe" => lake::replay_netpipe(),
        "replay_kafka:baseline" => lake::replay_baseline(),
        other => bail!("unknown side {other}"),
    }
}

/// Runs a pipeline until `sink` has received `count` events (or its sources end), then drains it.
/// The batch options of sinks fed by sources that do not end (Kafka, a
/// WebSocket): the clock stops when the sink has received the last event,
/// and the last batch, never full, would otherwise wait out the default
/// timeout (200 ms, what a quiet stream may wait), a fifth of a run.
const ENDLESS_BATCH: &str = "batch: { timeout: 20ms }";

fn run_pipeline(yaml: &str, sink: &str, count: u64, threads: usize) -> anyhow::Result<Duration> {
    run_pipelines(&[yaml], sink, count, threads)
}

/// Runs pipelines side by side on one runtime until their sinks named
/// `sink` have received `count` events between them (or their sources
/// end), then drains them all.
fn run_pipelines(
    yamls: &[&str],
    sink: &str,
    count: u64,
    threads: usize,
) -> anyhow::Result<Duration> {
    let registry = netpipe::components::registry();
    let pipelines = yamls
        .iter()
        .map(|yaml| parse("bench.yaml", yaml, &registry, &|_| None))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let runtime = if threads == 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .enable_all()
            .build()?
    };
    let metrics: Vec<Arc<Metrics>> = yamls.iter().map(|_| Arc::default()).collect();
    // Received by the sinks: then shutdown drains them, so what is timed
    // ends with everything written (a Parquet sink commits on close).
    let written: Vec<_> = metrics
        .iter()
        .map(|m| m.component(ComponentKind::Sink, sink).events_in)
        .collect();
    let total = move || written.iter().map(|w| w.get()).sum::<u64>();
    let shutdown = CancellationToken::new();
    let start = Instant::now();
    runtime.block_on(async {
        let watcher = {
            let (shutdown, total) = (shutdown.clone(), total.clone());
            tokio::spawn(async move {
                while total() < count {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                shutdown.cancel();
            })
        };
        let runs = pipelines
            .into_iter()
            .zip(&metrics)
            .map(|(pipeline, m)| topology::run(pipeline, m.clone(), shutdown.clone()));
        let results = futures::future::join_all(runs).await;
        watcher.abort();
        results.into_iter().collect::<Result<Vec<_>, _>>()
    })?;
    if total() < count {
        bail!("only {} of {count} events were written", total());
    }
    Ok(start.elapsed())
}

fn core() -> anyhow::Result<f64> {
    let n = 5_000_000u64;
    let yaml = format!(
        "sources:\n  demo: {{ type: demo, count: {n} }}\nsinks:\n  sink: {{ type: blackhole, inputs: [demo] }}\n"
    );
    Ok(n as f64 / run_pipeline(&yaml, "sink", n, 1)?.as_secs_f64())
}

/// Frames a pipeline hands from source to sink at a time in the decode
/// scenarios: as the source checks a run of frames and a sink then reads the
/// batch they make (batches hold up to 10,000 events by default).
const DECODE_BATCH: usize = 64;

/// What the stdout sink does with a batch, short of the write itself: its
/// JSON Lines laid out, and the pieces of one vectored write.
fn write_json_lines(lines: &mut Lines, events: &[Event]) {
    lines.render(events.iter(), false);
    std::hint::black_box(lines.slices(events.iter()));
}

/// `n` frames of one connection become events (checked, keyed, timed; their
/// JSON rendered too when `render_json`, as for sinks that all write JSON),
/// then `consume` reads them, as a sink would, a batch at a time. `n` makes
/// about two seconds of work, so that a run sees the machine's drift over
/// about as long as the Python run it is paired with (2,000 messages, about
/// five seconds).
fn decode(n: u64, render_json: bool, mut consume: impl FnMut(&[Event])) -> anyhow::Result<f64> {
    let frames = sample_frames(Topic::Monitoring, DECODE_BATCH as u64);
    let mut builder = EventBuilder::new(
        Arc::new(Decoder::new()),
        Arc::from("bench"),
        Topic::Monitoring,
        false,
    )
    .render_json(render_json);
    let mut batch = Vec::with_capacity(DECODE_BATCH);
    let mut total = 0usize;
    let start = Instant::now();
    for i in 0..n as usize {
        batch.extend(builder.events(frames[i % DECODE_BATCH].clone(), Timestamp::now())?);
        if batch.len() < DECODE_BATCH && i + 1 < n as usize {
            continue;
        }
        consume(&batch);
        total += batch.iter().map(|event| event.size).sum::<usize>();
        batch.clear();
    }
    let elapsed = start.elapsed();
    anyhow::ensure!(total > 0);
    Ok(n as f64 / elapsed.as_secs_f64())
}

fn broker() -> anyhow::Result<String> {
    std::env::var("NETPIPE_BENCH_BROKER").context("NETPIPE_BENCH_BROKER is not set")
}

fn unique(prefix: &str) -> String {
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        Timestamp::now().as_nanos()
    )
}

fn kafka_sink(broker: &str, topic: &str, encoding: &str) -> String {
    format!(
        "  sink: {{ type: kafka, inputs: [SOURCE], bootstrap_servers: \"{broker}\", topic: \"{topic}\", encoding: {encoding}, create_topics: {{ partitions: 1 }}, {ENDLESS_BATCH} }}\n"
    )
}

fn kafka_netpipe(mixed: bool) -> anyhow::Result<f64> {
    let address = feeder(KAFKA_MESSAGES, mixed)?;
    let sink =
        kafka_sink(&broker()?, &unique("bench-netpipe"), "protobuf").replace("SOURCE", "central");
    let yaml = format!("sources:\n{}sinks:\n{sink}", aruba_source(address));
    Ok(KAFKA_MESSAGES as f64 / run_pipeline(&yaml, "sink", KAFKA_MESSAGES, 2)?.as_secs_f64())
}

/// One message as netpipe's Kafka sink writes it, built before the clock starts.
struct RawRecord {
    payload: Bytes,
    key: Option<Arc<str>>,
    headers: OwnedHeaders,
}

/// `count` records cycling over `events`: each event's key and headers,
/// and the payload `encode` gives it.
fn raw_records(events: &[Event], count: u64, encode: impl Fn(&Event) -> Bytes) -> Vec<RawRecord> {
    let payloads: Vec<Bytes> = events.iter().map(encode).collect();
    (0..count as usize)
        .map(|i| {
            let event = &events[i % events.len()];
            RawRecord {
                payload: payloads[i % events.len()].clone(),
                key: event.key.clone(),
                headers: netpipe_kafka::headers::write(event),
            }
        })
        .collect()
}

/// Sends pre-built records with a plain producer, configured as netpipe's sink is.
fn produce_raw(records: Vec<RawRecord>) -> anyhow::Result<f64> {
    let count = records.len();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let producer: FutureProducer = ClientConfig::new()
            .set("bootstrap.servers", broker()?)
            .set("acks", "all")
            .set("compression.type", "zstd")
            .set("linger.ms", "20")
            .set("queue.buffering.max.kbytes", "65536")
            .create()?;
        let topic = unique("bench-raw");
        let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
            .set("bootstrap.servers", broker()?)
            .create()?;
        let new = NewTopic::new(&topic, 1, TopicReplication::Fixed(1));
        for result in admin.create_topics([&new], &AdminOptions::new()).await? {
            result.map_err(|(t, e)| anyhow::anyhow!("cannot create {t}: {e}"))?;
        }
        let start = Instant::now();
        let mut pending = Vec::with_capacity(10_000);
        for raw in records {
            let mut record = FutureRecord::<str, [u8]>::to(&topic)
                .payload(&raw.payload[..])
                .headers(raw.headers);
            if let Some(key) = &raw.key {
                record = record.key(&**key);
            }
            loop {
                match producer.send_result(record) {
                    Ok(delivery) => {
                        pending.push(delivery);
                        break;
                    }
                    Err((_, returned)) => {
                        record = returned;
                        tokio::time::sleep(Duration::from_millis(1)).await;
                    }
                }
            }
            if pending.len() == 10_000 {
                for d in pending.drain(..) {
                    d.await?.map_err(|(e, _)| e)?;
                }
            }
        }
        for d in pending {
            d.await?.map_err(|(e, _)| e)?;
        }
        Ok(count as f64 / start.elapsed().as_secs_f64())
    })
}

fn kafka_baseline(mixed: bool) -> anyhow::Result<f64> {
    let mut builder = EventBuilder::new(
        Arc::new(Decoder::new()),
        Arc::from("central"),
        Topic::Monitoring,
        false,
    );
    let mut events = Vec::new();
    for frame in feeder_frames(32, mixed) {
        events.extend(builder.events(frame, Timestamp::now())?);
    }
    let records = raw_records(&events, KAFKA_MESSAGES, |e| {
        e.raw.clone().unwrap_or_default()
    });
    produce_raw(records)
}

/// Current resident memory of this process, in KiB.
fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| {
                l.strip_prefix("VmRSS:")
                    .map(|v| v.trim().trim_end_matches(" kB").parse().unwrap_or(0))
            })
        })
        .unwrap_or(0)
}
