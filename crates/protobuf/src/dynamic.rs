//! The JSON forms of the well-known types that have one: `Struct`, `Value`
//! and `ListValue` (JSON itself, read straight from the wire, with their
//! fixed field numbers), `Timestamp`, `Duration` and `FieldMask`, as
//! protobuf's JSON mapping writes them.

use std::fmt::Write as _;

use netpipe_core::Timestamp;

use crate::well_known::WellKnown;
use crate::wire::{FIXED64, LEN, Reader, VARINT};

/// `Struct`s and lists nested deeper than this are refused.
const MAX_DEPTH: usize = 64;

/// Checks a `Struct`, `Value` or `ListValue` whole; the error says what is wrong.
pub fn check(known: WellKnown, bytes: &[u8]) -> Result<(), String> {
    render(known, bytes, None, 0)
}

/// Appends a checked `Struct`, `Value` or `ListValue` as JSON.
pub fn write_json(known: WellKnown, bytes: &[u8], out: &mut Vec<u8>) {
    // Checked when the message was: cannot fail.
    let _ = render(known, bytes, Some(out), 0);
}

/// A Timestamp's nanoseconds since the epoch, saturated to `i64`'s span
/// (the years 1677 to 2262), as records hold it.
pub fn timestamp(seconds: i64, nanos: i32) -> Timestamp {
    Timestamp(
        seconds
            .saturating_mul(1_000_000_000)
            .saturating_add(i64::from(nanos)),
    )
}

/// `1.5s`: seconds, and nanoseconds as 0, 3, 6 or 9 digits.
pub fn duration_text(seconds: i64, nanos: i32) -> String {
    let mut text = String::new();
    if seconds < 0 || nanos < 0 {
        text.push('-');
    }
    let _ = write!(text, "{}", seconds.unsigned_abs());
    let nanos = nanos.unsigned_abs();
    let _ = match nanos {
        0 => write!(text, "s"),
        n if n % 1_000_000 == 0 => write!(text, ".{:03}s", n / 1_000_000),
        n if n % 1_000 == 0 => write!(text, ".{:06}s", n / 1_000),
        n => write!(text, ".{n:09}s"),
    };
    text
}

/// A checked FieldMask's paths, in lowerCamelCase, joined by commas.
pub fn field_mask_text(bytes: &[u8]) -> String {
    let mut text = String::new();
    let mut reader = Reader::new(bytes);
    while let Ok(key) = reader.varint() {
        let Ok(()) = (match key {
            0x0a => reader.bytes().map(|path| {
                if !text.is_empty() {
                    text.push(',');
                }
                let mut upper = false;
                for ch in String::from_utf8_lossy(path).chars() {
                    match ch {
                        '_' => upper = true,
                        ch if upper => {
                            text.push(ch.to_ascii_uppercase());
                            upper = false;
                        }
                        ch => text.push(ch),
                    }
                }
            }),
            key => reader.skip((key & 7) as u8),
        }) else {
            break;
        };
    }
    text
}

fn malformed(what: &str) -> String {
    format!("malformed {what}")
}

/// Reads (and writes, with `out`) one `Struct`, `Value` or `ListValue`.
fn render(
    known: WellKnown,
    bytes: &[u8],
    mut out: Option<&mut Vec<u8>>,
    depth: usize,
) -> Result<(), String> {
    if depth == MAX_DEPTH {
        return Err(format!("Struct nested more than {MAX_DEPTH} deep"));
    }
    let push = |out: &mut Option<&mut Vec<u8>>, text: &[u8]| {
        if let Some(out) = out {
            out.extend_from_slice(text);
        }
    };
    match known {
        WellKnown::Struct => {
            push(&mut out, b"{");
            each_value(bytes, "Struct", |entry, first| {
                let (name, value) = struct_entry(entry)?;
                if let Some(out) = out.as_deref_mut() {
                    if !first {
                        out.push(b',');
                    }
                    let _ = serde_json::to_writer(&mut *out, &*String::from_utf8_lossy(name));
                    out.push(b':');
                }
                render(WellKnown::Value, value, out.as_deref_mut(), depth + 1)
            })?;
            push(&mut out, b"}");
        }
        WellKnown::ListValue => {
            push(&mut out, b"[");
            each_value(bytes, "ListValue", |value, first| {
                if !first {
                    push(&mut out, b",");
                }
                render(WellKnown::Value, value, out.as_deref_mut(), depth + 1)
            })?;
            push(&mut out, b"]");
        }
        _ => {
            // The last member of the `kind` oneof that came counts.
            let mut reader = Reader::new(bytes);
            let mut kind: Option<(u64, u64, &[u8])> = None;
            while !reader.is_empty() {
                let key = reader.varint().map_err(|_| malformed("Value"))?;
                let (number, wire) = (key >> 3, (key & 7) as u8);
                let value = match (number, wire) {
                    (1 | 4, VARINT) => (reader.varint().map_err(|_| malformed("Value"))?, &[][..]),
                    (2, FIXED64) => (reader.fixed64().map_err(|_| malformed("Value"))?, &[][..]),
                    (3 | 5 | 6, LEN) => (0, reader.bytes().map_err(|_| malformed("Value"))?),
                    (1..=6, _) => return Err(format!("Value field {number} has wire type {wire}")),
                    _ => {
                        reader.skip(wire).map_err(|_| malformed("Value"))?;
                        continue;
                    }
                };
                kind = Some((number, value.0, value.1));
            }
            match kind {
                None | Some((1, _, _)) => push(&mut out, b"null"),
                Some((2, bits, _)) => {
                    if let Some(out) = out {
                        let _ = serde_json::to_writer(&mut *out, &f64::from_bits(bits));
                    }
                }
                Some((3, _, text)) => {
                    if let Some(out) = out {
                        let _ = serde_json::to_writer(&mut *out, &*String::from_utf8_lossy(text));
                    }
                }
                Some((4, bits, _)) => push(&mut out, if bits != 0 { b"true" } else { b"false" }),
                Some((5, _, nested)) => render(WellKnown::Struct, nested, out, depth + 1)?,
                Some((_, _, nested)) => render(WellKnown::ListValue, nested, out, depth + 1)?,
            }
        }
    }
    Ok(())
}

/// Each value of field 1 of a `Struct` (its entries) or `ListValue` (its
/// values), and whether it is the first; other fields are skipped.
fn each_value<'b>(
    bytes: &'b [u8],
    what: &str,
    mut f: impl FnMut(&'b [u8], bool) -> Result<(), String>,
) -> Result<(), String> {
    let mut reader = Reader::new(bytes);
    let mut first = true;
    while !reader.is_empty() {
        let key = reader.varint().map_err(|_| malformed(what))?;
        if key != (1 << 3 | u64::from(LEN)) {
            reader.skip((key & 7) as u8).map_err(|_| malformed(what))?;
            continue;
        }
        f(
            reader.bytes().map_err(|_| malformed(what))?,
            std::mem::take(&mut first),
        )?;
    }
    Ok(())
}

/// A `Struct.fields` entry: its key, and its value's bytes.
fn struct_entry(entry: &[u8]) -> Result<(&[u8], &[u8]), String> {
    let (mut name, mut value) = (&[][..], &[][..]);
    let mut reader = Reader::new(entry);
    while !reader.is_empty() {
        let key = reader.varint().map_err(|_| malformed("Struct entry"))?;
        match key {
            0x0a => name = reader.bytes().map_err(|_| malformed("Struct entry"))?,
            0x12 => value = reader.bytes().map_err(|_| malformed("Struct entry"))?,
            key => reader
                .skip((key & 7) as u8)
                .map_err(|_| malformed("Struct entry"))?,
        }
    }
    Ok((name, value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_as_protobuf_writes_them() {
        assert_eq!(duration_text(1, 500_000_000), "1.500s");
        assert_eq!(duration_text(-3, -1_000), "-3.000001s");
        assert_eq!(duration_text(0, 7), "0.000000007s");
        assert_eq!(duration_text(42, 0), "42s");
    }

    #[test]
    fn field_masks_in_camel_case() {
        let mask = [&[0x0a, 7][..], b"a_b.c_d", &[0x0a, 1], b"e"].concat();
        assert_eq!(field_mask_text(&mask), "aB.cD,e");
    }

    #[test]
    fn malformed_structs_are_named() {
        assert!(check(WellKnown::Struct, &[0x0a, 5, 1]).is_err());
        assert!(check(WellKnown::Value, &[0x11, 1]).is_err());
    }
}
