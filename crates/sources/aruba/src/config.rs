//! Options of the `aruba_central` source.

use std::path::PathBuf;
use std::sync::Arc;

use netpipe_connect::TlsOptions;
use netpipe_core::config::{OptionError, OptionErrors, SourceType};
use netpipe_core::units::HumanDuration;
use netpipe_core::{BoxError, BuildContext, Secret, Source, SourceConfig};
use schemars::JsonSchema;
use serde::Deserialize;

use crate::connect::{ArubaSource, Entry};
use crate::customers_file;
use crate::topic::Topic;

/// One Central customer (account) to stream from.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Customer {
    /// A name for logs and gap events.
    pub name: String,
    /// Sent as the `UserName` header when given.
    #[serde(default)]
    pub username: Option<String>,
    /// The streaming (WSS) key from Central's Streaming page; use `${VAR}`.
    pub key: Secret,
    /// Topics to stream, one connection each.
    #[serde(default)]
    pub topics: Vec<Topic>,
    /// A single topic (instead of `topics`).
    #[serde(default)]
    pub topic: Option<Topic>,
}

/// Options of the `aruba_central` source.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ArubaConfig {
    /// Central's streaming host: connects to `wss://HOSTNAME/streaming/api`.
    #[serde(default)]
    pub hostname: Option<String>,
    /// A full WebSocket URL instead of `hostname` (labs, the simulator); `ws://` allowed.
    #[serde(default)]
    pub url: Option<String>,
    /// Customers with their keys and topics.
    #[serde(default)]
    pub customers: Vec<Customer>,
    /// The vendor sample's input file (`{"customers": {NAME: {username, wsskey, topic}}}`),
    /// read as-is; renewed keys are written back to it atomically.
    #[serde(default)]
    pub customers_file: Option<PathBuf>,
    /// One event per monitoring element (stream `aruba.monitoring.<field>`) instead of one per message.
    #[serde(default)]
    pub split: bool,
    /// Send a ping this often.
    #[serde(default = "default_ping_interval")]
    pub ping_interval: HumanDuration,
    /// Reconnect when no frame and no pong arrived for this long.
    #[serde(default = "default_idle_timeout")]
    pub idle_timeout: HumanDuration,
    /// Longest wait between reconnect attempts (backoff grows to this, with jitter).
    #[serde(default = "netpipe_connect::reconnect::default_max_backoff")]
    pub max_backoff: HumanDuration,
    /// Wait before retrying an entry whose key was rejected or topic is not subscribed.
    #[serde(default = "netpipe_connect::reconnect::default_auth_retry")]
    pub auth_retry: HumanDuration,
    #[serde(flatten)]
    pub tls: TlsOptions,
}

fn default_ping_interval() -> HumanDuration {
    HumanDuration(std::time::Duration::from_secs(10))
}

fn default_idle_timeout() -> HumanDuration {
    HumanDuration(std::time::Duration::from_secs(30))
}

pub fn source_type() -> SourceType {
    SourceType::new::<ArubaConfig>(
        "aruba_central",
        "Aruba Central streaming API (WebSocket + protobuf): streams `aruba.<topic>`, `netpipe.gap`, `netpipe.dead_letter`.",
    )
    .with_stream_schemas(crate::stream_schemas)
    .with_stream_decoders(crate::stream_decoders)
    .with_simulator(crate::simulator::simulator())
}

/// The key-validation URL that goes with a streaming URL.
pub fn validate_url(stream_url: &str) -> String {
    let (scheme, rest) = stream_url.split_once("://").unwrap_or(("wss", stream_url));
    let http = if scheme == "ws" { "http" } else { "https" };
    let host = rest.split('/').next().unwrap_or(rest);
    format!("{http}://{host}/streaming/token/validate")
}

impl ArubaConfig {
    fn stream_url(&self) -> Result<String, OptionError> {
        match (&self.url, &self.hostname) {
            (Some(url), None) if url.starts_with("ws://") || url.starts_with("wss://") => {
                Ok(url.clone())
            }
            (Some(url), None) => Err(OptionError::new(
                "url",
                format!("`url` must start with ws:// or wss://, not `{url}`"),
            )
            .hint("Central streams over wss://; ws:// is for labs and the simulator")),
            (None, Some(host)) => Ok(format!("wss://{host}/streaming/api")),
            (Some(_), Some(_)) => Err(OptionError::new(
                "url",
                "give `hostname` or `url`, not both",
            )
            .hint("`hostname` for Central, `url` for labs and the simulator")),
            (None, None) => Err(OptionError::new("", "give `hostname` (or `url`)")
                .hint("e.g. hostname: internal-ui.central.arubanetworks.com")),
        }
    }

    /// One entry per customer and topic; every problem found goes to `errors`.
    fn entries(&self, cx: &BuildContext, errors: &mut Vec<OptionError>) -> Vec<Entry> {
        let mut entries = Vec::new();
        for (i, c) in self.customers.iter().enumerate() {
            let mut topics = c.topics.clone();
            topics.extend(c.topic);
            if topics.is_empty() {
                errors.push(
                    OptionError::new(
                        format!("customers.{i}.topics"),
                        format!("customer `{}` has no `topics`", c.name),
                    )
                    .hint("e.g. topics: [monitoring, audit]"),
                );
            }
            if c.key.is_blank() {
                errors.push(OptionError::new(
                    format!("customers.{i}.key"),
                    format!("customer `{}` has an empty `key`", c.name),
                ));
            }
            for topic in topics {
                entries.push(Entry {
                    name: c.name.clone(),
                    username: c.username.clone(),
                    key: c.key.clone(),
                    topic,
                    file_entry: None,
                });
            }
        }
        if let Some(path) = &self.customers_file {
            match customers_file::read(&cx.resolve(path)) {
                Ok(more) => entries.extend(more),
                Err(e) => {
                    errors.push(OptionError::new("customers_file", e.to_string()));
                    return entries;
                }
            }
        }
        if self.customers.is_empty() && entries.is_empty() {
            errors.push(OptionError::new(
                "",
                "no customers: give `customers` or `customers_file`",
            ));
        }
        entries
    }
}

impl SourceConfig for ArubaConfig {
    fn build(&self, cx: &BuildContext) -> Result<Box<dyn Source>, BoxError> {
        let mut errors = Vec::new();
        let url = self.stream_url().map_err(|e| errors.push(e)).ok();
        let entries = self.entries(cx, &mut errors);
        let tls = self.tls.client_config(cx).map_err(|e| errors.push(e)).ok();
        let (Some(url), Some(tls), true) = (url, tls, errors.is_empty()) else {
            return Err(Box::new(OptionErrors(errors)));
        };
        Ok(Box::new(ArubaSource {
            validate_url: validate_url(&url),
            url,
            entries,
            customers_file: self
                .customers_file
                .as_ref()
                .map(|p| Arc::new(cx.resolve(p))),
            split: self.split,
            render_json: cx.readers_write_json,
            ping_interval: self.ping_interval.0,
            idle_timeout: self.idle_timeout.0,
            max_backoff: self.max_backoff.0,
            auth_retry: self.auth_retry.0,
            tls_options: self.tls.clone(),
            tls,
        }))
    }

    /// Frames are kept as received, for Kafka's `encoding: protobuf`.
    fn keeps_received_bytes(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validate_url_follows_the_stream_url() {
        assert_eq!(
            validate_url("wss://internal-ui.central.arubanetworks.com/streaming/api"),
            "https://internal-ui.central.arubanetworks.com/streaming/token/validate"
        );
        assert_eq!(
            validate_url("ws://127.0.0.1:8765/streaming/api"),
            "http://127.0.0.1:8765/streaming/token/validate"
        );
    }
}
