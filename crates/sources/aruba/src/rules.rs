//! The rules that decide how a descriptor's fields render beyond their
//! protobuf type (which `bytes` are names, which messages are addresses)
//! and which fields identify a payload (its time and key).
//! Shared by the run-time plans ([`crate::schema`]) and the build script,
//! which generates the JSON writers from the same descriptors.

use prost_reflect::{FieldDescriptor, Kind, MessageDescriptor};

/// How a `bytes` field becomes a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BytesAs {
    /// Network names (ESSIDs) and URL prefixes: UTF-8 text, with invalid
    /// bytes escaped as `\xNN` (and `\` as `\\`) so nothing is lost.
    Text,
    Bytes,
}

/// Messages that stand for one address and render as one string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressKind {
    /// `{addr: bytes}`: `aa:bb:cc:dd:ee:ff`.
    Mac,
    /// `{af: enum, addr: bytes}`: dotted quad or RFC 5952 IPv6, by the
    /// family's name (the files number families differently).
    Ip,
}

/// Fields that identify a device or client, in order of preference.
pub const KEY_FIELDS: [&str; 8] = [
    "serial_number",
    "serial",
    "device_id",
    "sta_eth_mac",
    "macaddr",
    "mac",
    "ap_mac",
    "client_mac",
];

/// The field that holds a payload's own time.
pub const TIMESTAMP_FIELD: &str = "timestamp";

/// Whether the address family named `name` is IPv6.
pub fn is_ipv6_family(name: &str) -> bool {
    name.ends_with("INET6")
}

pub fn bytes_as(field: &FieldDescriptor) -> BytesAs {
    match field.name() {
        "essid" | "network" | "dest_url_prefix" => BytesAs::Text,
        _ => BytesAs::Bytes,
    }
}

pub fn address_of(message: &MessageDescriptor) -> Option<AddressKind> {
    let names: Vec<String> = message.fields().map(|f| f.name().to_string()).collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let addr_is_bytes = message
        .get_field_by_name("addr")
        .is_some_and(|f| matches!(f.kind(), Kind::Bytes));
    match (addr_is_bytes, names.as_slice()) {
        (true, ["addr"]) => Some(AddressKind::Mac),
        (true, ["af", "addr"]) => Some(AddressKind::Ip),
        _ => None,
    }
}
