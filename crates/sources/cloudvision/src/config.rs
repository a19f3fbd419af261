//! Options of the `cloudvision` source, checked offline when the file is
//! loaded: the URL, the token, every model found in the descriptors and
//! every filter field and enum value known there.

use std::path::PathBuf;
use std::sync::Arc;

use netpipe_connect::TlsOptions;
use netpipe_core::config::{OptionError, OptionErrors, SourceType};
use netpipe_core::units::{ByteSize, HumanDuration};
use netpipe_core::{BoxError, BuildContext, Secret, Source, SourceConfig};
use schemars::JsonSchema;
use serde::Deserialize;

use crate::filter::{self, Filter};
use crate::models::{self, Model};
use crate::source::{CloudVisionSource, DatasetSubscription, ResourceSubscription};

/// Options of the `cloudvision` source.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CloudVisionConfig {
    /// `https://HOST[:PORT]` (CVaaS: the tenant's regional `www.` host); `http://HOST:PORT` is plaintext HTTP/2 for labs and the simulator.
    pub url: String,
    /// A service account's token, sent as `authorization: Bearer ...` on every call; use `${CV_TOKEN}`.
    #[serde(default)]
    pub token: Option<Secret>,
    /// A file holding the token (read at start, trimmed), instead of `token`.
    #[serde(default)]
    pub token_file: Option<PathBuf>,
    /// Resource API subscriptions: a model (`arista.event.v1.Event`) and its filters.
    #[serde(default)]
    pub resources: Vec<ResourceOptions>,
    /// Connector subscriptions: a dataset and a path (current state, then live).
    #[serde(default)]
    pub datasets: Vec<DatasetOptions>,
    /// Directories of the vendor's `.proto` files (cloudvision-apis), compiled at start, for models other than `arista.event.v1.Event`.
    #[serde(default)]
    pub proto_path: Vec<PathBuf>,
    /// The largest message read; CloudVision sizes its batches to its own limit, above gRPC's usual 4 MiB.
    #[serde(default = "default_max_message_size")]
    pub max_message_size: ByteSize,
    /// After the server refused the token (UNAUTHENTICATED), wait this long before trying again.
    #[serde(default = "netpipe_connect::reconnect::default_auth_retry")]
    pub auth_retry: HumanDuration,
    /// Longest wait between reconnect attempts.
    #[serde(default = "netpipe_connect::reconnect::default_max_backoff")]
    pub max_backoff: HumanDuration,
    #[serde(flatten)]
    pub tls: TlsOptions,
}

/// One resource API subscription.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ResourceOptions {
    /// `<package>.<Model>`, e.g. `arista.event.v1.Event`: subscribed at `<package>.<Model>Service/Subscribe`.
    pub model: String,
    /// `partial_eq_filter`: an entity is sent when it equals every field of one of these (OR across entries, AND within one). Enum values by full name or without the enum's prefix; wrapper fields as plain values.
    #[serde(default)]
    pub filter: Vec<Filter>,
    /// The events' stream, instead of `cloudvision.<package>.<model>`.
    #[serde(default)]
    pub stream: Option<String>,
}

/// One Connector subscription.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DatasetOptions {
    /// The dataset's type: `device` (also for the `analytics` dataset).
    #[serde(rename = "type")]
    pub dataset_type: String,
    /// The dataset: a device's serial, or `analytics`.
    pub name: String,
    /// The path's elements, e.g. `[DatasetInfo, Devices]`.
    pub path: Vec<String>,
    /// The events' stream, instead of `cloudvision.<name>.<path joined by .>`.
    #[serde(default)]
    pub stream: Option<String>,
    /// An Avro record schema of the values (as those in `schemas/`): typed sinks then get each value typed by it, instead of JSON text.
    #[serde(default)]
    pub schema: Option<serde_json::Value>,
}

fn default_max_message_size() -> ByteSize {
    ByteSize(64 << 20)
}

pub fn source_type() -> SourceType {
    SourceType::new::<CloudVisionConfig>(
        "cloudvision",
        "Arista CloudVision over gRPC: resource API subscriptions (`arista.event.v1.Event` built in; other models from `proto_path`) as streams `cloudvision.<package>.<model>`, Connector datasets (NEAT) as `cloudvision.<dataset>.<path>`; `netpipe.gap`, `netpipe.dead_letter`.",
    )
    .with_stream_schemas(crate::source::stream_schemas)
    .with_simulator(crate::simulator::simulator())
}

impl CloudVisionConfig {
    fn token(&self, cx: &BuildContext, errors: &mut Vec<OptionError>) -> Option<Secret> {
        match (&self.token, &self.token_file) {
            (Some(token), None) if !token.is_blank() => Some(token.clone()),
            (Some(_), None) => {
                errors.push(OptionError::new("token", "`token` is empty"));
                None
            }
            (None, Some(path)) => match std::fs::read_to_string(cx.resolve(path)) {
                Ok(text) if !text.trim().is_empty() => Some(Secret::new(text.trim().to_string())),
                Ok(_) => {
                    errors.push(OptionError::new(
                        "token_file",
                        format!("{} is empty", path.display()),
                    ));
                    None
                }
                Err(e) => {
                    errors.push(OptionError::new(
                        "token_file",
                        format!("cannot read {}: {e}", path.display()),
                    ));
                    None
                }
            },
            (Some(_), Some(_)) => {
                errors.push(OptionError::new(
                    "token_file",
                    "give `token` or `token_file`, not both",
                ));
                None
            }
            (None, None) => {
                errors.push(
                    OptionError::new("token", "a token is required").hint(
                        "token: ${CV_TOKEN}, or token_file: PATH (a service account's token)",
                    ),
                );
                None
            }
        }
    }
}

impl SourceConfig for CloudVisionConfig {
    fn build(&self, cx: &BuildContext) -> Result<Box<dyn Source>, BoxError> {
        let mut errors = Vec::new();
        let url = self.url.trim_end_matches('/').to_string();
        if !(url.starts_with("https://") || url.starts_with("http://")) {
            errors.push(
                OptionError::new("url", format!("`{url}` is not an http(s) URL"))
                    .hint("e.g. url: https://www.cv-prod-us-central1-b.arista.io"),
            );
        }
        let token = self.token(cx, &mut errors);
        if self.resources.is_empty() && self.datasets.is_empty() {
            errors.push(OptionError::new(
                "resources",
                "nothing to subscribe to: give `resources`, `datasets` or both",
            ));
        }
        let proto_path: Vec<PathBuf> = self.proto_path.iter().map(|p| cx.resolve(p)).collect();
        let pool = models::compile(&proto_path)
            .map_err(|e| {
                errors.push(OptionError::new(
                    "proto_path",
                    format!("the .proto files do not compile: {e}"),
                ))
            })
            .ok();
        let mut resources = Vec::new();
        for (i, options) in self.resources.iter().enumerate() {
            let Some(pool) = &pool else { break };
            let model = match Model::find(pool, &options.model) {
                Ok(model) => model,
                Err(e) => {
                    errors.push(OptionError::new(format!("resources.{i}.model"), e));
                    continue;
                }
            };
            match filter::request(&model.value, &options.filter) {
                Ok(request) => resources.push(ResourceSubscription::new(
                    model,
                    request,
                    options.stream.clone(),
                )),
                Err(e) => errors.push(OptionError::new(
                    format!("resources.{i}.filter.{}", e.path),
                    e.message,
                )),
            }
        }
        for (i, d) in self.datasets.iter().enumerate() {
            if d.name.trim().is_empty() || d.dataset_type.trim().is_empty() {
                errors.push(OptionError::new(
                    format!("datasets.{i}"),
                    "a dataset needs a `type` and a `name`",
                ));
            }
            let record = d
                .schema
                .as_ref()
                .map(|s| s.get("type").and_then(|t| t.as_str()) == Some("record"));
            if record == Some(false) {
                errors.push(
                    OptionError::new(format!("datasets.{i}.schema"), "the schema is not an Avro record")
                        .hint("{ type: record, name: Device, fields: [{ name: hostname, type: string }] }"),
                );
            }
        }
        let tls = self.tls.client_config(cx).map_err(|e| errors.push(e)).ok();
        let (Some(tls), Some(token), Some(pool), true) = (tls, token, pool, errors.is_empty())
        else {
            return Err(Box::new(OptionErrors(errors)));
        };
        Ok(Box::new(CloudVisionSource {
            url,
            token,
            codec: Arc::new(netpipe_protobuf::Codec::new(
                &pool,
                netpipe_protobuf::Rules::NONE,
                netpipe_protobuf::Readers::NONE,
            )),
            resources,
            datasets: self
                .datasets
                .iter()
                .map(|d| {
                    DatasetSubscription::new(
                        &d.dataset_type,
                        &d.name,
                        &d.path,
                        d.stream.clone(),
                        d.schema.as_ref(),
                    )
                })
                .collect(),
            max_message_size: self.max_message_size.0,
            auth_retry: self.auth_retry.0,
            max_backoff: self.max_backoff.0,
            tls_options: self.tls.clone(),
            tls,
        }))
    }
}
