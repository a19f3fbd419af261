//! Avro schemas of the `aruba.*` streams, made by the codec from the plans
//! the decoder follows ([`netpipe_protobuf::avro`]), so the two cannot
//! disagree; and of the split monitoring element streams.

use netpipe_core::schema::{field, timestamp};
use netpipe_protobuf::avro::message_schema;
use netpipe_protobuf::plans::{FieldKind, Plans, Special};
use serde_json::{Value as Json, json};

use crate::topic::Topic;

/// Every `aruba.*` stream and its schema, including the split monitoring elements.
pub fn stream_schemas(plans: &Plans) -> Vec<(String, Json)> {
    let mut out = Vec::new();
    for topic in Topic::ALL {
        let plan = plans.index_of(topic.message()).expect("topic message");
        out.push((
            format!("aruba.{topic}"),
            message_schema(plans, plan, "aruba", &[]),
        ));
    }
    let monitoring = &plans.messages[plans
        .index_of(Topic::Monitoring.message())
        .expect("monitoring")];
    for (name, f) in monitoring.names.iter().zip(&monitoring.fields) {
        let FieldKind::Message(element) = f.kind else {
            continue;
        };
        if plans.messages[element].special != Special::None {
            continue;
        }
        let leading = [
            field("customer_id", json!("string")),
            field("timestamp", timestamp()),
        ];
        let mut schema = message_schema(plans, element, "aruba", &leading);
        // Each split stream is its own top-level record.
        schema["name"] = json!(name.to_string());
        schema["namespace"] = json!("aruba.monitoring");
        out.push((format!("aruba.monitoring.{name}"), schema));
    }
    out
}
