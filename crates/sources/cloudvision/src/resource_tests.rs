//! Entities through the resource API's operations, on the built-in model.

use bytes::Bytes;
use prost::Message as _;
use prost_reflect::{DynamicMessage, MessageDescriptor, Value};

use super::*;
use crate::models::{EVENT_MODEL, compile};

fn model() -> MessageDescriptor {
    compile(&[])
        .unwrap()
        .get_message_by_name(EVENT_MODEL)
        .unwrap()
}

fn wrapped(model: &MessageDescriptor, path: &str, value: Value) -> DynamicMessage {
    // `path` names a wrapper field of `model`: its `value` is set.
    let field = model.get_field_by_name(path).unwrap();
    let prost_reflect::Kind::Message(wrapper) = field.kind() else {
        unreachable!()
    };
    let mut m = DynamicMessage::new(wrapper);
    m.set_field_by_name("value", value);
    m
}

/// An event with key `id`, and `title` and an acknowledgement when given.
fn event(id: &str, title: Option<&str>, acked: Option<bool>) -> Vec<u8> {
    let model = model();
    let mut e = DynamicMessage::new(model.clone());
    let key_desc = model.get_field_by_name("key").unwrap();
    let prost_reflect::Kind::Message(key_type) = key_desc.kind() else {
        unreachable!()
    };
    let mut key = DynamicMessage::new(key_type.clone());
    key.set_field_by_name(
        "key",
        Value::Message(wrapped(&key_type, "key", Value::String(id.into()))),
    );
    e.set_field_by_name("key", Value::Message(key));
    if let Some(title) = title {
        e.set_field_by_name(
            "title",
            Value::Message(wrapped(&model, "title", Value::String(title.into()))),
        );
    }
    if let Some(acked) = acked {
        let ack_field = model.get_field_by_name("ack").unwrap();
        let prost_reflect::Kind::Message(ack_type) = ack_field.kind() else {
            unreachable!()
        };
        let mut ack = DynamicMessage::new(ack_type.clone());
        ack.set_field_by_name(
            "ack",
            Value::Message(wrapped(&ack_type, "ack", Value::Bool(acked))),
        );
        e.set_field_by_name("ack", Value::Message(ack));
    }
    e.encode_to_vec()
}

fn time(seconds: i64) -> Vec<u8> {
    prost_reflect::prost_types::Timestamp { seconds, nanos: 0 }.encode_to_vec()
}

fn sent(value: Option<Vec<u8>>, seconds: i64, operation: i32) -> Bytes {
    Bytes::from(match value {
        Some(v) => encode_response(&v, Some(&time(seconds)), operation),
        None => {
            let mut out = Vec::new();
            prost::encoding::int32::encode(3, &operation, &mut out);
            out
        }
    })
}

/// The entity a change carries, as a message.
fn entity(change: &Change) -> DynamicMessage {
    let read = response(&change.response).unwrap();
    DynamicMessage::decode(model(), read.value.unwrap()).unwrap()
}

fn title(e: &DynamicMessage) -> Option<String> {
    if !e.has_field_by_name("title") {
        return None;
    }
    let title = e.get_field_by_name("title")?;
    title
        .as_message()?
        .get_field_by_name("value")?
        .as_str()
        .map(str::to_string)
}

fn acked(e: &DynamicMessage) -> bool {
    e.get_field_by_name("ack")
        .and_then(|a| {
            a.as_message()?
                .get_field_by_name("ack")?
                .as_message()?
                .get_field_by_name("value")?
                .as_bool()
        })
        .unwrap_or(false)
}

#[test]
fn an_update_is_merged_into_the_entity_and_a_delete_forgets_it() {
    let mut entities = Entities::new(model());
    entities.subscribed();
    let first = entities
        .apply(&sent(
            Some(event("e1", Some("High CPU"), None)),
            100,
            INITIAL,
        ))
        .unwrap();
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].time, Some(100_000_000_000));
    assert!(
        entities
            .apply(&sent(None, 0, INITIAL_SYNC_COMPLETE))
            .unwrap()
            .is_empty()
    );
    // The patch holds the key and the acknowledgement only.
    let updated = entities
        .apply(&sent(Some(event("e1", None, Some(true))), 101, UPDATED))
        .unwrap();
    let whole = entity(&updated[0]);
    assert_eq!(
        title(&whole).as_deref(),
        Some("High CPU"),
        "kept from INITIAL"
    );
    assert!(acked(&whole), "taken from the patch");
    assert_eq!(updated[0].key, first[0].key);
    assert_eq!(response(&updated[0].response).unwrap().operation, UPDATED);

    let deleted = entities
        .apply(&sent(Some(event("e1", None, None)), 102, DELETED))
        .unwrap();
    assert_eq!(deleted[0].operation, DELETED);
    assert_eq!(title(&entity(&deleted[0])), None, "only the key");
    // Known no more: a later update starts from the patch alone.
    let again = entities
        .apply(&sent(Some(event("e1", None, Some(false))), 103, UPDATED))
        .unwrap();
    assert_eq!(title(&entity(&again[0])), None);
}

#[test]
fn a_resubscription_sends_only_what_changed_and_deletes_what_went() {
    let mut entities = Entities::new(model());
    entities.subscribed();
    for (id, at) in [("a", 1), ("b", 2), ("c", 3)] {
        entities
            .apply(&sent(Some(event(id, Some(id), None)), at, INITIAL))
            .unwrap();
    }
    entities
        .apply(&sent(None, 0, INITIAL_SYNC_COMPLETE))
        .unwrap();

    entities.subscribed();
    // a unchanged, b changed since; c is gone.
    assert!(
        entities
            .apply(&sent(Some(event("a", Some("a"), None)), 1, INITIAL))
            .unwrap()
            .is_empty()
    );
    let b = entities
        .apply(&sent(Some(event("b", Some("b2"), None)), 5, INITIAL))
        .unwrap();
    assert_eq!(title(&entity(&b[0])).as_deref(), Some("b2"));
    let gone = entities
        .apply(&sent(None, 0, INITIAL_SYNC_COMPLETE))
        .unwrap();
    assert_eq!(gone.len(), 1);
    assert_eq!(gone[0].operation, DELETED);
    let c = entities
        .apply(&sent(Some(event("c", None, None)), 9, DELETED))
        .unwrap();
    assert_eq!(gone[0].key, c[0].key);
}

#[test]
fn unknown_operations_pass_through_by_number() {
    let mut entities = Entities::new(model());
    let batch_start = sent(None, 0, 50);
    let changes = entities.apply(&batch_start).unwrap();
    assert_eq!(changes[0].operation, 50);
    assert_eq!(changes[0].response, batch_start);
    assert!(
        entities.apply(&Bytes::from_static(b"\x0a\x05ab")).is_err(),
        "a value cut short"
    );
}
