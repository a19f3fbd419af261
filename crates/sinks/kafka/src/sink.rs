//! The running Kafka sink.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use netpipe_core::schema::StreamSchemas;
use netpipe_core::{Batch, BoxError, BuildContext, Event, Sink, Value, async_trait, json};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord, Producer};
use tracing::{info, warn};

use crate::avro::StreamSchema;
use crate::config::{CreateTopics, Encoding, KafkaConfig};
use crate::settings::client_config;
use netpipe_kafka::registry::RegistryClient;
use netpipe_kafka::settings::settings_error;

#[derive(Debug, thiserror::Error)]
pub enum KafkaSinkError {
    #[error("cannot reach Kafka at {servers} within {timeout:?}: {detail}")]
    Unreachable {
        servers: String,
        timeout: Duration,
        detail: String,
    },
    #[error("invalid Kafka settings: {0}")]
    Settings(String),
    #[error("topic `{topic}`: {cause}")]
    Permanent { topic: String, cause: String },
    #[error("stream `{0}` has no original bytes to write with `encoding: protobuf`")]
    NoRawBytes(String),
    #[error("cannot create topic `{topic}`: {detail}")]
    CreateTopic { topic: String, detail: String },
}

/// Where a message's key comes from: the `key` option, read.
pub(crate) enum KeyMode {
    Event,
    None,
    Path(String),
}

impl KeyMode {
    pub(crate) fn of(option: &str) -> Self {
        match option {
            "event" => KeyMode::Event,
            "none" => KeyMode::None,
            path => KeyMode::Path(path.to_string()),
        }
    }
}

#[derive(Debug, Default)]
struct TopicStats {
    messages: u64,
    bytes: u64,
    retries: u64,
    errors: u64,
}

/// Counters of consecutive messages to one topic, added to the per-topic
/// totals when the topic changes: a batch's messages mostly share a topic,
/// so the totals are looked up per run of messages, not per message.
#[derive(Default)]
struct Tally {
    topic: Option<Arc<str>>,
    stats: TopicStats,
}

impl Tally {
    /// The counters of `topic`, after filing the previous topic's.
    fn of(
        &mut self,
        topic: &Arc<str>,
        totals: &mut BTreeMap<Arc<str>, TopicStats>,
    ) -> &mut TopicStats {
        if !self.topic.as_ref().is_some_and(|t| Arc::ptr_eq(t, topic)) {
            self.file(totals);
            self.topic = Some(topic.clone());
        }
        &mut self.stats
    }

    fn file(&mut self, totals: &mut BTreeMap<Arc<str>, TopicStats>) {
        if let Some(topic) = self.topic.take() {
            let run = std::mem::take(&mut self.stats);
            let total = totals.entry(topic).or_default();
            total.messages += run.messages;
            total.bytes += run.bytes;
            total.retries += run.retries;
            total.errors += run.errors;
        }
    }
}

/// Messages handed to the producer, with where they sit in their batch.
type Deliveries = Vec<(Arc<str>, usize, DeliveryFuture)>;

/// How long a batch in flight waits for the next batch before it is settled
/// on its own (so a quiet pipeline is still acknowledged promptly).
const SETTLE_AFTER: Duration = Duration::from_millis(20);

/// How often a batch that Kafka has not acknowledged is reported: an outage
/// gets a line when it starts (after this long) and one this often while it
/// lasts, and a line when it ends.
const OUTAGE_REPORT_EVERY: Duration = Duration::from_secs(10);

/// Batches whose deliveries may be pending at once: one being settled while
/// the next is encoded and sent. Both stay in memory for redelivery.
const MAX_IN_FLIGHT: usize = 2;

pub struct KafkaSink {
    producer: FutureProducer,
    admin: Option<(AdminClient<DefaultClientContext>, CreateTopics)>,
    template: String,
    key: KeyMode,
    encoding: Encoding,
    schemas: Arc<StreamSchemas>,
    parsed: HashMap<Arc<str>, Arc<StreamSchema>>,
    registry: Option<RegistryClient>,
    schema_ids: HashMap<String, u32>,
    created: HashSet<String>,
    topics: BTreeMap<Arc<str>, TopicStats>,
    topic_names: HashMap<(Arc<str>, Arc<str>), Arc<str>>,
    in_flight: VecDeque<(Batch, Deliveries, tokio::time::Instant)>,
    value: Vec<u8>,
    /// Retries and time spent waiting on the broker, for `/metrics`.
    metrics: netpipe_core::metrics::ComponentMetrics,
}

/// The value an event holds already in `encoding`, sent from where it is
/// (librdkafka copies it once anyway): the frame as received, or the JSON
/// its source rendered on arrival.
fn held_value(encoding: Encoding, event: &Event) -> Option<&[u8]> {
    match encoding {
        Encoding::Protobuf => event.raw.as_deref(),
        Encoding::Json => event.payload.rendered_json().map(|json| &json[..]),
        Encoding::Avro => None,
    }
}

/// Errors that sending again will not fix.
fn is_permanent(error: &KafkaError) -> bool {
    use RDKafkaErrorCode::*;
    matches!(
        error.rdkafka_error_code(),
        Some(
            UnknownTopicOrPartition
                | UnknownTopic
                | TopicAuthorizationFailed
                | ClusterAuthorizationFailed
                | MessageSizeTooLarge
                | InvalidMessageSize
                | MessageBatchTooLarge
                | InvalidTopic
                | SaslAuthenticationFailed
                | InvalidRecord
        )
    )
}

impl KafkaSink {
    pub async fn connect(config: &KafkaConfig, cx: &BuildContext) -> Result<Self, KafkaSinkError> {
        let producer: FutureProducer = client_config(config)
            .create()
            .map_err(|e| KafkaSinkError::Settings(settings_error(&e)))?;
        let timeout = config.connect_timeout.0;
        let probe = producer.clone();
        let reachable =
            tokio::task::spawn_blocking(move || probe.client().fetch_metadata(None, timeout))
                .await
                .map_err(|e| KafkaSinkError::Settings(e.to_string()))?;
        reachable.map_err(|e| KafkaSinkError::Unreachable {
            servers: config.bootstrap_servers.clone(),
            timeout,
            detail: e.to_string(),
        })?;
        let admin = match &config.create_topics {
            Some(create) => Some((
                client_config(config)
                    .create()
                    .map_err(|e| KafkaSinkError::Settings(settings_error(&e)))?,
                create.clone(),
            )),
            None => None,
        };
        let key = KeyMode::of(&config.key);
        Ok(KafkaSink {
            producer,
            admin,
            template: config.topic.clone(),
            key,
            encoding: config.encoding,
            schemas: cx.schemas.clone(),
            parsed: HashMap::new(),
            registry: config
                .schema_registry
                .as_ref()
                .map(|r| RegistryClient::new(&r.url)),
            schema_ids: HashMap::new(),
            created: HashSet::new(),
            topics: BTreeMap::new(),
            topic_names: HashMap::new(),
            in_flight: VecDeque::new(),
            metrics: cx.metrics.clone(),
            value: Vec::with_capacity(4096),
        })
    }

    /// The event's topic, rendered once per stream and source.
    fn topic_of(&mut self, event: &Event) -> Arc<str> {
        if let Some(topic) = self
            .topic_names
            .get(&(event.stream.clone(), event.source.clone()))
        {
            return topic.clone();
        }
        let topic: Arc<str> = Arc::from(self.render_topic(event));
        self.topic_names
            .insert((event.stream.clone(), event.source.clone()), topic.clone());
        topic
    }

    fn render_topic(&self, event: &Event) -> String {
        self.template
            .replace("{stream}", &event.stream)
            .replace("{source}", &event.source)
    }

    async fn ensure_topic(&mut self, topic: &str) -> Result<(), BoxError> {
        let Some((admin, create)) = &self.admin else {
            return Ok(());
        };
        if self.created.contains(topic) {
            return Ok(());
        }
        let new = NewTopic::new(
            topic,
            create.partitions,
            TopicReplication::Fixed(create.replication_factor),
        );
        let results = admin
            .create_topics(
                [&new],
                &AdminOptions::new().operation_timeout(Some(Duration::from_secs(10))),
            )
            .await
            .map_err(|e| KafkaSinkError::CreateTopic {
                topic: topic.into(),
                detail: e.to_string(),
            })?;
        for result in results {
            match result {
                Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
                Err((_, code)) => {
                    return Err(KafkaSinkError::CreateTopic {
                        topic: topic.into(),
                        detail: code.to_string(),
                    }
                    .into());
                }
            }
        }
        info!(topic, partitions = create.partitions, "created topic");
        self.created.insert(topic.to_string());
        Ok(())
    }

    fn schema(&mut self, stream: &Arc<str>) -> Result<Arc<StreamSchema>, BoxError> {
        if let Some(s) = self.parsed.get(stream) {
            return Ok(s.clone());
        }
        let json = self
            .schemas
            .get(stream)
            .ok_or_else(|| crate::avro::AvroError::NoSchema(stream.to_string()))?;
        let parsed = Arc::new(StreamSchema::parse(stream, json)?);
        self.parsed.insert(stream.clone(), parsed.clone());
        Ok(parsed)
    }

    /// Encodes an event's value into `self.value`, when it does not hold
    /// it already ([`held_value`]).
    async fn encode(&mut self, event: &Event, topic: &str) -> Result<(), BoxError> {
        self.value.clear();
        match self.encoding {
            Encoding::Json => {
                json::write_payload(&event.payload, &mut self.value);
            }
            Encoding::Protobuf => {
                return Err(KafkaSinkError::NoRawBytes(event.stream.to_string()).into());
            }
            Encoding::Avro => {
                let schema = self.schema(&event.stream)?;
                if let Some(registry) = &self.registry {
                    let id = match self.schema_ids.get(topic) {
                        Some(id) => *id,
                        None => {
                            let id = registry.register(topic, &schema.text).await?;
                            self.schema_ids.insert(topic.to_string(), id);
                            id
                        }
                    };
                    self.value.push(0);
                    self.value.extend_from_slice(&id.to_be_bytes());
                }
                schema.encode(&event.stream, &event.payload, &mut self.value)?;
            }
        }
        Ok(())
    }

    fn key_of<'e>(&self, event: &'e Event) -> Option<Cow<'e, str>> {
        match &self.key {
            KeyMode::Event => event.key.as_deref().map(Cow::Borrowed),
            KeyMode::None => None,
            KeyMode::Path(path) => match event.payload.get_path(path)? {
                Value::String(s) => Some(Cow::Owned(s.to_string())),
                Value::Int(i) => Some(Cow::Owned(i.to_string())),
                Value::UInt(u) => Some(Cow::Owned(u.to_string())),
                Value::Null => None,
                other => serde_json::to_string(&format!("{other:?}"))
                    .ok()
                    .map(Cow::Owned),
            },
        }
    }

    /// Hands the events at `indices` to the producer; their deliveries are
    /// settled later, so the next batch can be encoded meanwhile.
    async fn enqueue(
        &mut self,
        events: &[&Event],
        indices: &[usize],
    ) -> Result<Deliveries, BoxError> {
        let mut tally = Tally::default();
        let result = self.enqueue_counted(events, indices, &mut tally).await;
        tally.file(&mut self.topics);
        result
    }

    async fn enqueue_counted(
        &mut self,
        events: &[&Event],
        indices: &[usize],
        tally: &mut Tally,
    ) -> Result<Deliveries, BoxError> {
        let mut deliveries = Vec::with_capacity(indices.len());
        // The topic of the previous event, by the stream and source it came
        // from: most events share it, and then need no lookup.
        let mut last: Option<(Arc<str>, Arc<str>, Arc<str>)> = None;
        for &i in indices {
            let event = events[i];
            let topic = match &last {
                Some((stream, source, topic))
                    if Arc::ptr_eq(stream, &event.stream) && Arc::ptr_eq(source, &event.source) =>
                {
                    topic.clone()
                }
                _ => {
                    let topic = self.topic_of(event);
                    self.ensure_topic(&topic).await?;
                    last = Some((event.stream.clone(), event.source.clone(), topic.clone()));
                    topic
                }
            };
            let value = match held_value(self.encoding, event) {
                Some(held) => held,
                None => {
                    self.encode(event, &topic).await?;
                    &self.value[..]
                }
            };
            let key = self.key_of(event);
            let mut record = FutureRecord::to(&topic)
                .payload(value)
                .headers(netpipe_kafka::headers::write(event));
            if let Some(key) = &key {
                record = record.key(&**key);
            }
            let delivery = loop {
                match self.producer.send_result(record) {
                    Ok(delivery) => break delivery,
                    Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), returned)) => {
                        record = returned;
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                    Err((e, _)) => {
                        return Err(KafkaSinkError::Permanent {
                            topic: topic.to_string(),
                            cause: e.to_string(),
                        }
                        .into());
                    }
                }
            };
            tally.of(&topic, &mut self.topics).bytes += value.len() as u64;
            deliveries.push((topic, i, delivery));
        }
        Ok(deliveries)
    }

    /// Waits for deliveries; returns the events whose delivery failed in a
    /// way worth retrying.
    async fn settle(&mut self, deliveries: Deliveries) -> Result<Vec<usize>, BoxError> {
        let mut tally = Tally::default();
        let result = self.settle_counted(deliveries, &mut tally).await;
        tally.file(&mut self.topics);
        result
    }

    async fn settle_counted(
        &mut self,
        deliveries: Deliveries,
        tally: &mut Tally,
    ) -> Result<Vec<usize>, BoxError> {
        let mut failed = Vec::new();
        for (topic, i, delivery) in deliveries {
            let outcome = delivery.await;
            let stats = tally.of(&topic, &mut self.topics);
            match outcome {
                Ok(Ok(_)) => stats.messages += 1,
                Ok(Err((e, _))) if is_permanent(&e) => {
                    stats.errors += 1;
                    return Err(KafkaSinkError::Permanent {
                        topic: topic.to_string(),
                        cause: e.to_string(),
                    }
                    .into());
                }
                Ok(Err((e, _))) => {
                    stats.retries += 1;
                    if failed.is_empty() {
                        warn!(topic = %topic, "delivery failed, will send again: {e}");
                    }
                    failed.push(i);
                }
                Err(_) => {
                    stats.retries += 1;
                    failed.push(i);
                }
            }
        }
        Ok(failed)
    }
}

impl KafkaSink {
    /// Settles the oldest batch in flight, sending failed messages again
    /// until they are delivered, then acknowledges it.
    async fn complete_oldest(&mut self) -> Result<(), BoxError> {
        let Some((batch, deliveries, _)) = self.in_flight.pop_front() else {
            return Ok(());
        };
        let started = tokio::time::Instant::now();
        let mut report =
            tokio::time::interval_at(started + OUTAGE_REPORT_EVERY, OUTAGE_REPORT_EVERY);
        let messages = batch.len();
        {
            let delivered = self.deliver(&batch, deliveries);
            tokio::pin!(delivered);
            loop {
                tokio::select! {
                    done = &mut delivered => {
                        done?;
                        break;
                    }
                    _ = report.tick() => warn!(
                        "Kafka has not acknowledged {messages} messages for {}s (broker away or slow?): \
                         still sending; the pipeline holds its sources back meanwhile",
                        started.elapsed().as_secs()
                    ),
                }
            }
        }
        self.metrics
            .blocked_seconds
            .inc_by(started.elapsed().as_secs_f64());
        if started.elapsed() >= OUTAGE_REPORT_EVERY {
            info!(
                "Kafka acknowledged again, after {}s",
                started.elapsed().as_secs()
            );
        }
        batch.acknowledge();
        Ok(())
    }

    /// Settles `deliveries` of `batch`, sending failed messages again with
    /// backoff until every one is delivered.
    async fn deliver(&mut self, batch: &Batch, deliveries: Deliveries) -> Result<(), BoxError> {
        let mut failed = self.settle(deliveries).await?;
        let mut wait = Duration::from_millis(100);
        while !failed.is_empty() {
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(Duration::from_secs(5));
            self.metrics.retries.inc_by(failed.len() as u64);
            let events: Vec<&Event> = batch.events().collect();
            let deliveries = self.enqueue(&events, &failed).await?;
            failed = self.settle(deliveries).await?;
        }
        Ok(())
    }
}

#[async_trait]
impl Sink for KafkaSink {
    async fn write(&mut self, batch: Batch) -> Result<(), BoxError> {
        let events: Vec<&Event> = batch.events().collect();
        let all: Vec<usize> = (0..events.len()).collect();
        let deliveries = self.enqueue(&events, &all).await?;
        drop(events);
        self.in_flight
            .push_back((batch, deliveries, tokio::time::Instant::now()));
        while self.in_flight.len() > MAX_IN_FLIGHT {
            self.complete_oldest().await?;
        }
        Ok(())
    }

    fn deadline(&self) -> Option<tokio::time::Instant> {
        self.in_flight
            .front()
            .map(|(_, _, sent)| *sent + SETTLE_AFTER)
    }

    async fn tick(&mut self) -> Result<(), BoxError> {
        self.complete_oldest().await
    }

    async fn close(&mut self) -> Result<(), BoxError> {
        while !self.in_flight.is_empty() {
            self.complete_oldest().await?;
        }
        let producer = self.producer.clone();
        let _ = tokio::task::spawn_blocking(move || producer.flush(Duration::from_secs(30))).await;
        for (topic, s) in &self.topics {
            info!(
                topic = %topic,
                messages = s.messages,
                bytes = s.bytes,
                retries = s.retries,
                errors = s.errors,
                "kafka topic summary"
            );
        }
        Ok(())
    }
}
