//! The blackhole sink in a running pipeline: it acknowledges every batch
//! (the source is told all its events were written), and with `delay` not
//! before that long per batch, which is what makes it a slow sink for
//! back-pressure tests.

use std::sync::Arc;
use std::time::{Duration, Instant};

use netpipe_core::config::{Registry, parse};
use netpipe_core::metrics::{ComponentKind, Metrics};
use netpipe_core::topology;
use tokio_util::sync::CancellationToken;

/// Runs `demo` (1000 events) into a blackhole with `options`; returns what
/// the sink wrote and how long the run took.
async fn run(options: &str) -> (u64, Duration) {
    let registry = Registry::new(
        vec![netpipe_source_demo::source_type()],
        vec![netpipe_sink_blackhole::sink_type()],
    );
    let yaml = format!(
        "
sources:
  demo: {{ type: demo, count: 1000 }}
sinks:
  hole: {{ type: blackhole, inputs: [demo], batch: {{ max_events: 100 }}{options} }}
"
    );
    let pipeline = parse("test.yaml", &yaml, &registry, &|_| None).unwrap();
    let metrics = Arc::new(Metrics::default());
    let written = metrics.component(ComponentKind::Sink, "hole").events_out;
    let start = Instant::now();
    // A batch never acknowledged must not hold the test forever.
    let run = topology::run(pipeline, metrics, CancellationToken::new());
    tokio::time::timeout(Duration::from_secs(20), run)
        .await
        .expect("the run ends once every batch is acknowledged")
        .unwrap();
    (written.get(), start.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_batch_is_acknowledged_and_a_delay_holds_each_batch() {
    // What a sink wrote counts what it acknowledged (a batch dropped
    // unacknowledged is not counted: seen by forgetting one).
    let (written, _) = run("").await;
    assert_eq!(written, 1000);
    // Ten batches or more, each held 30 ms.
    let (written, took) = run(", delay: 30ms").await;
    assert_eq!(written, 1000);
    assert!(took >= Duration::from_millis(300), "took {took:?}");
}
