//! Events of every value kind go to Arrow and come back equal, typed by
//! their stream's Avro schema; a value a column cannot hold is refused with
//! a reason, never stored as something else.

use std::sync::Arc;

use bytes::Bytes;
use netpipe_arrow::{EventReader, event_schema, events_to_batch};
use netpipe_core::value::field_names;
use netpipe_core::{Event, Record, Timestamp, Value};
use serde_json::json;

fn schema() -> serde_json::Value {
    let optional = |t: serde_json::Value| json!(["null", t]);
    json!({
        "type": "record", "name": "kinds", "namespace": "test",
        "fields": [
            { "name": "flag", "type": optional(json!("boolean")), "default": null },
            { "name": "count", "type": optional(json!("long")), "default": null },
            { "name": "ratio", "type": optional(json!("double")), "default": null },
            { "name": "name", "type": optional(json!("string")), "default": null },
            { "name": "blob", "type": optional(json!("bytes")), "default": null },
            { "name": "at", "type": optional(json!({ "type": "long", "logicalType": "timestamp-micros" })), "default": null },
            { "name": "inner", "type": optional(json!({
                "type": "record", "name": "inner",
                "fields": [{ "name": "id", "type": optional(json!("string")), "default": null }]
            })), "default": null },
            { "name": "list", "type": optional(json!({ "type": "array", "items": "long" })), "default": null },
            { "name": "labels", "type": optional(json!({ "type": "map", "values": "string" })), "default": null }
        ]
    })
}

fn payload(count: Value) -> Record {
    Record::new(
        field_names(&[
            "flag", "count", "ratio", "name", "blob", "at", "inner", "list", "labels",
        ]),
        vec![
            Value::Bool(true),
            count,
            Value::Float(-2.5),
            Value::string("sw1 \u{2603}"),
            Value::Bytes(Bytes::from_static(b"\0\xff")),
            Value::Timestamp(Timestamp(1_764_000_000_123_456_000)),
            Value::Record(Record::new(
                field_names(&["id"]),
                vec![Value::string("JPE1")],
            )),
            Value::List(vec![Value::Int(1), Value::Int(i64::MIN)]),
            Value::Record(Record::new(
                field_names(&["site"]),
                vec![Value::string("lab")],
            )),
        ],
    )
}

fn event(payload: Record) -> Event {
    Event::new(
        Arc::from("src"),
        Arc::from("test.kinds"),
        Timestamp::from_secs(1_764_000_000),
        payload,
    )
    .with_key(Some(Arc::from("JPE1")))
    .with_receive_time(Timestamp::from_secs(1_764_000_001))
}

#[test]
fn every_kind_of_value_comes_back_as_it_went() {
    let schema = Arc::new(event_schema(Some(&schema())).unwrap());
    let sent = [
        event(payload(Value::Int(i64::MAX))),
        event(payload(Value::Null)),
    ];
    let batch = events_to_batch(&schema, &sent.iter().collect::<Vec<_>>()).unwrap();
    let back = EventReader::new(Arc::from("src"), Arc::from("file"))
        .events(&batch, 0)
        .unwrap();
    assert_eq!(back.len(), 2);
    for (sent, back) in sent.iter().zip(&back) {
        assert_eq!(back.stream, sent.stream);
        assert_eq!(back.event_time, sent.event_time);
        assert_eq!(back.receive_time, sent.receive_time);
        assert_eq!(back.key, sent.key);
        // Timestamps are kept to the microsecond, as the column holds them.
        assert_eq!(back.payload.record(), sent.payload.record());
    }
}

#[test]
fn an_unsigned_value_above_a_long_is_refused_not_wrapped() {
    let schema = Arc::new(event_schema(Some(&schema())).unwrap());
    let sent = [event(payload(Value::UInt(u64::MAX)))];
    let error = events_to_batch(&schema, &sent.iter().collect::<Vec<_>>()).unwrap_err();
    assert!(
        error.to_string().contains("18446744073709551615"),
        "{error}"
    );
}
