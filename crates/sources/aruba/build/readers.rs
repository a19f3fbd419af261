//! Generates one reader per message type: a `match` from each field key to
//! the code that reads that field's value, typed, and hands it to a
//! handler (`src/generated.rs` says what handlers do), so a message costs
//! its values and little else. This file only decides what to call.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use prost_reflect::{
    Cardinality, DescriptorPool, EnumDescriptor, FieldDescriptor, Kind, MessageDescriptor,
};

use crate::rules::{
    AddressKind, BytesAs, KEY_FIELDS, TIMESTAMP_FIELD, address_of, bytes_as, is_ipv6_family,
};

const VARINT: u32 = 0;
const FIXED64: u32 = 1;
const LEN: u32 = 2;
const FIXED32: u32 = 5;

/// Generated functions of enums, by full name and numbered: `e0`, `e1`,
/// ... (value names) and `f0`, `f1`, ... (address families).
#[derive(Default)]
struct Enums {
    names: BTreeMap<String, (usize, EnumDescriptor)>,
    families: BTreeMap<String, (usize, EnumDescriptor)>,
}

/// The number of `descriptor`'s function in `functions`, added if new.
fn number_of(
    functions: &mut BTreeMap<String, (usize, EnumDescriptor)>,
    descriptor: &EnumDescriptor,
) -> usize {
    let count = functions.len();
    functions
        .entry(descriptor.full_name().to_string())
        .or_insert((count, descriptor.clone()))
        .0
}

/// The Rust source of every message's reader, numbered in the pool's
/// message order (the order of the run-time plans).
pub fn generate(pool: &DescriptorPool) -> String {
    let messages: Vec<_> = pool.all_messages().collect();
    let index: BTreeMap<String, usize> = messages
        .iter()
        .enumerate()
        .map(|(i, m)| (m.full_name().to_string(), i))
        .collect();
    let mut enums = Enums::default();
    let mut code = String::new();
    let readers: Vec<usize> = (0..messages.len())
        .filter(|&i| address_of(&messages[i]).is_none())
        .collect();
    // Messages no other message holds: payloads' own types, always read at
    // the top, where a field may be the payload's time or key.
    let nested: BTreeSet<String> = messages
        .iter()
        .flat_map(|m| m.fields())
        .filter_map(|f| match f.kind() {
            Kind::Message(m) => Some(m.full_name().to_string()),
            _ => None,
        })
        .collect();
    for &i in &readers {
        let top = !nested.contains(messages[i].full_name());
        message_reader(&mut code, i, &messages[i], top, &index, &mut enums);
    }
    for (name, (n, descriptor)) in &enums.names {
        enum_names(&mut code, name, *n, descriptor);
    }
    for (name, (n, descriptor)) in &enums.families {
        family_kinds(&mut code, name, *n, descriptor);
    }
    code.push_str("/// Reads a message of plan `index` into `h`.\nfn message<H: Handler>(index: usize, bytes: &[u8], h: &mut H, plans: &Plans, depth: usize) -> Result<(), Retry> {\n    match index {\n");
    for i in readers {
        writeln!(code, "        {i} => m{i}(bytes, h, plans, depth),").unwrap();
    }
    code.push_str("        // Address messages are read where they are fields.\n        _ => Err(Retry),\n    }\n}\n\n/// The messages by plan index, to check that plans and readers agree.\n#[cfg(test)]\nconst MESSAGE_NAMES: &[&str] = &[\n");
    for message in &messages {
        writeln!(code, "    {:?},", message.full_name()).unwrap();
    }
    code.push_str("];\n");
    code
}

/// `m{i}`: reads message `i`'s fields in declaration order; `top` when it
/// is only ever a payload's own type.
fn message_reader(
    code: &mut String,
    i: usize,
    message: &MessageDescriptor,
    top: bool,
    index: &BTreeMap<String, usize>,
    enums: &mut Enums,
) {
    let fields: Vec<_> = message.fields().collect();
    // Only messages that hold others read the plans (to pass them on).
    let holds_messages = fields.iter().any(|f| matches!(f.kind(), Kind::Message(_)));
    writeln!(
        code,
        "/// `{name}`.\nfn m{i}<H: Handler>(bytes: &[u8], h: &mut H, {plans}: &Plans, depth: usize) -> Result<(), Retry> {{\n    if depth == MAX_DEPTH {{\n        return Err(Retry);\n    }}\n    let mut r = Reader::new(bytes);\n    let {mutable}fields = Fields::begin(h, {i});\n    while !r.is_empty() {{\n        match r.varint()? {{",
        name = message.full_name(),
        plans = if holds_messages { "plans" } else { "_plans" },
        mutable = if fields.is_empty() { "" } else { "mut " },
    )
    .unwrap();
    for (slot, field) in fields.iter().enumerate() {
        field_arms(code, i, field, slot, top, index, enums);
    }
    code.push_str(
        "            key => r.skip((key & 7) as u8)?,\n        }\n    }\n    fields.end(h);\n    Ok(())\n}\n\n",
    );
}

/// The arms of one field: its values, its packed runs, and its other wire
/// types (which the general walk names as errors).
fn field_arms(
    code: &mut String,
    message: usize,
    field: &FieldDescriptor,
    slot: usize,
    top: bool,
    index: &BTreeMap<String, usize>,
    enums: &mut Enums,
) {
    let name = field.name();
    assert!(
        name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'),
        "field name {name:?} would need escaping in JSON"
    );
    let repeated = field.cardinality() == Cardinality::Repeated;
    let number = field.number();
    let at = format!("{slot}, {repeated}");
    let key = format!("b\"\\\"{name}\\\":\"");
    let (wire, value) = value_code(
        message,
        field,
        top && identifies(field.name()),
        index,
        enums,
    );
    let handle = |read: &str| value.replace("VALUE", read).replace("AT", &at);
    writeln!(
        code,
        "            {number} => {{\n                fields.open(h, {at}, {key})?;\n                {handle};\n            }}",
        number = number << 3 | wire,
        handle = handle(&read_code(wire, "r")),
    )
    .unwrap();
    let mut valid = vec![wire];
    if repeated && wire != LEN {
        valid.push(LEN);
        writeln!(
            code,
            "            {number} => fields.packed(h, {slot}, {key}, r.bytes()?, |p, h| {{\n                {handle};\n                Ok(())\n            }})?,",
            number = number << 3 | LEN,
            handle = handle(&read_code(wire, "p")),
        )
        .unwrap();
    }
    let wrong: Vec<u32> = (0..8).filter(|w| !valid.contains(w)).collect();
    let runs: Vec<String> = wrong
        .chunk_by(|a, b| a + 1 == *b)
        .map(|run| {
            let (first, last) = (number << 3 | run[0], number << 3 | run[run.len() - 1]);
            match first == last {
                true => first.to_string(),
                false => format!("{first}..={last}"),
            }
        })
        .collect();
    writeln!(
        code,
        "            {} => return Err(Retry),",
        runs.join(" | ")
    )
    .unwrap();
}

/// Whether a field named `name` may be a payload's timestamp or key.
fn identifies(name: &str) -> bool {
    name == TIMESTAMP_FIELD || KEY_FIELDS.contains(&name)
}

/// How a value of wire type `wire` is read from `reader`.
fn read_code(wire: u32, reader: &str) -> String {
    match wire {
        VARINT => format!("{reader}.varint()?"),
        FIXED64 => format!("{reader}.fixed64()?"),
        FIXED32 => format!("u64::from({reader}.fixed32()?)"),
        _ => format!("{reader}.bytes()?"),
    }
}

/// A field's wire type, and how its value is handled: `VALUE` stands for
/// the read, `AT` for the field's slot and repetition.
fn value_code(
    message: usize,
    field: &FieldDescriptor,
    identifying: bool,
    index: &BTreeMap<String, usize>,
    enums: &mut Enums,
) -> (u32, String) {
    // A value that may identify the payload is shown to the handler first.
    let hand = |value: String| match identifying {
        true => format!(
            "{{\n                    let value = {value};\n                    h.identifying(AT, value);\n                    h.scalar(AT, value)\n                }}"
        ),
        false => format!("h.scalar(AT, {value})"),
    };
    // Conversions are named by their module's path: a proto need not use them all.
    let scalar = |wire, value: &str| (wire, hand(format!("Scalar::{value}")));
    match field.kind() {
        Kind::Int32 => scalar(VARINT, "Int(walk::int32(VALUE))"),
        Kind::Uint32 => scalar(VARINT, "Int(walk::uint32(VALUE))"),
        Kind::Sint32 | Kind::Sint64 => scalar(VARINT, "Int(walk::zigzag(VALUE))"),
        Kind::Int64 | Kind::Uint64 => scalar(VARINT, "Int(VALUE as i64)"),
        Kind::Bool => scalar(VARINT, "Bool(VALUE != 0)"),
        Kind::Fixed32 => scalar(FIXED32, "Int(walk::uint32(VALUE))"),
        Kind::Sfixed32 => scalar(FIXED32, "Int(walk::sfixed32(VALUE))"),
        Kind::Float => scalar(FIXED32, "Float(walk::float(VALUE))"),
        Kind::Fixed64 | Kind::Sfixed64 => scalar(FIXED64, "Int(VALUE as i64)"),
        Kind::Double => scalar(FIXED64, "Float(walk::double(VALUE))"),
        Kind::String => scalar(LEN, "String(VALUE)"),
        Kind::Bytes => match bytes_as(field) {
            BytesAs::Text => scalar(LEN, "Text(VALUE)"),
            BytesAs::Bytes => scalar(LEN, "Bytes(VALUE)"),
        },
        Kind::Enum(descriptor) => {
            assert!(
                !identifying,
                "{}: an enum that may identify the payload; the readers hand it over as a name only",
                field.full_name()
            );
            let n = number_of(&mut enums.names, &descriptor);
            (
                VARINT,
                format!("handle_enum(h, {message}, AT, VALUE, e{n})"),
            )
        }
        Kind::Message(message) => {
            let i = index[message.full_name()];
            match address_of(&message) {
                Some(kind) => (
                    LEN,
                    hand(address_code(&message, kind, i, &mut enums.families)),
                ),
                None => (LEN, format!("m{i}(VALUE, h, plans, depth + 1)?")),
            }
        }
    }
}

/// How address message `i` is read: at once in its usual encoding, from
/// its one-byte keys (`src/generated.rs`).
fn address_code(
    message: &MessageDescriptor,
    kind: AddressKind,
    i: usize,
    families: &mut BTreeMap<String, (usize, EnumDescriptor)>,
) -> String {
    let key = |name: &str, wire: u32| {
        let field = message.get_field_by_name(name).expect("an address field");
        let key = field.number() << 3 | wire;
        assert!(
            key < 0x80,
            "{}: a key of more than one byte",
            field.full_name()
        );
        key
    };
    match kind {
        AddressKind::Mac => format!(
            "mac(&plans.messages[{i}], VALUE, depth, {})?",
            key("addr", LEN)
        ),
        AddressKind::Ip => {
            let af = message.get_field_by_name("af").expect("an address family");
            let Kind::Enum(family) = af.kind() else {
                panic!("{}: not an enum", af.full_name())
            };
            let n = number_of(families, &family);
            format!(
                "ip(&plans.messages[{i}], VALUE, depth, [{}, {}], f{n})?",
                key("af", VARINT),
                key("addr", LEN)
            )
        }
    }
}

/// `e{n}`: an enum's value names by number, quoted for JSON; the first
/// name of a number counts, as in the plans.
fn enum_names(code: &mut String, name: &str, n: usize, descriptor: &EnumDescriptor) {
    writeln!(
        code,
        "/// `{name}`.\nfn e{n}(number: i32) -> Option<&'static [u8]> {{\n    Some(match number {{"
    )
    .unwrap();
    let mut seen = Vec::new();
    for value in descriptor.values() {
        if seen.contains(&value.number()) {
            continue;
        }
        seen.push(value.number());
        let name = value.name();
        assert!(
            name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'),
            "enum value {name:?} would need escaping in JSON"
        );
        writeln!(code, "        {} => b\"\\\"{name}\\\"\",", value.number()).unwrap();
    }
    code.push_str("        _ => return None,\n    })\n}\n\n");
}

/// `f{n}`: whether an address family, by number, is IPv6 (by its name, as
/// the walk tells it); `None` for numbers without a name.
fn family_kinds(code: &mut String, name: &str, n: usize, descriptor: &EnumDescriptor) {
    writeln!(
        code,
        "/// `{name}`.\nfn f{n}(number: u8) -> Option<bool> {{\n    Some(match number {{"
    )
    .unwrap();
    let mut seen = Vec::new();
    for value in descriptor.values() {
        let Ok(number) = u8::try_from(value.number()) else {
            continue;
        };
        if seen.contains(&number) {
            continue;
        }
        seen.push(number);
        writeln!(
            code,
            "        {number} => {},",
            is_ipv6_family(value.name())
        )
        .unwrap();
    }
    code.push_str("        _ => return None,\n    })\n}\n\n");
}
