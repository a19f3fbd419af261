//! Sans-IO decoding of PacketFabric's server-sent events: the `event:` name
//! (`<type>|<category>`) and the joined `data:` lines in, a typed event out.
//! Known kinds get their documented fields typed (counters as integers,
//! optics as floats, timestamps as times; `vlan` as a number even when sent
//! as text); fields the API adds later are kept, typed from their JSON;
//! unknown kinds pass through as generic records.

use std::collections::HashMap;
use std::sync::Arc;

use netpipe_core::value::field_names;
use netpipe_core::{Event, FieldNames, Record, Timestamp, Value};
use serde_json::Value as Json;

use crate::kinds::{self, Type};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("data is not JSON: {0}")]
    NotJson(String),
    #[error("data is JSON but not an object")]
    NotObject,
    /// The event's own time cannot be read: taking the time of receipt
    /// instead would invent data, so the event goes to the dead letters
    /// whole.
    #[error("`timestamp` is not a time netpipe reads: `{0}`")]
    BadTimestamp(String),
}

/// Times as PacketFabric writes them: RFC 3339, `+0000` offsets, or no
/// offset at all (taken as UTC).
pub fn parse_time(text: &str) -> Option<Timestamp> {
    if let Some(t) = Timestamp::parse_rfc3339(text) {
        return Some(t);
    }
    let nanos = |t: chrono::DateTime<chrono::Utc>| t.timestamp_nanos_opt().map(Timestamp);
    for format in ["%Y-%m-%dT%H:%M:%S%.f%z", "%Y-%m-%d %H:%M:%S%.f%z"] {
        if let Ok(t) = chrono::DateTime::parse_from_str(text, format) {
            return nanos(t.to_utc());
        }
    }
    for format in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"] {
        if let Ok(t) = chrono::NaiveDateTime::parse_from_str(text, format) {
            return nanos(t.and_utc());
        }
    }
    None
}

/// Any JSON as a netpipe value.
fn generic(json: Json) -> Value {
    match json {
        Json::Null => Value::Null,
        Json::Bool(b) => Value::Bool(b),
        Json::Number(n) => match n.as_i64() {
            Some(i) => Value::Int(i),
            None => Value::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        Json::String(s) => Value::string(&s),
        Json::Array(items) => Value::List(items.into_iter().map(generic).collect()),
        Json::Object(map) => {
            let (names, values): (Vec<String>, Vec<Value>) =
                map.into_iter().map(|(k, v)| (k, generic(v))).unzip();
            Value::Record(Record::new(field_names(&names), values))
        }
    }
}

/// A documented field, typed as documented where the JSON allows.
fn typed(json: Json, t: Type) -> Value {
    match (t, json) {
        (_, Json::Null) => Value::Null,
        (Type::Int, Json::Number(n)) if n.is_i64() || n.is_u64() => {
            Value::Int(n.as_i64().unwrap_or(n.as_u64().unwrap_or(0) as i64))
        }
        (Type::Int, Json::String(s)) if s.trim().parse::<i64>().is_ok() => {
            Value::Int(s.trim().parse().unwrap_or(0))
        }
        (Type::Float, Json::Number(n)) => Value::Float(n.as_f64().unwrap_or(f64::NAN)),
        (Type::Float, Json::String(s)) if s.trim().parse::<f64>().is_ok() => {
            Value::Float(s.trim().parse().unwrap_or(f64::NAN))
        }
        (Type::Time, Json::String(s)) => parse_time(&s)
            .map(Value::Timestamp)
            .unwrap_or_else(|| Value::string(&s)),
        (Type::Text, Json::String(s)) => Value::string(&s),
        (_, other) => generic(other),
    }
}

struct Plan {
    stream: Arc<str>,
    names: FieldNames,
    types: Vec<Type>,
    stream_type: &'static str,
}

/// Decodes events for one source; build once per source.
pub struct Decoder {
    source: Arc<str>,
    plans: HashMap<String, Plan>,
    unknown: HashMap<String, Arc<str>>,
}

impl Decoder {
    pub fn new(source: Arc<str>) -> Self {
        let plans = kinds::all()
            .into_iter()
            .map(|k| {
                let names: Vec<&str> = k.fields.iter().map(|(n, _)| n.as_str()).collect();
                let plan = Plan {
                    stream: Arc::from(k.stream()),
                    names: field_names(&names),
                    types: k.fields.iter().map(|(_, t)| *t).collect(),
                    stream_type: k.stream_type,
                };
                (format!("{}|{}", k.stream_type, k.category), plan)
            })
            .collect();
        Decoder {
            source,
            plans,
            unknown: HashMap::new(),
        }
    }

    /// One SSE event as a netpipe event.
    pub fn decode(&mut self, event_name: &str, data: &str) -> Result<Event, DecodeError> {
        let json: Json =
            serde_json::from_str(data).map_err(|e| DecodeError::NotJson(e.to_string()))?;
        let Json::Object(mut object) = json else {
            return Err(DecodeError::NotObject);
        };
        let (stream, record, stream_type) = match self.plans.get(event_name) {
            Some(plan) => {
                let mut values: Vec<Value> = plan
                    .names
                    .iter()
                    .zip(&plan.types)
                    .map(|(name, t)| object.remove(&**name).map_or(Value::Null, |j| typed(j, *t)))
                    .collect();
                let record = if object.is_empty() {
                    Record::new(plan.names.clone(), values)
                } else {
                    // Fields the documentation does not list yet: kept, after the known ones.
                    let mut names: Vec<Arc<str>> = plan.names.to_vec();
                    for (name, json) in object {
                        names.push(Arc::from(name));
                        values.push(generic(json));
                    }
                    Record::new(names.into(), values)
                };
                (plan.stream.clone(), record, plan.stream_type)
            }
            None => {
                let stream = self
                    .unknown
                    .entry(event_name.to_string())
                    .or_insert_with(|| {
                        let suffix = if event_name.is_empty() {
                            "message".to_string()
                        } else {
                            event_name.replace('|', ".")
                        };
                        Arc::from(format!("packetfabric.{suffix}"))
                    })
                    .clone();
                let Value::Record(record) = generic(Json::Object(object)) else {
                    unreachable!("an object is a record")
                };
                (stream, record, "")
            }
        };
        // The payload's own time; the time of receipt when it has none.
        let event_time = match record.get("timestamp") {
            Some(Value::Timestamp(t)) => *t,
            Some(Value::String(text)) => match parse_time(text) {
                Some(t) => t,
                None => return Err(DecodeError::BadTimestamp(text.to_string())),
            },
            _ => Timestamp::now(),
        };
        let text = |name: &str| record.get(name).and_then(Value::as_str).map(str::to_string);
        let key = match stream_type {
            "port" => text("port_circuit_id"),
            "vc" => match (text("vc_circuit_id"), text("port_circuit_id")) {
                (Some(vc), Some(port)) => Some(format!("{vc}&{port}")),
                (vc, port) => vc.or(port),
            },
            _ => text("category").or_else(|| event_name.split('|').nth(1).map(str::to_string)),
        };
        Ok(
            Event::new(self.source.clone(), stream, event_time, record)
                .with_key(key.map(Arc::from)),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(name: &str, data: &str) -> Event {
        Decoder::new("pf".into()).decode(name, data).unwrap()
    }

    #[test]
    fn timestamps_are_read_leniently() {
        let utc = Timestamp::parse_rfc3339("2021-08-06T16:23:12.872013Z").unwrap();
        assert_eq!(parse_time("2021-08-06T16:23:12.872013+0000"), Some(utc));
        assert_eq!(parse_time("2021-08-06T16:23:12.872013+00:00"), Some(utc));
        assert_eq!(
            parse_time("2021-08-06T16:23:12.872013"),
            Some(utc),
            "no offset means UTC"
        );
        assert_eq!(parse_time("yesterday"), None);
    }

    #[test]
    fn an_activity_log_event_keeps_unknown_fields() {
        let e = decode(
            "customer|auth",
            r#"{"log_level": "info","category": "auth","event": "login","ip_address": "192.168.1.0","message": "User Hank Aaron logged in.","timestamp": "2020-06-11T19:08:10.150711"}"#,
        );
        assert_eq!(&*e.stream, "packetfabric.customer.auth");
        assert_eq!(e.key.as_deref(), Some("auth"));
        assert_eq!(
            e.event_time,
            Timestamp::parse_rfc3339("2020-06-11T19:08:10.150711Z").unwrap()
        );
        assert_eq!(e.payload.get("event"), Some(&Value::string("login")));
        assert_eq!(
            e.payload.get("ip_address"),
            Some(&Value::string("192.168.1.0"))
        );
    }

    #[test]
    fn vc_metrics_take_vlan_as_text_or_number_and_key_by_both_circuits() {
        let data = r#"{"timestamp":"2021-09-22T20:34:30+00:00","vc_circuit_id":"PF-BC-1","port_circuit_id":"PF-AP-2","vlan":"4","bytes_rx_bps":12}"#;
        let e = decode("vc|metrics", data);
        assert_eq!(e.payload.get("vlan"), Some(&Value::Int(4)));
        assert_eq!(e.payload.get("bytes_rx_bps"), Some(&Value::Int(12)));
        assert_eq!(e.key.as_deref(), Some("PF-BC-1&PF-AP-2"));
    }

    #[test]
    fn unknown_kinds_pass_through_and_bad_data_is_an_error() {
        let e = decode("port|newthing", r#"{"a": [1, 2.5], "b": {"c": true}}"#);
        assert_eq!(&*e.stream, "packetfabric.port.newthing");
        assert_eq!(e.payload.get_path("b.c"), Some(&Value::Bool(true)));
        let mut d = Decoder::new("pf".into());
        assert!(matches!(
            d.decode("port|metrics", "not json"),
            Err(DecodeError::NotJson(_))
        ));
        assert_eq!(
            d.decode("port|metrics", "[1]").unwrap_err(),
            DecodeError::NotObject
        );
    }

    /// Fuzz target (stable Rust, `arbtest`): the simulator's events of every
    /// kind, their JSON damaged by random edits, their values swapped for
    /// other JSON types, under known and unknown event names: decoding never
    /// panics, and what is JSON but not an object is the only refusal
    /// besides text that is not JSON. `ARBTEST_BUDGET_MS` sets how long.
    #[test]
    fn fuzz_event_data_decodes_or_is_refused_without_panicking() {
        let kinds = crate::kinds::all();
        let mut names: Vec<String> = kinds
            .iter()
            .map(|k| format!("{}|{}", k.stream_type, k.category))
            .collect();
        names.push("port|unheard_of".into());
        let mut decoder = Decoder::new("pf".into());
        arbtest::arbtest(|u| {
            let kind = u.choose(&kinds)?;
            let n: u64 = u.arbitrary()?;
            let mut json = crate::simulator::sample(kind.stream_type, kind.category, n);
            if let serde_json::Value::Object(fields) = &mut json {
                let keys: Vec<String> = fields.keys().cloned().collect();
                for _ in 0..u.int_in_range(0..=4)? {
                    let key = u.choose(&keys)?;
                    let replacement = match u.int_in_range(0..=5)? {
                        0 => serde_json::Value::Null,
                        1 => serde_json::json!(u.arbitrary::<i64>()?),
                        2 => serde_json::json!(u.arbitrary::<f64>()?),
                        3 => serde_json::json!(u.arbitrary::<String>()?),
                        4 => serde_json::json!([u.arbitrary::<bool>()?]),
                        _ => serde_json::json!({ "nested": u.arbitrary::<u64>()? }),
                    };
                    fields.insert(key.clone(), replacement);
                }
            }
            let mut data = json.to_string().into_bytes();
            for _ in 0..u.int_in_range(0..=3)? {
                let at = u.int_in_range(0..=data.len())?;
                match u.int_in_range(0..=2)? {
                    0 if at < data.len() => data[at] = u.arbitrary()?,
                    1 => data.truncate(at),
                    _ => {
                        let bytes = u.arbitrary::<Vec<u8>>()?;
                        data.splice(at..at, bytes);
                    }
                }
            }
            let data = String::from_utf8_lossy(&data);
            let name = u.choose(&names)?;
            match decoder.decode(name, &data) {
                Ok(event) => assert!(!event.stream.is_empty()),
                Err(DecodeError::NotJson(_)) => {
                    assert!(serde_json::from_str::<serde_json::Value>(&data).is_err())
                }
                Err(DecodeError::NotObject) => {
                    assert!(
                        !serde_json::from_str::<serde_json::Value>(&data)
                            .unwrap()
                            .is_object()
                    )
                }
                Err(DecodeError::BadTimestamp(text)) => assert!(parse_time(&text).is_none()),
            }
            Ok(())
        });
    }

    #[test]
    fn an_unreadable_timestamp_is_refused_not_replaced_by_the_time_of_receipt() {
        let mut decoder = Decoder::new("pf".into());
        for name in ["customer|auth", "port|unheard_of"] {
            let error = decoder
                .decode(name, r#"{"category": "auth", "timestamp": "last tuesday"}"#)
                .unwrap_err();
            assert!(
                matches!(&error, DecodeError::BadTimestamp(t) if t == "last tuesday"),
                "{name}: {error}"
            );
        }
        // Without a timestamp at all, the time of receipt is the event's.
        let before = Timestamp::now();
        let event = decoder
            .decode("customer|auth", r#"{"category": "auth"}"#)
            .unwrap();
        assert!(event.event_time >= before);
    }
}
