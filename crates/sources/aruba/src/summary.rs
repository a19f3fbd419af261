//! What an event needs from its payload before anyone decodes it: the
//! payload's timestamp, its key, and the size its decoded record would
//! have. Gathered in one pass over the whole payload, which also checks it,
//! so that the walks sinks make later cannot fail.
//!
//! The pass is lean: it follows the wire and the key table, reports nothing
//! and builds nothing. A payload it cannot take as it reads (fields out of
//! declaration order, or malformed) is summarized by a [`Walker`] instead,
//! which takes any order and names any error. Both count sizes and pick
//! keys with the same functions, and a test holds them together.

use std::sync::Arc;

use crate::decode::{DecodeError, lossless_text};
use crate::ordered::{Ordered, Retry, Value};
use crate::schema::{MessagePlan, Plans};
use crate::walk::{MAX_DEPTH, Scalar, Visitor, Walker, address_scalar, packed_values};

/// Fields that identify a device or client, in order of preference.
pub(crate) const KEY_FIELDS: [&str; 8] = [
    "serial_number",
    "serial",
    "device_id",
    "sta_eth_mac",
    "macaddr",
    "mac",
    "ap_mac",
    "client_mac",
];

/// What an event needs from its payload.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Summary {
    /// The payload's own `timestamp` field.
    pub timestamp: Option<i64>,
    /// The value of the most preferred key field present, and its rank.
    key: Option<(usize, Arc<str>)>,
    /// [`netpipe_core::Record::estimated_size`] of the decoded payload.
    pub size: usize,
}

impl Summary {
    pub fn key(&self) -> Option<&Arc<str>> {
        self.key.as_ref().map(|(_, key)| key)
    }
}

/// Summarizes payloads of one message type.
#[derive(Debug, Clone)]
pub struct Summarizer {
    index: usize,
    /// Rank in [`KEY_FIELDS`] of each top-level field.
    key_ranks: Vec<Option<usize>>,
    timestamp_slot: Option<usize>,
}

impl Summarizer {
    pub fn new(plans: &Plans, index: usize) -> Self {
        let names = &plans.messages[index].names;
        Summarizer {
            index,
            key_ranks: names
                .iter()
                .map(|n| KEY_FIELDS.iter().position(|k| **k == **n))
                .collect(),
            timestamp_slot: names.iter().position(|n| &**n == "timestamp"),
        }
    }

    /// Checks `payload` whole and sums it up.
    pub fn summarize(&self, plans: &Plans, payload: &[u8]) -> Result<Summary, DecodeError> {
        let mut summary = Summary::default();
        match self.lean(plans, self.index, payload, 0, &mut summary) {
            Ok(size) => Ok(Summary { size, ..summary }),
            Err(Retry) => self.walked(plans, payload),
        }
    }

    /// The summary the general walk makes: any field order, and errors named.
    fn walked(&self, plans: &Plans, payload: &[u8]) -> Result<Summary, DecodeError> {
        let mut visitor = SummaryVisitor::new(self);
        Walker::new(plans)
            .walk(self.index, payload, &mut visitor)
            .map_err(|e| *e)?;
        Ok(visitor.summary)
    }

    /// Notes a top-level value that is the payload's timestamp or a key.
    fn capture(&self, summary: &mut Summary, slot: usize, value: &Scalar<'_>) {
        if let Scalar::Int(t) = value
            && Some(slot) == self.timestamp_slot
        {
            summary.timestamp = Some(*t);
        }
        let Some(rank) = self.key_ranks[slot] else {
            return;
        };
        if summary.key.as_ref().is_some_and(|(best, _)| *best <= rank) {
            return;
        }
        let key: Arc<str> = match value {
            Scalar::String(b) => Arc::from(&*String::from_utf8_lossy(b)),
            Scalar::Text(b) => Arc::from(&*lossless_text(b)),
            Scalar::Enum(name) => Arc::clone(name),
            Scalar::UnknownEnum(n) => Arc::from(n.to_string()),
            Scalar::Address(address) => address.to_text(),
            _ => return,
        };
        if !key.is_empty() {
            summary.key = Some((rank, key));
        }
    }

    /// The size of one message's record, checking it; fields in declaration order only.
    fn lean(
        &self,
        plans: &Plans,
        index: usize,
        bytes: &[u8],
        depth: usize,
        summary: &mut Summary,
    ) -> Result<usize, Retry> {
        let plan = &plans.messages[index];
        if depth == MAX_DEPTH {
            return Err(Retry);
        }
        let mut size = plan.empty_size;
        let mut fields = Ordered::new(plan, bytes);
        while let Some(occurrence) = fields.next_field()? {
            let field = occurrence.field;
            if occurrence.first {
                size = with_field(size, field.repeated);
            }
            let value = match occurrence.value {
                Value::Scalar(value) => value,
                Value::Packed(run) => {
                    size += packed_values(field, run)
                        .map(|v| value_size(&v))
                        .sum::<usize>();
                    continue;
                }
                Value::Message(nested, bytes) => {
                    let nested_plan = &plans.messages[nested];
                    match nested_plan.address {
                        // Too deep for the walk, address or not.
                        Some(_) if depth + 1 == MAX_DEPTH => return Err(Retry),
                        Some(kind) => {
                            address_scalar(nested_plan, kind, bytes).map_err(|_| Retry)?
                        }
                        None => {
                            size += self.lean(plans, nested, bytes, depth + 1, summary)?;
                            continue;
                        }
                    }
                }
            };
            size += value_size(&value);
            if depth == 0 && !field.repeated {
                self.capture(summary, occurrence.slot, &value);
            }
        }
        Ok(size)
    }
}

/// A record's size once a field is present: its value replaces the null
/// counted for it, and a list adds its brackets.
fn with_field(size: usize, repeated: bool) -> usize {
    size - 1 + 2 * usize::from(repeated)
}

/// What a value adds to its record's size, as
/// [`netpipe_core::Record::estimated_size`] counts it.
#[inline(always)]
fn value_size(value: &Scalar<'_>) -> usize {
    match value {
        Scalar::Bool(_) => 1,
        Scalar::Int(_) | Scalar::Float(_) => 8,
        Scalar::String(b) | Scalar::Text(b) => b.len() + 2,
        Scalar::Bytes(b) => b.len(),
        Scalar::Enum(name) => name.len() + 2,
        Scalar::UnknownEnum(n) => itoa::Buffer::new().format(*n).len() + 2,
        Scalar::Address(address) => address.text_len() + 2,
    }
}

/// Sums up a payload as the walk reports it.
struct SummaryVisitor<'s> {
    summarizer: &'s Summarizer,
    summary: Summary,
    depth: usize,
    /// Inside a list of the top-level message.
    in_list: bool,
    slot: usize,
}

impl<'s> SummaryVisitor<'s> {
    fn new(summarizer: &'s Summarizer) -> Self {
        SummaryVisitor {
            summarizer,
            summary: Summary::default(),
            depth: 0,
            in_list: false,
            slot: 0,
        }
    }
}

impl Visitor for SummaryVisitor<'_> {
    fn begin_message(&mut self, plan: &MessagePlan) {
        self.depth += 1;
        self.summary.size += plan.empty_size;
    }

    fn field(&mut self, plan: &MessagePlan, slot: usize) {
        self.slot = slot;
        self.summary.size = with_field(self.summary.size, plan.fields[slot].repeated);
    }

    fn begin_list(&mut self) {
        // Only top-level lists matter: their elements are not keys or times.
        self.in_list |= self.depth == 1;
    }

    fn end_list(&mut self) {
        if self.depth == 1 {
            self.in_list = false;
        }
    }

    fn scalar(&mut self, value: Scalar<'_>) {
        self.summary.size += value_size(&value);
        if self.depth == 1 && !self.in_list {
            self.summarizer
                .capture(&mut self.summary, self.slot, &value);
        }
    }

    fn end_message(&mut self, _: &MessagePlan) {
        self.depth -= 1;
    }

    fn restart(&mut self) {
        *self = SummaryVisitor::new(self.summarizer);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::Decoder;
    use crate::simulator::sample_frames;
    use crate::topic::Topic;

    #[test]
    fn the_lean_pass_sums_up_as_the_walk_does() {
        let decoder = Decoder::new();
        let plans = decoder.plans();
        let (mut keys, mut timestamps) = (0, 0);
        for topic in Topic::ALL {
            let summarizer = Summarizer::new(plans, decoder.topic_plan(topic));
            for frame in sample_frames(topic, 4) {
                let payload = decoder.decode_envelope(&frame, topic).unwrap().data;
                let mut lean = Summary::default();
                let size = summarizer.lean(plans, summarizer.index, &payload, 0, &mut lean);
                lean.size = size.unwrap_or_else(|_| panic!("{topic}: the lean pass retried"));
                assert_eq!(lean, summarizer.walked(plans, &payload).unwrap(), "{topic}");
                keys += usize::from(lean.key().is_some());
                timestamps += usize::from(lean.timestamp.is_some());
                // Cut short, the payload is an error that the walk names.
                let cut = &payload[..payload.len() - 1];
                assert_eq!(
                    summarizer.summarize(plans, cut),
                    summarizer.walked(plans, cut),
                    "{topic}"
                );
                assert!(summarizer.summarize(plans, cut).is_err(), "{topic}");
            }
        }
        // Keys and times were there to find.
        assert!(
            keys > 0 && timestamps > 0,
            "{keys} keys, {timestamps} timestamps"
        );
    }
}
