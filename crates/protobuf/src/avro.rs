//! Avro schemas of messages, made from the same plans the readers follow,
//! so the two cannot disagree: every integer is a `long`, floats are
//! `double`s, enums their names (strings), text bytes strings, other bytes
//! `bytes`; maps are Avro maps; address messages, `Duration`, `FieldMask`,
//! `Struct`, `Value` and `ListValue` strings; `Timestamp` a
//! `timestamp-micros`; wrappers their value. Every field is optional
//! (protobuf fields may be absent); repeated fields are arrays.
//!
//! A `uint64` above `i64::MAX` has no Avro `long`: a sink refuses that value
//! rather than wrap it (JSON writes it exactly).

use std::collections::HashSet;

use netpipe_core::schema::{field, optional, timestamp};
use serde_json::{Value as Json, json};

use crate::plans::{BytesAs, FieldKind, Plans, Special};
use crate::well_known::WellKnown;

/// The schema of plan `index`'s messages as a record in namespace
/// `root.<package>`, with `leading` fields before the message's own.
pub fn message_schema(plans: &Plans, index: usize, root: &str, leading: &[Json]) -> Json {
    let mut writer = Writer {
        plans,
        root,
        defined: HashSet::new(),
    };
    writer.message(index, leading)
}

struct Writer<'a> {
    plans: &'a Plans,
    root: &'a str,
    defined: HashSet<usize>,
}

impl Writer<'_> {
    /// Splits `Monitoring.Foo` into a namespace (`<root>.Monitoring`) and a name.
    fn avro_name(&self, full_name: &str) -> (String, String) {
        let (namespace, name) = full_name.rsplit_once('.').unwrap_or(("", full_name));
        let namespace = match namespace.is_empty() {
            true => self.root.to_string(),
            false => format!("{}.{namespace}", self.root),
        };
        (namespace, name.to_string())
    }

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
        match message.special {
            Special::Address(_) => return json!("string"),
            Special::WellKnown(WellKnown::Timestamp) => return timestamp(),
            Special::WellKnown(WellKnown::Wrapper) => {
                return self.kind(&message.fields[0].kind);
            }
            Special::WellKnown(_) => return json!("string"),
            Special::None => {}
        }
        let (namespace, name) = self.avro_name(&message.full_name);
        if !self.defined.insert(plan) {
            return json!(format!("{namespace}.{name}"));
        }
        let mut fields = leading.to_vec();
        for (name, f) in message.names.iter().zip(&message.fields) {
            // A field of a leading name gives way to it: Avro names a field once.
            if leading.iter().any(|l| l["name"] == **name) {
                continue;
            }
            let schema = match (f.map, &f.kind) {
                (true, FieldKind::Message(entry)) => {
                    let value = self.plans.messages[*entry].fields[1].kind.clone();
                    json!({ "type": "map", "values": self.kind(&value) })
                }
                (false, kind) if f.repeated => json!({ "type": "array", "items": self.kind(kind) }),
                (_, kind) => self.kind(kind),
            };
            fields.push(field(name, optional(schema)));
        }
        json!({ "type": "record", "name": name, "namespace": namespace, "fields": fields })
    }
}
