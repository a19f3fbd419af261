//! librdkafka settings as a user gives them: passed through as they are,
//! printed with the values of secret ones hidden, and reported without
//! their values (which may be secrets) when librdkafka refuses them.

use std::collections::BTreeMap;

use netpipe_core::config::OptionError;
use rdkafka::ClientConfig;
use schemars::JsonSchema;
use serde::Deserialize;

/// librdkafka settings as given. Their `Debug` hides the values of the
/// ones that may be secret (passwords, keys, tokens, JAAS and OAuth
/// configurations), so a printed config never shows them.
#[derive(Clone, Default, Deserialize, serde::Serialize, JsonSchema)]
#[serde(transparent)]
#[schemars(inline)]
pub struct Librdkafka(pub BTreeMap<String, String>);

impl Librdkafka {
    /// Sets these settings on `client`, over netpipe's own.
    pub fn apply_to(&self, client: &mut ClientConfig) {
        for (key, value) in &self.0 {
            client.set(key, value);
        }
    }

    /// Whether the value of setting `key` may be a secret.
    pub fn is_secret(key: &str) -> bool {
        ["password", "secret", "key", "token", "jaas", "oauthbearer"]
            .iter()
            .any(|word| key.contains(word))
    }
}

impl std::fmt::Debug for Librdkafka {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map()
            .entries(self.0.iter().map(|(k, v)| {
                let shown = if Librdkafka::is_secret(k) {
                    "***"
                } else {
                    v.as_str()
                };
                (k, shown)
            }))
            .finish()
    }
}

/// A settings error without the value, which may be a password: rdkafka's
/// own message prints it (`sasl.pasword: ${KAFKA_PW}` misspelt would).
pub fn settings_error(error: &rdkafka::error::KafkaError) -> String {
    match error {
        rdkafka::error::KafkaError::ClientConfig(_, description, key, value) => {
            let description = if value.is_empty() {
                description.clone()
            } else {
                description.replace(value.as_str(), "***")
            };
            format!("librdkafka option `{key}`: {description}")
        }
        other => other.to_string(),
    }
}

/// librdkafka's own check of `client`'s settings (it needs no broker):
/// an error naming the setting of `given` at fault, if any.
pub fn check(client: &ClientConfig, given: &Librdkafka) -> Option<OptionError> {
    let error = client.create_native_config().err()?;
    let path = match &error {
        rdkafka::error::KafkaError::ClientConfig(_, _, key, _) if given.0.contains_key(key) => {
            format!("librdkafka.{key}")
        }
        _ => "librdkafka".to_string(),
    };
    Some(
        OptionError::new(path, settings_error(&error))
            .hint("see librdkafka's CONFIGURATION.md for the property names"),
    )
}
