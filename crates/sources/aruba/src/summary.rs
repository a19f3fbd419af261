//! What an event needs from its payload before anyone decodes it: the
//! payload's timestamp, its key, and the size its decoded record would
//! have. Gathered in one pass over the whole payload, which also checks it,
//! so that the walks sinks make later cannot fail.
//!
//! The pass is a generated reader ([`crate::generated`]) that builds
//! nothing. A payload it cannot take as it reads (fields out of
//! declaration order, or malformed) is summarized by a [`Walker`] instead,
//! which takes any order and names any error. Both hand their values to
//! the same [`Summing`], and a test holds them together.

use std::sync::Arc;

use crate::decode::{DecodeError, lossless_text};
use crate::generated::{self, Handler, Retry};
use crate::schema::{MessagePlan, Plans};
use crate::walk::{Scalar, Visitor, Walker};

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
        let mut summing = Summing::new(self, plans);
        match generated::read(plans, self.index, payload, &mut summing) {
            Ok(()) => Ok(summing.summary),
            Err(Retry) => self.walked(plans, payload),
        }
    }

    /// The summary the general walk makes: any field order, and errors named.
    fn walked(&self, plans: &Plans, payload: &[u8]) -> Result<Summary, DecodeError> {
        let mut summing = Summing::new(self, plans);
        Walker::new(plans)
            .walk(self.index, payload, &mut summing)
            .map_err(|e| *e)?;
        Ok(summing.summary)
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

/// Sums up a payload as a generated reader or the walk reports it.
struct Summing<'s> {
    summarizer: &'s Summarizer,
    plans: &'s Plans,
    summary: Summary,
    /// How deep the current message is: 1 for the payload's own fields.
    depth: usize,
    /// Walk only: inside a list of the top-level message.
    in_list: bool,
    /// Walk only: the field being reported.
    slot: usize,
}

impl<'s> Summing<'s> {
    fn new(summarizer: &'s Summarizer, plans: &'s Plans) -> Self {
        Summing {
            summarizer,
            plans,
            summary: Summary::default(),
            depth: 0,
            in_list: false,
            slot: 0,
        }
    }

    /// Counts a value of field `slot`, and notes it when it is a top-level
    /// timestamp or key (never a list's element).
    #[inline(always)]
    fn value(&mut self, slot: usize, in_list: bool, value: &Scalar<'_>) {
        self.summary.size += value_size(value);
        if self.depth == 1 && !in_list {
            self.summarizer.capture(&mut self.summary, slot, value);
        }
    }
}

impl Handler for Summing<'_> {
    #[inline(always)]
    fn begin(&mut self, index: usize) {
        self.depth += 1;
        self.summary.size += self.plans.messages[index].empty_size;
    }

    #[inline(always)]
    fn open(&mut self, _: bool, _: bool, _: usize, _: &'static [u8], repeated: bool) {
        self.summary.size = with_field(self.summary.size, repeated);
    }

    #[inline(always)]
    fn next(&mut self) {}

    #[inline(always)]
    fn end(&mut self, _: bool) {
        self.depth -= 1;
    }

    #[inline(always)]
    fn scalar(&mut self, slot: usize, repeated: bool, value: Scalar<'_>) {
        self.value(slot, repeated, &value);
    }

    #[inline(always)]
    fn enum_name(&mut self, _: usize, slot: usize, repeated: bool, _: i32, quoted: &'static [u8]) {
        let name = &quoted[1..quoted.len() - 1];
        self.value(slot, repeated, &Scalar::String(name));
    }
}

impl Visitor for Summing<'_> {
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
        self.value(self.slot, self.in_list, &value);
    }

    fn end_message(&mut self, _: &MessagePlan) {
        self.depth -= 1;
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::decode::Decoder;
    use crate::generated::write_json;
    use crate::simulator::sample_frames;
    use crate::topic::Topic;

    #[test]
    fn the_generated_pass_sums_up_as_the_walk_does() {
        let decoder = Decoder::new();
        let plans = decoder.plans();
        let (mut keys, mut timestamps) = (0, 0);
        for topic in Topic::ALL {
            let summarizer = Summarizer::new(plans, decoder.topic_plan(topic));
            for frame in sample_frames(topic, 4) {
                let payload = decoder.decode_envelope(&frame, topic).unwrap().data;
                let mut summing = Summing::new(&summarizer, plans);
                generated::read(plans, summarizer.index, &payload, &mut summing)
                    .unwrap_or_else(|_| panic!("{topic}: the generated reader gave up"));
                let generated = summing.summary;
                assert_eq!(
                    generated,
                    summarizer.walked(plans, &payload).unwrap(),
                    "{topic}"
                );
                keys += usize::from(generated.key().is_some());
                timestamps += usize::from(generated.timestamp.is_some());
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

    #[test]
    fn damaged_payloads_are_summed_up_or_refused_as_the_walk_does() {
        let decoder = Decoder::new();
        let plans = decoder.plans();
        let (mut refused, mut accepted) = (0, 0);
        for topic in Topic::ALL {
            let summarizer = Summarizer::new(plans, decoder.topic_plan(topic));
            for frame in sample_frames(topic, 1) {
                let payload = decoder.decode_envelope(&frame, topic).unwrap().data;
                // Every 23rd byte in turn set to values that break keys,
                // lengths and varints, or that only change a value.
                for at in (0..payload.len()).step_by(23) {
                    for byte in [0x00, 0x07, 0x7f, 0x80, 0xff] {
                        let mut damaged = payload.to_vec();
                        damaged[at] = byte;
                        let generated = summarizer.summarize(plans, &damaged);
                        assert_eq!(
                            generated,
                            summarizer.walked(plans, &damaged),
                            "{topic} {at}"
                        );
                        let mut json = Vec::new();
                        let written = write_json(plans, summarizer.index, &damaged, &mut json);
                        // What the check accepts, sinks can read: the codec relies on it.
                        assert_eq!(written.is_ok(), generated.is_ok(), "{topic} {at}");
                        let damaged = Bytes::from(damaged);
                        let record = decoder.decode_message(summarizer.index, &damaged, &damaged);
                        assert_eq!(record.is_ok(), generated.is_ok(), "{topic} {at}");
                        match generated {
                            Ok(_) => accepted += 1,
                            Err(_) => refused += 1,
                        }
                    }
                }
            }
        }
        assert!(
            refused > 0 && accepted > 0,
            "{refused} refused, {accepted} accepted"
        );
    }
}
