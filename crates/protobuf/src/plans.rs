//! Decoding plans built once from the protobuf descriptors and the
//! vendor's [`Rules`]: for every message type, its field names (shared by
//! all its records), where each field key lands, and how each value is
//! rendered. The readers follow these plans, so decoding a message touches
//! no descriptor and allocates only the values themselves.

use std::collections::HashMap;
use std::sync::Arc;

use netpipe_core::FieldNames;
use prost_reflect::{Cardinality, DescriptorPool, FieldDescriptor, Kind, MessageDescriptor};

use crate::rules::Rules;
pub use crate::rules::{AddressKind, BytesAs};
use crate::well_known::WellKnown;

#[derive(Debug, Clone)]
pub enum FieldKind {
    Int32,
    Int64,
    UInt32,
    UInt64,
    SInt32,
    SInt64,
    Fixed32,
    Fixed64,
    SFixed32,
    SFixed64,
    Bool,
    Float,
    Double,
    String,
    Bytes(BytesAs),
    /// Value names by number.
    Enum(Arc<EnumNames>),
    /// Index of the nested message's plan.
    Message(usize),
}

/// An enum's value names by number.
#[derive(Debug, Clone)]
pub struct EnumNames {
    /// Names of the small non-negative numbers, indexed by number: most
    /// enums are 0..N, and a load is cheaper than a search.
    dense: Vec<Option<Arc<str>>>,
    /// All names, sorted by number.
    sorted: Vec<(i32, Arc<str>)>,
}

impl EnumNames {
    fn new(mut sorted: Vec<(i32, Arc<str>)>) -> Self {
        sorted.sort_by_key(|(n, _)| *n);
        sorted.dedup_by_key(|(n, _)| *n);
        let len = sorted
            .iter()
            .filter_map(|(n, _)| usize::try_from(*n).ok().filter(|n| *n < 256))
            .max()
            .map_or(0, |max| max + 1);
        let mut dense = vec![None; len];
        for (n, name) in &sorted {
            if let Some(slot) = usize::try_from(*n).ok().and_then(|n| dense.get_mut(n)) {
                *slot = Some(name.clone());
            }
        }
        EnumNames { dense, sorted }
    }

    #[inline]
    pub fn get(&self, number: i32) -> Option<&Arc<str>> {
        match usize::try_from(number).ok().and_then(|n| self.dense.get(n)) {
            Some(name) => name.as_ref(),
            None => self
                .sorted
                .binary_search_by_key(&number, |(n, _)| *n)
                .ok()
                .map(|i| &self.sorted[i].1),
        }
    }
}

impl FieldKind {
    /// The wire type of the field's values when not packed.
    fn wire_type(&self) -> u8 {
        use crate::wire::{FIXED32, FIXED64, LEN, VARINT};
        match self {
            FieldKind::Fixed64 | FieldKind::SFixed64 | FieldKind::Double => FIXED64,
            FieldKind::Fixed32 | FieldKind::SFixed32 | FieldKind::Float => FIXED32,
            FieldKind::String | FieldKind::Bytes(_) | FieldKind::Message(_) => LEN,
            _ => VARINT,
        }
    }
}

#[derive(Debug, Clone)]
pub struct FieldPlan {
    pub kind: FieldKind,
    pub repeated: bool,
    /// A map: repeated entries of the message `kind` names, `{key, value}`.
    pub map: bool,
    /// The oneof the field belongs to (not proto3's synthetic ones for
    /// `optional`): a later member on the wire replaces an earlier one.
    pub oneof: Option<u16>,
    /// The wire type of its values when not packed, kept here so the walk's
    /// check needs no second look at the kind.
    pub wire: u8,
}

/// What a field key (number and wire type) means in a message, looked up
/// by the key itself: the walk's one step from key to field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyPlan {
    /// A number the message does not have: skip the value.
    Unknown,
    /// A known number with another wire type, or an invalid wire type: the
    /// general walk names the error.
    WrongWire,
    /// A value of the field in this slot.
    Value(u16),
    /// A packed run of the repeated scalar field in this slot.
    Packed(u16),
}

#[derive(Debug, Clone)]
pub struct MessagePlan {
    pub full_name: String,
    pub names: FieldNames,
    /// Slot of each field number (index = field number), up to
    /// [`DENSE_NUMBERS`] or the message's highest.
    pub slots: Vec<Option<u16>>,
    /// Each key of the numbers `slots` covers, by key (`number << 3 | wire
    /// type`); a key past the end is looked up in `sparse`.
    pub keys: Vec<KeyPlan>,
    /// Slots of the numbers above `slots`' end, sorted: numbers may go up
    /// to 2^29, which a table by number cannot hold.
    pub sparse: Vec<(u64, u16)>,
    pub fields: Vec<FieldPlan>,
    /// A message that renders as one value.
    pub special: Special,
    /// `"name":` of each field, ready to append to JSON.
    pub json_keys: Vec<Box<[u8]>>,
    /// [`netpipe_core::Record::estimated_size`] of the message with every field null.
    pub empty_size: usize,
}

/// Messages that render as one value rather than as their fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Special {
    None,
    Address(AddressKind),
    WellKnown(WellKnown),
}

/// Field numbers up to this are looked up in tables indexed by number;
/// above it, in a sorted list (one message's tables stay under 160 KiB).
pub const DENSE_NUMBERS: usize = 4096;

impl MessagePlan {
    /// The slot of field `number`, if the message has it.
    pub fn slot(&self, number: u64) -> Option<u16> {
        match usize::try_from(number).ok().and_then(|n| self.slots.get(n)) {
            Some(slot) => *slot,
            None => self
                .sparse
                .binary_search_by_key(&number, |(n, _)| *n)
                .ok()
                .map(|i| self.sparse[i].1),
        }
    }

    /// What a key past the dense table means (a field number above
    /// [`DENSE_NUMBERS`], or none the message has).
    #[cold]
    pub fn sparse_key(&self, key: u64) -> KeyPlan {
        if self.sparse.is_empty() {
            return KeyPlan::Unknown;
        }
        key_plan(self.slot(key >> 3), &self.fields, (key & 7) as u8)
    }

    pub fn address(&self) -> Option<AddressKind> {
        match self.special {
            Special::Address(kind) => Some(kind),
            _ => None,
        }
    }
}

/// Plans for every message type in the pool.
#[derive(Debug, Clone)]
pub struct Plans {
    pub messages: Vec<MessagePlan>,
    by_name: HashMap<String, usize>,
}

fn key_plans(slots: &[Option<u16>], fields: &[FieldPlan]) -> Vec<KeyPlan> {
    (0..slots.len() << 3)
        .map(|key| key_plan(slots[key >> 3], fields, (key & 7) as u8))
        .collect()
}

/// What a key with wire type `wire` means for the field in `slot`.
fn key_plan(slot: Option<u16>, fields: &[FieldPlan], wire: u8) -> KeyPlan {
    use crate::wire::{FIXED32, FIXED64, LEN, VARINT};
    if !matches!(wire, VARINT | FIXED64 | LEN | FIXED32) {
        return KeyPlan::WrongWire;
    }
    let Some(slot) = slot else {
        return KeyPlan::Unknown;
    };
    let field = &fields[usize::from(slot)];
    match wire == field.wire {
        true => KeyPlan::Value(slot),
        false if field.repeated && wire == LEN => KeyPlan::Packed(slot),
        false => KeyPlan::WrongWire,
    }
}

impl Plans {
    pub fn new(pool: &DescriptorPool, rules: &Rules) -> Self {
        let descriptors: Vec<MessageDescriptor> = pool.all_messages().collect();
        let by_name: HashMap<String, usize> = descriptors
            .iter()
            .enumerate()
            .map(|(i, m)| (m.full_name().to_string(), i))
            .collect();
        let messages = descriptors
            .iter()
            .map(|m| {
                let fields: Vec<FieldDescriptor> = m.fields().collect();
                let max = fields.iter().map(|f| f.number()).max().unwrap_or(0) as usize;
                let mut slots = vec![None; max.min(DENSE_NUMBERS) + 1];
                let mut sparse = Vec::new();
                for (slot, f) in fields.iter().enumerate() {
                    match slots.get_mut(f.number() as usize) {
                        Some(dense) => *dense = Some(slot as u16),
                        None => sparse.push((u64::from(f.number()), slot as u16)),
                    }
                }
                sparse.sort_unstable();
                let plans: Vec<FieldPlan> = fields
                    .iter()
                    .map(|f| {
                        let kind = match f.kind() {
                            Kind::Int32 => FieldKind::Int32,
                            Kind::Int64 => FieldKind::Int64,
                            Kind::Uint32 => FieldKind::UInt32,
                            Kind::Uint64 => FieldKind::UInt64,
                            Kind::Sint32 => FieldKind::SInt32,
                            Kind::Sint64 => FieldKind::SInt64,
                            Kind::Fixed32 => FieldKind::Fixed32,
                            Kind::Fixed64 => FieldKind::Fixed64,
                            Kind::Sfixed32 => FieldKind::SFixed32,
                            Kind::Sfixed64 => FieldKind::SFixed64,
                            Kind::Bool => FieldKind::Bool,
                            Kind::Float => FieldKind::Float,
                            Kind::Double => FieldKind::Double,
                            Kind::String => FieldKind::String,
                            Kind::Bytes => FieldKind::Bytes(rules.bytes_as(f)),
                            Kind::Enum(e) => FieldKind::Enum(Arc::new(EnumNames::new(
                                e.values()
                                    .map(|v| (v.number(), Arc::from(v.name())))
                                    .collect(),
                            ))),
                            Kind::Message(m) => FieldKind::Message(by_name[m.full_name()]),
                        };
                        let oneof = f
                            .containing_oneof()
                            .filter(|o| !o.is_synthetic())
                            .and_then(|o| m.oneofs().position(|other| other.name() == o.name()))
                            .map(|index| index as u16);
                        FieldPlan {
                            repeated: f.cardinality() == Cardinality::Repeated,
                            map: f.is_map(),
                            oneof,
                            wire: kind.wire_type(),
                            kind,
                        }
                    })
                    .collect();
                let json_keys = fields
                    .iter()
                    .map(|f| {
                        let key = format!("{}:", serde_json::Value::from(f.name()));
                        key.into_bytes().into_boxed_slice()
                    })
                    .collect();
                let special = match (rules.address_of(m), WellKnown::of(m.full_name())) {
                    (Some(kind), _) => Special::Address(kind),
                    (None, Some(known)) => Special::WellKnown(known),
                    (None, None) => Special::None,
                };
                // A record's estimate: braces, then per field its name, quotes and
                // colon, and a null's 1.
                let empty_size = 2 + fields.iter().map(|f| f.name().len() + 4).sum::<usize>();
                let keys = key_plans(&slots, &plans);
                MessagePlan {
                    full_name: m.full_name().to_string(),
                    keys,
                    names: fields.iter().map(|f| Arc::from(f.name())).collect(),
                    json_keys,
                    empty_size,
                    slots,
                    sparse,
                    fields: plans,
                    special,
                }
            })
            .collect();
        Plans { messages, by_name }
    }

    pub fn index_of(&self, full_name: &str) -> Option<usize> {
        self.by_name.get(full_name).copied()
    }
}
