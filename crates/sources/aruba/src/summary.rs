//! What an event needs from its payload before anyone decodes it: the
//! payload's timestamp, its key, and the size its decoded record would
//! have. Gathered in one pass over the whole payload, which also checks it,
//! so that the walks sinks make later cannot fail. When every sink writes
//! JSON, the same pass writes it ([`Summarizer::summarize_to_json`]).
//!
//! The pass is a generated reader ([`crate::generated`]) that builds
//! nothing. A payload it cannot take as it reads (fields out of
//! declaration order, or malformed) is summarized by a [`Walker`] instead,
//! which takes any order and names any error. Both hand their values to
//! the same [`Summing`], and a test holds them together.

use std::sync::Arc;

use crate::decode::{DecodeError, lossless_text};
use crate::generated::{self, Handler, Retry};
use crate::rules::{KEY_FIELDS, TIMESTAMP_FIELD};
use crate::schema::{MessagePlan, Plans};
use crate::transcode::JsonWriter;
use crate::walk::{Scalar, Visitor, Walker};

/// What an event needs from its payload.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Summary {
    /// The payload's own `timestamp` field.
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
            timestamp_slot: names.iter().position(|n| &**n == TIMESTAMP_FIELD),
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

    /// Checks `payload` whole and appends its JSON to `json`, in one pass:
    /// what a source does when every sink reading it writes JSON (twice the
    /// work otherwise, checked now and transcoded later). The summary's size
    /// is the JSON's length, what the event then holds.
    pub fn summarize_to_json(
        &self,
        plans: &Plans,
        payload: &[u8],
        json: &mut Vec<u8>,
    ) -> Result<Summary, DecodeError> {
        let start = json.len();
        let mut rendering = Rendering {
            summarizer: self,
            summary: Summary::default(),
            json: JsonWriter::new(json),
        };
        let mut summary = match generated::read(plans, self.index, payload, &mut rendering) {
            Ok(()) => rendering.summary,
            Err(Retry) => {
                json.truncate(start);
                let summary = self.walked(plans, payload)?;
                generated::write_json(plans, self.index, payload, json).map_err(|e| *e)?;
                summary
            }
        };
        summary.size = json.len() - start;
        Ok(summary)
    }

    /// The summary the general walk makes: any field order, and errors named.
    fn walked(&self, plans: &Plans, payload: &[u8]) -> Result<Summary, DecodeError> {
        let mut summing = Summing::new(self, plans);
        Walker::new(plans)
            .walk(self.index, payload, &mut summing)
            .map_err(|e| *e)?;
        Ok(summing.summary)
    }

    /// Notes a value of field `slot` of a message at `depth` when it is the
    /// payload's own (depth 0, not a list's element): its timestamp or a key.
    #[inline(always)]
    fn note(
        &self,
        summary: &mut Summary,
        depth: usize,
        slot: usize,
        in_list: bool,
        value: &Scalar<'_>,
    ) {
        if depth == 0 && !in_list {
            self.capture(summary, slot, value);
        }
    }

    /// Notes a top-level value that is the payload's timestamp or a key.
    /// Out of line: it matters for a few values a payload.
    #[inline(never)]
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
    /// Walk only: how deep the current message is, 1 for the payload's own fields.
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
}

impl Handler for Summing<'_> {
    #[inline(always)]
    fn begin(&mut self, index: usize) {
        self.summary.size += self.plans.messages[index].empty_size;
    }

    #[inline(always)]
    fn open(&mut self, _: bool, _: bool, _: usize, _: &'static [u8], repeated: bool) {
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
    fn identifying(&mut self, slot: usize, repeated: bool, value: Scalar<'_>) {
        self.summarizer
            .note(&mut self.summary, 0, slot, repeated, &value);
    }

    #[inline(always)]
    fn enum_name(&mut self, _: usize, _: usize, _: bool, _: i32, quoted: &'static [u8]) {
        // The name without its quotes, as a string.
        self.summary.size += quoted.len();
    }
}

/// The one-pass handler: JSON, and the key and time found on the way.
struct Rendering<'s, 'o> {
    summarizer: &'s Summarizer,
    summary: Summary,
    json: JsonWriter<'o>,
}

impl Handler for Rendering<'_, '_> {
    #[inline(always)]
    fn begin(&mut self, index: usize) {
        self.json.begin(index);
    }

    #[inline(always)]
    fn open(
        &mut self,
        after: bool,
        close_list: bool,
        slot: usize,
        key: &'static [u8],
        repeated: bool,
    ) {
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
        Handler::scalar(&mut self.json, slot, repeated, value);
    }

    #[inline(always)]
    fn identifying(&mut self, slot: usize, repeated: bool, value: Scalar<'_>) {
        self.summarizer
            .note(&mut self.summary, 0, slot, repeated, &value);
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
        self.summary.size += value_size(&value);
        self.summarizer.note(
            &mut self.summary,
            self.depth - 1,
            self.slot,
            self.in_list,
            &value,
        );
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
    use crate::wire::first_field_last;

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
    fn one_pass_sums_up_and_writes_json_as_the_check_and_the_transcode_do() {
        let decoder = Decoder::new();
        let plans = decoder.plans();
        for topic in Topic::ALL {
            let summarizer = Summarizer::new(plans, decoder.topic_plan(topic));
            for frame in sample_frames(topic, 2) {
                let payload = decoder.decode_envelope(&frame, topic).unwrap().data;
                let reordered = first_field_last(&payload);
                let mut summing = Summing::new(&summarizer, plans);
                assert!(
                    generated::read(plans, summarizer.index, &reordered, &mut summing).is_err()
                );
                for payload in [&payload[..], &reordered] {
                    let mut transcoded = Vec::new();
                    write_json(plans, summarizer.index, payload, &mut transcoded).unwrap();
                    let mut one_pass = b"[".to_vec();
                    let summary = summarizer
                        .summarize_to_json(plans, payload, &mut one_pass)
                        .unwrap();
                    let checked = summarizer.summarize(plans, payload).unwrap();
                    assert_eq!(one_pass[1..], transcoded, "{topic}");
                    assert_eq!(
                        (summary.timestamp, summary.key(), summary.size),
                        (checked.timestamp, checked.key(), transcoded.len()),
                        "{topic}"
                    );
                }
            }
        }
    }

    /// Checks that every reader agrees on `payload` (a message of
    /// `summarizer`'s plan): the check, the walk, JSON, one pass and
    /// records accept or refuse it alike, and agree on what they find.
    /// Returns whether it was accepted.
    fn readers_agree(
        decoder: &Decoder,
        summarizer: &Summarizer,
        payload: &[u8],
        what: &str,
    ) -> bool {
        let plans = decoder.plans();
        let generated = summarizer.summarize(plans, payload);
        assert_eq!(generated, summarizer.walked(plans, payload), "{what}");
        let mut json = Vec::new();
        let written = write_json(plans, summarizer.index, payload, &mut json);
        // What the check accepts, sinks can read: the codec relies on it.
        assert_eq!(written.is_ok(), generated.is_ok(), "{what}");
        let mut one_pass = Vec::new();
        let summed = summarizer.summarize_to_json(plans, payload, &mut one_pass);
        let found = |summary: &Summary| (summary.timestamp, summary.key().cloned());
        assert_eq!(
            summed.as_ref().map(found),
            generated.as_ref().map(found),
            "{what}"
        );
        match summed {
            Ok(_) => assert_eq!(one_pass, json, "{what}"),
            Err(_) => assert!(one_pass.is_empty(), "{what}"),
        }
        let payload = Bytes::copy_from_slice(payload);
        let record = decoder.decode_message(summarizer.index, &payload, &payload);
        assert_eq!(record.is_ok(), generated.is_ok(), "{what}");
        generated.is_ok()
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
                        match readers_agree(
                            &decoder,
                            &summarizer,
                            &damaged,
                            &format!("{topic} {at}"),
                        ) {
                            true => accepted += 1,
                            false => refused += 1,
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

    /// Fuzz target (stable Rust, `arbtest`): realistic payloads of every
    /// topic damaged by random edits (bytes set, runs cut out, random bytes
    /// put in, cut short), or random bytes alone: no reader panics, and all
    /// agree. `ARBTEST_BUDGET_MS` sets how long it runs (`.ci/run` gives it
    /// a second; a campaign, ten minutes).
    #[test]
    fn fuzz_damaged_payloads_are_read_alike_by_every_reader() {
        let decoder = Decoder::new();
        let plans = decoder.plans();
        let samples: Vec<(Topic, Vec<u8>)> = Topic::ALL
            .into_iter()
            .flat_map(|topic| {
                let decoder = &decoder;
                sample_frames(topic, 2).into_iter().map(move |frame| {
                    (
                        topic,
                        decoder
                            .decode_envelope(&frame, topic)
                            .unwrap()
                            .data
                            .to_vec(),
                    )
                })
            })
            .collect();
        let summarizers: Vec<Summarizer> = Topic::ALL
            .into_iter()
            .map(|topic| Summarizer::new(plans, decoder.topic_plan(topic)))
            .collect();
        arbtest::arbtest(|u| {
            let (topic, sample) = u.choose(&samples)?;
            let mut payload = sample.clone();
            if u.ratio(1, 8)? {
                payload = u.arbitrary()?;
            }
            for _ in 0..u.int_in_range(1..=6)? {
                let len = payload.len();
                let at = u.int_in_range(0..=len)?;
                match u.int_in_range(0..=3)? {
                    0 if at < len => payload[at] = u.arbitrary()?,
                    1 => {
                        let end = u.int_in_range(at..=len)?;
                        payload.drain(at..end);
                    }
                    2 => {
                        let bytes: Vec<u8> = u.arbitrary()?;
                        payload.splice(at..at, bytes);
                    }
                    _ => payload.truncate(at),
                }
            }
            let index = Topic::ALL.iter().position(|t| t == topic).unwrap();
            readers_agree(&decoder, &summarizers[index], &payload, &format!("{topic}"));
            Ok(())
        });
    }
}
