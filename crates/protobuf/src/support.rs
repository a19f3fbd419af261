//! The steps both readers share, and what generated readers call (their
//! code is `use netpipe_protobuf::support::*`): where a field key leads,
//! reading a field's place in a message, address messages as one value,
//! and a generated reader's bookkeeping ([`Fields`]). Errors are named
//! here, for the walk; generated readers only give up ([`Retry`]).

use crate::address::Address;
use crate::error::DecodeError;
use crate::rules::is_ipv6_family;
use crate::wire::{FIXED32, FIXED64, LEN, VARINT};

pub use crate::handler::{Handler, Retry, Scalar};
pub use crate::plans::{AddressKind, FieldKind, KeyPlan, MessagePlan, Plans};
pub use crate::values;
pub use crate::wire::{Malformed, Reader};

/// Messages nested deeper than this are refused rather than risking the stack.
pub const MAX_DEPTH: usize = 64;

/// Where one occurrence of a field sits in its message.
#[derive(Debug, Clone, Copy)]
pub struct Entry {
    pub slot: u16,
    /// A packed run of a repeated scalar field.
    pub packed: bool,
    /// Length of a length-delimited value.
    pub len: u32,
    /// A scalar's wire value, or the offset of a length-delimited one.
    pub bits: u64,
}

impl Entry {
    pub fn slice<'b>(&self, message: &'b [u8]) -> &'b [u8] {
        let start = self.bits as usize;
        &message[start..start + self.len as usize]
    }
}

/// What `key` means in the message.
#[inline(always)]
pub fn key_plan(plan: &MessagePlan, key: u64) -> KeyPlan {
    match usize::try_from(key).ok().and_then(|key| plan.keys.get(key)) {
        Some(known) => *known,
        None => plan.sparse_key(key),
    }
}

/// Reads the next field of a message: its slot and where its value is
/// (offsets from `origin`, the message's start), or `None` for a field the
/// plan does not know (skipped). Checks wire types and lengths.
#[inline(always)]
pub fn next_field(
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
            let slot = plan.slot(key >> 3);
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

#[cold]
pub fn truncated(plan: &MessagePlan) -> Box<DecodeError> {
    Box::new(DecodeError::Truncated(plan.full_name.clone()))
}

#[cold]
pub fn invalid(plan: &MessagePlan, detail: String) -> Box<DecodeError> {
    Box::new(DecodeError::Invalid {
        message: plan.full_name.clone(),
        detail,
    })
}

/// An address message's fields, as one value. Fields may come in any
/// order; the last occurrence of each counts.
pub fn address_scalar<'b>(
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
        if let Err(error) = next_field(plan, &mut reader, origin) {
            return error;
        }
    }
    invalid(plan, "malformed address".to_string())
}

/// Where a reader is among its message's fields.
pub struct Fields {
    /// The field read last, numbered from 1 in declaration order; 0 for none.
    last: usize,
    /// The last field is repeated: its list is open.
    list: bool,
}

impl Fields {
    #[inline(always)]
    pub fn begin<H: Handler>(h: &mut H, index: usize) -> Self {
        h.begin(index);
        Fields {
            last: 0,
            list: false,
        }
    }

    /// Before a value of field `slot`: opens the field the first time, goes
    /// on with its list after that.
    #[inline(always)]
    pub fn open<H: Handler>(
        &mut self,
        h: &mut H,
        slot: usize,
        repeated: bool,
        key: &'static [u8],
    ) -> Result<(), Retry> {
        let number = slot + 1;
        if self.last == number {
            if !repeated {
                return Err(Retry);
            }
            h.next();
            return Ok(());
        }
        if self.last > number {
            return Err(Retry);
        }
        h.open(self.last != 0, self.list, slot, key, repeated);
        self.last = number;
        self.list = repeated;
        Ok(())
    }

    /// A packed run of repeated field `slot`, each value read by `read`.
    /// An empty run adds no element: as if it were absent.
    #[inline(always)]
    pub fn packed<H: Handler>(
        &mut self,
        h: &mut H,
        slot: usize,
        key: &'static [u8],
        run: &[u8],
        mut read: impl FnMut(&mut Reader<'_>, &mut H) -> Result<(), Retry>,
    ) -> Result<(), Retry> {
        if run.is_empty() {
            return Ok(());
        }
        self.open(h, slot, true, key)?;
        let mut values = Reader::new(run);
        read(&mut values, h)?;
        while !values.is_empty() {
            h.next();
            read(&mut values, h)?;
        }
        Ok(())
    }

    #[inline(always)]
    pub fn end<H: Handler>(self, h: &mut H) {
        h.end(self.list);
    }
}

/// An enum value: by the name `names` gives its number, else the number.
#[inline(always)]
pub fn handle_enum<H: Handler>(
    h: &mut H,
    message: usize,
    slot: usize,
    repeated: bool,
    bits: u64,
    names: fn(i32) -> Option<&'static [u8]>,
) {
    let number = bits as i32;
    match names(number) {
        Some(quoted) => h.enum_name(message, slot, repeated, number, quoted),
        None => h.scalar(slot, repeated, Scalar::UnknownEnum(number)),
    }
}

/// A MAC address message nested at `depth + 1`, as one value: read at
/// once when it is as encoders write it (`addr` under the one-byte key
/// `addr_key`, with a one-byte length), else as the walk reads it.
#[inline(always)]
pub fn mac<'b>(
    plan: &MessagePlan,
    bytes: &'b [u8],
    depth: usize,
    addr_key: u8,
) -> Result<Scalar<'b>, Retry> {
    match *bytes {
        [key, len, ref addr @ ..]
            if key == addr_key
                && len < 0x80
                && usize::from(len) == addr.len()
                && depth + 1 < MAX_DEPTH =>
        {
            Ok(Scalar::Address(Address::Mac(addr)))
        }
        _ => address(plan, AddressKind::Mac, bytes, depth),
    }
}

/// An IP address message nested at `depth + 1`, as one value: read at
/// once when it is as encoders write it (`af` then `addr`, under the
/// one-byte `keys`, with one-byte values and length), else as the walk
/// reads it. `ipv6` tells the family by its number.
#[inline(always)]
pub fn ip<'b>(
    plan: &MessagePlan,
    bytes: &'b [u8],
    depth: usize,
    keys: [u8; 2],
    ipv6: fn(u8) -> Option<bool>,
) -> Result<Scalar<'b>, Retry> {
    match *bytes {
        [af_key, af, addr_key, len, ref addr @ ..]
            if [af_key, addr_key] == keys
                && af < 0x80
                && len < 0x80
                && usize::from(len) == addr.len()
                && depth + 1 < MAX_DEPTH =>
        {
            Ok(Scalar::Address(Address::Ip(ipv6(af), addr)))
        }
        _ => address(plan, AddressKind::Ip, bytes, depth),
    }
}

/// An address message nested at `depth + 1`, as one value, in any form.
#[inline(never)]
pub fn address<'b>(
    plan: &MessagePlan,
    kind: AddressKind,
    bytes: &'b [u8],
    depth: usize,
) -> Result<Scalar<'b>, Retry> {
    if depth + 1 == MAX_DEPTH {
        return Err(Retry);
    }
    address_scalar(plan, kind, bytes).map_err(|_| Retry)
}
