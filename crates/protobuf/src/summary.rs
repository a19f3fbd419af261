//! What an event needs from its payload before anyone decodes it: the
//! payload's time, its key, and the size its decoded record would have.
//! Gathered in one pass over the whole payload, which also checks it, so
//! that the reads sinks make later cannot fail. When every sink writes
//! JSON, the same pass writes it ([`Rendering`]).
//!
//! The pass is a generated reader that builds nothing, or the walk: both
//! hand their values to the same [`Summing`] (see [`crate::Codec::summarize`]).

use std::sync::Arc;

use crate::address::Address;
use crate::handler::{Handler, Scalar};
use crate::json::JsonWriter;
use crate::plans::Plans;
use crate::rules::Rules;
use crate::values::lossless_text;

/// What an event needs from its payload.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Summary {
    /// The payload's time field ([`Rules::time_path`]): an integer as it
    /// is, a `google.protobuf.Timestamp` in nanoseconds since the epoch.
    pub timestamp: Option<i64>,
    /// The value of the most preferred key field present, and its rank.
    key: Option<(usize, Arc<str>)>,
    /// [`netpipe_core::Record::estimated_size`] of the decoded payload, or
    /// the length of its JSON when that was written in the same pass.
    pub size: usize,
}

impl Summary {
    pub fn key(&self) -> Option<&Arc<str>> {
        self.key.as_ref().map(|(_, key)| key)
    }
}

/// Where a payload's key and time are, for payloads of one message type.
#[derive(Debug, Clone)]
pub struct Summarizer {
    pub(crate) index: usize,
    /// Rank in [`Rules::key_paths`] of each top-level field.
    key_ranks: Vec<Option<usize>>,
    /// Keys in nested fields: the slots on the way, and the rank.
    nested_keys: Vec<(Vec<u16>, usize)>,
    /// The time field's slots from the payload's message down.
    time: Option<Vec<u16>>,
    /// Generated readers show a payload's key and time only in messages no
    /// other message holds: payloads of other types are summed up by the walk.
    pub(crate) walk: bool,
}

impl Summarizer {
    /// The plan of the payloads it sums up.
    pub fn index(&self) -> usize {
        self.index
    }

    /// For payloads of plan `index`. Paths that name no field are left out.
    pub fn new(plans: &Plans, rules: &Rules, index: usize) -> Self {
        let resolve = |path: &str| -> Option<Vec<u16>> {
            let mut message = index;
            let mut slots = Vec::new();
            for (n, name) in path.split('.').enumerate() {
                if n > 0 {
                    let field = &plans.messages[message].fields[usize::from(*slots.last()?)];
                    match field.kind {
                        crate::plans::FieldKind::Message(nested) if !field.repeated => {
                            // A wrapper or address is a value: its fields are not on a path.
                            if plans.messages[nested].special != crate::plans::Special::None {
                                return None;
                            }
                            message = nested;
                        }
                        _ => return None,
                    }
                }
                let slot = plans.messages[message]
                    .names
                    .iter()
                    .position(|f| &**f == name)?;
                slots.push(slot as u16);
            }
            Some(slots)
        };
        let fields = plans.messages[index].fields.len();
        let mut key_ranks = vec![None; fields];
        let mut nested_keys = Vec::new();
        for (rank, path) in rules.key_paths.iter().enumerate() {
            match resolve(path) {
                Some(slots) if slots.len() == 1 => {
                    let slot = usize::from(slots[0]);
                    key_ranks[slot] = key_ranks[slot].or(Some(rank));
                }
                Some(slots) => nested_keys.push((slots, rank)),
                None => {}
            }
        }
        let time = rules.time_path.and_then(resolve);
        let held = plans
            .messages
            .iter()
            .flat_map(|m| &m.fields)
            .any(|f| matches!(f.kind, crate::plans::FieldKind::Message(held) if held == index));
        let identified = key_ranks.iter().any(Option::is_some) || time.is_some();
        Summarizer {
            index,
            key_ranks,
            nested_keys,
            time,
            walk: held && identified,
        }
    }

    /// Notes a value outside any list at `path` that is the payload's time
    /// or a key. Out of line: it matters for a few values a payload.
    #[inline(never)]
    fn capture(&self, summary: &mut Summary, path: &[u16], value: &Scalar<'_>) {
        if self.time.as_deref() == Some(path) {
            match *value {
                Scalar::Int(t) => summary.timestamp = Some(t),
                Scalar::Timestamp { seconds, nanos } => {
                    summary.timestamp = Some(crate::dynamic::timestamp(seconds, nanos).as_nanos())
                }
                _ => {}
            }
        }
        let rank = match path {
            [slot] => self.key_ranks.get(usize::from(*slot)).copied().flatten(),
            _ => self
                .nested_keys
                .iter()
                .find(|(slots, _)| slots == path)
                .map(|(_, rank)| *rank),
        };
        let Some(rank) = rank else {
            return;
        };
        if summary.key.as_ref().is_some_and(|(best, _)| *best <= rank) {
            return;
        }
        let key: Arc<str> = match value {
            Scalar::String(b) => Arc::from(&*String::from_utf8_lossy(b)),
            Scalar::Text(b) => Arc::from(&*lossless_text(b)),
            // Enums name kinds, not things: never keys (generated readers
            // hand them over by name only, and do not show them).
            Scalar::Address(address) => Address::to_text(address),
            Scalar::Int(i) => Arc::from(i.to_string()),
            Scalar::UInt(u) => Arc::from(u.to_string()),
            _ => return,
        };
        if !key.is_empty() {
            summary.key = Some((rank, key));
        }
    }
}

/// A record's size once a field is present: its value replaces the null
/// counted for it, and a list adds its brackets.
#[inline(always)]
fn with_field(size: usize, repeated: bool) -> usize {
    size - 1 + 2 * usize::from(repeated)
}

/// What a value adds to its record's size, as
/// [`netpipe_core::Record::estimated_size`] counts it.
#[inline(always)]
fn value_size(value: &Scalar<'_>) -> usize {
    match value {
        Scalar::Null | Scalar::Bool(_) => 1,
        Scalar::Int(_) | Scalar::UInt(_) | Scalar::Float(_) | Scalar::Timestamp { .. } => 8,
        Scalar::String(b) | Scalar::Text(b) => b.len() + 2,
        Scalar::Bytes(b) => b.len(),
        Scalar::Enum(name) => name.len() + 2,
        Scalar::UnknownEnum(n) => itoa::Buffer::new().format(*n).len() + 2,
        Scalar::Address(address) => address.text_len() + 2,
        // Near enough for batching: these are rare.
        Scalar::Duration { .. } => 12,
        Scalar::FieldMask(b) | Scalar::Json(_, b) => b.len() + 2,
    }
}

/// Sums up a payload as a reader reports it.
pub struct Summing<'s> {
    summarizer: &'s Summarizer,
    plans: &'s Plans,
    pub(crate) summary: Summary,
}

impl<'s> Summing<'s> {
    pub fn new(summarizer: &'s Summarizer, plans: &'s Plans) -> Self {
        Summing {
            summarizer,
            plans,
            summary: Summary::default(),
        }
    }

    pub fn into_summary(self) -> Summary {
        self.summary
    }
}

impl Handler for Summing<'_> {
    #[inline(always)]
    fn begin(&mut self, index: usize) {
        self.summary.size += self.plans.messages[index].empty_size;
    }

    #[inline(always)]
    fn open(&mut self, _: bool, _: bool, _: usize, _: &[u8], repeated: bool) {
        self.summary.size = with_field(self.summary.size, repeated);
    }

    #[inline(always)]
    fn next(&mut self) {}

    #[inline(always)]
    fn end(&mut self, _: bool) {}

    #[inline(always)]
    fn scalar(&mut self, _: usize, _: bool, value: Scalar<'_>) {
        self.summary.size += value_size(&value);
    }

    #[inline(always)]
    fn identifying(&mut self, path: &[u16], value: &Scalar<'_>) {
        self.summarizer.capture(&mut self.summary, path, value);
    }

    #[inline(always)]
    fn enum_name(&mut self, _: usize, _: usize, _: bool, _: i32, quoted: &'static [u8]) {
        // The name without its quotes, as a string.
        self.summary.size += quoted.len();
    }

    fn begin_map(&mut self) {
        self.summary.size += 2;
    }

    /// A key's text, its quotes and colon, as a record field's name.
    fn map_key(&mut self, _: bool, key: Scalar<'_>) {
        self.summary.size += value_size(&key) + 3;
    }

    fn end_map(&mut self) {}

    fn restart(&mut self) {
        self.summary = Summary::default();
    }
}

/// The one-pass handler: JSON, and the key and time found on the way.
pub struct Rendering<'s, 'o> {
    summarizer: &'s Summarizer,
    pub(crate) summary: Summary,
    json: JsonWriter<'o>,
}

impl<'s, 'o> Rendering<'s, 'o> {
    pub fn new(summarizer: &'s Summarizer, json: &'o mut Vec<u8>) -> Self {
        Rendering {
            summarizer,
            summary: Summary::default(),
            json: JsonWriter::new(json),
        }
    }
}

impl Handler for Rendering<'_, '_> {
    #[inline(always)]
    fn begin(&mut self, index: usize) {
        self.json.begin(index);
    }

    #[inline(always)]
    fn open(&mut self, after: bool, close_list: bool, slot: usize, key: &[u8], repeated: bool) {
        self.json.open(after, close_list, slot, key, repeated);
    }

    #[inline(always)]
    fn next(&mut self) {
        self.json.next();
    }

    #[inline(always)]
    fn end(&mut self, close_list: bool) {
        self.json.end(close_list);
    }

    #[inline(always)]
    fn scalar(&mut self, slot: usize, repeated: bool, value: Scalar<'_>) {
        self.json.scalar(slot, repeated, value);
    }

    #[inline(always)]
    fn identifying(&mut self, path: &[u16], value: &Scalar<'_>) {
        self.summarizer.capture(&mut self.summary, path, value);
    }

    #[inline(always)]
    fn enum_name(
        &mut self,
        message: usize,
        slot: usize,
        repeated: bool,
        number: i32,
        quoted: &'static [u8],
    ) {
        self.json.enum_name(message, slot, repeated, number, quoted);
    }

    fn begin_map(&mut self) {
        self.json.begin_map();
    }

    fn map_key(&mut self, after: bool, key: Scalar<'_>) {
        self.json.map_key(after, key);
    }

    fn end_map(&mut self) {
        self.json.end_map();
    }

    fn restart(&mut self) {
        self.summary = Summary::default();
        self.json.restart();
    }
}

#[cfg(test)]
mod tests {
    use prost::Message as _;

    use super::*;

    /// Generated readers show key and time only in messages no other
    /// message holds: a payload of a held type is summed up by the walk.
    #[test]
    fn payloads_of_held_types_are_walked() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/proto");
        let set = protox::compile(["kinds.proto"], [dir]).unwrap();
        let pool = prost_reflect::DescriptorPool::decode(set.encode_to_vec().as_slice()).unwrap();
        let rules = Rules {
            key_paths: &["name", "f_string"],
            ..Rules::NONE
        };
        let plans = Plans::new(&pool, &rules);
        let index = |name| plans.index_of(name).unwrap();
        assert!(Summarizer::new(&plans, &rules, index("kinds.Nested")).walk);
        assert!(!Summarizer::new(&plans, &rules, index("kinds.Kinds")).walk);
        // Nothing to find: nothing the readers could miss.
        assert!(!Summarizer::new(&plans, &Rules::NONE, index("kinds.Nested")).walk);
    }
}
