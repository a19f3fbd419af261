//! One pass over a message's wire bytes, following its plan, reporting
//! typed fields to a [`Visitor`]. The same walk builds records
//! ([`crate::decode`]), writes JSON ([`crate::transcode`]) and checks frames
//! as they arrive ([`crate::events`]), so the three cannot disagree.
//!
//! Fields are reported in declaration order, each once, a repeated field as
//! one list. Protobuf allows fields in any order and repeated elements
//! interleaved with others, so each message's fields are first gathered as
//! wire positions (nothing decoded, nothing allocated but the shared list
//! of positions) and sorted when not already in order. A singular field
//! seen twice keeps its last value.

use std::sync::Arc;

use crate::decode::{DecodeError, write_ip, write_mac};
use crate::schema::{Address, BytesAs, FieldKind, FieldPlan, MessagePlan, Plans};
use crate::wire::{FIXED32, FIXED64, LEN, Malformed, Reader, VARINT};

/// The walk's result: the error boxed, so that results stay one word as they
/// pass through every level of the recursion.
pub type Walk = Result<(), Box<DecodeError>>;

/// Messages nested deeper than this are refused rather than risking the stack.
const MAX_DEPTH: usize = 64;

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
    /// An address message (MAC or IP), rendered as text.
    Address(&'a str),
}

/// What the walk reports, in order. A message is `begin_message`, then for
/// each present field `field` and either one value (a scalar or a nested
/// message) or `begin_list`, its elements, `end_list`; then `end_message`.
pub trait Visitor {
    fn begin_message(&mut self, plan: &MessagePlan);
    fn field(&mut self, plan: &MessagePlan, slot: usize);
    fn begin_list(&mut self, len: usize);
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
        FieldKind::Int32 => Scalar::Int(i64::from(bits as i32)),
        FieldKind::UInt32 | FieldKind::Fixed32 => Scalar::Int(i64::from(bits as u32)),
        FieldKind::SFixed32 => Scalar::Int(i64::from(bits as u32 as i32)),
        FieldKind::SInt32 | FieldKind::SInt64 => {
            Scalar::Int(((bits >> 1) as i64) ^ -((bits & 1) as i64))
        }
        FieldKind::Bool => Scalar::Bool(bits != 0),
        FieldKind::Enum(names) => match names.get(bits as i32) {
            Some(name) => Scalar::Enum(name),
            None => Scalar::UnknownEnum(bits as i32),
        },
        FieldKind::Double => Scalar::Float(f64::from_bits(bits)),
        FieldKind::Float => Scalar::Float(f64::from(f32::from_bits(bits as u32))),
        // Int64, UInt64, Fixed64, SFixed64: 64-bit integers stay numbers.
        _ => Scalar::Int(bits as i64),
    }
}

/// Walks messages; keeps its scratch space between them.
pub struct Walker<'p> {
    plans: &'p Plans,
    entries: Vec<Entry>,
    text: String,
    depth: usize,
}

impl<'p> Walker<'p> {
    pub fn new(plans: &'p Plans) -> Self {
        Walker {
            plans,
            entries: Vec::with_capacity(256),
            text: String::with_capacity(64),
            depth: 0,
        }
    }

    /// Walks `bytes` as the message of plan `index`.
    pub fn walk<V: Visitor>(&mut self, index: usize, bytes: &[u8], visitor: &mut V) -> Walk {
        let plan = &self.plans.messages[index];
        if self.depth == MAX_DEPTH {
            return Err(Box::new(DecodeError::Invalid {
                message: plan.full_name.clone(),
                detail: format!("nested more than {MAX_DEPTH} deep"),
            }));
        }
        let base = self.entries.len();
        self.gather(plan, bytes)?;
        let result = match plan.address {
            Some(address) => {
                self.render_address(plan, address, bytes, base);
                visitor.scalar(Scalar::Address(&self.text));
                Ok(())
            }
            None => {
                self.depth += 1;
                let result = self.report(plan, bytes, base, visitor);
                self.depth -= 1;
                result
            }
        };
        self.entries.truncate(base);
        result
    }

    /// Records where each known field of the message is, checking wire types and lengths.
    fn gather(&mut self, plan: &MessagePlan, bytes: &[u8]) -> Walk {
        let name = plan.full_name.as_str();
        let truncated = |_| Box::new(DecodeError::Truncated(name.to_string()));
        let invalid = |detail: String| {
            Box::new(DecodeError::Invalid {
                message: name.to_string(),
                detail,
            })
        };
        let mut reader = Reader::new(bytes);
        let origin = bytes.as_ptr() as usize;
        while !reader.is_empty() {
            let key = reader.varint().map_err(truncated)?;
            let wire = (key & 7) as u8;
            if !matches!(wire, VARINT | FIXED64 | LEN | FIXED32) {
                return Err(invalid(format!("unsupported wire type {wire}")));
            }
            let slot = usize::try_from(key >> 3)
                .ok()
                .and_then(|number| plan.slots.get(number).copied().flatten());
            let Some(slot) = slot else {
                reader.skip(wire).map_err(truncated)?;
                continue;
            };
            let field = &plan.fields[slot as usize];
            let packed = field.repeated && wire == LEN && field.wire != LEN;
            if wire != field.wire && !packed {
                return Err(invalid(format!(
                    "field `{}` has wire type {wire}",
                    plan.names[slot as usize]
                )));
            }
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
            self.entries.push(Entry {
                slot,
                packed,
                len,
                bits,
            });
        }
        Ok(())
    }

    fn render_address(&mut self, plan: &MessagePlan, address: Address, bytes: &[u8], base: usize) {
        let last = |slot: u16| self.entries[base..].iter().rev().find(|e| e.slot == slot);
        self.text.clear();
        match address {
            // `{addr}`
            Address::Mac => {
                let addr = last(0).map_or(&[][..], |e| e.slice(bytes));
                write_mac(&mut self.text, addr);
            }
            // `{af, addr}`
            Address::Ip => {
                let addr = last(1).map_or(&[][..], |e| e.slice(bytes));
                let family = match (&plan.fields[0].kind, last(0)) {
                    (FieldKind::Enum(names), Some(e)) => names.get(e.bits as i32),
                    _ => None,
                };
                write_ip(&mut self.text, family.map(|f| f.ends_with("INET6")), addr);
            }
        }
    }

    /// Reports the gathered fields in declaration order.
    fn report<V: Visitor>(
        &mut self,
        plan: &MessagePlan,
        bytes: &[u8],
        base: usize,
        visitor: &mut V,
    ) -> Walk {
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
                let len: usize = self.entries[i..j]
                    .iter()
                    .map(|e| element_count(field, e, bytes))
                    .sum();
                if len > 0 {
                    visitor.field(plan, slot as usize);
                    visitor.begin_list(len);
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
                // Checked when gathered: every element is complete.
                let mut reader = Reader::new(entry.slice(bytes));
                while let Ok(bits) = match field.wire {
                    FIXED64 => reader.fixed64(),
                    FIXED32 => reader.fixed32().map(u64::from),
                    _ => reader.varint(),
                } {
                    visitor.scalar(scalar(kind, bits));
                }
            }
            FieldKind::String => visitor.scalar(Scalar::String(entry.slice(bytes))),
            FieldKind::Bytes(BytesAs::Text) => visitor.scalar(Scalar::Text(entry.slice(bytes))),
            FieldKind::Bytes(BytesAs::Bytes) => visitor.scalar(Scalar::Bytes(entry.slice(bytes))),
            FieldKind::Message(index) => self.walk(*index, entry.slice(bytes), visitor)?,
            _ => visitor.scalar(scalar(kind, entry.bits)),
        }
        Ok(())
    }
}

/// How many values one occurrence holds.
fn element_count(field: &FieldPlan, entry: &Entry, bytes: &[u8]) -> usize {
    if !entry.packed {
        return 1;
    }
    match field.wire {
        FIXED64 => entry.len as usize / 8,
        FIXED32 => entry.len as usize / 4,
        // Each varint ends with its one byte below 0x80.
        _ => entry.slice(bytes).iter().filter(|&&b| b < 0x80).count(),
    }
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
