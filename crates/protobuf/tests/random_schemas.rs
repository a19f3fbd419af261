//! Fuzz target: the codec on arbitrary descriptors. Each case draws a
//! schema (messages with fields of random kinds, numbers, labels, maps,
//! oneofs, enums, nested and well-known message types), then a message of
//! it: the codec must read it as prost-reflect's JSON mapping writes it, its
//! records must write the same JSON, and the message damaged at random must
//! be accepted or refused alike by JSON, records and summaries, never panic.
//! A vendor's `.proto` files (CloudVision's `proto_path:`) reach the codec
//! at run time, so any schema protox accepts must read.
//!
//! `ARBTEST_BUDGET_MS` sets how long it runs.

mod common;

use bytes::Bytes;
use common::*;
use netpipe_core::{Payload, json};
use netpipe_protobuf::{Codec, Readers, Rules};
use prost_reflect::DescriptorPool;
use prost_reflect::prost_types::field_descriptor_proto::{Label, Type};
use prost_reflect::prost_types::{
    DescriptorProto, EnumDescriptorProto, EnumValueDescriptorProto, FieldDescriptorProto,
    FileDescriptorProto, MessageOptions, OneofDescriptorProto,
};

/// A pool holding the well-known types, which random schemas may use.
fn base_pool() -> DescriptorPool {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/proto");
    let set = protox::compile(["kinds.proto"], [dir]).expect("kinds.proto compiles");
    DescriptorPool::from_file_descriptor_set(set).unwrap()
}

const SCALARS: [Type; 15] = [
    Type::Double,
    Type::Float,
    Type::Int32,
    Type::Int64,
    Type::Uint32,
    Type::Uint64,
    Type::Sint32,
    Type::Sint64,
    Type::Fixed32,
    Type::Fixed64,
    Type::Sfixed32,
    Type::Sfixed64,
    Type::Bool,
    Type::String,
    Type::Bytes,
];

/// Well-known types whose records write the JSON the codec writes (a
/// Struct, Value or ListValue is JSON text in a record, so not these).
const WELL_KNOWN: [&str; 6] = [
    ".google.protobuf.Timestamp",
    ".google.protobuf.Duration",
    ".google.protobuf.Int64Value",
    ".google.protobuf.StringValue",
    ".google.protobuf.BoolValue",
    ".google.protobuf.Empty",
];

fn field(
    name: String,
    number: i32,
    label: Label,
    kind: Type,
    type_name: Option<String>,
) -> FieldDescriptorProto {
    FieldDescriptorProto {
        name: Some(name.clone()),
        json_name: Some(name),
        number: Some(number),
        label: Some(label as i32),
        r#type: Some(kind as i32),
        type_name,
        ..Default::default()
    }
}

/// A field kind: a scalar, one of the file's enums, a message declared
/// after `message` (so types never recurse without end), or a well-known type.
fn kind(
    u: &mut U<'_>,
    enums: usize,
    messages: usize,
    message: usize,
) -> Draw<(Type, Option<String>)> {
    Ok(match u.int_in_range(0..=9)? {
        0 if enums > 0 => (
            Type::Enum,
            Some(format!(".fz.E{}", u.int_in_range(0..=enums - 1)?)),
        ),
        1 if message + 1 < messages => (
            Type::Message,
            Some(format!(
                ".fz.M{}",
                u.int_in_range(message + 1..=messages - 1)?
            )),
        ),
        2 => (Type::Message, Some(u.choose(&WELL_KNOWN)?.to_string())),
        _ => (*u.choose(&SCALARS)?, None),
    })
}

/// A random proto3 file, package `fz`: enums `E<i>`, messages `M<i>`.
fn random_file(u: &mut U<'_>) -> Draw<FileDescriptorProto> {
    let enums = u.int_in_range(0..=2)?;
    let messages = u.int_in_range(1..=4)?;
    let enum_type = (0..enums)
        .map(|e| {
            let mut numbers = vec![0i32];
            for _ in 0..u.int_in_range(0..=3)? {
                numbers.push(u.int_in_range(-3..=1000)?);
            }
            numbers.sort_unstable();
            numbers.dedup();
            Ok(EnumDescriptorProto {
                name: Some(format!("E{e}")),
                value: numbers
                    .iter()
                    .enumerate()
                    .map(|(i, n)| EnumValueDescriptorProto {
                        name: Some(format!("E{e}_V{i}")),
                        number: Some(*n),
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            })
        })
        .collect::<Draw<Vec<_>>>()?;
    let mut message_type = Vec::new();
    for m in 0..messages {
        let mut message = DescriptorProto {
            name: Some(format!("M{m}")),
            ..Default::default()
        };
        let mut numbers = std::collections::HashSet::new();
        for f in 0..u.int_in_range(0..=8)? {
            // Small numbers mostly; sometimes ones whose tags take five bytes.
            let number = match u.int_in_range(0..=2)? {
                0 => u.int_in_range(1..=40)?,
                1 => u.int_in_range(1..=18_999)?,
                _ => u.int_in_range(20_000..=536_870_911)?,
            };
            if !numbers.insert(number) {
                continue;
            }
            let name = format!("f{f}_{number}");
            if u.ratio(1, 6)? {
                // A map: an entry type nested in the message.
                let entry = format!("F{f}Entry");
                let key = *u.choose(&[
                    Type::Int32,
                    Type::Uint64,
                    Type::Sint64,
                    Type::Bool,
                    Type::String,
                    Type::Fixed32,
                ])?;
                let (value, value_type) = kind(u, enums, messages, m)?;
                message.nested_type.push(DescriptorProto {
                    name: Some(entry.clone()),
                    field: vec![
                        field("key".into(), 1, Label::Optional, key, None),
                        field("value".into(), 2, Label::Optional, value, value_type),
                    ],
                    options: Some(MessageOptions {
                        map_entry: Some(true),
                        ..Default::default()
                    }),
                    ..Default::default()
                });
                let type_name = Some(format!(".fz.M{m}.{entry}"));
                message.field.push(field(
                    name,
                    number,
                    Label::Repeated,
                    Type::Message,
                    type_name,
                ));
                continue;
            }
            let (kind, type_name) = kind(u, enums, messages, m)?;
            let label = if u.ratio(1, 4)? {
                Label::Repeated
            } else {
                Label::Optional
            };
            let mut declared = field(name, number, label, kind, type_name);
            if label == Label::Optional && u.ratio(1, 4)? {
                // A member of one of two oneofs.
                declared.oneof_index = Some(u.int_in_range(0..=1)?);
            }
            message.field.push(declared);
        }
        // Declare the oneofs that have members, numbered from 0.
        let mut used: Vec<i32> = message.field.iter().filter_map(|f| f.oneof_index).collect();
        used.sort_unstable();
        used.dedup();
        for f in &mut message.field {
            f.oneof_index = f
                .oneof_index
                .and_then(|o| used.iter().position(|u| *u == o))
                .map(|i| i as i32);
        }
        message.oneof_decl = (0..used.len())
            .map(|i| OneofDescriptorProto {
                name: Some(format!("o{i}")),
                ..Default::default()
            })
            .collect();
        message_type.push(message);
    }
    Ok(FileDescriptorProto {
        name: Some("fz.proto".into()),
        package: Some("fz".into()),
        dependency: [
            "google/protobuf/timestamp.proto",
            "google/protobuf/duration.proto",
            "google/protobuf/wrappers.proto",
            "google/protobuf/empty.proto",
        ]
        .map(String::from)
        .to_vec(),
        message_type,
        enum_type,
        syntax: Some("proto3".into()),
        ..Default::default()
    })
}

#[test]
fn fuzz_random_schemas_read_as_prost_reflect_maps_them_and_damage_is_refused_alike() {
    let base = base_pool();
    let (mut schemas, mut refused_schemas) = (0, 0);
    arbtest::arbtest(|u| {
        let file = random_file(u)?;
        let mut pool = base.clone();
        if pool.add_file_descriptor_proto(file.clone()).is_err() {
            refused_schemas += 1;
            return Ok(());
        }
        schemas += 1;
        let codec = Codec::new(&pool, Rules::NONE, Readers::NONE);
        let top = pool.get_message_by_name("fz.M0").unwrap();
        let index = codec.index_of("fz.M0").unwrap();
        let m = message(u, &top, 3)?;
        let bytes = Bytes::from(prost::Message::encode_to_vec(&m));
        let mut ours = Vec::new();
        codec
            .write_json(index, &bytes, &mut ours)
            .unwrap_or_else(|e| panic!("{e} reading {m:?} of {file:?}"));
        let ours: serde_json::Value = serde_json::from_slice(&ours).unwrap();
        assert_eq!(ours, prost_json(&m), "schema {file:?}");
        let record = codec.decode(index, &bytes, &bytes).unwrap();
        let mut from_record = Vec::new();
        json::write_payload(&Payload::from(record), &mut from_record);
        let from_record: serde_json::Value = serde_json::from_slice(&from_record).unwrap();
        assert_eq!(from_record, ours, "schema {file:?}");

        let bad = damaged(u, &m)?;
        let mut json_out = Vec::new();
        let written = codec.write_json(index, &bad, &mut json_out);
        let record = codec.decode(index, &Bytes::from(bad.clone()), &bad);
        let summary = codec.summarize(&codec.summarizer(index), &bad);
        assert_eq!(written.is_ok(), record.is_ok(), "{written:?} {record:?}");
        assert_eq!(written.is_ok(), summary.is_ok());
        if written.is_ok() {
            serde_json::from_slice::<serde_json::Value>(&json_out).unwrap();
        }
        Ok(())
    })
    .size_min(1 << 12);
    // The generator must mostly make schemas protobuf accepts.
    assert!(
        schemas > refused_schemas * 4,
        "{schemas} schemas, {refused_schemas} refused"
    );
}

/// Found by the target above: plans held a table indexed by field number,
/// and a number near 2^29 (valid protobuf) asked for gigabytes.
#[test]
fn the_highest_field_numbers_read_without_a_table_by_number() {
    let top = 536_870_911;
    let file = FileDescriptorProto {
        name: Some("high.proto".into()),
        package: Some("fz".into()),
        message_type: vec![DescriptorProto {
            name: Some("M0".into()),
            field: vec![
                field("low".into(), 1, Label::Optional, Type::Int32, None),
                field("high".into(), top, Label::Optional, Type::String, None),
                field("near".into(), 5000, Label::Repeated, Type::Sint64, None),
            ],
            ..Default::default()
        }],
        syntax: Some("proto3".into()),
        ..Default::default()
    };
    let mut pool = DescriptorPool::new();
    pool.add_file_descriptor_proto(file).unwrap();
    let codec = Codec::new(&pool, Rules::NONE, Readers::NONE);
    let index = codec.index_of("fz.M0").unwrap();
    let mut m = prost_reflect::DynamicMessage::new(pool.get_message_by_name("fz.M0").unwrap());
    m.set_field_by_name("low", prost_reflect::Value::I32(7));
    m.set_field_by_name("high", prost_reflect::Value::String("far".into()));
    m.set_field_by_name(
        "near",
        prost_reflect::Value::List(vec![prost_reflect::Value::I64(-2)]),
    );
    let bytes = prost::Message::encode_to_vec(&m);
    let mut out = Vec::new();
    codec.write_json(index, &bytes, &mut out).unwrap();
    assert_eq!(
        String::from_utf8(out).unwrap(),
        r#"{"low":7,"near":[-2],"high":"far"}"#
    );
    // The high field with a varint instead of its length: an error that names it.
    let wrong = [&[0xf8, 0xff, 0xff, 0xff, 0x0f][..], &[1]].concat();
    let error = codec
        .write_json(index, &wrong, &mut Vec::new())
        .unwrap_err();
    assert!(error.to_string().contains("`high`"), "{error}");
}
