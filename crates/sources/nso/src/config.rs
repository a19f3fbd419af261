//! Options of the `nso` source.

use std::path::PathBuf;
use std::time::Duration;

use netpipe_connect::TlsOptions;
use netpipe_core::config::{OptionError, OptionErrors, SourceType};
use netpipe_core::units::HumanDuration;
use netpipe_core::{BoxError, BuildContext, Secret, Source, SourceConfig};
use schemars::JsonSchema;
use serde::Deserialize;

/// Options of the `nso` source.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NsoConfig {
    /// The RESTCONF server's root, `https://HOST[:PORT]`; `http://` for labs and the simulator.
    pub url: String,
    /// The user netpipe logs in as (HTTP Basic).
    pub username: String,
    /// That user's password; use `${NSO_PASSWORD}`.
    pub password: Secret,
    /// The streams to subscribe to, by name (`ncs-alarms`, `NETCONF`); every stream the server lists when left out.
    #[serde(default)]
    pub streams: Option<Vec<String>>,
    /// A file keeping the last `eventTime` written of each stream: a restart resumes from it (streams with replay).
    #[serde(default)]
    pub checkpoint: Option<PathBuf>,
    /// Resubscribe when nothing (not even a keepalive comment) arrived for this long. NSO sends no keepalives unless configured to.
    #[serde(default = "default_idle_timeout")]
    pub idle_timeout: HumanDuration,
    /// After the server refused the credentials (HTTP 401), wait this long before trying again.
    #[serde(default = "netpipe_connect::reconnect::default_auth_retry")]
    pub auth_retry: HumanDuration,
    /// Longest wait between reconnect attempts.
    #[serde(default = "netpipe_connect::reconnect::default_max_backoff")]
    pub max_backoff: HumanDuration,
    #[serde(flatten)]
    pub tls: TlsOptions,
}

fn default_idle_timeout() -> HumanDuration {
    HumanDuration(Duration::from_secs(3600))
}

pub fn source_type() -> SourceType {
    SourceType::new::<NsoConfig>(
        "nso",
        "Cisco NSO notification streams over RESTCONF (server-sent events, replay by start-time): streams `nso.<stream>`, `netpipe.gap`, `netpipe.dead_letter`.",
    )
    .with_stream_schemas(crate::notification::stream_schemas)
    .with_simulator(crate::simulator::simulator())
}

impl SourceConfig for NsoConfig {
    fn build(&self, cx: &BuildContext) -> Result<Box<dyn Source>, BoxError> {
        let mut errors = Vec::new();
        let url = self.url.trim_end_matches('/');
        if !(url.starts_with("https://") || url.starts_with("http://")) {
            errors.push(
                OptionError::new("url", format!("`{url}` is not an http(s) URL"))
                    .hint("e.g. url: https://nso.example.net:8888"),
            );
        }
        if self.username.trim().is_empty() {
            errors.push(OptionError::new("username", "`username` is empty"));
        }
        if self.password.is_blank() {
            errors.push(OptionError::new("password", "`password` is empty"));
        }
        if self.streams.as_ref().is_some_and(Vec::is_empty) {
            errors.push(
                OptionError::new("streams", "`streams` is empty")
                    .hint("leave it out to subscribe to every stream the server lists"),
            );
        }
        let tls = self.tls.client_config(cx).map_err(|e| errors.push(e)).ok();
        let (Some(tls), true) = (tls, errors.is_empty()) else {
            return Err(Box::new(OptionErrors(errors)));
        };
        Ok(Box::new(crate::connect::NsoSource {
            url: url.to_string(),
            username: self.username.clone(),
            password: self.password.clone(),
            streams: self.streams.clone(),
            checkpoint: self.checkpoint.as_ref().map(|p| cx.resolve(p)),
            idle_timeout: self.idle_timeout.0,
            auth_retry: self.auth_retry.0,
            max_backoff: self.max_backoff.0,
            tls_options: self.tls.clone(),
            tls,
        }))
    }
}
