//! Options of the `kafka` sink.

use netpipe_core::config::{
    OptionError, OptionErrors, SinkType, placeholder_hint, unknown_placeholder,
};
use netpipe_core::units::HumanDuration;
use netpipe_core::{BoxError, BuildContext, Sink, SinkConfig, async_trait};
use schemars::JsonSchema;
use serde::Deserialize;

pub use netpipe_kafka::registry::SchemaRegistry;
pub use netpipe_kafka::settings::Librdkafka;

/// How each event's value is written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Encoding {
    /// The payload as a JSON object.
    #[default]
    Json,
    /// The payload as Avro binary with the stream's schema (Confluent framing with `schema_registry`).
    Avro,
    /// The bytes the source received (e.g. Aruba's protobuf frame), unchanged.
    Protobuf,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, serde::Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Compression {
    None,
    Gzip,
    Snappy,
    Lz4,
    #[default]
    Zstd,
}

/// Create missing topics when the sink starts.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTopics {
    /// Partitions of each created topic.
    pub partitions: i32,
    /// Replicas of each created topic.
    #[serde(default = "one")]
    pub replication_factor: i32,
}

fn one() -> i32 {
    1
}

/// Options of the `kafka` sink.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct KafkaConfig {
    /// Brokers to bootstrap from, e.g. `127.0.0.1:9092`.
    pub bootstrap_servers: String,
    /// Topic template: `{stream}` and `{source}` are replaced, e.g. `netops.{stream}`.
    #[serde(default = "default_topic")]
    pub topic: String,
    /// Message key: `event` (the source's key), `none`, or a payload field path such as `serial`.
    #[serde(default = "default_key")]
    pub key: String,
    /// `json`, `avro` or `protobuf` (the source's original bytes).
    #[serde(default)]
    pub encoding: Encoding,
    /// `none`, `gzip`, `snappy`, `lz4` or `zstd`.
    #[serde(default)]
    pub compression: Compression,
    /// Broker acknowledgements required: `all`, `1` or `0`.
    #[serde(default = "default_acks")]
    pub acks: String,
    /// Create missing topics at start with these settings.
    #[serde(default)]
    pub create_topics: Option<CreateTopics>,
    /// How long to wait for the brokers at start before failing.
    #[serde(default = "default_connect_timeout")]
    pub connect_timeout: HumanDuration,
    /// librdkafka settings passed through as-is (SASL/SSL, `linger.ms`, `batch.size`, ...).
    #[serde(default)]
    pub librdkafka: Librdkafka,
    /// Register schemas and frame Avro values the Confluent way (magic byte + schema id).
    #[serde(default)]
    pub schema_registry: Option<SchemaRegistry>,
}

fn default_topic() -> String {
    "{stream}".into()
}

fn default_key() -> String {
    "event".into()
}

fn default_acks() -> String {
    "all".into()
}

fn default_connect_timeout() -> HumanDuration {
    HumanDuration(std::time::Duration::from_secs(10))
}

pub fn sink_type() -> SinkType {
    SinkType::new::<KafkaConfig>(
        "kafka",
        "Writes each event as a Kafka message (rdkafka): topic from a template, key, headers stream/source/event_time/receive_time.",
    )
}

/// What `topic` may hold.
const PLACEHOLDERS: [&str; 2] = ["{stream}", "{source}"];

#[async_trait]
impl SinkConfig for KafkaConfig {
    async fn build(&self, cx: &BuildContext) -> Result<Box<dyn Sink>, BoxError> {
        Ok(Box::new(crate::sink::KafkaSink::connect(self, cx).await?))
    }

    fn check(&self, cx: &BuildContext) -> Result<(), BoxError> {
        let mut errors = Vec::new();
        if let Some(unknown) = unknown_placeholder(&self.topic, &PLACEHOLDERS) {
            errors.push(
                OptionError::new(
                    "topic",
                    format!(
                        "topic template `{}` has an unknown placeholder `{unknown}`",
                        self.topic
                    ),
                )
                .hint(placeholder_hint(&unknown, &PLACEHOLDERS)),
            );
        }
        if self.encoding == Encoding::Protobuf {
            for input in cx.inputs.iter().filter(|i| !i.keeps_received_bytes) {
                errors.push(
                    OptionError::new(
                        "encoding",
                        format!(
                            "`encoding: protobuf` writes the bytes a source received, and source `{}` (type `{}`) keeps none",
                            input.name, input.type_name
                        ),
                    )
                    .hint("use `json` or `avro` for it"),
                );
            }
        }
        if let Some(create) = &self.create_topics {
            for (option, value) in [
                ("create_topics.partitions", create.partitions),
                (
                    "create_topics.replication_factor",
                    create.replication_factor,
                ),
            ] {
                if value < 1 {
                    errors.push(OptionError::new(
                        option,
                        format!("`{option}` must be at least 1"),
                    ));
                }
            }
        }
        if !["all", "-1", "0", "1"].contains(&self.acks.as_str())
            && self.acks.parse::<u16>().is_err()
        {
            errors.push(OptionError::new(
                "acks",
                format!("`acks` must be `all`, `1` or `0`, not `{}`", self.acks),
            ));
        }
        // librdkafka checks every setting without connecting.
        errors.extend(netpipe_kafka::settings::check(
            &crate::settings::client_config(self),
            &self.librdkafka,
        ));
        if errors.is_empty() {
            Ok(())
        } else {
            Err(Box::new(OptionErrors(errors)))
        }
    }

    /// JSON values, keyed by the event rather than a payload field.
    fn writes_payload_json(&self) -> bool {
        self.encoding == Encoding::Json
            && !matches!(
                crate::sink::KeyMode::of(&self.key),
                crate::sink::KeyMode::Path(_)
            )
    }
}
