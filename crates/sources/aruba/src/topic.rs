//! The six streaming topics and the message each one carries.

use std::fmt;
use std::str::FromStr;

use schemars::JsonSchema;
use serde::Deserialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Topic {
    Audit,
    Apprf,
    Location,
    Monitoring,
    Presence,
    Security,
}

impl Topic {
    pub const ALL: [Topic; 6] = [
        Topic::Audit,
        Topic::Apprf,
        Topic::Location,
        Topic::Monitoring,
        Topic::Presence,
        Topic::Security,
    ];

    /// The value of the `Topic` header.
    pub fn as_str(self) -> &'static str {
        match self {
            Topic::Audit => "audit",
            Topic::Apprf => "apprf",
            Topic::Location => "location",
            Topic::Monitoring => "monitoring",
            Topic::Presence => "presence",
            Topic::Security => "security",
        }
    }

    /// The full name of the message in `MsgProto.data`.
    pub fn message(self) -> &'static str {
        match self {
            Topic::Audit => "Audit.audit_message",
            Topic::Apprf => "Apprf.apprf_session",
            Topic::Location => "Location.stream_location",
            Topic::Monitoring => "Monitoring.MonitoringInformation",
            Topic::Presence => "Presence.presence_event",
            Topic::Security => "Security.RapidsStreamingEvent",
        }
    }
}

impl fmt::Display for Topic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Topic {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Topic::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| {
                format!(
                    "unknown topic `{s}` (audit, apprf, location, monitoring, presence, security)"
                )
            })
    }
}
