//! Options of the `packetfabric` source.

use netpipe_core::config::SourceType;
use netpipe_core::units::HumanDuration;
use netpipe_core::{BoxError, BuildContext, Source, SourceConfig};
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
    pub api_key: Option<String>,
    /// Login (instead of `api_key`); netpipe logs out on shutdown. MFA accounts need an API key.
    #[serde(default)]
    pub login: Option<String>,
    #[serde(default)]
    pub password: Option<String>,
    /// The streams to subscribe to.
    pub streams: Vec<StreamSpec>,
    /// Reconnect when nothing (not even a heartbeat) arrived for this long.
    #[serde(default = "default_idle_timeout")]
    pub idle_timeout: HumanDuration,
    /// Longest wait between reconnect attempts.
    #[serde(default = "default_max_backoff")]
    pub max_backoff: HumanDuration,
}

fn default_base_url() -> String {
    "https://api.packetfabric.com".into()
}

fn default_idle_timeout() -> HumanDuration {
    HumanDuration(std::time::Duration::from_secs(120))
}

fn default_max_backoff() -> HumanDuration {
    HumanDuration(std::time::Duration::from_secs(30))
}

pub fn source_type() -> SourceType {
    SourceType::new::<PacketFabricConfig>(
        "packetfabric",
        "PacketFabric streaming events (server-sent events): streams `packetfabric.<type>.<category>`, `netpipe.gap`, `netpipe.dead_letter`.",
    )
}

/// How the source proves who it is.
#[derive(Clone)]
pub enum Credentials {
    ApiKey(String),
    Login { login: String, password: String },
}

impl StreamSpec {
    fn check(&self) -> Result<(), String> {
        let (name, allowed): (&str, &[&str]) = match self.stream_type {
            StreamType::Customer => ("customer", &REQUESTABLE_CUSTOMER),
            StreamType::Port => ("port", &PORT_EVENTS),
            StreamType::Vc => ("vc", &VC_EVENTS),
        };
        if let Some(bad) = self.events.iter().find(|e| !allowed.contains(&e.as_str())) {
            return Err(format!(
                "`{bad}` is not an event of `{name}` streams (allowed: {})",
                allowed.join(", ")
            ));
        }
        if self.stream_type != StreamType::Port && !self.ifds.is_empty() {
            return Err("`ifds` belongs to `port` streams".into());
        }
        if self.stream_type != StreamType::Vc && !self.vcs.is_empty() {
            return Err("`vcs` belongs to `vc` streams".into());
        }
        Ok(())
    }
}

impl SourceConfig for PacketFabricConfig {
    fn build(&self, _cx: &BuildContext) -> Result<Box<dyn Source>, BoxError> {
        let credentials = match (&self.api_key, &self.login, &self.password) {
            (Some(key), None, None) if !key.trim().is_empty() => Credentials::ApiKey(key.clone()),
            (None, Some(login), Some(password)) => Credentials::Login {
                login: login.clone(),
                password: password.clone(),
            },
            (Some(_), Some(_), _) => {
                return Err("give `api_key` or `login` + `password`, not both".into());
            }
            (None, Some(_), None) => return Err("`login` needs `password`".into()),
            _ => return Err("give `api_key` (preferred) or `login` + `password`".into()),
        };
        if self.streams.is_empty() {
            return Err("`streams` is empty: subscribe to at least one stream".into());
        }
        for stream in &self.streams {
            stream.check()?;
        }
        Ok(Box::new(crate::connect::PacketFabricSource {
            base_url: self.base_url.trim_end_matches('/').to_string(),
            credentials,
            streams: self.streams.clone(),
            idle_timeout: self.idle_timeout.0,
            max_backoff: self.max_backoff.0,
        }))
    }
}
