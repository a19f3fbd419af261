//! The producer's librdkafka settings: netpipe's defaults, then the
//! user's.

use rdkafka::ClientConfig;

use crate::config::{Compression, KafkaConfig};

/// The producer's librdkafka settings: netpipe's, then the user's.
pub(crate) fn client_config(config: &KafkaConfig) -> ClientConfig {
    let mut client = ClientConfig::new();
    client
        .set("bootstrap.servers", &config.bootstrap_servers)
        .set("acks", &config.acks)
        .set("compression.type", compression(config.compression))
        .set("linger.ms", "20")
        // One batch is in flight at a time; this caps what librdkafka may
        // hold while a broker is away, so memory stays bounded.
        .set("queue.buffering.max.kbytes", "65536")
        // Topics are made only when `create_topics` says how: a producer's
        // metadata request would otherwise have a broker that allows it
        // create a misspelt topic with its defaults (librdkafka's producer
        // default is to ask; Kafka's broker default is to agree).
        .set("allow.auto.create.topics", "false");
    config.librdkafka.apply_to(&mut client);
    client
}

fn compression(c: Compression) -> &'static str {
    match c {
        Compression::None => "none",
        Compression::Gzip => "gzip",
        Compression::Snappy => "snappy",
        Compression::Lz4 => "lz4",
        Compression::Zstd => "zstd",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::KafkaConfig;
    use netpipe_kafka::settings::settings_error;

    fn config(librdkafka: &str) -> KafkaConfig {
        serde_yaml_ng::from_str(&format!(
            "bootstrap_servers: b:9092\nlibrdkafka: {{ {librdkafka} }}"
        ))
        .unwrap()
    }

    /// netpipe never has a broker create a topic by accident: only
    /// `create_topics` makes them, unless a user asks librdkafka to.
    #[test]
    fn producers_never_ask_brokers_to_create_topics_unless_told() {
        assert_eq!(
            client_config(&config("")).get("allow.auto.create.topics"),
            Some("false")
        );
        let asked = config("allow.auto.create.topics: \"true\"");
        assert_eq!(
            client_config(&asked).get("allow.auto.create.topics"),
            Some("true")
        );
    }

    #[test]
    fn a_settings_error_never_shows_the_value() {
        let bad = config("sasl.pasword: hunter2-secret");
        let Err(error) = client_config(&bad).create_native_config() else {
            panic!("a misspelt option was accepted")
        };
        let text = settings_error(&error);
        assert!(text.contains("`sasl.pasword`"), "{text}");
        assert!(!text.contains("hunter2"), "{text}");
    }

    #[test]
    fn a_printed_config_hides_secret_settings() {
        let config = config(
            "sasl.password: hunter2, ssl.key.password: k3y, sasl.oauthbearer.config: t0ken, linger.ms: \"5\"",
        );
        let printed = format!("{config:?}");
        for secret in ["hunter2", "k3y", "t0ken"] {
            assert!(!printed.contains(secret), "{printed}");
        }
        assert!(printed.contains("\"linger.ms\": \"5\""), "{printed}");
    }
}
