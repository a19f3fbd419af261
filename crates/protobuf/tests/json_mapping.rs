//! The codec against an independent implementation: random messages of
//! every field kind (scalars, repeated packed and unpacked, maps, oneofs,
//! proto3 `optional`, well-known types), encoded by prost-reflect, must
//! read as prost-reflect's own JSON mapping writes them (field names as in
//! the `.proto`, 64-bit integers as numbers, defaults left out). The
//! descriptors are compiled at run time from `tests/proto/kinds.proto`, so
//! the walk reads everything: no generated readers.
//!
//! `ARBTEST_BUDGET_MS` sets how long it runs.

use bytes::Bytes;
use netpipe_core::{Payload, json};
use netpipe_protobuf::{Codec, Readers, Rules};
use prost::Message as _;
use prost_reflect::{
    DescriptorPool, DynamicMessage, FieldDescriptor, Kind, MapKey, MessageDescriptor,
    SerializeOptions, Value,
};

fn pool() -> DescriptorPool {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/proto");
    let set = protox::compile(["kinds.proto"], [dir]).expect("kinds.proto compiles");
    DescriptorPool::decode(set.encode_to_vec().as_slice()).unwrap()
}

type U<'a> = arbtest::arbitrary::Unstructured<'a>;
type Draw<T> = arbtest::arbitrary::Result<T>;

/// A random value of a scalar kind. Floats are quarters: an `f32` is
/// written at double precision of its value, where prost-reflect writes its
/// shortest `f32` digits; quarters read the same either way.
fn scalar(u: &mut U<'_>, kind: &Kind) -> Draw<Value> {
    Ok(match kind {
        Kind::Double => Value::F64(
            f64::from(u.int_in_range(-4_000_000..=4_000_000)?) / 4.0
                + *u.choose(&[0.0, 1e-300, 1.5e300])?,
        ),
        Kind::Float => Value::F32(u.int_in_range(-4_000_000i32..=4_000_000)? as f32 / 4.0),
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => Value::I32(u.arbitrary()?),
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => Value::I64(u.arbitrary()?),
        Kind::Uint32 | Kind::Fixed32 => Value::U32(u.arbitrary()?),
        // Often above i64::MAX, where a signed reading would wrap.
        Kind::Uint64 | Kind::Fixed64 => {
            let any = u.arbitrary()?;
            Value::U64(*u.choose(&[u64::MAX, 1 << 63, any, 7])?)
        }
        Kind::Bool => Value::Bool(u.arbitrary()?),
        Kind::String => Value::String(u.arbitrary()?),
        Kind::Bytes => Value::Bytes(Bytes::from(u.arbitrary::<Vec<u8>>()?)),
        Kind::Enum(e) => Value::EnumNumber(
            u.choose(&e.values().map(|v| v.number()).collect::<Vec<_>>())?
                .to_owned(),
        ),
        Kind::Message(m) => Value::Message(message(u, m, 2)?),
    })
}

fn map_key(u: &mut U<'_>, kind: &Kind) -> Draw<MapKey> {
    Ok(match scalar(u, kind)? {
        Value::String(s) => MapKey::String(s),
        Value::I32(i) => MapKey::I32(i),
        Value::I64(i) => MapKey::I64(i),
        Value::U32(i) => MapKey::U32(i),
        Value::U64(i) => MapKey::U64(i),
        Value::Bool(b) => MapKey::Bool(b),
        other => unreachable!("map key {other:?}"),
    })
}

/// A random JSON value as a `google.protobuf.Value`.
fn json_value(u: &mut U<'_>, value: &MessageDescriptor, depth: usize) -> Draw<DynamicMessage> {
    let mut m = DynamicMessage::new(value.clone());
    let kinds = if depth == 0 { 4 } else { 6 };
    let field = |name: &str| value.get_field_by_name(name).unwrap();
    match u.int_in_range(0..=kinds - 1)? {
        0 => m.set_field(&field("null_value"), Value::EnumNumber(0)),
        1 => m.set_field(
            &field("number_value"),
            Value::F64(f64::from(u.int_in_range(-1000..=1000)?) / 8.0),
        ),
        2 => m.set_field(&field("string_value"), Value::String(u.arbitrary()?)),
        3 => m.set_field(&field("bool_value"), Value::Bool(u.arbitrary()?)),
        4 => {
            let f = field("struct_value");
            let Kind::Message(s) = f.kind() else {
                unreachable!()
            };
            m.set_field(&f, Value::Message(json_struct(u, &s, depth - 1)?));
        }
        _ => {
            let f = field("list_value");
            let Kind::Message(l) = f.kind() else {
                unreachable!()
            };
            let mut list = DynamicMessage::new(l.clone());
            let items = (0..u.int_in_range(0..=3)?)
                .map(|_| json_value(u, value, depth - 1).map(Value::Message))
                .collect::<Draw<Vec<_>>>()?;
            list.set_field_by_name("values", Value::List(items));
            m.set_field(&f, Value::Message(list));
        }
    }
    Ok(m)
}

fn json_struct(u: &mut U<'_>, s: &MessageDescriptor, depth: usize) -> Draw<DynamicMessage> {
    let mut m = DynamicMessage::new(s.clone());
    let fields = s.get_field_by_name("fields").unwrap();
    let Kind::Message(entry) = fields.kind() else {
        unreachable!()
    };
    let Kind::Message(value) = entry.map_entry_value_field().kind() else {
        unreachable!()
    };
    let mut map = std::collections::HashMap::new();
    for _ in 0..u.int_in_range(0..=3)? {
        map.insert(
            MapKey::String(u.arbitrary()?),
            Value::Message(json_value(u, &value, depth)?),
        );
    }
    m.set_field(&fields, Value::Map(map));
    Ok(m)
}

/// A well-known type's message, with values its JSON form can hold.
fn well_known(u: &mut U<'_>, m: &MessageDescriptor) -> Draw<Option<DynamicMessage>> {
    let mut message = DynamicMessage::new(m.clone());
    let mut set = |name: &str, value| message.set_field_by_name(name, value);
    match m.full_name() {
        "google.protobuf.Timestamp" => {
            // 1970 to 2096, as records hold nanoseconds in an i64.
            set("seconds", Value::I64(u.int_in_range(0..=4_000_000_000)?));
            let any = u.int_in_range(0..=999_999_999)?;
            set(
                "nanos",
                Value::I32(*u.choose(&[0, 5_000_000, 123_456_000, any])?),
            );
        }
        "google.protobuf.Duration" => {
            let seconds = u.int_in_range(-1_000_000i64..=1_000_000)?;
            let nanos = u.int_in_range(0..=999_999_999)?;
            set("seconds", Value::I64(seconds));
            set(
                "nanos",
                Value::I32(if seconds < 0 { -nanos } else { nanos }),
            );
        }
        "google.protobuf.FieldMask" => {
            let paths = ["a_b.c_d", "name", "x.y_z"];
            let n = u.int_in_range(0..=3)?;
            set(
                "paths",
                Value::List(
                    paths[..n]
                        .iter()
                        .map(|p| Value::String(p.to_string()))
                        .collect(),
                ),
            );
        }
        "google.protobuf.Struct" => return json_struct(u, m, 2).map(Some),
        "google.protobuf.Value" => return json_value(u, m, 2).map(Some),
        "google.protobuf.ListValue" => {
            let Kind::Message(value) = m.get_field_by_name("values").unwrap().kind() else {
                unreachable!()
            };
            let items = (0..u.int_in_range(0..=3)?)
                .map(|_| json_value(u, &value, 1).map(Value::Message))
                .collect::<Draw<Vec<_>>>()?;
            set("values", Value::List(items));
        }
        "google.protobuf.Empty" => {}
        name if name.ends_with("Value") => {
            let field = m.get_field_by_name("value").unwrap();
            let value = scalar(u, &field.kind())?;
            message.set_field(&field, value);
        }
        _ => return Ok(None),
    }
    Ok(Some(message))
}

/// A field's random value: a list, a map, or one value.
fn field_value(u: &mut U<'_>, field: &FieldDescriptor, depth: usize) -> Draw<Value> {
    let one = |u: &mut U<'_>, kind: &Kind| -> Draw<Value> {
        match kind {
            Kind::Message(m) => Ok(Value::Message(match well_known(u, m)? {
                Some(known) => known,
                None => message(u, m, depth.saturating_sub(1))?,
            })),
            kind => scalar(u, kind),
        }
    };
    if field.is_map() {
        let Kind::Message(entry) = field.kind() else {
            unreachable!()
        };
        let (key, value) = (
            entry.map_entry_key_field().kind(),
            entry.map_entry_value_field().kind(),
        );
        let mut map = std::collections::HashMap::new();
        for _ in 0..u.int_in_range(0..=3)? {
            map.insert(map_key(u, &key)?, one(u, &value)?);
        }
        return Ok(Value::Map(map));
    }
    if field.is_list() {
        let items = (0..u.int_in_range(0..=3)?)
            .map(|_| one(u, &field.kind()))
            .collect::<Draw<Vec<_>>>()?;
        return Ok(Value::List(items));
    }
    one(u, &field.kind())
}

/// A random message: each field set or not, one member of each oneof.
fn message(u: &mut U<'_>, descriptor: &MessageDescriptor, depth: usize) -> Draw<DynamicMessage> {
    let mut m = DynamicMessage::new(descriptor.clone());
    for field in descriptor.fields() {
        let nested =
            matches!(field.kind(), Kind::Message(ref n) if n.full_name() == "kinds.Nested");
        if (nested && depth == 0) || !u.arbitrary::<bool>()? {
            continue;
        }
        // Setting a oneof member clears the others: the last set counts.
        let value = field_value(u, &field, depth)?;
        m.set_field(&field, value);
    }
    Ok(m)
}

#[test]
fn random_messages_read_as_prost_reflect_maps_them_to_json() {
    let pool = pool();
    let codec = Codec::new(&pool, Rules::NONE, Readers::NONE);
    let kinds = pool.get_message_by_name("kinds.Kinds").unwrap();
    let index = codec.index_of("kinds.Kinds").unwrap();
    let options = SerializeOptions::new()
        .use_proto_field_name(true)
        .stringify_64_bit_integers(false)
        .skip_default_fields(true);
    let mut seen = std::collections::HashSet::new();
    arbtest::arbtest(|u| {
        let m = message(u, &kinds, 2)?;
        seen.extend(m.fields().map(|(f, _)| f.number()));
        let bytes = Bytes::from(m.encode_to_vec());
        let mut expected = serde_json::Serializer::new(Vec::new());
        m.serialize_with_options(&mut expected, &options).unwrap();
        let expected: serde_json::Value = serde_json::from_slice(&expected.into_inner()).unwrap();
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
        let mut bytes = message(u, &kinds, 2)?.encode_to_vec();
        for _ in 0..u.int_in_range(1..=4)? {
            let len = bytes.len();
            let at = u.int_in_range(0..=len)?;
            match u.int_in_range(0..=3)? {
                0 if at < len => bytes[at] = u.arbitrary()?,
                1 => drop(bytes.drain(at..u.int_in_range(at..=len)?)),
                2 => drop(bytes.splice(at..at, u.arbitrary::<Vec<u8>>()?)),
                _ => bytes.truncate(at),
            }
        }
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
