//! The reader generator, for a vendor crate's `build.rs` ([`build`]): one
//! reader per message type, a `match` from each field key to the code that
//! reads that field's value, typed, and hands it to a
//! [`crate::Handler`], so a message costs its values and little else. The
//! code is generic over handlers; it ends with the [`crate::Readers`] of
//! the codec's four (`READERS`), and the vendor crate includes it:
//!
//! ```ignore
//! mod readers {
//!     include!(concat!(env!("OUT_DIR"), "/readers.rs"));
//! }
//! ```
//!
//! Readers are generated for messages of plain fields, as encoders write
//! them in declaration order; the walk takes the rest: messages with maps,
//! oneofs or well-known types (or holding such messages), and payloads
//! whose key or time lies in a nested field. This file only decides what
//! to call; `support.rs` holds what it calls.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::Path;

use prost_reflect::{
    Cardinality, DescriptorPool, EnumDescriptor, FieldDescriptor, Kind, MessageDescriptor,
};

use crate::rules::{AddressKind, BytesAs, Rules, is_ipv6_family};
use crate::well_known::WellKnown;

/// Compiles `files` (relative to `proto_dir`) and writes, into the build's
/// `OUT_DIR`, the descriptor set as `<name>_descriptors.bin` and the
/// readers as `readers.rs`; tells Cargo to build again when a file changes.
/// For a vendor crate's `build.rs`: its failures are build failures.
pub fn build(proto_dir: &Path, files: &[&str], rules: &Rules, name: &str) {
    for f in files {
        println!("cargo:rerun-if-changed={}", proto_dir.join(f).display());
    }
    let (bytes, pool) = crate::compile::compile(files, &[proto_dir])
        .unwrap_or_else(|e| panic!("{}: {e}", proto_dir.display()));
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR").expect("run by Cargo"));
    std::fs::write(out.join(format!("{name}_descriptors.bin")), &bytes)
        .expect("OUT_DIR is writable");
    std::fs::write(out.join("readers.rs"), generate(&pool, rules)).expect("OUT_DIR is writable");
}

/// The messages that get a reader: plain fields only (no maps, no real
/// oneofs, no well-known types), holding only messages that get one too;
/// and payloads whose key and time, if any, are their own fields.
fn with_readers(
    messages: &[MessageDescriptor],
    rules: &Rules,
    nested: &BTreeSet<String>,
) -> BTreeSet<String> {
    let on_nested_path = |field: &FieldDescriptor| {
        let paths = rules.key_paths.iter().chain(&rules.time_path);
        paths
            .filter_map(|p| p.split_once('.'))
            .any(|(first, _)| first == field.name())
    };
    let plain = |m: &MessageDescriptor| {
        WellKnown::of(m.full_name()).is_none()
            && m.oneofs().all(|o| o.is_synthetic())
            && m.fields().all(|f| !f.is_map())
            && (nested.contains(m.full_name()) || !m.fields().any(|f| on_nested_path(&f)))
    };
    let mut set: BTreeSet<String> = messages
        .iter()
        .filter(|m| rules.address_of(m).is_none() && plain(m))
        .map(|m| m.full_name().to_string())
        .collect();
    // Drop messages holding a message without a reader, until none does.
    loop {
        let before = set.len();
        let holds_unread = |m: &MessageDescriptor| {
            m.fields().any(|f| match f.kind() {
                Kind::Message(held) => {
                    rules.address_of(&held).is_none() && !set.contains(held.full_name())
                }
                _ => false,
            })
        };
        let dropped: Vec<String> = messages
            .iter()
            .filter(|m| set.contains(m.full_name()) && holds_unread(m))
            .map(|m| m.full_name().to_string())
            .collect();
        for name in dropped {
            set.remove(&name);
        }
        if set.len() == before {
            return set;
        }
    }
}

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

/// What every reader's generation shares.
struct Context<'a> {
    rules: &'a Rules,
    /// Plan index of each message, by full name.
    index: &'a BTreeMap<String, usize>,
    enums: &'a mut Enums,
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
pub fn generate(pool: &DescriptorPool, rules: &Rules) -> String {
    let messages: Vec<_> = pool.all_messages().collect();
    let index: BTreeMap<String, usize> = messages
        .iter()
        .enumerate()
        .map(|(i, m)| (m.full_name().to_string(), i))
        .collect();
    let mut enums = Enums::default();
    let mut code = String::from(
        "// Generated by netpipe_protobuf::codegen: do not edit.\n#[allow(unused_imports)]\nuse ::netpipe_protobuf::support::*;\n\n",
    );
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
    let generated = with_readers(&messages, rules, &nested);
    let readers: Vec<usize> = (0..messages.len())
        .filter(|&i| generated.contains(messages[i].full_name()))
        .collect();
    for &i in &readers {
        let top = !nested.contains(messages[i].full_name());
        let mut cx = Context {
            rules,
            index: &index,
            enums: &mut enums,
        };
        message_reader(&mut code, i, &messages[i], top, &mut cx);
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
    code.push_str("        // Address messages are read where they are fields; the walk takes the rest.\n        _ => Err(Retry),\n    }\n}\n\n");
    for (name, handler) in [
        ("json", "::netpipe_protobuf::json::JsonWriter<'_>"),
        ("summing", "::netpipe_protobuf::summary::Summing<'_>"),
        (
            "rendering",
            "::netpipe_protobuf::summary::Rendering<'_, '_>",
        ),
        ("records", "::netpipe_protobuf::records::RecordBuilder<'_>"),
    ] {
        writeln!(code, "fn {name}(plans: &Plans, index: usize, bytes: &[u8], h: &mut {handler}) -> Result<(), Retry> {{\n    message(index, bytes, h, plans, 0)\n}}\n").unwrap();
    }
    code.push_str("/// The readers, for `netpipe_protobuf::Codec::new`.\npub const READERS: ::netpipe_protobuf::Readers = ::netpipe_protobuf::Readers {\n    messages: &[\n");
    for message in &messages {
        writeln!(code, "        {:?},", message.full_name()).unwrap();
    }
    code.push_str("    ],\n    json,\n    summing,\n    rendering,\n    records,\n};\n");
    code
}

/// `m{i}`: reads message `i`'s fields in declaration order; `top` when it
/// is only ever a payload's own type.
fn message_reader(
    code: &mut String,
    i: usize,
    message: &MessageDescriptor,
    top: bool,
    cx: &mut Context<'_>,
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
        let identifying = top && cx.rules.identifies(field.name());
        field_arms(code, i, field, slot, identifying, cx);
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
    identifying: bool,
    cx: &mut Context<'_>,
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
    let (wire, value) = value_code(message, field, identifying && !repeated, cx);
    let handle = |read: &str| {
        value
            .replace("VALUE", read)
            .replace("SLOT", &slot.to_string())
            .replace("AT", &at)
    };
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
    cx: &mut Context<'_>,
) -> (u32, String) {
    // A value that may identify the payload is shown to the handler first,
    // in messages that are only ever payloads (a payload of a type that
    // other messages hold is summed up by the walk: `Summarizer`).
    let hand = |value: String| match identifying {
        true => format!(
            "{{\n                    let value = {value};\n                    h.identifying(&[SLOT], &value);\n                    h.scalar(AT, value)\n                }}"
        ),
        false => format!("h.scalar(AT, {value})"),
    };
    // Conversions are named by their module's path: a proto need not use them all.
    let scalar = |wire, value: &str| (wire, hand(format!("Scalar::{value}")));
    match field.kind() {
        Kind::Int32 => scalar(VARINT, "Int(values::int32(VALUE))"),
        Kind::Uint32 => scalar(VARINT, "Int(values::uint32(VALUE))"),
        Kind::Sint32 | Kind::Sint64 => scalar(VARINT, "Int(values::zigzag(VALUE))"),
        Kind::Int64 => scalar(VARINT, "Int(VALUE as i64)"),
        Kind::Uint64 => (VARINT, hand("values::uint64(VALUE)".to_string())),
        Kind::Bool => scalar(VARINT, "Bool(VALUE != 0)"),
        Kind::Fixed32 => scalar(FIXED32, "Int(values::uint32(VALUE))"),
        Kind::Sfixed32 => scalar(FIXED32, "Int(values::sfixed32(VALUE))"),
        Kind::Float => scalar(FIXED32, "Float(values::float(VALUE))"),
        Kind::Fixed64 => (FIXED64, hand("values::uint64(VALUE)".to_string())),
        Kind::Sfixed64 => scalar(FIXED64, "Int(VALUE as i64)"),
        Kind::Double => scalar(FIXED64, "Float(values::double(VALUE))"),
        Kind::String => scalar(LEN, "String(VALUE)"),
        Kind::Bytes => match cx.rules.bytes_as(field) {
            BytesAs::Text => scalar(LEN, "Text(VALUE)"),
            BytesAs::Bytes => scalar(LEN, "Bytes(VALUE)"),
        },
        Kind::Enum(descriptor) => {
            // Enums are never keys or times (`Summarizer`): nothing to show.
            let n = number_of(&mut cx.enums.names, &descriptor);
            (
                VARINT,
                format!("handle_enum(h, {message}, AT, VALUE, e{n})"),
            )
        }
        Kind::Message(message) => {
            let i = cx.index[message.full_name()];
            match cx.rules.address_of(&message) {
                Some(kind) => (
                    LEN,
                    hand(address_code(&message, kind, i, &mut cx.enums.families)),
                ),
                None => (LEN, format!("m{i}(VALUE, h, plans, depth + 1)?")),
            }
        }
    }
}

/// How address message `i` is read: at once in its usual encoding, from
/// its one-byte keys (`support.rs`: `mac`, `ip`).
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
