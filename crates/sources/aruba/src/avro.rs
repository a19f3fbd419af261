//! Avro schemas of the `aruba.*` streams, made from the same decoding plans
//! the decoder follows, so the two cannot disagree: address messages are
//! strings, enums are their names (strings), every integer is a `long`,
//! floats are `double`s, ESSIDs strings, other bytes `bytes`. Every field is
//! optional (proto2 fields may be absent); repeated fields are arrays.

use std::collections::HashSet;

use netpipe_core::schema::{field, optional, timestamp};
use serde_json::{Value as Json, json};

use crate::schema::{BytesAs, FieldKind, Plans};
use crate::topic::Topic;

/// Splits `Monitoring.Foo` into an Avro namespace (`aruba.Monitoring`) and name.
fn avro_name(full_name: &str) -> (String, String) {
    let (namespace, name) = full_name.rsplit_once('.').unwrap_or(("", full_name));
    let namespace = if namespace.is_empty() {
        "aruba".to_string()
    } else {
        format!("aruba.{namespace}")
    };
    (namespace, name.to_string())
}

struct Writer<'a> {
    plans: &'a Plans,
    defined: HashSet<usize>,
}

impl Writer<'_> {
    fn kind(&mut self, kind: &FieldKind) -> Json {
        match kind {
            FieldKind::Bool => json!("boolean"),
            FieldKind::Float | FieldKind::Double => json!("double"),
            FieldKind::String | FieldKind::Enum(_) | FieldKind::Bytes(BytesAs::Text) => {
                json!("string")
            }
            FieldKind::Bytes(BytesAs::Bytes) => json!("bytes"),
            FieldKind::Message(plan) => self.message(*plan, &[]),
            _ => json!("long"),
        }
    }

    /// A record schema, or a reference to it when already defined.
    fn message(&mut self, plan: usize, leading: &[Json]) -> Json {
        let message = &self.plans.messages[plan];
        if message.address.is_some() {
            return json!("string");
        }
        let (namespace, name) = avro_name(&message.full_name);
        if !self.defined.insert(plan) {
            return json!(format!("{namespace}.{name}"));
        }
        let mut fields = leading.to_vec();
        for (name, f) in message.names.iter().zip(&message.fields) {
            let item = self.kind(&f.kind);
            let schema = if f.repeated {
                json!({ "type": "array", "items": item })
            } else {
                item
            };
            fields.push(field(name, optional(schema)));
        }
        json!({ "type": "record", "name": name, "namespace": namespace, "fields": fields })
    }
}

/// Every `aruba.*` stream and its schema, including the split monitoring elements.
pub fn stream_schemas(plans: &Plans) -> Vec<(String, Json)> {
    let mut out = Vec::new();
    for topic in Topic::ALL {
        let plan = plans.index_of(topic.message()).expect("topic message");
        let mut writer = Writer {
            plans,
            defined: HashSet::new(),
        };
        out.push((format!("aruba.{topic}"), writer.message(plan, &[])));
    }
    let monitoring = &plans.messages[plans
        .index_of(Topic::Monitoring.message())
        .expect("monitoring")];
    for (name, f) in monitoring.names.iter().zip(&monitoring.fields) {
        let FieldKind::Message(element) = f.kind else {
            continue;
        };
        if plans.messages[element].address.is_some() {
            continue;
        }
        let mut writer = Writer {
            plans,
            defined: HashSet::new(),
        };
        let leading = [
            field("customer_id", json!("string")),
            field("timestamp", timestamp()),
        ];
        let mut schema = writer.message(element, &leading);
        // Each split stream is its own top-level record.
        schema["name"] = json!(name.to_string());
        schema["namespace"] = json!("aruba.monitoring");
        out.push((format!("aruba.monitoring.{name}"), schema));
    }
    out
}
