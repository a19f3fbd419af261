//! Options of the `packetfabric` source.

use netpipe_connect::TlsOptions;
use netpipe_core::config::{OptionError, OptionErrors, SourceType, nearest};
use netpipe_core::units::HumanDuration;
use netpipe_core::{BoxError, BuildContext, Secret, Source, SourceConfig};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::kinds::{PORT_EVENTS, REQUESTABLE_CUSTOMER, VC_EVENTS};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum StreamType {
    Customer,
    Port,
    Vc,
}

/// One stream of the subscription bundle.
#[derive(Debug, Clone, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct StreamSpec {
    /// `customer` (activity log), `port` or `vc`.
    #[serde(rename = "type")]
    pub stream_type: StreamType,
    /// Event categories; all when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<String>,
    /// Port circuit ids (`port` streams); all the account's ports when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ifds: Vec<String>,
    /// `"<vc circuit id>&<port circuit id>"` (`vc` streams); all when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub vcs: Vec<String>,
}

/// Options of the `packetfabric` source.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PacketFabricConfig {
    /// The API's base URL.
    #[serde(default = "default_base_url")]
    pub base_url: String,
    /// An API key (preferred): sent as a Bearer token; use `${PF_API_KEY}`.
    #[serde(default)]
    pub api_key: Option<Secret>,
    /// Login (instead of `api_key`); netpipe logs out on shutdown. MFA accounts need an API key.
    #[serde(default)]
    pub login: Option<String>,
    /// The login's password; use `${PF_PASSWORD}`.
    #[serde(default)]
    pub password: Option<Secret>,
    /// The streams to subscribe to.
    pub streams: Vec<StreamSpec>,
    /// Reconnect when nothing (not even a heartbeat) arrived for this long.
    #[serde(default = "default_idle_timeout")]
    pub idle_timeout: HumanDuration,
    /// Longest wait between reconnect attempts.
    #[serde(default = "netpipe_connect::reconnect::default_max_backoff")]
    pub max_backoff: HumanDuration,
    #[serde(flatten)]
    pub tls: TlsOptions,
}

fn default_base_url() -> String {
    "https://api.packetfabric.com".into()
}

fn default_idle_timeout() -> HumanDuration {
    HumanDuration(std::time::Duration::from_secs(120))
}

pub fn source_type() -> SourceType {
    SourceType::new::<PacketFabricConfig>(
        "packetfabric",
        "PacketFabric streaming events (server-sent events): streams `packetfabric.<type>.<category>`, `netpipe.gap`, `netpipe.dead_letter`.",
    )
    .with_stream_schemas(crate::kinds::stream_schemas)
    .with_simulator(crate::simulator::simulator())
}

/// How the source proves who it is.
#[derive(Clone)]
pub enum Credentials {
    ApiKey(Secret),
    Login { login: String, password: Secret },
}

impl StreamSpec {
    /// Problems of stream `index`, as errors at its options.
    fn check(&self, index: usize, errors: &mut Vec<OptionError>) {
        let (name, allowed): (&str, &[&str]) = match self.stream_type {
            StreamType::Customer => ("customer", &REQUESTABLE_CUSTOMER),
            StreamType::Port => ("port", &PORT_EVENTS),
            StreamType::Vc => ("vc", &VC_EVENTS),
        };
        for (i, bad) in self.events.iter().enumerate() {
            if allowed.contains(&bad.as_str()) {
                continue;
            }
            let hint = match nearest(bad, allowed.iter().copied()) {
                Some(near) => format!("did you mean `{near}`?"),
                None => format!("allowed: {}", allowed.join(", ")),
            };
            errors.push(
                OptionError::new(
                    format!("streams.{index}.events.{i}"),
                    format!("`{bad}` is not an event of `{name}` streams"),
                )
                .hint(hint),
            );
        }
        if self.stream_type != StreamType::Port && !self.ifds.is_empty() {
            errors.push(OptionError::new(
                format!("streams.{index}.ifds"),
                "`ifds` belongs to `port` streams",
            ));
        }
        if self.stream_type != StreamType::Vc && !self.vcs.is_empty() {
            errors.push(OptionError::new(
                format!("streams.{index}.vcs"),
                "`vcs` belongs to `vc` streams",
            ));
        }
    }
}

impl PacketFabricConfig {
    fn credentials(&self) -> Result<Credentials, OptionError> {
        let hint = "an API key is preferred: api_key: ${PF_API_KEY}";
        match (&self.api_key, &self.login, &self.password) {
            (Some(key), None, None) if !key.is_blank() => Ok(Credentials::ApiKey(key.clone())),
            (Some(_), None, None) => Err(OptionError::new("api_key", "`api_key` is empty")),
            (None, Some(login), Some(password)) => Ok(Credentials::Login {
                login: login.clone(),
                password: password.clone(),
            }),
            (Some(_), Some(_), _) => Err(OptionError::new(
                "login",
                "give `api_key` or `login` + `password`, not both",
            )
            .hint(hint)),
            (None, Some(_), None) => Err(OptionError::new("login", "`login` needs `password`")),
            _ => Err(OptionError::new(
                "",
                "no credentials: give `api_key` (preferred) or `login` + `password`",
            )
            .hint(hint)),
        }
    }
}

impl SourceConfig for PacketFabricConfig {
    fn build(&self, cx: &BuildContext) -> Result<Box<dyn Source>, BoxError> {
        let mut errors = Vec::new();
        let credentials = self.credentials().map_err(|e| errors.push(e)).ok();
        let tls = self.tls.client_config(cx).map_err(|e| errors.push(e)).ok();
        if self.streams.is_empty() {
            errors.push(
                OptionError::new(
                    "streams",
                    "`streams` is empty: subscribe to at least one stream",
                )
                .hint("e.g. streams: [{ type: port }]"),
            );
        }
        for (i, stream) in self.streams.iter().enumerate() {
            stream.check(i, &mut errors);
        }
        let (Some(credentials), Some(tls), true) = (credentials, tls, errors.is_empty()) else {
            return Err(Box::new(OptionErrors(errors)));
        };
        Ok(Box::new(crate::connect::PacketFabricSource {
            base_url: self.base_url.trim_end_matches('/').to_string(),
            credentials,
            streams: self.streams.clone(),
            idle_timeout: self.idle_timeout.0,
            max_backoff: self.max_backoff.0,
            tls_options: self.tls.clone(),
            tls,
        }))
    }
}
