//! Secrets in configuration (keys, tokens, passwords) typed so that they
//! cannot be logged: `Debug` and `Display` print `***`, and a value of the
//! wrong type is refused without being echoed. Only [`Secret::expose`]
//! gives the text, at the one place that sends it.

use std::fmt;

use schemars::{JsonSchema, Schema, SchemaGenerator};
use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};

/// A key, token or password from a pipeline file.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(String);

impl Secret {
    pub fn new(text: impl Into<String>) -> Self {
        Secret(text.into())
    }

    /// The text, for the request that sends it; never for a log or an error.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_blank(&self) -> bool {
        self.0.trim().is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// "a secret must be text": said without the value, which serde's own
/// "invalid type: integer `12345678`" would print.
const NOT_TEXT: &str = "a secret must be text: quote it, e.g. key: \"${VAR}\"";

struct SecretVisitor;

impl<'de> Visitor<'de> for SecretVisitor {
    type Value = Secret;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("text")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Secret, E> {
        Ok(Secret(v.to_string()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Secret, E> {
        Ok(Secret(v))
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Secret, E> {
        Err(E::custom(NOT_TEXT))
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Secret, E> {
        Err(E::custom(NOT_TEXT))
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Secret, E> {
        Err(E::custom(NOT_TEXT))
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Secret, E> {
        Err(E::custom(NOT_TEXT))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Secret, E> {
        Err(E::custom(NOT_TEXT))
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, _: A) -> Result<Secret, A::Error> {
        Err(de::Error::custom(NOT_TEXT))
    }

    fn visit_map<A: de::MapAccess<'de>>(self, _: A) -> Result<Secret, A::Error> {
        Err(de::Error::custom(NOT_TEXT))
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(SecretVisitor)
    }
}

impl JsonSchema for Secret {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Secret".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        schemars::json_schema!({ "type": "string" })
    }

    fn inline_schema() -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    struct Options {
        #[allow(dead_code)]
        key: Secret,
    }

    #[test]
    fn a_secret_is_never_printed() {
        let secret = Secret::new("s3cret-key");
        assert_eq!(format!("{secret} {secret:?}"), "*** Secret(***)");
        let options: Options = serde_yaml_ng::from_str("key: s3cret-key").unwrap();
        assert!(!format!("{options:?}").contains("s3cret"));
        assert_eq!(options.key.expose(), "s3cret-key");
    }

    #[test]
    fn a_secret_of_the_wrong_type_is_refused_without_its_value() {
        for yaml in [
            "key: 12345678",
            "key: 1234.5678",
            "key: [12345678]",
            "key: {a: 12345678}",
        ] {
            let error = serde_yaml_ng::from_str::<Options>(yaml)
                .unwrap_err()
                .to_string();
            assert!(!error.contains("12345678"), "{error}");
            assert!(error.contains("a secret must be text"), "{error}");
        }
    }
}
