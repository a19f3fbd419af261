//! The codec against an independent implementation: random messages of
//! every field kind (scalars, repeated packed and unpacked, maps, oneofs,
//! proto3 `optional`, well-known types), encoded by prost-reflect, must
//! read as prost-reflect's own JSON mapping writes them (field names as in
//! the `.proto`, 64-bit integers as numbers, defaults left out). The
//! descriptors are compiled at run time from `tests/proto/kinds.proto`, so
//! the walk reads everything: no generated readers.
//!
//! `ARBTEST_BUDGET_MS` sets how long it runs.

mod common;

use bytes::Bytes;
use common::*;
use netpipe_core::{Payload, json};
use netpipe_protobuf::{Codec, Readers, Rules};
use prost::Message as _;
use prost_reflect::DescriptorPool;

fn pool() -> DescriptorPool {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/proto");
    let set = protox::compile(["kinds.proto"], [dir]).expect("kinds.proto compiles");
    DescriptorPool::decode(set.encode_to_vec().as_slice()).unwrap()
}

#[test]
fn random_messages_read_as_prost_reflect_maps_them_to_json() {
    let pool = pool();
    let codec = Codec::new(&pool, Rules::NONE, Readers::NONE);
    let kinds = pool.get_message_by_name("kinds.Kinds").unwrap();
    let index = codec.index_of("kinds.Kinds").unwrap();
    let mut seen = std::collections::HashSet::new();
    arbtest::arbtest(|u| {
        let m = message(u, &kinds, 2)?;
        seen.extend(m.fields().map(|(f, _)| f.number()));
        let bytes = Bytes::from(m.encode_to_vec());
        let expected = prost_json(&m);
        let mut ours = Vec::new();
        codec.write_json(index, &bytes, &mut ours).unwrap();
        let ours: serde_json::Value = serde_json::from_slice(&ours)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&ours)));
        assert_eq!(ours, expected);
        // Records hold a Struct, Value or ListValue as its JSON's text;
        // otherwise their JSON is the transcoded JSON.
        let dynamic = ["w_struct", "w_value", "w_list"]
            .iter()
            .any(|f| m.has_field_by_name(f));
        if !dynamic {
            let record = codec.decode(index, &bytes, &bytes).unwrap();
            let mut from_record = Vec::new();
            json::write_payload(&Payload::from(record), &mut from_record);
            let from_record: serde_json::Value = serde_json::from_slice(&from_record).unwrap();
            assert_eq!(from_record, expected);
        }
        Ok(())
    })
    .size_min(1 << 12);
    // Every field was exercised (a test that cannot fail otherwise proves little).
    let all: std::collections::HashSet<u32> = kinds.fields().map(|f| f.number()).collect();
    assert_eq!(
        seen.len(),
        all.len(),
        "fields never generated: {:?}",
        all.difference(&seen)
    );
}

#[test]
fn unsigned_64_bit_values_above_i64_max_do_not_wrap() {
    let pool = pool();
    let codec = Codec::new(&pool, Rules::NONE, Readers::NONE);
    let index = codec.index_of("kinds.Kinds").unwrap();
    // f_uint64 = 6 (varint), f_fixed64 = 10 (fixed64), both u64::MAX.
    let bytes = [&[0x30][..], &[0xff; 9], &[0x01, 0x51], &[0xff; 8]].concat();
    let mut out = Vec::new();
    codec.write_json(index, &bytes, &mut out).unwrap();
    assert_eq!(
        String::from_utf8(out).unwrap(),
        r#"{"f_uint64":18446744073709551615,"f_fixed64":18446744073709551615}"#
    );
    let record = codec
        .decode(index, &Bytes::from(bytes.clone()), &bytes)
        .unwrap();
    assert_eq!(
        record.get("f_uint64"),
        Some(&netpipe_core::Value::UInt(u64::MAX))
    );
}

#[test]
fn unknown_fields_are_skipped_and_the_last_oneof_member_counts() {
    let pool = pool();
    let codec = Codec::new(&pool, Rules::NONE, Readers::NONE);
    let index = codec.index_of("kinds.Kinds").unwrap();
    // o_string = 50 "a", then o_int32 = 51 = 5, then field 99 (unknown) = 1.
    let bytes = [0x92, 0x03, 0x01, b'a', 0x98, 0x03, 0x05, 0x98, 0x06, 0x01];
    let mut out = Vec::new();
    codec.write_json(index, &bytes, &mut out).unwrap();
    assert_eq!(String::from_utf8(out).unwrap(), r#"{"o_int32":5}"#);
}

/// Fuzz target: messages of every type damaged by random edits (bytes set,
/// runs cut out, random bytes put in, cut short): no reader panics; JSON,
/// records and the summary accept or refuse alike; what is accepted is JSON.
#[test]
fn fuzz_damaged_messages_are_read_alike_by_json_records_and_summaries() {
    let pool = pool();
    let rules = Rules {
        key_paths: &["f_string", "f_message.name"],
        time_path: Some("w_timestamp"),
        ..Rules::NONE
    };
    let codec = Codec::new(&pool, rules, Readers::NONE);
    let kinds = pool.get_message_by_name("kinds.Kinds").unwrap();
    let index = codec.index_of("kinds.Kinds").unwrap();
    let summarizer = codec.summarizer(index);
    let (mut accepted, mut refused) = (0, 0);
    arbtest::arbtest(|u| {
        let m = message(u, &kinds, 2)?;
        let bytes = damaged(u, &m)?;
        let mut json = Vec::new();
        let written = codec.write_json(index, &bytes, &mut json);
        let frame = Bytes::from(bytes.clone());
        let record = codec.decode(index, &frame, &bytes);
        let summary = codec.summarize(&summarizer, &bytes);
        assert_eq!(written.is_ok(), record.is_ok(), "{written:?} {record:?}");
        assert_eq!(written.is_ok(), summary.is_ok());
        match written {
            Ok(()) => {
                accepted += 1;
                serde_json::from_slice::<serde_json::Value>(&json)
                    .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&json)));
            }
            Err(_) => refused += 1,
        }
        Ok(())
    });
    assert!(
        accepted > 0 && refused > 0,
        "{accepted} accepted, {refused} refused"
    );
}
