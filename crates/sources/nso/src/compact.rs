//! A notification's JSON read without building it: the object under
//! `ietf-restconf:notification` written compact, in the order it came
//! (`serde_transcode` feeds the parser's tokens straight to a writer), and
//! its `eventTime` found in a second, skipping pass over those bytes.
//!
//! What it accepts and returns is what a `serde_json::Value` reading would
//! give (the last of repeated keys counts, numbers out of range are
//! refused), at a fraction of the cost: no map, no string per member.

use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::Value as Json;
use serde_json::value::RawValue;

const NOTIFICATION: &str = "ietf-restconf:notification";

/// The notification object of `data` (a whole RESTCONF notification), as
/// compact JSON; `Ok(None)` when `data` has no such member.
pub fn notification_object(data: &str) -> Result<Option<Vec<u8>>, serde_json::Error> {
    let mut input = serde_json::Deserializer::from_str(data);
    let inner = input.deserialize_map(Outer)?;
    input.end()?;
    let Some(inner) = inner else {
        return Ok(None);
    };
    let mut compact = Vec::with_capacity(inner.get().len());
    let mut input = serde_json::Deserializer::from_str(inner.get());
    serde_transcode::transcode(&mut input, &mut serde_json::Serializer::new(&mut compact))?;
    Ok(Some(compact))
}

/// The last `eventTime` member of a compact JSON object, when it is a string.
pub fn event_time(object: &[u8]) -> Option<String> {
    serde_json::Deserializer::from_slice(object)
        .deserialize_map(EventTime)
        .ok()
        .flatten()
}

/// Finds the notification member of the outer object, kept as its text;
/// other members are read whole (and dropped), so the outer object is JSON
/// exactly when a `Value` reading says so.
struct Outer;

impl<'de> Visitor<'de> for Outer {
    type Value = Option<&'de RawValue>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut inner = None;
        while let Some(is_notification) = map.next_key_seed(KeyIs(NOTIFICATION))? {
            match is_notification {
                true => inner = Some(map.next_value::<&'de RawValue>()?),
                false => drop(map.next_value::<Json>()?),
            }
        }
        Ok(inner)
    }
}

struct EventTime;

impl<'de> Visitor<'de> for EventTime {
    type Value = Option<String>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut time = None;
        while let Some(is_time) = map.next_key_seed(KeyIs("eventTime"))? {
            match is_time {
                true => time = map.next_value::<Json>()?.as_str().map(str::to_string),
                false => drop(map.next_value::<IgnoredAny>()?),
            }
        }
        Ok(time)
    }
}

/// Whether a member's name is the one given, read without keeping it.
struct KeyIs(&'static str);

impl<'de> DeserializeSeed<'de> for KeyIs {
    type Value = bool;

    fn deserialize<D: Deserializer<'de>>(self, input: D) -> Result<bool, D::Error> {
        input.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeyIs {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a member name")
    }

    fn visit_str<E>(self, name: &str) -> Result<bool, E> {
        Ok(name == self.0)
    }
}
