//! The codec on Aruba's messages: the generated readers against the walk
//! (a codec without generated readers), records against JSON, on the
//! simulator's sample frames, awkward values and damaged payloads.

use std::sync::LazyLock;

use bytes::Bytes;
use netpipe_core::{Payload, json};
use netpipe_protobuf::handler::Scalar;
use netpipe_protobuf::json::JsonWriter;
use netpipe_protobuf::plans::{AddressKind, MessagePlan};
use netpipe_protobuf::summary::{Summarizer, Summary, Summing};
use netpipe_protobuf::support::address_scalar;
use netpipe_protobuf::walk::Walker;
use netpipe_protobuf::wire::first_field_last;
use netpipe_protobuf::{Codec, Readers, Retry};
use prost::Message as _;
use prost_reflect::{DynamicMessage, Kind, Value};

use crate::decode::Decoder;
use crate::readers::{READERS, descriptor_pool};
use crate::rules::RULES;
use crate::simulator::sample_frames;
use crate::topic::Topic;

/// The codec without generated readers: the walk alone.
fn walk_only() -> &'static Codec {
    static WALK_ONLY: LazyLock<Codec> =
        LazyLock::new(|| Codec::new(&descriptor_pool(), RULES, Readers::NONE));
    &WALK_ONLY
}

/// The generated JSON reader alone.
fn read(
    plans: &netpipe_protobuf::plans::Plans,
    index: usize,
    bytes: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), Retry> {
    (READERS.json)(plans, index, bytes, &mut JsonWriter::new(out))
}

fn walk(plans: &netpipe_protobuf::plans::Plans, index: usize, bytes: &[u8], out: &mut Vec<u8>) {
    Walker::new(plans)
        .walk(index, bytes, &mut JsonWriter::new(out))
        .unwrap();
}

/// The generated summing reader alone.
fn generated_summary(
    decoder: &Decoder,
    summarizer: &Summarizer,
    payload: &[u8],
) -> Result<Summary, Retry> {
    let plans = decoder.plans();
    let mut summing = Summing::new(summarizer, plans);
    (READERS.summing)(plans, summarizer.index(), payload, &mut summing)?;
    Ok(summing.into_summary())
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
            read(plans, index, &bytes, &mut generated).unwrap();
            walk(plans, index, &bytes, &mut walked);
            assert_eq!(
                String::from_utf8(generated).unwrap(),
                String::from_utf8(walked).unwrap()
            );
        }
    }
    let mut usual = Vec::new();
    let bytes = [field(0x1a, &macs[0]), field(0x2a, &ips[1])].concat();
    read(plans, index, &bytes, &mut usual).unwrap();
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
            read(plans, index, &payload, &mut generated)
                .unwrap_or_else(|_| panic!("{topic}: the generated reader gave up"));
            let mut walked = Vec::new();
            walk(plans, index, &payload, &mut walked);
            assert_eq!(
                String::from_utf8(generated).unwrap(),
                String::from_utf8(walked).unwrap(),
                "{topic}"
            );
        }
    }
}

fn text(plan: &MessagePlan, kind: AddressKind, bytes: &[u8]) -> String {
    match address_scalar(plan, kind, bytes) {
        Ok(Scalar::Address(address)) => address.to_text().to_string(),
        other => panic!("{other:?}"),
    }
}

#[test]
fn addresses_read_at_once_or_field_by_field_agree() {
    let decoder = Decoder::new();
    let plans = decoder.plans();
    let plan = |name| &plans.messages[plans.index_of(name).unwrap()];
    let (ip, mac) = (plan("Monitoring.IpAddress"), plan("Monitoring.MacAddress"));
    let v6 = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
    // Plan, kind, the usual encoding, an unusual one, the text.
    let cases = [
        (
            ip,
            AddressKind::Ip,
            // As encoders write it: af (INET = 2), then addr.
            vec![0x08, 2, 0x12, 4, 10, 1, 10, 103],
            // addr first, and an unknown field 9 after.
            vec![0x12, 4, 10, 1, 10, 103, 0x08, 2, 0x48, 1],
            "10.1.10.103",
        ),
        (
            ip,
            AddressKind::Ip,
            [&[0x08, 10, 0x12, 16][..], &v6].concat(),
            // af as a two-byte varint.
            [&[0x08, 0x8a, 0x00, 0x12, 16][..], &v6].concat(),
            "2001:db8::1",
        ),
        (
            mac,
            AddressKind::Mac,
            vec![0x0a, 6, 0xaa, 0xbb, 0xcc, 1, 2, 3],
            // The address twice: the last counts.
            vec![0x0a, 1, 0xff, 0x0a, 6, 0xaa, 0xbb, 0xcc, 1, 2, 3],
            "aa:bb:cc:01:02:03",
        ),
    ];
    for (plan, kind, usual, unusual, expected) in cases {
        assert_eq!(text(plan, kind, &usual), expected);
        assert_eq!(text(plan, kind, &unusual), expected);
    }
    // A two-byte length (134) is not read as one byte (6, and 128 + 6 left).
    let long: Vec<u8> = [&[0x0a, 0x86, 0x01][..], &[7; 134]].concat();
    assert_eq!(text(mac, AddressKind::Mac, &long).len(), 134 * 3 - 1);
    let cut = &long[..long.len() - 1];
    assert!(address_scalar(mac, AddressKind::Mac, cut).is_err());
    // A length past the end is an error either way.
    assert!(address_scalar(mac, AddressKind::Mac, &[0x0a, 7, 1, 2]).is_err());
}

#[test]
fn the_generated_pass_sums_up_as_the_walk_does() {
    let decoder = Decoder::new();
    let (mut keys, mut timestamps) = (0, 0);
    for topic in Topic::ALL {
        let summarizer = decoder.codec().summarizer(decoder.topic_plan(topic));
        for frame in sample_frames(topic, 4) {
            let payload = decoder.decode_envelope(&frame, topic).unwrap().data;
            let generated = generated_summary(&decoder, &summarizer, &payload)
                .unwrap_or_else(|_| panic!("{topic}: the generated reader gave up"));
            assert_eq!(
                generated,
                walk_only().summarize(&summarizer, &payload).unwrap(),
                "{topic}"
            );
            keys += usize::from(generated.key().is_some());
            timestamps += usize::from(generated.timestamp.is_some());
            // Cut short, the payload is an error that the walk names.
            let cut = &payload[..payload.len() - 1];
            assert_eq!(
                decoder.codec().summarize(&summarizer, cut),
                walk_only().summarize(&summarizer, cut),
                "{topic}"
            );
            assert!(
                decoder.codec().summarize(&summarizer, cut).is_err(),
                "{topic}"
            );
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
    for topic in Topic::ALL {
        let summarizer = decoder.codec().summarizer(decoder.topic_plan(topic));
        for frame in sample_frames(topic, 2) {
            let payload = decoder.decode_envelope(&frame, topic).unwrap().data;
            let reordered = first_field_last(&payload);
            assert!(generated_summary(&decoder, &summarizer, &reordered).is_err());
            for payload in [&payload[..], &reordered] {
                let mut transcoded = Vec::new();
                decoder
                    .codec()
                    .write_json(summarizer.index(), payload, &mut transcoded)
                    .unwrap();
                let mut one_pass = b"[".to_vec();
                let summary = decoder
                    .codec()
                    .summarize_to_json(&summarizer, payload, &mut one_pass)
                    .unwrap();
                let checked = decoder.codec().summarize(&summarizer, payload).unwrap();
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
fn readers_agree(decoder: &Decoder, summarizer: &Summarizer, payload: &[u8], what: &str) -> bool {
    let generated = decoder.codec().summarize(summarizer, payload);
    assert_eq!(
        generated,
        walk_only().summarize(summarizer, payload),
        "{what}"
    );
    let mut json = Vec::new();
    let written = decoder
        .codec()
        .write_json(summarizer.index(), payload, &mut json);
    // What the check accepts, sinks can read: the codec relies on it.
    assert_eq!(written.is_ok(), generated.is_ok(), "{what}");
    let mut one_pass = Vec::new();
    let summed = decoder
        .codec()
        .summarize_to_json(summarizer, payload, &mut one_pass);
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
    let record = decoder.decode_message(summarizer.index(), &payload, &payload);
    assert_eq!(record.is_ok(), generated.is_ok(), "{what}");
    generated.is_ok()
}

#[test]
fn damaged_payloads_are_summed_up_or_refused_as_the_walk_does() {
    let decoder = Decoder::new();
    let (mut refused, mut accepted) = (0, 0);
    for topic in Topic::ALL {
        let summarizer = decoder.codec().summarizer(decoder.topic_plan(topic));
        for frame in sample_frames(topic, 1) {
            let payload = decoder.decode_envelope(&frame, topic).unwrap().data;
            // Every 23rd byte in turn set to values that break keys,
            // lengths and varints, or that only change a value.
            for at in (0..payload.len()).step_by(23) {
                for byte in [0x00, 0x07, 0x7f, 0x80, 0xff] {
                    let mut damaged = payload.to_vec();
                    damaged[at] = byte;
                    match readers_agree(&decoder, &summarizer, &damaged, &format!("{topic} {at}")) {
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
        .map(|topic| decoder.codec().summarizer(decoder.topic_plan(topic)))
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

/// A value that JSON or text rendering could get wrong, of `kind`.
fn awkward(kind: &Kind, n: usize) -> Option<Value> {
    Some(match kind {
        Kind::String => Value::String(["q\"uo\\te\n", "\u{2603} \u{1}"][n % 2].to_string()),
        Kind::Bytes => Value::Bytes(Bytes::from_static([&b"caf\xe9\\x"[..], b"\0\xff"][n % 2])),
        Kind::Enum(_) => Value::EnumNumber(999),
        Kind::Float => Value::F32([f32::NAN, -0.0, 1.5e30, f32::INFINITY][n % 4]),
        Kind::Double => Value::F64([f64::NAN, 1e-300, -2.5, f64::NEG_INFINITY][n % 4]),
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => Value::I32(i32::MIN + n as i32),
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => Value::I64(i64::MIN + n as i64),
        Kind::Uint32 | Kind::Fixed32 => Value::U32(u32::MAX),
        Kind::Uint64 | Kind::Fixed64 => Value::U64(u64::MAX),
        Kind::Bool => Value::Bool(n.is_multiple_of(2)),
        Kind::Message(_) => return None,
    })
}

#[test]
fn walked_and_generated_json_equal_the_records_json_for_awkward_values_of_every_message() {
    let decoder = Decoder::new();
    let pool = descriptor_pool();
    for (index, plan) in decoder.plans().messages.iter().enumerate() {
        if plan.address().is_some() {
            continue;
        }
        let descriptor = pool.get_message_by_name(&plan.full_name).unwrap();
        let mut message = DynamicMessage::new(descriptor.clone());
        for (n, field) in descriptor.fields().enumerate() {
            let Some(value) = awkward(&field.kind(), n) else {
                continue;
            };
            let value = match field.is_list() {
                true => Value::List(vec![value.clone(), value]),
                false => value,
            };
            message.set_field(&field, value);
        }
        let bytes = Bytes::from(message.encode_to_vec());
        let record = decoder.decode_message(index, &bytes, &bytes).unwrap();
        let mut serialized = Vec::new();
        json::write_payload(&Payload::from(record), &mut serialized);
        let serialized = String::from_utf8(serialized).unwrap();
        let (mut walked, mut generated) = (Vec::new(), Vec::new());
        walk(decoder.plans(), index, &bytes, &mut walked);
        read(decoder.plans(), index, &bytes, &mut generated)
            .unwrap_or_else(|_| panic!("{}: the generated reader gave up", plan.full_name));
        for transcoded in [walked, generated] {
            let transcoded = String::from_utf8(transcoded).unwrap();
            assert_eq!(transcoded, serialized, "{}", plan.full_name);
        }
    }
}
