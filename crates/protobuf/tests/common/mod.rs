//! Random protobuf messages for the codec's property tests: values of
//! every kind that prost-reflect's JSON mapping can hold, drawn from
//! arbtest's bytes. Shared by the tests against a fixed schema of every
//! kind (`json_mapping.rs`) and against random schemas (`random_schemas.rs`).
#![allow(dead_code)]

use bytes::Bytes;
use prost::Message as _;
use prost_reflect::{
    DynamicMessage, FieldDescriptor, Kind, MapKey, MessageDescriptor, SerializeOptions, Value,
};

pub type U<'a> = arbtest::arbitrary::Unstructured<'a>;
pub type Draw<T> = arbtest::arbitrary::Result<T>;

/// A random value of a scalar kind. Floats are quarters: an `f32` is
/// written at double precision of its value, where prost-reflect writes its
/// shortest `f32` digits; quarters read the same either way.
pub fn scalar(u: &mut U<'_>, kind: &Kind) -> Draw<Value> {
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

pub fn map_key(u: &mut U<'_>, kind: &Kind) -> Draw<MapKey> {
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
pub fn json_value(u: &mut U<'_>, value: &MessageDescriptor, depth: usize) -> Draw<DynamicMessage> {
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

pub fn json_struct(u: &mut U<'_>, s: &MessageDescriptor, depth: usize) -> Draw<DynamicMessage> {
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
pub fn well_known(u: &mut U<'_>, m: &MessageDescriptor) -> Draw<Option<DynamicMessage>> {
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
pub fn field_value(u: &mut U<'_>, field: &FieldDescriptor, depth: usize) -> Draw<Value> {
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

/// A random message: each field set or not, one member of each oneof;
/// message fields only while `depth` lasts.
pub fn message(
    u: &mut U<'_>,
    descriptor: &MessageDescriptor,
    depth: usize,
) -> Draw<DynamicMessage> {
    let mut m = DynamicMessage::new(descriptor.clone());
    for field in descriptor.fields() {
        // Deep enough: no more messages (recursive types end here).
        let holds_messages = matches!(field.kind(), Kind::Message(_));
        if (holds_messages && depth == 0) || !u.arbitrary::<bool>()? {
            continue;
        }
        // Setting a oneof member clears the others: the last set counts.
        let value = field_value(u, &field, depth)?;
        m.set_field(&field, value);
    }
    Ok(m)
}

/// prost-reflect's JSON of `m`: field names as in the `.proto`, 64-bit
/// integers as numbers, defaults left out (as the codec writes them).
pub fn prost_json(m: &DynamicMessage) -> serde_json::Value {
    let options = SerializeOptions::new()
        .use_proto_field_name(true)
        .stringify_64_bit_integers(false)
        .skip_default_fields(true);
    let mut out = serde_json::Serializer::new(Vec::new());
    m.serialize_with_options(&mut out, &options).unwrap();
    serde_json::from_slice(&out.into_inner()).unwrap()
}

/// `m` encoded, then damaged by 1 to 4 random edits: a byte set, a run
/// cut out, random bytes put in, or cut short.
pub fn damaged(u: &mut U<'_>, m: &DynamicMessage) -> Draw<Vec<u8>> {
    let mut bytes = m.encode_to_vec();
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
    Ok(bytes)
}
