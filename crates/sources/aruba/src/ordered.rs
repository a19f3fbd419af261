//! A message's fields read in declaration order, each value typed as it is
//! read: how encoders write messages, and so the fast way through them.
//! The walk ([`crate::walk`]) reads with it first (the generated readers of
//! [`crate::generated`] do the same per message type); when a message is in
//! another order (or malformed) it gathers the message's fields instead,
//! which takes any order and names any error.

use crate::schema::{BytesAs, FieldKind, FieldPlan, KeyPlan, MessagePlan};
use crate::walk::{Scalar, check_packed, key_plan, scalar};
use crate::wire::{FIXED32, FIXED64, Malformed, Reader};

/// The ordered reading cannot go on: a field came out of declaration
/// order, a singular field came twice, or the bytes are malformed. The
/// general walk takes the message (and names any error).
pub(crate) struct Retry;

impl From<Malformed> for Retry {
    fn from(_: Malformed) -> Self {
        Retry
    }
}

/// One value of a known field, read in declaration order.
pub(crate) struct Occurrence<'b, 'p> {
    pub slot: usize,
    pub field: &'p FieldPlan,
    /// The field's first value: the field (or its list) begins.
    pub first: bool,
    pub value: Value<'b, 'p>,
}

pub(crate) enum Value<'b, 'p> {
    Scalar(Scalar<'p>),
    /// A packed run of a repeated scalar field, checked whole.
    Packed(&'b [u8]),
    /// A nested message: its plan and its bytes.
    Message(usize, &'b [u8]),
}

/// Reads a message's known fields in declaration order, skipping unknown
/// ones, until one is out of order ([`Retry`]).
pub(crate) struct Ordered<'b, 'p> {
    plan: &'p MessagePlan,
    reader: Reader<'b>,
    /// The field read last.
    open: Option<u16>,
}

impl<'b, 'p> Ordered<'b, 'p> {
    pub fn new(plan: &'p MessagePlan, bytes: &'b [u8]) -> Self {
        Ordered {
            plan,
            reader: Reader::new(bytes),
            open: None,
        }
    }

    #[inline(always)]
    pub fn next_field(&mut self) -> Result<Option<Occurrence<'b, 'p>>, Retry>
    where
        'b: 'p,
    {
        let plan = self.plan;
        let reader = &mut self.reader;
        loop {
            if reader.is_empty() {
                return Ok(None);
            }
            let key = reader.varint()?;
            let (slot, packed) = match key_plan(plan, key) {
                KeyPlan::Value(slot) => (slot, false),
                KeyPlan::Packed(slot) => (slot, true),
                KeyPlan::Unknown => {
                    reader.skip((key & 7) as u8)?;
                    continue;
                }
                KeyPlan::WrongWire => return Err(Retry),
            };
            let field = &plan.fields[usize::from(slot)];
            let value = match (packed, &field.kind) {
                (true, _) => {
                    let run = reader.bytes()?;
                    check_packed(field.wire, run)?;
                    // An empty run adds no element: as if it were absent.
                    if run.is_empty() {
                        continue;
                    }
                    Value::Packed(run)
                }
                (false, FieldKind::String) => Value::Scalar(Scalar::String(reader.bytes()?)),
                (false, FieldKind::Bytes(BytesAs::Text)) => {
                    Value::Scalar(Scalar::Text(reader.bytes()?))
                }
                (false, FieldKind::Bytes(BytesAs::Bytes)) => {
                    Value::Scalar(Scalar::Bytes(reader.bytes()?))
                }
                (false, FieldKind::Message(index)) => Value::Message(*index, reader.bytes()?),
                (false, kind) => Value::Scalar(scalar(
                    kind,
                    match field.wire {
                        FIXED64 => reader.fixed64()?,
                        FIXED32 => u64::from(reader.fixed32()?),
                        _ => reader.varint()?,
                    },
                )),
            };
            let first = self.open != Some(slot);
            if first && self.open > Some(slot) || !first && !field.repeated {
                return Err(Retry);
            }
            self.open = Some(slot);
            return Ok(Some(Occurrence {
                slot: usize::from(slot),
                field,
                first,
                value,
            }));
        }
    }
}
