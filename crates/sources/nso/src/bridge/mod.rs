//! The `nso_bridge` source: every `_ncs.events` notification, forwarded by
//! `bridge/nso_bridge.py`, a script that runs next to NSO (NSO's event API
//! only exists inside NSO's own Python). netpipe listens; the bridge
//! connects, says hello (with the shared token, when one is set) and sends
//! one JSON line per notification ([`line`]); netpipe answers each with an
//! acknowledgement once every sink has written it, which the bridge's
//! lossless mode waits for before it lets NSO go on.

pub mod line;
mod listen;

use std::net::SocketAddr;
use std::path::PathBuf;

use netpipe_core::config::{OptionError, OptionErrors, SourceType};
use netpipe_core::{BoxError, BuildContext, Secret, Source, SourceConfig};
use schemars::JsonSchema;
use serde::Deserialize;

/// Options of the `nso_bridge` source.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NsoBridgeConfig {
    /// Address the bridges connect to, `HOST:PORT`.
    pub listen: SocketAddr,
    /// A shared token the bridge must present (`--token`); use `${NSO_BRIDGE_TOKEN}`.
    #[serde(default)]
    pub token: Option<Secret>,
    /// PEM certificate chain: bridges then connect over TLS (`--tls`); needs `tls_key`.
    #[serde(default)]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of `tls_cert`.
    #[serde(default)]
    pub tls_key: Option<PathBuf>,
}

pub fn source_type() -> SourceType {
    SourceType::new::<NsoBridgeConfig>(
        "nso_bridge",
        "Cisco NSO `_ncs.events` notifications from bridge/nso_bridge.py (JSON lines over TCP, acknowledged back): streams `nso.events.<type>`, `netpipe.dead_letter`.",
    )
    .with_stream_schemas(stream_schemas)
}

/// The notification types the bridge sends (the mask bits that are types,
/// not flags), by the names their streams take.
const TYPES: [&str; 28] = [
    "NOTIF_AUDIT",
    "NOTIF_DAEMON",
    "NOTIF_COMMIT_SIMPLE",
    "NOTIF_COMMIT_DIFF",
    "NOTIF_USER_SESSION",
    "NOTIF_HA_INFO",
    "NOTIF_SUBAGENT_INFO",
    "NOTIF_COMMIT_FAILED",
    "NOTIF_SNMPA",
    "NOTIF_FORWARD_INFO",
    "NOTIF_NETCONF",
    "NOTIF_DEVEL",
    "NOTIF_HEARTBEAT",
    "NOTIF_CONFIRMED_COMMIT",
    "NOTIF_UPGRADE_EVENT",
    "NOTIF_COMMIT_PROGRESS",
    "NOTIF_HEALTH_CHECK",
    "NOTIF_STREAM_EVENT",
    "NCS_NOTIF_PACKAGE_RELOAD",
    "NCS_NOTIF_CQ_PROGRESS",
    "NOTIF_REOPEN_LOGS",
    "NOTIF_PROGRESS",
    "NCS_NOTIF_CALL_HOME_INFO",
    "NOTIF_JSONRPC",
    "NOTIF_WEBUI",
    "NCS_NOTIF_AUDIT_NETWORK",
    "NOTIF_COMPACTION",
    "NOTIF_SYSTEM_GOING_DOWN",
];

/// Each type's stream holds the envelope typed sinks get: the type and the
/// notification as JSON text (its fields vary between NSO versions).
fn stream_schemas() -> Vec<(String, serde_json::Value)> {
    use netpipe_core::schema::field;
    TYPES
        .into_iter()
        .map(|notification_type| {
            let stream = line::stream_of(notification_type);
            let name = stream.trim_start_matches("nso.events.").to_string();
            let schema = serde_json::json!({
                "type": "record",
                "name": name,
                "namespace": "netpipe.nso.events",
                "doc": format!("An NSO `{notification_type}` notification from the bridge: its type and the notification as JSON text."),
                "fields": [
                    field("type", serde_json::json!("string")),
                    field("data", serde_json::json!("string")),
                ],
            });
            (stream, schema)
        })
        .collect()
}

impl SourceConfig for NsoBridgeConfig {
    fn build(&self, cx: &BuildContext) -> Result<Box<dyn Source>, BoxError> {
        let mut errors = Vec::new();
        if self.token.as_ref().is_some_and(Secret::is_blank) {
            errors.push(
                OptionError::new("token", "`token` is empty").hint("leave it out for no token"),
            );
        }
        let tls = match (&self.tls_cert, &self.tls_key) {
            (None, None) => None,
            (Some(cert), Some(key)) => {
                match netpipe_connect::tls::server_config(&cx.resolve(cert), &cx.resolve(key)) {
                    Ok(config) => Some(config),
                    Err(e) => {
                        errors.push(OptionError::new("tls_cert", e));
                        None
                    }
                }
            }
            (Some(_), None) => {
                errors.push(OptionError::new("tls_cert", "`tls_cert` needs `tls_key`"));
                None
            }
            (None, Some(_)) => {
                errors.push(OptionError::new("tls_key", "`tls_key` needs `tls_cert`"));
                None
            }
        };
        if !errors.is_empty() {
            return Err(Box::new(OptionErrors(errors)));
        }
        Ok(Box::new(listen::BridgeSource {
            listen: self.listen,
            token: self.token.clone(),
            tls,
        }))
    }
}
