//! One field value as both readers hand it over: typed by its plan,
//! borrowed from the message's bytes, rendered only by whoever takes it.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::sync::Arc;

use crate::address::Address;
use crate::well_known::WellKnown;

/// One field value, typed by its plan.
#[derive(Debug, Clone, Copy)]
pub enum Scalar<'a> {
    /// `google.protobuf.Value`'s null, or `NullValue`.
    Null,
    Bool(bool),
    Int(i64),
    /// A `uint64` or `fixed64` above `i64::MAX` (smaller ones are [`Scalar::Int`]).
    UInt(u64),
    Float(f64),
    /// A `string` field's bytes, not yet checked for UTF-8.
    String(&'a [u8]),
    /// A `bytes` field that holds text ([`crate::Rules::text_bytes`]).
    Text(&'a [u8]),
    Bytes(&'a [u8]),
    /// An enum value by name.
    Enum(&'a Arc<str>),
    /// An enum number the descriptors do not name.
    UnknownEnum(i32),
    /// An address message, rendered as text when written.
    Address(Address<'a>),
    /// A `google.protobuf.Timestamp`.
    Timestamp {
        seconds: i64,
        nanos: i32,
    },
    /// A `google.protobuf.Duration`.
    Duration {
        seconds: i64,
        nanos: i32,
    },
    /// A `google.protobuf.FieldMask`'s bytes, checked.
    FieldMask(&'a [u8]),
    /// A `Struct`, `Value` or `ListValue`'s bytes, checked.
    Json(WellKnown, &'a [u8]),
}

// A wire value as its protobuf type reads it (the generated readers call
// these too).

#[inline(always)]
pub fn int32(bits: u64) -> i64 {
    i64::from(bits as i32)
}

#[inline(always)]
pub fn uint32(bits: u64) -> i64 {
    i64::from(bits as u32)
}

#[inline(always)]
pub fn sfixed32(bits: u64) -> i64 {
    i64::from(bits as u32 as i32)
}

#[inline(always)]
pub fn zigzag(bits: u64) -> i64 {
    ((bits >> 1) as i64) ^ -((bits & 1) as i64)
}

#[inline(always)]
pub fn double(bits: u64) -> f64 {
    f64::from_bits(bits)
}

#[inline(always)]
pub fn float(bits: u64) -> f64 {
    f64::from(f32::from_bits(bits as u32))
}

/// A `uint64` or `fixed64`: a signed integer when it fits, as nearly all do.
#[inline(always)]
pub fn uint64(bits: u64) -> Scalar<'static> {
    match i64::try_from(bits) {
        Ok(value) => Scalar::Int(value),
        Err(_) => Scalar::UInt(bits),
    }
}

/// Text of a bytes field, escaping what is not UTF-8 so nothing is lost.
pub fn lossless_text(bytes: &[u8]) -> Cow<'_, str> {
    if let Ok(text) = std::str::from_utf8(bytes)
        && !text.contains('\\')
    {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(bytes.len() + 8);
    for chunk in bytes.utf8_chunks() {
        out.push_str(&chunk.valid().replace('\\', "\\\\"));
        for b in chunk.invalid() {
            let _ = write!(out, "\\x{b:02x}");
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_keep_every_byte() {
        assert_eq!(&*lossless_text(b"Corp-WiFi"), "Corp-WiFi");
        assert_eq!(&*lossless_text(b"caf\xe9\\x"), "caf\\xe9\\\\x");
    }

    #[test]
    fn unsigned_64_bit_values_do_not_wrap() {
        assert!(matches!(uint64(u64::MAX), Scalar::UInt(u64::MAX)));
        assert!(matches!(uint64(i64::MAX as u64), Scalar::Int(i64::MAX)));
    }
}
