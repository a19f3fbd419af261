//! Keys and times found where a vendor's rules say, nested or not, in a
//! message compiled at run time: a key in a wrapper two messages down, a
//! time in a `Timestamp`, as resource APIs (Arista's) send them.

use netpipe_protobuf::{Codec, Readers, Rules};
use prost::Message as _;
use prost_reflect::{DescriptorPool, DynamicMessage, Value};

const RULES: Rules = Rules {
    key_paths: &["value.key.device_id", "value.software_version"],
    time_path: Some("time"),
    ..Rules::NONE
};

fn pool() -> DescriptorPool {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/proto");
    let set = protox::compile(["resource.proto"], [dir]).expect("resource.proto compiles");
    DescriptorPool::decode(set.encode_to_vec().as_slice()).unwrap()
}

/// `DeviceStreamResponse` with the given device id, version, peer and time.
fn response(pool: &DescriptorPool, id: Option<&str>, version: &str, peer: &str) -> Vec<u8> {
    let message = |name: &str| DynamicMessage::new(pool.get_message_by_name(name).unwrap());
    let string = |text: &str| {
        let mut wrapper = message("google.protobuf.StringValue");
        wrapper.set_field_by_name("value", Value::String(text.to_string()));
        Value::Message(wrapper)
    };
    let key = |id: &str| {
        let mut key = message("resource.DeviceKey");
        key.set_field_by_name("device_id", string(id));
        Value::Message(key)
    };
    let mut device = message("resource.Device");
    if let Some(id) = id {
        device.set_field_by_name("key", key(id));
    }
    device.set_field_by_name("software_version", string(version));
    device.set_field_by_name("peers", Value::List(vec![key(peer)]));
    let mut time = message("google.protobuf.Timestamp");
    time.set_field_by_name("seconds", Value::I64(1_764_000_000));
    time.set_field_by_name("nanos", Value::I32(250_000_000));
    let mut response = message("resource.DeviceStreamResponse");
    response.set_field_by_name("value", Value::Message(device));
    response.set_field_by_name("time", Value::Message(time));
    response.encode_to_vec()
}

#[test]
fn nested_keys_and_timestamp_times_are_found() {
    let pool = pool();
    let codec = Codec::new(&pool, RULES, Readers::NONE);
    let index = codec.index_of("resource.DeviceStreamResponse").unwrap();
    let summarizer = codec.summarizer(index);

    let summary = codec
        .summarize(
            &summarizer,
            &response(&pool, Some("JPE123"), "4.33", "PEER9"),
        )
        .unwrap();
    assert_eq!(summary.key().map(|k| &**k), Some("JPE123"));
    assert_eq!(summary.timestamp, Some(1_764_000_000_250_000_000));

    // Without the preferred key, the next; a peer's id (in a list) never.
    let summary = codec
        .summarize(&summarizer, &response(&pool, None, "4.33", "PEER9"))
        .unwrap();
    assert_eq!(summary.key().map(|k| &**k), Some("4.33"));

    // JSON as protobuf maps it: wrappers as their values, the time in RFC 3339.
    let mut json = Vec::new();
    let bytes = response(&pool, Some("JPE123"), "4.33", "PEER9");
    let rendered = codec
        .summarize_to_json(&summarizer, &bytes, &mut json)
        .unwrap();
    assert_eq!(rendered.key().map(|k| &**k), Some("JPE123"));
    assert_eq!(
        String::from_utf8(json).unwrap(),
        r#"{"value":{"key":{"device_id":"JPE123"},"software_version":"4.33","peers":[{"device_id":"PEER9"}]},"time":"2025-11-24T16:00:00.250Z"}"#
    );
}

#[test]
fn paths_that_name_no_field_find_nothing() {
    let pool = pool();
    let rules = Rules {
        key_paths: &["value.nothing", "value.peers.device_id", "time.seconds"],
        ..RULES
    };
    let codec = Codec::new(&pool, rules, Readers::NONE);
    let summarizer = codec.summarizer(codec.index_of("resource.DeviceStreamResponse").unwrap());
    let summary = codec
        .summarize(
            &summarizer,
            &response(&pool, Some("JPE123"), "4.33", "PEER9"),
        )
        .unwrap();
    assert_eq!(summary.key(), None);
}
