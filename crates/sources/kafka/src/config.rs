//! Options of the `kafka` source.

use netpipe_core::config::{OptionError, OptionErrors, SourceType};
use netpipe_core::units::HumanDuration;
use netpipe_core::{BoxError, BuildContext, Source, SourceConfig};
use netpipe_kafka::registry::SchemaRegistry;
use netpipe_kafka::settings::Librdkafka;
use schemars::JsonSchema;
use serde::Deserialize;

/// Where a partition with no committed offset starts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Start {
    /// At its first message.
    #[default]
    Earliest,
    /// At the next message written to it.
    Latest,
}

/// How message values are read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Encoding {
    /// A JSON object, typed by the stream's schema (as the kafka sink writes it).
    #[default]
    Json,
    /// Avro binary: with the stream's schema, or in Confluent framing with
    /// the schema the registry has under its id (`schema_registry`).
    Avro,
    /// The bytes a source received, as the kafka sink forwards them with
    /// `encoding: protobuf` (streams netpipe knows: `aruba.<topic>`).
    Protobuf,
    /// The value's bytes as they are, in a record of one `value` field.
    Raw,
}

/// Options of the `kafka` source.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct KafkaSourceConfig {
    /// Brokers to bootstrap from, e.g. `127.0.0.1:9092`.
    pub bootstrap_servers: String,
    /// Topics to read (or `topic_pattern`).
    #[serde(default)]
    pub topics: Vec<String>,
    /// A regular expression of the topics to read, e.g. `^aruba\..*` (or `topics`).
    #[serde(default)]
    pub topic_pattern: Option<String>,
    /// The consumer group: processes with the same `group_id` share the partitions.
    pub group_id: String,
    /// Where a partition with no committed offset starts: `earliest` or `latest`.
    #[serde(default)]
    pub start: Start,
    /// `json`, `avro`, `protobuf` or `raw`.
    #[serde(default)]
    pub encoding: Encoding,
    /// Avro values are in Confluent framing (a zero byte, a schema id), as
    /// the kafka sink writes them with `schema_registry`: each id's schema
    /// is fetched from this registry once, and values are read with it.
    #[serde(default)]
    pub schema_registry: Option<SchemaRegistry>,
    /// How often the offsets every sink has written are committed.
    #[serde(default = "default_commit_interval")]
    pub commit_interval: HumanDuration,
    /// How long a rebalance waits for the sinks to write what they hold of
    /// the partitions being handed over, before committing and letting go.
    #[serde(default = "default_revoke_timeout")]
    pub revoke_timeout: HumanDuration,
    /// Most messages sent into the pipeline as one chunk.
    #[serde(default = "default_max_chunk")]
    pub max_chunk: usize,
    /// librdkafka settings passed through as-is (SASL/SSL, `fetch.max.bytes`, ...).
    #[serde(default)]
    pub librdkafka: Librdkafka,
}

fn default_commit_interval() -> HumanDuration {
    HumanDuration(std::time::Duration::from_secs(1))
}

fn default_revoke_timeout() -> HumanDuration {
    HumanDuration(std::time::Duration::from_secs(30))
}

fn default_max_chunk() -> usize {
    1000
}

pub fn source_type() -> SourceType {
    SourceType::new::<KafkaSourceConfig>(
        "kafka",
        "Reads Kafka topics in a consumer group; offsets are committed per partition once every sink has written the messages.",
    )
}

impl KafkaSourceConfig {
    fn check(&self) -> Vec<OptionError> {
        let mut errors = Vec::new();
        match (self.topics.is_empty(), &self.topic_pattern) {
            (true, None) => errors.push(
                OptionError::new("topics", "give `topics` or `topic_pattern`")
                    .hint("e.g. `topics: [aruba.monitoring]` or `topic_pattern: '^aruba\\..*'`"),
            ),
            (false, Some(_)) => errors.push(OptionError::new(
                "topic_pattern",
                "give `topics` or `topic_pattern`, not both",
            )),
            _ => {}
        }
        if self.group_id.trim().is_empty() {
            errors.push(OptionError::new("group_id", "`group_id` is empty"));
        }
        if self.max_chunk == 0 {
            errors.push(OptionError::new(
                "max_chunk",
                "`max_chunk` must be at least 1",
            ));
        }
        // librdkafka checks every setting without connecting.
        errors.extend(netpipe_kafka::settings::check(
            &crate::consumer::client_config(self),
            &self.librdkafka,
        ));
        errors
    }

    /// What the consumer subscribes to: the topics, or the pattern
    /// (librdkafka reads a name starting with `^` as a regular expression).
    pub(crate) fn subscription(&self) -> Vec<String> {
        match &self.topic_pattern {
            Some(pattern) if pattern.starts_with('^') => vec![pattern.clone()],
            Some(pattern) => vec![format!("^{pattern}")],
            None => self.topics.clone(),
        }
    }
}

impl SourceConfig for KafkaSourceConfig {
    fn build(&self, cx: &BuildContext) -> Result<Box<dyn Source>, BoxError> {
        let errors = self.check();
        if !errors.is_empty() {
            return Err(Box::new(OptionErrors(errors)));
        }
        Ok(Box::new(crate::consumer::KafkaSource::new(
            self.clone(),
            cx,
        )?))
    }
}
