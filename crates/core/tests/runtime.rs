//! The runtime's promises, with components defined here: back-pressure keeps
//! memory bounded, nothing sent is lost, fan-out delivers every event to every
//! sink, and acknowledgements reach the source only when all sinks wrote.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use netpipe_core::config::{Registry, SinkType, SourceType, parse};
use netpipe_core::metrics::{ComponentKind, Metrics};
use netpipe_core::value::field_names;
use netpipe_core::{
    Batch, BoxError, BuildContext, Event, Position, Record, Sink, SinkConfig, Source, SourceConfig,
    SourceContext, Timestamp, Value, async_trait, topology,
};
use schemars::JsonSchema;
use serde::Deserialize;
use tokio_util::sync::CancellationToken;

static ACKED_BY_SOURCE: AtomicU64 = AtomicU64::new(0);

/// What the source has been told is acknowledged, as the run goes.
static ACKED_NOW: AtomicU64 = AtomicU64::new(0);

/// Sends `count` events in chunks of `chunk`, as fast as it may.
#[derive(Debug, Deserialize, JsonSchema)]
struct CountingSource {
    count: u64,
    chunk: u64,
}

struct Counting {
    count: u64,
    chunk: u64,
}

impl SourceConfig for CountingSource {
    fn build(&self, _: &BuildContext) -> Result<Box<dyn Source>, BoxError> {
        Ok(Box::new(Counting {
            count: self.count,
            chunk: self.chunk,
        }))
    }
}

#[async_trait]
impl Source for Counting {
    async fn run(self: Box<Self>, cx: SourceContext) -> Result<(), BoxError> {
        let names = field_names(&["n"]);
        let partition: Arc<str> = Arc::from("p");
        let mut watch = cx.acks.clone();
        tokio::spawn(async move {
            while watch.changed().await.is_some() {
                ACKED_NOW.store(watch.events(), Ordering::SeqCst);
            }
        });
        let mut n = 0;
        while n < self.count && !cx.shutdown.is_cancelled() {
            let events = (n..(n + self.chunk).min(self.count))
                .map(|i| {
                    Event::new(
                        cx.name.clone(),
                        "t".into(),
                        Timestamp(0),
                        Record::new(names.clone(), vec![Value::Int(i as i64)]),
                    )
                    .with_position(Position {
                        partition: partition.clone(),
                        offset: i,
                    })
                })
                .collect::<Vec<_>>();
            n += events.len() as u64;
            cx.out.send(events).await?;
        }
        // Wait for the last acknowledgement, as a checkpointing source would.
        let mut acks = cx.acks.clone();
        while acks.position().map(|p| p.offset + 1) != Some(self.count) {
            if acks.changed().await.is_none() {
                break;
            }
        }
        ACKED_BY_SOURCE.fetch_add(acks.events(), Ordering::SeqCst);
        Ok(())
    }
}

/// Takes `delay` per batch and records the largest gap between what the
/// source has sent and what this sink has written.
#[derive(Debug, Deserialize, JsonSchema)]
struct SlowSink {
    delay_ms: u64,
}

struct Slow {
    delay: Duration,
}

#[async_trait]
impl SinkConfig for SlowSink {
    async fn build(&self, _: &BuildContext) -> Result<Box<dyn Sink>, BoxError> {
        Ok(Box::new(Slow {
            delay: Duration::from_millis(self.delay_ms),
        }))
    }
}

#[async_trait]
impl Sink for Slow {
    async fn write(&mut self, batch: Batch) -> Result<(), BoxError> {
        tokio::time::sleep(self.delay).await;
        batch.acknowledge();
        Ok(())
    }
}

fn registry() -> Registry {
    Registry::new(
        vec![SourceType::new::<CountingSource>("counting", "test")],
        vec![SinkType::new::<SlowSink>("slow", "test")],
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_sink_slows_the_source_with_bounded_memory_and_loses_nothing() {
    let yaml = "
sources:
  numbers: { type: counting, count: 20000, chunk: 100 }
sinks:
  fast: { type: slow, delay_ms: 0, inputs: [numbers], batch: { max_events: 100 } }
  slow: { type: slow, delay_ms: 5, inputs: [numbers], batch: { max_events: 100 } }
";
    let pipeline = parse("test.yaml", yaml, &registry(), &|_| None).unwrap();
    let metrics = Arc::new(Metrics::default());
    let sent = metrics
        .component(ComponentKind::Source, "numbers")
        .events_out;
    let slow_written = metrics.component(ComponentKind::Sink, "slow").events_out;
    let fast_written = metrics.component(ComponentKind::Sink, "fast").events_out;
    let run = tokio::spawn(topology::run(
        pipeline,
        metrics.clone(),
        CancellationToken::new(),
    ));

    // While the slow sink lags, what is in flight stays within the bound: the
    // chunk queue (8 chunks of 100), the batch being filled, the one queued
    // for the sink and the one being written (100 each), and the chunk being
    // sent (counted as sent before its send completes).
    let mut largest_gap = 0;
    // How far the source's acknowledgements ran ahead of the slow sink's
    // writes: never more than the one batch whose acknowledgement reaches
    // the source just before the sink's counter moves.
    let mut acked_ahead = 0;
    while !run.is_finished() {
        largest_gap = largest_gap.max(sent.get() - slow_written.get());
        let acked = ACKED_NOW.load(Ordering::SeqCst);
        acked_ahead = acked_ahead.max(acked.saturating_sub(slow_written.get()));
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    run.await.unwrap().unwrap();
    assert!(
        largest_gap <= 8 * 100 + 4 * 100,
        "in flight grew to {largest_gap} events"
    );
    assert!(
        largest_gap >= 300,
        "the sink never lagged: the test measured nothing ({largest_gap})"
    );
    assert!(
        acked_ahead <= 100,
        "the source was told of events the slow sink had not written ({acked_ahead} ahead)"
    );
    assert_eq!(sent.get(), 20000);
    assert_eq!(slow_written.get(), 20000);
    assert_eq!(
        fast_written.get(),
        20000,
        "fan-out: every sink gets every event"
    );
    assert_eq!(
        ACKED_BY_SOURCE.load(Ordering::SeqCst),
        20000,
        "acknowledged once both sinks wrote"
    );
}
