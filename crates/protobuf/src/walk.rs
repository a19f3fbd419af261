//! One pass over a message's wire bytes, following its plan, reporting
//! to a [`Handler`] as the generated readers do. It takes what they give up
//! on (fields out of declaration order, malformed bytes, which it names),
//! and what they are not generated for: maps, oneofs, well-known types,
//! payloads keyed by nested fields, and descriptors loaded at run time.
//!
//! Fields are reported in declaration order, each once, a repeated field as
//! one list, whatever order they came in: protobuf allows any, and
//! repeated elements interleaved with others. The walk gathers each
//! message's fields as wire positions (nothing decoded, nothing allocated
//! but the shared list of positions) and sorts them before reporting.
//! A singular field seen twice keeps its last value (a message's too: they
//! are not merged), and so does a oneof whose members both came. Fields the
//! descriptors do not know are skipped.

use crate::dynamic;
use crate::error::DecodeError;
use crate::handler::{Handler, Scalar};
use crate::plans::{BytesAs, FieldKind, FieldPlan, MessagePlan, Plans, Special};
use crate::support::{Entry, MAX_DEPTH, address_scalar, invalid, next_field};
use crate::values::{double, float, int32, sfixed32, uint32, uint64, zigzag};
use crate::well_known::WellKnown;
use crate::wire::{FIXED32, FIXED64, Reader};

/// The walk's result: the error boxed, so that results stay one word as they
/// pass through every level of the recursion.
pub type Walk = Result<(), Box<DecodeError>>;

/// The path slot of a list's or map's element: never a key's or time's.
const IN_LIST: u16 = u16::MAX;

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
        FieldKind::UInt64 | FieldKind::Fixed64 => uint64(bits),
        // Int64, SFixed64.
        _ => Scalar::Int(bits as i64),
    }
}

/// Walks messages; keeps its scratch space between them.
pub struct Walker<'p> {
    plans: &'p Plans,
    entries: Vec<Entry>,
    /// The slot of each field being reported, from the payload's own down.
    path: Vec<u16>,
}

impl<'p> Walker<'p> {
    pub fn new(plans: &'p Plans) -> Self {
        Walker {
            plans,
            entries: Vec::new(),
            path: Vec::new(),
        }
    }

    /// Walks `bytes` as the message of plan `index`.
    pub fn walk<H: Handler>(&mut self, index: usize, bytes: &[u8], h: &mut H) -> Walk {
        self.entries.clear();
        self.path.clear();
        self.message(index, bytes, h, 0, false)
    }

    /// A message as the value of field `slot` (the payload itself at the top).
    fn message<H: Handler>(
        &mut self,
        index: usize,
        bytes: &[u8],
        h: &mut H,
        slot: usize,
        repeated: bool,
    ) -> Walk {
        let plan = &self.plans.messages[index];
        if self.path.len() >= MAX_DEPTH {
            return Err(invalid(plan, format!("nested more than {MAX_DEPTH} deep")));
        }
        let value = match plan.special {
            Special::None => return self.report(index, plan, bytes, h),
            Special::Address(kind) => address_scalar(plan, kind, bytes)?,
            Special::WellKnown(known) => self.well_known(plan, known, bytes)?,
        };
        self.hand(h, slot, repeated, value);
        Ok(())
    }

    /// Reports the message's fields in declaration order, whatever order they came in.
    fn report<H: Handler>(
        &mut self,
        index: usize,
        plan: &MessagePlan,
        bytes: &[u8],
        h: &mut H,
    ) -> Walk {
        let base = self.entries.len();
        self.gather(plan, bytes)?;
        let end = self.entries.len();
        if !self.entries[base..end].is_sorted_by_key(|e| e.slot) {
            // Stable: a field's occurrences keep their order.
            self.entries[base..end].sort_by_key(|e| e.slot);
        }
        h.begin(index);
        let (mut after, mut list_open) = (false, false);
        let mut i = base;
        while i < end {
            let slot = self.entries[i].slot;
            let j = (i..end)
                .find(|&k| self.entries[k].slot != slot)
                .unwrap_or(end);
            let field = &plan.fields[slot as usize];
            let key = &plan.json_keys[slot as usize];
            // Packed runs may all be empty: then there is no value.
            let present =
                !field.repeated || self.entries[i..j].iter().any(|e| !e.packed || e.len > 0);
            if present {
                h.open(
                    after,
                    list_open,
                    slot as usize,
                    key,
                    field.repeated && !field.map,
                );
                self.path.push(match field.repeated {
                    true => IN_LIST,
                    false => slot,
                });
                match (field.map, field.repeated) {
                    (true, _) => self.map(field, i..j, bytes, h)?,
                    (false, true) => {
                        let mut first = true;
                        for k in i..j {
                            self.values(field, slot, self.entries[k], bytes, h, &mut first)?;
                        }
                    }
                    (false, false) => self.value(field, slot, self.entries[j - 1], bytes, h)?,
                }
                self.path.pop();
                (after, list_open) = (true, field.repeated && !field.map);
            }
            i = j;
        }
        self.entries.truncate(base);
        h.end(list_open);
        Ok(())
    }

    /// Records where each known field of the message is; of a oneof's
    /// members, only the last to come.
    fn gather(&mut self, plan: &MessagePlan, bytes: &[u8]) -> Walk {
        let base = self.entries.len();
        let mut reader = Reader::new(bytes);
        let origin = bytes.as_ptr() as usize;
        while !reader.is_empty() {
            let Some(entry) = next_field(plan, &mut reader, origin)? else {
                continue;
            };
            if let Some(oneof) = plan.fields[usize::from(entry.slot)].oneof {
                let other = |e: &Entry| {
                    e.slot != entry.slot && plan.fields[usize::from(e.slot)].oneof == Some(oneof)
                };
                let mut k = base;
                while k < self.entries.len() {
                    match other(&self.entries[k]) {
                        true => drop(self.entries.remove(k)),
                        false => k += 1,
                    }
                }
            }
            self.entries.push(entry);
        }
        Ok(())
    }

    /// Hands a value over, with its path when it is outside any list.
    #[inline]
    fn hand<H: Handler>(&mut self, h: &mut H, slot: usize, repeated: bool, value: Scalar<'_>) {
        if !repeated {
            h.identifying(&self.path, &value);
        }
        h.scalar(slot, repeated, value);
    }

    /// Reports one occurrence of a singular field.
    fn value<H: Handler>(
        &mut self,
        field: &FieldPlan,
        slot: u16,
        entry: Entry,
        bytes: &[u8],
        h: &mut H,
    ) -> Walk {
        let slot = usize::from(slot);
        let value = match &field.kind {
            FieldKind::String => Scalar::String(entry.slice(bytes)),
            FieldKind::Bytes(BytesAs::Text) => Scalar::Text(entry.slice(bytes)),
            FieldKind::Bytes(BytesAs::Bytes) => Scalar::Bytes(entry.slice(bytes)),
            FieldKind::Message(index) => {
                return self.message(*index, entry.slice(bytes), h, slot, field.repeated);
            }
            kind => scalar(kind, entry.bits),
        };
        self.hand(h, slot, field.repeated, value);
        Ok(())
    }

    /// Reports the elements of one occurrence of a repeated field: a value,
    /// or a packed run. `first` until an element has been reported.
    fn values<H: Handler>(
        &mut self,
        field: &FieldPlan,
        slot: u16,
        entry: Entry,
        bytes: &[u8],
        h: &mut H,
        first: &mut bool,
    ) -> Walk {
        if !entry.packed {
            if !std::mem::take(first) {
                h.next();
            }
            return self.value(field, slot, entry, bytes, h);
        }
        let mut reader = Reader::new(entry.slice(bytes));
        while !reader.is_empty() {
            // Checked whole when gathered.
            let bits = match field.wire {
                FIXED64 => reader.fixed64(),
                FIXED32 => reader.fixed32().map(u64::from),
                _ => reader.varint(),
            }
            .unwrap_or_default();
            if !std::mem::take(first) {
                h.next();
            }
            h.scalar(usize::from(slot), true, scalar(&field.kind, bits));
        }
        Ok(())
    }

    /// A map's entries, `{key, value}` messages, as one value; an absent
    /// key or value is its type's default.
    fn map<H: Handler>(
        &mut self,
        field: &FieldPlan,
        entries: std::ops::Range<usize>,
        bytes: &[u8],
        h: &mut H,
    ) -> Walk {
        let FieldKind::Message(entry_index) = field.kind else {
            unreachable!("a map's entries are messages");
        };
        let plan = &self.plans.messages[entry_index];
        h.begin_map();
        for (n, k) in entries.enumerate() {
            let entry_bytes = self.entries[k].slice(bytes);
            let (mut key, mut value) = (None, None);
            let mut reader = Reader::new(entry_bytes);
            let origin = entry_bytes.as_ptr() as usize;
            while !reader.is_empty() {
                match next_field(plan, &mut reader, origin)? {
                    Some(e) if e.slot == 0 => key = Some(e),
                    Some(e) => value = Some(e),
                    None => {}
                }
            }
            let key_kind = &plan.fields[0].kind;
            h.map_key(
                n > 0,
                match (key_kind, key) {
                    (FieldKind::String, key) => {
                        Scalar::String(key.map_or(&[][..], |e| e.slice(entry_bytes)))
                    }
                    (kind, key) => scalar(kind, key.map_or(0, |e| e.bits)),
                },
            );
            // Absent, the value reads as its type's default: an empty slice,
            // a zero, an empty message.
            let (value, bytes) = match value {
                Some(e) => (e, entry_bytes),
                None => (
                    Entry {
                        slot: 1,
                        packed: false,
                        len: 0,
                        bits: 0,
                    },
                    &[][..],
                ),
            };
            self.value(&plan.fields[1], 1, value, bytes, h)?;
        }
        h.end_map();
        Ok(())
    }

    /// A well-known type's value, checked.
    fn well_known<'b>(
        &mut self,
        plan: &'b MessagePlan,
        known: WellKnown,
        bytes: &'b [u8],
    ) -> Result<Scalar<'b>, Box<DecodeError>> {
        let mut fields: [Option<Entry>; 2] = [None; 2];
        let mut reader = Reader::new(bytes);
        let origin = bytes.as_ptr() as usize;
        while !reader.is_empty() {
            if let Some(e) = next_field(plan, &mut reader, origin)?
                && let Some(slot) = fields.get_mut(usize::from(e.slot))
            {
                *slot = Some(e);
            }
        }
        let bits = |slot: usize| fields[slot].map_or(0, |e| e.bits);
        Ok(match known {
            WellKnown::Timestamp => Scalar::Timestamp {
                seconds: bits(0) as i64,
                nanos: bits(1) as i32,
            },
            WellKnown::Duration => Scalar::Duration {
                seconds: bits(0) as i64,
                nanos: bits(1) as i32,
            },
            WellKnown::Wrapper => match &plan.fields[0].kind {
                FieldKind::String => Scalar::String(fields[0].map_or(&[], |e| e.slice(bytes))),
                FieldKind::Bytes(_) => Scalar::Bytes(fields[0].map_or(&[], |e| e.slice(bytes))),
                kind => scalar(kind, bits(0)),
            },
            WellKnown::FieldMask => Scalar::FieldMask(bytes),
            WellKnown::Struct | WellKnown::Value | WellKnown::ListValue => {
                dynamic::check(known, bytes).map_err(|detail| invalid(plan, detail))?;
                Scalar::Json(known, bytes)
            }
        })
    }
}
