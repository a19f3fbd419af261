//! Readers generated per message type by `build.rs`, from the same
//! descriptors and rules as the plans. Each is a `match` from field key to
//! the code that reads that field, typed, and hands the value to a
//! [`Handler`]: one writes JSON ([`write_json`]), one makes the arrival
//! check ([`crate::summary`]), one does both in one pass (also there), one
//! builds records ([`crate::decode`]). Once inlined, a handler's work on a value
//! is all that is left of it: no plan is looked up, no kind matched.
//!
//! The readers take fields in declaration order only, as encoders write
//! them. A message in another order, or malformed, makes them give up
//! ([`Retry`]); their callers then start over with the general walk
//! ([`crate::walk`]), which takes any order and names any error, so the
//! result is the same either way.

use crate::address::Address;
use crate::rules::AddressKind;
use crate::schema::{MessagePlan, Plans};
use crate::transcode::JsonWriter;
use crate::walk::{self, MAX_DEPTH, Scalar, Walk, Walker, address_scalar};
use crate::wire::{Malformed, Reader};

include!(concat!(env!("OUT_DIR"), "/readers.rs"));

/// A generated reader cannot go on: a field came out of declaration
/// order, a singular field came twice, or the bytes are malformed. The
/// general walk takes the message (and names any error).
#[derive(Debug)]
pub(crate) struct Retry;

impl From<Malformed> for Retry {
    fn from(_: Malformed) -> Self {
        Retry
    }
}

/// What a generated reader does with what it reads. Fields are numbered by
/// declaration (`slot`).
pub(crate) trait Handler {
    /// A message of plan `index` begins.
    fn begin(&mut self, index: usize);
    /// Field `slot`'s first value follows. `after` says whether another
    /// field came before it, `close_list` whether that one's list is still
    /// open; `key` is the field's `"name":` in JSON.
    fn open(
        &mut self,
        after: bool,
        close_list: bool,
        slot: usize,
        key: &'static [u8],
        repeated: bool,
    );
    /// Another element of the open list follows.
    fn next(&mut self);
    /// The message ends, after a list when `close_list`.
    fn end(&mut self, close_list: bool);
    fn scalar(&mut self, slot: usize, repeated: bool, value: Scalar<'_>);
    /// Before [`Handler::scalar`], for the fields that may identify a
    /// payload (its timestamp and key fields, [`crate::rules`]) in the
    /// messages that are only ever payloads, never held by another: always
    /// the payload's own fields, so no site elsewhere pays for the question.
    fn identifying(&mut self, _slot: usize, _repeated: bool, _value: Scalar<'_>) {}
    /// A named enum value of field `slot` of a message of plan `message`:
    /// its number, and its name quoted as in JSON.
    fn enum_name(
        &mut self,
        message: usize,
        slot: usize,
        repeated: bool,
        number: i32,
        quoted: &'static [u8],
    );
}

/// Reads `bytes` as the message of plan `index` into `handler`.
pub(crate) fn read<H: Handler>(
    plans: &Plans,
    index: usize,
    bytes: &[u8],
    handler: &mut H,
) -> Result<(), Retry> {
    message(index, bytes, handler, plans, 0)
}

/// Where a reader is among its message's fields.
struct Fields {
    /// The field read last, numbered from 1 in declaration order; 0 for none.
    last: usize,
    /// The last field is repeated: its list is open.
    list: bool,
}

impl Fields {
    #[inline(always)]
    fn begin<H: Handler>(h: &mut H, index: usize) -> Self {
        h.begin(index);
        Fields {
            last: 0,
            list: false,
        }
    }

    /// Before a value of field `slot`: opens the field the first time, goes
    /// on with its list after that.
    #[inline(always)]
    fn open<H: Handler>(
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
    fn packed<H: Handler>(
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
    fn end<H: Handler>(self, h: &mut H) {
        h.end(self.list);
    }
}

/// An enum value: by the name `names` gives its number, else the number.
#[inline(always)]
fn handle_enum<H: Handler>(
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
fn mac<'b>(
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
fn ip<'b>(
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
fn address<'b>(
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

/// Writes `bytes`, a message of plan `index`, as JSON into `out`.
pub fn write_json(plans: &Plans, index: usize, bytes: &[u8], out: &mut Vec<u8>) -> Walk {
    let start = out.len();
    if read(plans, index, bytes, &mut JsonWriter::new(out)).is_ok() {
        return Ok(());
    }
    out.truncate(start);
    Walker::new(plans).walk(index, bytes, &mut JsonWriter::new(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::Decoder;
    use crate::simulator::sample_frames;
    use crate::topic::Topic;

    #[test]
    fn readers_are_numbered_as_the_plans() {
        let decoder = Decoder::new();
        let names: Vec<&str> = decoder
            .plans()
            .messages
            .iter()
            .map(|plan| plan.full_name.as_str())
            .collect();
        assert_eq!(names, MESSAGE_NAMES);
    }

    #[test]
    fn addresses_read_at_once_or_not_are_what_the_walk_reads() {
        let decoder = Decoder::new();
        let plans = decoder.plans();
        let index = plans
            .messages
            .iter()
            .position(|plan| plan.full_name == "Monitoring.Interface")
            .unwrap();
        let mac = [0x20, 0x4c, 0x03, 0x00, 0x00, 0x2a];
        let v6 = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
        let field = |key: u8, body: &[u8]| [&[key, body.len() as u8][..], body].concat();
        // `{addr = 1}`: as encoders write it, twice (the last counts), with
        // an unknown field, eight bytes long.
        let macs = [
            field(0x0a, &mac),
            [field(0x0a, &[1; 6]), field(0x0a, &mac)].concat(),
            [field(0x0a, &mac), vec![0x18, 1]].concat(),
            field(0x0a, &[7; 8]),
        ];
        // `{af = 1, addr = 2}`, families INET = 2 and INET6 = 10: as
        // encoders write them, with unnamed families, in reverse, without af.
        let ips = [
            [vec![0x08, 2], field(0x12, &[10, 1, 2, 3])].concat(),
            [vec![0x08, 10], field(0x12, &v6)].concat(),
            [vec![0x08, 3], field(0x12, &v6)].concat(),
            [vec![0x08, 1], field(0x12, &[10, 1, 2, 3])].concat(),
            [field(0x12, &v6), vec![0x08, 10]].concat(),
            field(0x12, &[10, 1, 2, 3]),
        ];
        for mac in &macs {
            for ip in &ips {
                let bytes = [field(0x12, b"sw1"), field(0x1a, mac), field(0x2a, ip)].concat();
                let (mut generated, mut walked) = (Vec::new(), Vec::new());
                read(plans, index, &bytes, &mut JsonWriter::new(&mut generated)).unwrap();
                Walker::new(plans)
                    .walk(index, &bytes, &mut JsonWriter::new(&mut walked))
                    .unwrap();
                assert_eq!(
                    String::from_utf8(generated).unwrap(),
                    String::from_utf8(walked).unwrap()
                );
            }
        }
        let mut usual = Vec::new();
        let bytes = [field(0x1a, &macs[0]), field(0x2a, &ips[1])].concat();
        read(plans, index, &bytes, &mut JsonWriter::new(&mut usual)).unwrap();
        assert_eq!(
            String::from_utf8(usual).unwrap(),
            r#"{"macaddr":"20:4c:03:00:00:2a","ipaddr":"2001:db8::1"}"#
        );
    }

    #[test]
    fn generated_json_is_what_the_walk_writes_for_every_topic() {
        let decoder = Decoder::new();
        let plans = decoder.plans();
        for topic in Topic::ALL {
            let index = decoder.topic_plan(topic);
            for frame in sample_frames(topic, 4) {
                let payload = decoder.decode_envelope(&frame, topic).unwrap().data;
                let mut generated = Vec::new();
                read(plans, index, &payload, &mut JsonWriter::new(&mut generated))
                    .unwrap_or_else(|_| panic!("{topic}: the generated reader gave up"));
                let mut walked = Vec::new();
                Walker::new(plans)
                    .walk(index, &payload, &mut JsonWriter::new(&mut walked))
                    .unwrap();
                assert_eq!(
                    String::from_utf8(generated).unwrap(),
                    String::from_utf8(walked).unwrap(),
                    "{topic}"
                );
            }
        }
    }
}
