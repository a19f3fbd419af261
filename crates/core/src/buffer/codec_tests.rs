//! The buffer's record format: round trips, damage, and a fuzz target.

use super::*;
use crate::value::field_names;

fn sample_events() -> Vec<Event> {
    let inner = Record::new(
        field_names(&["serial", "up"]),
        vec![Value::string("SN1"), Value::Bool(true)],
    );
    let payload = Record::new(
        field_names(&["n", "big", "f", "t", "b", "dev", "list", "none"]),
        vec![
            Value::Int(-5),
            Value::UInt(u64::MAX),
            Value::Float(1.5),
            Value::Timestamp(Timestamp(-1_500_000_001)),
            Value::Bytes(Bytes::from_static(b"\x00\xff")),
            Value::Record(inner.clone()),
            Value::List(vec![Value::Int(1), Value::Record(inner), Value::Null]),
            Value::Null,
        ],
    );
    let mut first = Event::new(
        "aruba".into(),
        "aruba.monitoring".into(),
        Timestamp(7),
        payload,
    )
    .with_key(Some("SN1".into()))
    .with_raw(Bytes::from_static(b"frame"))
    .with_position(Position {
        partition: "t/0".into(),
        offset: 42,
    })
    .with_receive_time(Timestamp(1_700_000_000_123_456_789));
    first.headers.push(("h".into(), "v".into()));
    let json_payload = Payload::decoded_with_json(
        Record::new(field_names(&["x"]), vec![Value::Int(1)]),
        Bytes::from_static(b"{\"as\":\"sent\"}"),
    );
    let second = Event::sized(
        "nso".into(),
        "nso.ncs-alarms".into(),
        Timestamp(0),
        json_payload,
        13,
    );
    vec![first, second]
}

#[test]
fn events_read_back_as_they_were_written() {
    let events = sample_events();
    let mut body = Vec::new();
    encode_events(&events, &mut body);
    let mut decoder = Decoder::default();
    let Contents::Events(back) = decoder.decode(&Bytes::from(body)).unwrap() else {
        panic!("not events")
    };
    assert_eq!(back, events);
    assert_eq!(back[0].size, events[0].size);
    assert_eq!(back[0].raw, events[0].raw);
    assert_eq!(
        back[1].payload.rendered_json(),
        events[1].payload.rendered_json()
    );
    assert_eq!(back[0].payload.rendered_json(), None);
    // Records of one shape share their field names.
    let dev = back[0].payload.get("dev").unwrap().as_record().unwrap();
    let listed = back[0].payload.get("list").unwrap().as_list().unwrap()[1]
        .as_record()
        .unwrap();
    assert!(Arc::ptr_eq(dev.names(), listed.names()));
}

#[test]
fn a_flush_reads_back_and_damage_is_an_error_not_a_panic() {
    let mut body = Vec::new();
    encode_flush(&mut body);
    assert_eq!(
        Decoder::default().decode(&Bytes::from(body)).unwrap(),
        Contents::Flush
    );

    let mut body = Vec::new();
    encode_events(&sample_events(), &mut body);
    let mut decoder = Decoder::default();
    for cut in 0..body.len() {
        assert!(
            decoder
                .decode(&Bytes::copy_from_slice(&body[..cut]))
                .is_err(),
            "cut at {cut}"
        );
    }
    let mut longer = body.clone();
    longer.push(0xc0);
    assert!(decoder.decode(&Bytes::from(longer)).is_err());
}

type U<'a> = arbtest::arbitrary::Unstructured<'a>;

fn random_value(u: &mut U<'_>, depth: usize) -> arbtest::arbitrary::Result<Value> {
    let kinds = if depth == 0 { 8 } else { 10 };
    Ok(match u.int_in_range(0..=kinds - 1)? {
        0 => Value::Null,
        1 => Value::Bool(u.arbitrary()?),
        2 => Value::Int(u.arbitrary()?),
        3 => Value::UInt(u.int_in_range(1u64 << 63..=u64::MAX)?),
        4 => Value::Float(f64::from(u.arbitrary::<i32>()?) / 8.0),
        5 => Value::String(Arc::from(u.arbitrary::<String>()?)),
        6 => Value::Bytes(Bytes::from(u.arbitrary::<Vec<u8>>()?)),
        7 => Value::Timestamp(Timestamp(u.arbitrary()?)),
        8 => Value::Record(random_record(u, depth - 1)?),
        _ => Value::List(
            (0..u.int_in_range(0..=3)?)
                .map(|_| random_value(u, depth - 1))
                .collect::<arbtest::arbitrary::Result<_>>()?,
        ),
    })
}

fn random_record(u: &mut U<'_>, depth: usize) -> arbtest::arbitrary::Result<Record> {
    let names = *u.choose(&[&["a"][..], &["a", "b"], &["x", "y", "z"], &[]])?;
    let values = names
        .iter()
        .map(|_| random_value(u, depth))
        .collect::<arbtest::arbitrary::Result<_>>()?;
    Ok(Record::new(field_names(names), values))
}

/// Fuzz target: random events (every value type, nested, times before
/// 1970, keys, headers, raw bytes, rendered JSON) read back equal;
/// the same bytes damaged at random are read or refused, never a panic.
#[test]
fn fuzz_random_events_read_back_equal_and_damage_never_panics() {
    let mut decoder = Decoder::default();
    arbtest::arbtest(|u| {
        let mut events = Vec::new();
        for _ in 0..u.int_in_range(0..=3)? {
            let payload = random_record(u, 3)?;
            let mut event = Event::new(
                Arc::from(u.arbitrary::<String>()?),
                Arc::from(*u.choose(&["s", "t"])?),
                Timestamp(u.arbitrary()?),
                payload.clone(),
            )
            .with_receive_time(Timestamp(u.arbitrary()?));
            if u.arbitrary()? {
                event = event.with_key(Some(Arc::from(u.arbitrary::<String>()?)));
            }
            if u.arbitrary()? {
                event = event.with_raw(Bytes::from(u.arbitrary::<Vec<u8>>()?));
            }
            if u.arbitrary()? {
                event
                    .headers
                    .push((Arc::from("h"), Arc::from(u.arbitrary::<String>()?)));
                event = event.with_position(Position {
                    partition: Arc::from("p"),
                    offset: u.arbitrary()?,
                });
            }
            if u.arbitrary()? {
                let json = Bytes::from(u.arbitrary::<Vec<u8>>()?);
                event.payload = Payload::decoded_with_json(payload, json);
            }
            events.push(event);
        }
        let mut body = Vec::new();
        encode_events(&events, &mut body);
        let Contents::Events(back) = decoder.decode(&Bytes::from(body.clone())).unwrap() else {
            panic!("not events")
        };
        // Floats compare as values, so a NaN never appears (quarters of i32s).
        assert_eq!(back, events);
        for (b, e) in back.iter().zip(&events) {
            assert_eq!((&b.raw, b.size, &b.key), (&e.raw, e.size, &e.key));
            assert_eq!(b.payload.rendered_json(), e.payload.rendered_json());
        }
        for _ in 0..u.int_in_range(1..=3)? {
            let at = u.int_in_range(0..=body.len())?;
            match u.int_in_range(0..=2)? {
                0 if at < body.len() => body[at] = u.arbitrary()?,
                1 => body.truncate(at),
                _ => drop(body.splice(at..at, u.arbitrary::<Vec<u8>>()?)),
            }
        }
        let _ = decoder.decode(&Bytes::from(body));
        Ok(())
    });
}
