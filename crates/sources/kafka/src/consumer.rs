//! The running source: a consumer in a group (cooperative-sticky
//! assignment), messages read a chunk at a time, offsets committed per
//! partition once every sink reading the source has written them.
//!
//! Three things share [`Shared`]: the read loop (what was sent, per
//! partition), the committer (every `commit_interval`, the acknowledged
//! offsets of the partitions still assigned), and the rebalance callbacks.
//! When partitions are revoked, the sinks are asked to write what they hold
//! (a flush in band with the events), the callback waits up to
//! `revoke_timeout` for the revoked partitions' acknowledgements, commits
//! them and lets go; events of those partitions read but not yet sent are
//! dropped, for their new owner reads them again from the committed offset.
//! Callbacks run inside the consumer's poll, on the read loop's task: they
//! wait on the runtime in place.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures::{FutureExt as _, StreamExt as _};
use netpipe_core::ack::Acknowledgements;
use netpipe_core::event::dead_letter;
use netpipe_core::metrics::Lag;
use netpipe_core::schema::StreamSchemas;
use netpipe_core::{
    BoxError, BuildContext, Event, Source, SourceContext, SourceSender, async_trait,
};
use rdkafka::client::ClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{
    BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance, StreamConsumer,
};
use rdkafka::error::{KafkaError, KafkaResult};
use rdkafka::message::{BorrowedMessage, Headers as _, Message as _};
use rdkafka::statistics::Statistics;
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use rdkafka::types::RDKafkaErrorCode;
use tracing::{info, warn};

use crate::config::{KafkaSourceConfig, Start};
use crate::decode::{Decoder, Message};
use netpipe_kafka::registry::RegistryClient;

/// The consumer's librdkafka settings: netpipe's, then the user's.
pub(crate) fn client_config(config: &KafkaSourceConfig) -> ClientConfig {
    let mut client = ClientConfig::new();
    client
        .set("bootstrap.servers", &config.bootstrap_servers)
        .set("group.id", &config.group_id)
        // Offsets are committed by netpipe, for what every sink wrote.
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set(
            "auto.offset.reset",
            match config.start {
                Start::Earliest => "earliest",
                Start::Latest => "latest",
            },
        )
        // A rebalance moves only the partitions that change hands.
        .set("partition.assignment.strategy", "cooperative-sticky")
        // Lag per partition, once a second.
        .set("statistics.interval.ms", "1000")
        // What librdkafka fetches ahead is bounded by bytes: 16 MiB, not
        // its default of 64 MiB, is ahead enough to keep a pipeline fed.
        .set("queued.max.messages.kbytes", "16384")
        .set("allow.auto.create.topics", "false");
    config.librdkafka.apply_to(&mut client);
    client
}

pub struct KafkaSource {
    config: KafkaSourceConfig,
    schemas: Arc<StreamSchemas>,
}

impl KafkaSource {
    pub fn new(config: KafkaSourceConfig, cx: &BuildContext) -> Result<Self, BoxError> {
        Ok(KafkaSource {
            config,
            schemas: cx.schemas.clone(),
        })
    }
}

/// What the read loop, the committer and the rebalance callbacks share.
struct Shared {
    acks: Acknowledgements,
    out: SourceSender,
    lag: Lag,
    revoke_timeout: Duration,
    /// Partitions assigned to this consumer now, by position name.
    assigned: Mutex<HashSet<Arc<str>>>,
    /// The offsets sent into the pipeline since each partition was assigned.
    sent: Mutex<HashMap<Arc<str>, Sent>>,
    /// The last offset committed, per partition.
    committed: Mutex<HashMap<Arc<str>, u64>>,
    /// Advanced at each revocation: a chunk read across one is filtered.
    revocations: AtomicU64,
}

/// The first and last offsets of a partition sent since it was assigned.
#[derive(Debug, Clone, Copy)]
struct Sent {
    first: u64,
    last: u64,
}

impl Shared {
    /// The acknowledged offsets of `partitions` not committed yet, as a
    /// list to commit (the next offset to read, as Kafka wants it). Only
    /// offsets sent since a partition was last assigned count: one acked
    /// before it moved away and back would move the group's offset back.
    fn to_commit(&self, partitions: impl Fn(&Arc<str>) -> bool) -> TopicPartitionList {
        let acked = self.acks.partitions();
        let sent = self.sent.lock().unwrap_or_else(|e| e.into_inner());
        let mut committed = self.committed.lock().unwrap_or_else(|e| e.into_inner());
        let mut list = TopicPartitionList::new();
        for (name, offset) in acked.iter().filter(|(name, _)| partitions(name)) {
            let this_assignment = sent.get(name).is_some_and(|s| *offset >= s.first);
            if !this_assignment || committed.get(name).is_some_and(|c| c >= offset) {
                continue;
            }
            let Some((topic, partition)) = split(name) else {
                continue;
            };
            let next = Offset::Offset(*offset as i64 + 1);
            if list.add_partition_offset(topic, partition, next).is_ok() {
                committed.insert(name.clone(), *offset);
            }
        }
        list
    }

    /// Waits up to the revoke timeout for every offset sent of `revoked`
    /// to be acknowledged, after asking the sinks to write what they hold.
    async fn hand_over(&self, revoked: &[Arc<str>]) {
        let wanted: BTreeMap<Arc<str>, u64> = {
            let sent = self.sent.lock().unwrap_or_else(|e| e.into_inner());
            revoked
                .iter()
                .filter_map(|p| sent.get(p).map(|s| (p.clone(), s.last)))
                .collect()
        };
        if wanted.is_empty() {
            return;
        }
        let _ = self.out.flush().await;
        let mut acks = self.acks.clone();
        let done = |acks: &Acknowledgements| {
            let acked = acks.partitions();
            wanted
                .iter()
                .all(|(p, o)| acked.get(p).is_some_and(|a| a >= o))
        };
        let wait = async {
            while !done(&acks) {
                if acks.changed().await.is_none() {
                    break;
                }
            }
        };
        if tokio::time::timeout(self.revoke_timeout, wait)
            .await
            .is_err()
        {
            warn!(
                partitions = ?wanted.keys().collect::<Vec<_>>(),
                "revoked partitions were not all written within revoke_timeout: their new owner reads the rest again"
            );
        }
    }
}

/// `topic/partition` apart.
fn split(name: &str) -> Option<(&str, i32)> {
    let (topic, partition) = name.rsplit_once('/')?;
    Some((topic, partition.parse().ok()?))
}

fn names(list: &TopicPartitionList) -> Vec<Arc<str>> {
    list.elements()
        .iter()
        .map(|e| Arc::from(format!("{}/{}", e.topic(), e.partition())))
        .collect()
}

/// Runs `future` to its end from a callback on the read loop's task.
fn wait<F: std::future::Future>(future: F) -> F::Output {
    tokio::task::block_in_place(|| tokio::runtime::Handle::current().block_on(future))
}

struct Context {
    shared: Arc<Shared>,
}

impl ClientContext for Context {
    fn stats(&self, statistics: Statistics) {
        for (topic, t) in &statistics.topics {
            for (partition, p) in &t.partitions {
                // Partition -1 is librdkafka's internal one; a fetch state
                // of `none`, a partition not assigned here; -1, unknown yet.
                if *partition < 0 || p.fetch_state == "none" || p.hi_offset < 0 {
                    continue;
                }
                // Behind the high watermark from the committed offset, or
                // from the first offset while nothing is committed.
                let from = p.committed_offset.max(p.lo_offset).max(0);
                let lag = (p.hi_offset - from).max(0);
                self.shared.lag.set(&format!("{topic}/{partition}"), lag);
            }
        }
    }
}

impl ConsumerContext for Context {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        let Rebalance::Revoke(list) = rebalance else {
            return;
        };
        let revoked = names(list);
        self.shared.revocations.fetch_add(1, Ordering::SeqCst);
        wait(self.shared.hand_over(&revoked));
        let commit = self.shared.to_commit(|p| revoked.contains(p));
        if commit.count() > 0
            && let Err(e) = consumer.commit(&commit, CommitMode::Sync)
        {
            warn!("cannot commit the offsets of revoked partitions: {e}");
        }
        let mut assigned = self
            .shared
            .assigned
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let mut sent = self.shared.sent.lock().unwrap_or_else(|e| e.into_inner());
        let mut committed = self
            .shared
            .committed
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        for p in &revoked {
            assigned.remove(p);
            sent.remove(p);
            committed.remove(p);
        }
        info!(partitions = ?revoked, "partitions revoked");
    }

    fn post_rebalance(&self, _: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        let Rebalance::Assign(list) = rebalance else {
            return;
        };
        let added = names(list);
        if added.is_empty() {
            return;
        }
        // Sinks forget what they knew of the destination: another writer
        // may have written these partitions meanwhile.
        let _ = wait(self.shared.out.flush());
        let mut assigned = self
            .shared
            .assigned
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        assigned.extend(added.iter().cloned());
        info!(partitions = ?added, "partitions assigned");
    }

    fn commit_callback(&self, result: KafkaResult<()>, _: &TopicPartitionList) {
        if let Err(e) = result {
            warn!("offset commit failed: {e}");
        }
    }
}

/// Errors after which reading on cannot help: stop with a clear error.
fn permanent(error: &KafkaError) -> bool {
    use RDKafkaErrorCode::*;
    matches!(
        error.rdkafka_error_code(),
        Some(
            SaslAuthenticationFailed
                | Authentication
                | TopicAuthorizationFailed
                | GroupAuthorizationFailed
                | ClusterAuthorizationFailed
                | UnknownTopicOrPartition
                | UnknownTopic
        )
    )
}

#[async_trait]
impl Source for KafkaSource {
    async fn run(self: Box<Self>, cx: SourceContext) -> Result<(), BoxError> {
        let config = &self.config;
        let shared = Arc::new(Shared {
            acks: cx.acks.clone(),
            out: cx.out.clone(),
            lag: cx.metrics.lag.clone(),
            revoke_timeout: config.revoke_timeout.0,
            assigned: Mutex::default(),
            sent: Mutex::default(),
            committed: Mutex::default(),
            revocations: AtomicU64::new(0),
        });
        let consumer: StreamConsumer<Context> = client_config(config)
            .create_with_context(Context {
                shared: shared.clone(),
            })
            .map_err(|e| netpipe_kafka::settings::settings_error(&e))?;
        let subscription = config.subscription();
        let topics: Vec<&str> = subscription.iter().map(String::as_str).collect();
        consumer
            .subscribe(&topics)
            .map_err(|e| format!("cannot subscribe to {topics:?}: {e}"))?;
        let consumer = Arc::new(consumer);
        let committer = tokio::spawn(commit_every(
            consumer.clone(),
            shared.clone(),
            config.commit_interval.0,
        ));
        let mut decoder = Decoder::new(
            cx.name.clone(),
            config.encoding,
            config.schema_registry.is_some(),
            self.schemas.clone(),
        );
        let registry = config
            .schema_registry
            .as_ref()
            .map(|r| RegistryClient::new(&r.url));
        let reading = Reading {
            consumer: &consumer,
            shared: &shared,
            registry: registry.as_ref(),
            cx: &cx,
            max_chunk: config.max_chunk,
        };
        let result = reading.run(&mut decoder).await;
        committer.abort();
        // What was sent is written by the draining sinks: wait for it
        // (asking them to write it now), then commit it.
        let assigned: Vec<Arc<str>> = {
            let assigned = shared.assigned.lock().unwrap_or_else(|e| e.into_inner());
            assigned.iter().cloned().collect()
        };
        shared.hand_over(&assigned).await;
        let commit = shared.to_commit(|p| assigned.contains(p));
        if commit.count() > 0
            && let Err(e) = consumer.commit(&commit, CommitMode::Sync)
        {
            warn!("cannot commit the last offsets: {e}");
        }
        result
    }
}

const ENDLESS: &str = "a consumer's message stream never ends";

/// What the read loop works with.
struct Reading<'a> {
    consumer: &'a StreamConsumer<Context>,
    shared: &'a Shared,
    registry: Option<&'a RegistryClient>,
    cx: &'a SourceContext,
    max_chunk: usize,
}

impl Reading<'_> {
    /// Reads chunks until shutdown or a permanent error.
    async fn run(&self, decoder: &mut Decoder) -> Result<(), BoxError> {
        let (consumer, shared, cx, max_chunk) =
            (self.consumer, self.shared, self.cx, self.max_chunk);
        let mut events: Vec<Event> = Vec::with_capacity(max_chunk);
        // One stream for the whole run: `recv` would register and remove a
        // waker per message.
        let mut messages = consumer.stream();
        loop {
            // Loaded before the first receive: a rebalance served inside it
            // counts for this chunk.
            let revocations = shared.revocations.load(Ordering::SeqCst);
            let first = tokio::select! {
                _ = cx.shutdown.cancelled() => return Ok(()),
                message = messages.next() => message.expect(ENDLESS),
            };
            let mut next = Some(first);
            while let Some(received) = next.take() {
                match received {
                    Ok(message) => events.push(self.event(decoder, message).await),
                    Err(e) if permanent(&e) => return Err(format!("kafka: {e}").into()),
                    Err(e) => {
                        cx.metrics.errors.inc();
                        warn!("kafka: {e}");
                    }
                }
                if events.len() < max_chunk {
                    next = messages.next().now_or_never().map(|m| m.expect(ENDLESS));
                }
            }
            if shared.revocations.load(Ordering::SeqCst) != revocations {
                let assigned = shared.assigned.lock().unwrap_or_else(|e| e.into_inner());
                events.retain(|e| {
                    e.position
                        .as_ref()
                        .is_some_and(|p| assigned.contains(&p.partition))
                });
            }
            if events.is_empty() {
                continue;
            }
            record_sent(shared, &events);
            cx.metrics.events_in.inc_by(events.len() as u64);
            cx.metrics
                .bytes_in
                .inc_by(events.iter().map(|e| e.size as u64).sum());
            let chunk = std::mem::replace(&mut events, Vec::with_capacity(max_chunk));
            cx.out.send(chunk).await?;
        }
    }

    /// The event of `message`, or its dead letter.
    async fn event(&self, decoder: &mut Decoder, message: BorrowedMessage<'_>) -> Event {
        match decoder.unknown_writer(message.payload().unwrap_or_default()) {
            None => event_of(decoder, &message, self.cx),
            Some(id) => {
                // Rare (a schema id first seen): the message is kept while
                // its schema is fetched.
                let owned = message.detach();
                drop(message);
                decoder.add_writer(id, self.writer_schema(id).await);
                event_of(decoder, &owned, self.cx)
            }
        }
    }

    /// The schema the registry has under `id`, or why there is none.
    async fn writer_schema(&self, id: u32) -> Result<String, String> {
        match self.registry {
            Some(registry) => registry.schema(id).await.map_err(|e| e.to_string()),
            None => Err("no schema registry".into()),
        }
    }
}

/// Notes the first and last offset of each partition in `events`, sent now.
fn record_sent(shared: &Shared, events: &[Event]) {
    // The decoder shares a partition's name: pointers tell them apart.
    let mut ranges: Vec<(&Arc<str>, Sent)> = Vec::new();
    for position in events.iter().filter_map(|e| e.position.as_ref()) {
        match ranges
            .iter_mut()
            .find(|(p, _)| Arc::ptr_eq(p, &position.partition))
        {
            Some((_, sent)) => sent.last = position.offset,
            None => ranges.push((
                &position.partition,
                Sent {
                    first: position.offset,
                    last: position.offset,
                },
            )),
        }
    }
    let mut sent = shared.sent.lock().unwrap_or_else(|e| e.into_inner());
    for (partition, range) in ranges {
        sent.entry(partition.clone())
            .and_modify(|s| s.last = range.last)
            .or_insert(range);
    }
}

/// The event of `message`, or its dead letter.
fn event_of<M: rdkafka::message::Message>(
    decoder: &mut Decoder,
    message: &M,
    cx: &SourceContext,
) -> Event {
    let view = Message {
        topic: message.topic(),
        partition: message.partition(),
        offset: message.offset(),
        key: message.key(),
        value: message.payload(),
        timestamp: message.timestamp().to_millis(),
    };
    let headers = message.headers();
    let header_list = headers
        .iter()
        .flat_map(|h| h.iter())
        .map(|h| (h.key, h.value.unwrap_or_default()));
    match decoder.decode(&view, header_list) {
        Ok(event) => event,
        Err(error) => {
            cx.metrics.dead_letters.inc();
            let origin = format!("{}/{}@{}", view.topic, view.partition, view.offset);
            let raw = Bytes::copy_from_slice(view.value.unwrap_or_default());
            let mut event = dead_letter(&cx.name, &origin, &error, raw);
            event.position = Some(netpipe_core::Position {
                partition: decoder.partition(view.topic, view.partition),
                offset: view.offset as u64,
            });
            event
        }
    }
}

/// Commits the acknowledged offsets of the assigned partitions every `interval`.
async fn commit_every(
    consumer: Arc<StreamConsumer<Context>>,
    shared: Arc<Shared>,
    interval: Duration,
) {
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let assigned = shared
            .assigned
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let commit = shared.to_commit(|p| assigned.contains(p));
        if commit.count() > 0
            && let Err(e) = consumer.commit(&commit, CommitMode::Async)
        {
            warn!("offset commit failed: {e}");
        }
    }
}
