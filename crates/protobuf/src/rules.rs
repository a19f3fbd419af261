//! What a vendor decides beyond protobuf's own types: which fields key and
//! time a payload, which `bytes` fields hold text, whether messages shaped
//! like addresses render as one. Passed to the plans and the generator
//! alike, so that generated readers and the walk cannot disagree.

use prost_reflect::{FieldDescriptor, Kind, MessageDescriptor};

/// A vendor's rules. Static, so that a build script and the crate it builds
/// share one constant (the vendor's `src/rules.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rules {
    /// Fields whose value keys a payload, most preferred first: names of the
    /// payload message's fields, or dotted paths into nested messages
    /// (`value.key.device_id`). The first present, non-empty one counts; a
    /// path through a list never does.
    pub key_paths: &'static [&'static str],
    /// The field that holds a payload's own time: an integer (its unit is
    /// the source's to tell) or a `google.protobuf.Timestamp`.
    pub time_path: Option<&'static str>,
    /// Names of `bytes` fields that hold text (network names, URL
    /// prefixes): UTF-8, with invalid bytes escaped as `\xNN` and `\` as
    /// `\\`, so nothing is lost. Other `bytes` are base64 in JSON.
    pub text_bytes: &'static [&'static str],
    /// Messages of exactly `{addr: bytes}` render as a MAC address, and of
    /// `{af: enum, addr: bytes}` as an IP address (IPv6 when the family's
    /// name ends in `INET6`).
    pub addresses: bool,
}

impl Rules {
    /// Protobuf as it is: no key, no time, no text bytes, no addresses.
    pub const NONE: Rules = Rules {
        key_paths: &[],
        time_path: None,
        text_bytes: &[],
        addresses: false,
    };

    pub fn bytes_as(&self, field: &FieldDescriptor) -> BytesAs {
        match self.text_bytes.contains(&field.name()) {
            true => BytesAs::Text,
            false => BytesAs::Bytes,
        }
    }

    pub fn address_of(&self, message: &MessageDescriptor) -> Option<AddressKind> {
        if !self.addresses {
            return None;
        }
        let addr_is_bytes = message
            .get_field_by_name("addr")
            .is_some_and(|f| matches!(f.kind(), Kind::Bytes));
        let names: Vec<String> = message.fields().map(|f| f.name().to_string()).collect();
        match (addr_is_bytes, names.as_slice()) {
            (true, [addr]) if addr == "addr" => Some(AddressKind::Mac),
            (true, [af, addr]) if af == "af" && addr == "addr" => Some(AddressKind::Ip),
            _ => None,
        }
    }

    /// Whether a payload's own field `name` may be its key or time (a path
    /// of one name).
    pub fn identifies(&self, name: &str) -> bool {
        self.key_paths.contains(&name) || self.time_path == Some(name)
    }
}

/// Whether the address family named `name` is IPv6.
pub fn is_ipv6_family(name: &str) -> bool {
    name.ends_with("INET6")
}

/// How a `bytes` field becomes a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BytesAs {
    /// Text, losslessly ([`Rules::text_bytes`]).
    Text,
    Bytes,
}

/// Messages that stand for one address and render as one string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressKind {
    /// `{addr: bytes}`: `aa:bb:cc:dd:ee:ff`.
    Mac,
    /// `{af: enum, addr: bytes}`: dotted quad or RFC 5952 IPv6, by the
    /// family's name (files number families differently).
    Ip,
}
