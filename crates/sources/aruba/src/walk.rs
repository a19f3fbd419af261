//! One pass over a message's wire bytes, following its plan, reporting
//! typed fields to a [`Visitor`]. It takes the payloads that the generated
//! readers ([`crate::generated`]) give up on: builds their records
//! ([`crate::decode`]), writes their JSON ([`crate::transcode`]), sums them
//! up ([`crate::summary`]) and names their errors. Tests hold its results
//! and the readers' equal.
//!
//! Fields are reported in declaration order, each once, a repeated field as
//! one list, whatever order they came in: protobuf allows any, and
//! repeated elements interleaved with others. The walk gathers each
//! message's fields as wire positions (nothing decoded, nothing allocated
//! but the shared list of positions) and sorts them before reporting. A
//! singular field seen twice keeps its last value.

use std::sync::Arc;

use crate::address::Address;
use crate::decode::DecodeError;
use crate::rules::is_ipv6_family;
use crate::schema::{AddressKind, BytesAs, FieldKind, FieldPlan, KeyPlan, MessagePlan, Plans};
use crate::wire::{FIXED32, FIXED64, LEN, Malformed, Reader, VARINT};

/// The walk's result: the error boxed, so that results stay one word as they
/// pass through every level of the recursion.
pub type Walk = Result<(), Box<DecodeError>>;

/// Messages nested deeper than this are refused rather than risking the stack.
pub(crate) const MAX_DEPTH: usize = 64;

/// One field value, typed by its plan.
#[derive(Debug, Clone, Copy)]
pub enum Scalar<'a> {
    Bool(bool),
    Int(i64),
    Float(f64),
    /// A `string` field's bytes, not yet checked for UTF-8.
    String(&'a [u8]),
    /// A `bytes` field that holds a name (an ESSID): text, losslessly.
    Text(&'a [u8]),
    Bytes(&'a [u8]),
    /// An enum value by name.
    Enum(&'a Arc<str>),
    /// An enum number the descriptors do not name.
    UnknownEnum(i32),
    /// An address message, rendered as text when written.
    Address(Address<'a>),
}

/// What the walk reports, in order. A message is `begin_message`, then for
/// each present field `field` and either one value (a scalar or a nested
/// message) or `begin_list`, its elements, `end_list`; then `end_message`.
pub trait Visitor {
    fn begin_message(&mut self, plan: &MessagePlan);
    fn field(&mut self, plan: &MessagePlan, slot: usize);
    fn begin_list(&mut self);
    fn end_list(&mut self);
    fn scalar(&mut self, value: Scalar<'_>);
    fn end_message(&mut self, plan: &MessagePlan);
}

/// Where one occurrence of a field sits in its message.
#[derive(Debug, Clone, Copy)]
struct Entry {
    slot: u16,
    /// A packed run of a repeated scalar field.
    packed: bool,
    /// Length of a length-delimited value.
    len: u32,
    /// A scalar's wire value, or the offset of a length-delimited one.
    bits: u64,
}

impl Entry {
    fn slice<'b>(&self, message: &'b [u8]) -> &'b [u8] {
        let start = self.bits as usize;
        &message[start..start + self.len as usize]
    }
}

/// A fixed-width or varint value, typed.
#[inline]
fn scalar(kind: &FieldKind, bits: u64) -> Scalar<'_> {
    match kind {
        FieldKind::Int32 => Scalar::Int(int32(bits)),
        FieldKind::UInt32 | FieldKind::Fixed32 => Scalar::Int(uint32(bits)),
        FieldKind::SFixed32 => Scalar::Int(sfixed32(bits)),
        FieldKind::SInt32 | FieldKind::SInt64 => Scalar::Int(zigzag(bits)),
        FieldKind::Bool => Scalar::Bool(bits != 0),
        FieldKind::Enum(names) => match names.get(bits as i32) {
            Some(name) => Scalar::Enum(name),
            None => Scalar::UnknownEnum(bits as i32),
        },
        FieldKind::Double => Scalar::Float(double(bits)),
        FieldKind::Float => Scalar::Float(float(bits)),
        // Int64, UInt64, Fixed64, SFixed64: 64-bit integers stay numbers.
        _ => Scalar::Int(bits as i64),
    }
}

// A wire value as its protobuf type reads it (the generated readers call
// these too).

#[inline(always)]
pub(crate) fn int32(bits: u64) -> i64 {
    i64::from(bits as i32)
}

#[inline(always)]
pub(crate) fn uint32(bits: u64) -> i64 {
    i64::from(bits as u32)
}

#[inline(always)]
pub(crate) fn sfixed32(bits: u64) -> i64 {
    i64::from(bits as u32 as i32)
}

#[inline(always)]
pub(crate) fn zigzag(bits: u64) -> i64 {
    ((bits >> 1) as i64) ^ -((bits & 1) as i64)
}

#[inline(always)]
pub(crate) fn double(bits: u64) -> f64 {
    f64::from_bits(bits)
}

#[inline(always)]
pub(crate) fn float(bits: u64) -> f64 {
    f64::from(f32::from_bits(bits as u32))
}

/// Walks messages; keeps its scratch space between them.
pub struct Walker<'p> {
    plans: &'p Plans,
    entries: Vec<Entry>,
    depth: usize,
}

impl<'p> Walker<'p> {
    pub fn new(plans: &'p Plans) -> Self {
        Walker {
            plans,
            entries: Vec::new(),
            depth: 0,
        }
    }

    /// Walks `bytes` as the message of plan `index`.
    pub fn walk<V: Visitor>(&mut self, index: usize, bytes: &[u8], visitor: &mut V) -> Walk {
        self.entries.clear();
        self.depth = 0;
        self.message(index, bytes, visitor)
    }

    fn message<V: Visitor>(&mut self, index: usize, bytes: &[u8], visitor: &mut V) -> Walk {
        let plan = &self.plans.messages[index];
        if self.depth == MAX_DEPTH {
            return Err(invalid(plan, format!("nested more than {MAX_DEPTH} deep")));
        }
        if let Some(address) = plan.address {
            visitor.scalar(address_scalar(plan, address, bytes)?);
            return Ok(());
        }
        self.depth += 1;
        let result = self.report(plan, bytes, visitor);
        self.depth -= 1;
        result
    }

    /// Reads the next field of a message: its slot and where its value is,
    /// or `None` for a field the plan does not know (skipped). Checks wire
    /// types and lengths.
    #[inline(always)]
    fn next_field(
        plan: &MessagePlan,
        reader: &mut Reader<'_>,
        origin: usize,
    ) -> Result<Option<Entry>, Box<DecodeError>> {
        let truncated = |_: Malformed| truncated(plan);
        let key = reader.varint().map_err(truncated)?;
        let wire = (key & 7) as u8;
        let (slot, packed) = match key_plan(plan, key) {
            KeyPlan::Value(slot) => (slot, false),
            KeyPlan::Packed(slot) => (slot, true),
            KeyPlan::Unknown => {
                reader.skip(wire).map_err(|_| match wire {
                    VARINT | FIXED64 | LEN | FIXED32 => truncated(Malformed),
                    _ => invalid(plan, format!("unsupported wire type {wire}")),
                })?;
                return Ok(None);
            }
            KeyPlan::WrongWire => {
                let slot = usize::try_from(key >> 3)
                    .ok()
                    .and_then(|number| plan.slots.get(number).copied().flatten());
                let detail = match slot {
                    Some(slot) if matches!(wire, VARINT | FIXED64 | LEN | FIXED32) => {
                        let name = &plan.names[usize::from(slot)];
                        format!("field `{name}` has wire type {wire}")
                    }
                    _ => format!("unsupported wire type {wire}"),
                };
                return Err(invalid(plan, detail));
            }
        };
        let field = &plan.fields[usize::from(slot)];
        let (bits, len) = match wire {
            VARINT => (reader.varint().map_err(truncated)?, 0),
            FIXED64 => (reader.fixed64().map_err(truncated)?, 0),
            FIXED32 => (u64::from(reader.fixed32().map_err(truncated)?), 0),
            _ => {
                let value = reader.bytes().map_err(truncated)?;
                if packed {
                    check_packed(field.wire, value).map_err(truncated)?;
                }
                let len = u32::try_from(value.len()).map_err(|_| truncated(Malformed))?;
                ((value.as_ptr() as usize - origin) as u64, len)
            }
        };
        Ok(Some(Entry {
            slot,
            packed,
            len,
            bits,
        }))
    }

    /// Records where each known field of the message is.
    fn gather(&mut self, plan: &MessagePlan, bytes: &[u8]) -> Walk {
        let mut reader = Reader::new(bytes);
        let origin = bytes.as_ptr() as usize;
        while !reader.is_empty() {
            if let Some(entry) = Self::next_field(plan, &mut reader, origin)? {
                self.entries.push(entry);
            }
        }
        Ok(())
    }

    /// Reports the message's fields in declaration order, whatever order they came in.
    fn report<V: Visitor>(&mut self, plan: &MessagePlan, bytes: &[u8], visitor: &mut V) -> Walk {
        let base = self.entries.len();
        self.gather(plan, bytes)?;
        let end = self.entries.len();
        if !self.entries[base..end].is_sorted_by_key(|e| e.slot) {
            // Stable: a field's occurrences keep their order.
            self.entries[base..end].sort_by_key(|e| e.slot);
        }
        visitor.begin_message(plan);
        let mut i = base;
        while i < end {
            let slot = self.entries[i].slot;
            let j = (i..end)
                .find(|&k| self.entries[k].slot != slot)
                .unwrap_or(end);
            let field = &plan.fields[slot as usize];
            if field.repeated {
                // Packed runs may all be empty: then there is no value.
                if self.entries[i..j].iter().any(|e| !e.packed || e.len > 0) {
                    visitor.field(plan, slot as usize);
                    visitor.begin_list();
                    for k in i..j {
                        self.value(field, self.entries[k], bytes, visitor)?;
                    }
                    visitor.end_list();
                }
            } else {
                visitor.field(plan, slot as usize);
                self.value(field, self.entries[j - 1], bytes, visitor)?;
            }
            i = j;
        }
        self.entries.truncate(base);
        visitor.end_message(plan);
        Ok(())
    }

    /// Reports one occurrence: a value, a nested message, or a packed run.
    fn value<V: Visitor>(
        &mut self,
        field: &FieldPlan,
        entry: Entry,
        bytes: &[u8],
        visitor: &mut V,
    ) -> Walk {
        let kind = &field.kind;
        match kind {
            _ if entry.packed => {
                packed_values(field, entry.slice(bytes)).for_each(|v| visitor.scalar(v))
            }
            FieldKind::String => visitor.scalar(Scalar::String(entry.slice(bytes))),
            FieldKind::Bytes(BytesAs::Text) => visitor.scalar(Scalar::Text(entry.slice(bytes))),
            FieldKind::Bytes(BytesAs::Bytes) => visitor.scalar(Scalar::Bytes(entry.slice(bytes))),
            FieldKind::Message(index) => self.message(*index, entry.slice(bytes), visitor)?,
            _ => visitor.scalar(scalar(kind, entry.bits)),
        }
        Ok(())
    }
}

/// The values of a packed run, checked whole when read.
fn packed_values<'f>(field: &'f FieldPlan, run: &[u8]) -> impl Iterator<Item = Scalar<'f>> {
    let mut reader = Reader::new(run);
    std::iter::from_fn(move || {
        match field.wire {
            FIXED64 => reader.fixed64(),
            FIXED32 => reader.fixed32().map(u64::from),
            _ => reader.varint(),
        }
        .ok()
    })
    .map(|bits| scalar(&field.kind, bits))
}

/// An address message's fields, as one value. Fields may come in any
/// order; the last occurrence of each counts.
pub(crate) fn address_scalar<'b>(
    plan: &MessagePlan,
    kind: AddressKind,
    bytes: &'b [u8],
) -> Result<Scalar<'b>, Box<DecodeError>> {
    // Slots follow declaration: `{addr}` or `{af, addr}`. Encoders write
    // them in order, with one-byte keys and lengths: that is read at once.
    let key =
        |byte: u8, slot| byte < 0x80 && key_plan(plan, u64::from(byte)) == KeyPlan::Value(slot);
    match (kind, bytes) {
        (AddressKind::Mac, &[k, len, ref addr @ ..])
            if key(k, 0) && len < 0x80 && usize::from(len) == addr.len() =>
        {
            return Ok(Scalar::Address(Address::Mac(addr)));
        }
        (AddressKind::Ip, &[k0, af, k1, len, ref addr @ ..])
            if key(k0, 0)
                && af < 0x80
                && key(k1, 1)
                && len < 0x80
                && usize::from(len) == addr.len() =>
        {
            return Ok(Scalar::Address(Address::Ip(
                ip_family(plan, Some(af.into())),
                addr,
            )));
        }
        _ => {}
    }
    let (mut family, mut addr) = (None, &[][..]);
    let mut reader = Reader::new(bytes);
    while !reader.is_empty() {
        let Ok(key) = reader.varint() else {
            return Err(address_error(plan, bytes));
        };
        let read = match (key_plan(plan, key), kind) {
            (KeyPlan::Value(0), AddressKind::Mac) | (KeyPlan::Value(1), AddressKind::Ip) => {
                reader.bytes().map(|bytes| addr = bytes)
            }
            (KeyPlan::Value(0), AddressKind::Ip) => reader.varint().map(|af| family = Some(af)),
            (KeyPlan::Unknown, _) => reader.skip((key & 7) as u8),
            _ => Err(Malformed),
        };
        if read.is_err() {
            return Err(address_error(plan, bytes));
        }
    }
    Ok(Scalar::Address(match kind {
        AddressKind::Mac => Address::Mac(addr),
        AddressKind::Ip => Address::Ip(ip_family(plan, family), addr),
    }))
}

/// Whether address family `af` of an IP address message is IPv6, by its
/// name (each file numbers families its own way); `None` when unnamed.
fn ip_family(plan: &MessagePlan, af: Option<u64>) -> Option<bool> {
    let name = match (&plan.fields[0].kind, af) {
        (FieldKind::Enum(names), Some(af)) => names.get(af as i32),
        _ => None,
    };
    name.map(|family| is_ipv6_family(family))
}

/// Why an address message could not be read, named as for any message.
#[cold]
fn address_error(plan: &MessagePlan, bytes: &[u8]) -> Box<DecodeError> {
    let mut reader = Reader::new(bytes);
    let origin = bytes.as_ptr() as usize;
    while !reader.is_empty() {
        if let Err(error) = Walker::next_field(plan, &mut reader, origin) {
            return error;
        }
    }
    invalid(plan, "malformed address".to_string())
}

/// What `key` means in the message.
#[inline(always)]
pub(crate) fn key_plan(plan: &MessagePlan, key: u64) -> KeyPlan {
    usize::try_from(key)
        .ok()
        .and_then(|key| plan.keys.get(key).copied())
        .unwrap_or(KeyPlan::Unknown)
}

#[cold]
fn truncated(plan: &MessagePlan) -> Box<DecodeError> {
    Box::new(DecodeError::Truncated(plan.full_name.clone()))
}

#[cold]
fn invalid(plan: &MessagePlan, detail: String) -> Box<DecodeError> {
    Box::new(DecodeError::Invalid {
        message: plan.full_name.clone(),
        detail,
    })
}

/// A packed run must hold whole values.
fn check_packed(wire: u8, run: &[u8]) -> Result<(), Malformed> {
    match wire {
        FIXED64 if run.len().is_multiple_of(8) => Ok(()),
        FIXED32 if run.len().is_multiple_of(4) => Ok(()),
        VARINT => {
            let mut reader = Reader::new(run);
            while !reader.is_empty() {
                reader.varint()?;
            }
            Ok(())
        }
        _ => Err(Malformed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::Decoder;

    fn text(plan: &MessagePlan, kind: AddressKind, bytes: &[u8]) -> String {
        match address_scalar(plan, kind, bytes) {
            Ok(Scalar::Address(address)) => address.to_text().to_string(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn addresses_read_at_once_or_field_by_field_agree() {
        let decoder = Decoder::new();
        let plans = decoder.plans();
        let plan = |name| &plans.messages[plans.index_of(name).unwrap()];
        let (ip, mac) = (plan("Monitoring.IpAddress"), plan("Monitoring.MacAddress"));
        let v6 = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
        // Plan, kind, the usual encoding, an unusual one, the text.
        let cases = [
            (
                ip,
                AddressKind::Ip,
                // As encoders write it: af (INET = 2), then addr.
                vec![0x08, 2, 0x12, 4, 10, 1, 10, 103],
                // addr first, and an unknown field 9 after.
                vec![0x12, 4, 10, 1, 10, 103, 0x08, 2, 0x48, 1],
                "10.1.10.103",
            ),
            (
                ip,
                AddressKind::Ip,
                [&[0x08, 10, 0x12, 16][..], &v6].concat(),
                // af as a two-byte varint.
                [&[0x08, 0x8a, 0x00, 0x12, 16][..], &v6].concat(),
                "2001:db8::1",
            ),
            (
                mac,
                AddressKind::Mac,
                vec![0x0a, 6, 0xaa, 0xbb, 0xcc, 1, 2, 3],
                // The address twice: the last counts.
                vec![0x0a, 1, 0xff, 0x0a, 6, 0xaa, 0xbb, 0xcc, 1, 2, 3],
                "aa:bb:cc:01:02:03",
            ),
        ];
        for (plan, kind, usual, unusual, expected) in cases {
            assert_eq!(text(plan, kind, &usual), expected);
            assert_eq!(text(plan, kind, &unusual), expected);
        }
        // A two-byte length (134) is not read as one byte (6, and 128 + 6 left).
        let long: Vec<u8> = [&[0x0a, 0x86, 0x01][..], &[7; 134]].concat();
        assert_eq!(text(mac, AddressKind::Mac, &long).len(), 134 * 3 - 1);
        let cut = &long[..long.len() - 1];
        assert!(address_scalar(mac, AddressKind::Mac, cut).is_err());
        // A length past the end is an error either way.
        assert!(address_scalar(mac, AddressKind::Mac, &[0x0a, 7, 1, 2]).is_err());
    }
}
