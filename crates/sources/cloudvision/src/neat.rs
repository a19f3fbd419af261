//! NEAT, CloudVision's encoding of Connector keys, values and path
//! elements, read sans-IO: one MessagePack value per blob (rmp reads the
//! markers), with CloudVision's rules on top:
//!
//! - strings travel as MessagePack `bin` (plain `str` is read too), UTF-8,
//!   undecodable bytes replaced as CloudVision's own client does;
//! - float32 and float64 are both numbers;
//! - maps may have any value as a key (a map, a list): a key that is not a
//!   string becomes its JSON text, stable since NEAT sorts map entries;
//! - extension 0 is a pointer to a path, rendered `/a/b/c`; extension 1 a
//!   wildcard, rendered `*`; others `{"ext":N,"data":"<base64>"}`.
//!
//! Output is JSON, written in one pass with no tree.

use base64::Engine as _;
use rmp::Marker;
use rmp::decode as de;

/// Deepest nesting read; deeper input is refused rather than recursed into.
const MAX_DEPTH: usize = 64;
const POINTER: i8 = 0;
const WILDCARD: i8 = 1;

/// A blob that is not NEAT.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a NEAT value: {0}")]
pub struct NeatError(String);

fn bad(what: impl Into<String>) -> NeatError {
    NeatError(what.into())
}

/// Appends the JSON of the one NEAT value in `blob` to `out`.
pub fn write_json(blob: &[u8], out: &mut Vec<u8>) -> Result<(), NeatError> {
    let mut rest = blob;
    value(&mut rest, out, 0)?;
    if !rest.is_empty() {
        return Err(bad(format!("{} bytes after the value", rest.len())));
    }
    Ok(())
}

/// The value as text: a string as it is, anything else as its JSON (path
/// elements and keys, where strings are the rule).
pub fn to_text(blob: &[u8]) -> Result<String, NeatError> {
    let mut json = Vec::new();
    write_json(blob, &mut json)?;
    Ok(text_of_json(json))
}

/// A JSON string's contents, or the JSON itself when it is not a string.
fn text_of_json(json: Vec<u8>) -> String {
    if json.first() == Some(&b'"')
        && let Ok(serde_json::Value::String(s)) = serde_json::from_slice(&json)
    {
        return s;
    }
    String::from_utf8(json).unwrap_or_default()
}

/// A string as NEAT writes it (a `bin`), for path elements in requests.
pub fn encode_str(text: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len() + 5);
    let _ = rmp::encode::write_bin(&mut out, text.as_bytes());
    out
}

/// A value to encode as NEAT (requests, and the simulator's data).
#[derive(Debug, Clone, PartialEq)]
pub enum Neat {
    Nil,
    Bool(bool),
    Int(i64),
    F32(f32),
    F64(f64),
    Str(String),
    List(Vec<Neat>),
    /// Entries are written sorted by their encoded keys, as NEAT requires.
    Map(Vec<(Neat, Neat)>),
    Pointer(Vec<Neat>),
}

impl Neat {
    pub fn str(text: &str) -> Neat {
        Neat::Str(text.to_string())
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.write(&mut out);
        out
    }

    fn write(&self, out: &mut Vec<u8>) {
        use rmp::encode as en;
        match self {
            Neat::Nil => drop(en::write_nil(out)),
            Neat::Bool(b) => drop(en::write_bool(out, *b)),
            Neat::Int(i) => drop(en::write_sint(out, *i)),
            Neat::F32(f) => drop(en::write_f32(out, *f)),
            Neat::F64(f) => drop(en::write_f64(out, *f)),
            Neat::Str(s) => drop(en::write_bin(out, s.as_bytes())),
            Neat::List(items) => {
                let _ = en::write_array_len(out, items.len() as u32);
                items.iter().for_each(|i| i.write(out));
            }
            Neat::Map(entries) => {
                let mut encoded: Vec<(Vec<u8>, Vec<u8>)> = entries
                    .iter()
                    .map(|(k, v)| (k.encode(), v.encode()))
                    .collect();
                encoded.sort();
                let _ = en::write_map_len(out, encoded.len() as u32);
                for (k, v) in encoded {
                    out.extend_from_slice(&k);
                    out.extend_from_slice(&v);
                }
            }
            Neat::Pointer(path) => {
                let data = Neat::List(path.clone()).encode();
                let _ = en::write_ext_meta(out, data.len() as u32, POINTER);
                out.extend_from_slice(&data);
            }
        }
    }
}

fn take<'a>(rest: &mut &'a [u8], len: usize) -> Result<&'a [u8], NeatError> {
    if rest.len() < len {
        return Err(bad("the value ends early"));
    }
    let (taken, tail) = rest.split_at(len);
    *rest = tail;
    Ok(taken)
}

fn write_str(bytes: &[u8], out: &mut Vec<u8>) {
    let text = String::from_utf8_lossy(bytes);
    let _ = serde_json::to_writer(&mut *out, &*text);
}

fn value(rest: &mut &[u8], out: &mut Vec<u8>, depth: usize) -> Result<(), NeatError> {
    if depth > MAX_DEPTH {
        return Err(bad(format!("nested deeper than {MAX_DEPTH}")));
    }
    let marker = Marker::from_u8(*rest.first().ok_or_else(|| bad("empty"))?);
    let number = |e: de::NumValueReadError<std::io::Error>| bad(format!("a number: {e}"));
    match marker {
        Marker::Null => {
            *rest = &rest[1..];
            out.extend_from_slice(b"null");
        }
        Marker::True | Marker::False => {
            *rest = &rest[1..];
            out.extend_from_slice(if marker == Marker::True {
                b"true"
            } else {
                b"false"
            });
        }
        Marker::FixPos(_) | Marker::U8 | Marker::U16 | Marker::U32 | Marker::U64 => {
            let n: u64 = de::read_int(rest).map_err(number)?;
            out.extend_from_slice(n.to_string().as_bytes());
        }
        Marker::FixNeg(_) | Marker::I8 | Marker::I16 | Marker::I32 | Marker::I64 => {
            let n: i64 = de::read_int(rest).map_err(number)?;
            out.extend_from_slice(n.to_string().as_bytes());
        }
        // JSON has no NaN or infinity: those are `null`.
        Marker::F32 => match de::read_f32(rest).map_err(|e| bad(e.to_string()))? {
            f if f.is_finite() => drop(serde_json::to_writer(&mut *out, &f)),
            _ => out.extend_from_slice(b"null"),
        },
        Marker::F64 => match de::read_f64(rest).map_err(|e| bad(e.to_string()))? {
            f if f.is_finite() => drop(serde_json::to_writer(&mut *out, &f)),
            _ => out.extend_from_slice(b"null"),
        },
        Marker::Bin8 | Marker::Bin16 | Marker::Bin32 => {
            let len = de::read_bin_len(rest).map_err(|e| bad(e.to_string()))?;
            write_str(take(rest, len as usize)?, out);
        }
        Marker::FixStr(_) | Marker::Str8 | Marker::Str16 | Marker::Str32 => {
            let len = de::read_str_len(rest).map_err(|e| bad(e.to_string()))?;
            write_str(take(rest, len as usize)?, out);
        }
        Marker::FixArray(_) | Marker::Array16 | Marker::Array32 => {
            let len = de::read_array_len(rest).map_err(|e| bad(e.to_string()))?;
            out.push(b'[');
            for i in 0..len {
                if i > 0 {
                    out.push(b',');
                }
                value(rest, out, depth + 1)?;
            }
            out.push(b']');
        }
        Marker::FixMap(_) | Marker::Map16 | Marker::Map32 => {
            let len = de::read_map_len(rest).map_err(|e| bad(e.to_string()))?;
            out.push(b'{');
            let mut key = Vec::new();
            for i in 0..len {
                if i > 0 {
                    out.push(b',');
                }
                key.clear();
                value(rest, &mut key, depth + 1)?;
                if key.first() == Some(&b'"') {
                    out.extend_from_slice(&key);
                } else {
                    // A complex key: its JSON text is the object's key.
                    let text = String::from_utf8_lossy(&key);
                    let _ = serde_json::to_writer(&mut *out, &*text);
                }
                out.push(b':');
                value(rest, out, depth + 1)?;
            }
            out.push(b'}');
        }
        Marker::FixExt1
        | Marker::FixExt2
        | Marker::FixExt4
        | Marker::FixExt8
        | Marker::FixExt16
        | Marker::Ext8
        | Marker::Ext16
        | Marker::Ext32 => {
            let meta = de::read_ext_meta(rest).map_err(|e| bad(e.to_string()))?;
            let data = take(rest, meta.size as usize)?;
            match meta.typeid {
                POINTER => pointer(data, out, depth)?,
                WILDCARD => out.extend_from_slice(b"\"*\""),
                other => {
                    let data = base64::engine::general_purpose::STANDARD.encode(data);
                    out.extend_from_slice(
                        format!("{{\"ext\":{other},\"data\":\"{data}\"}}").as_bytes(),
                    );
                }
            }
        }
        Marker::Reserved => return Err(bad("reserved marker 0xc1")),
    }
    Ok(())
}

/// A pointer: its data is the NEAT array of the path's elements.
fn pointer(data: &[u8], out: &mut Vec<u8>, depth: usize) -> Result<(), NeatError> {
    let mut rest = data;
    let len = de::read_array_len(&mut rest).map_err(|_| bad("a pointer holds no path"))?;
    let mut path = String::new();
    for _ in 0..len {
        let mut element = Vec::new();
        value(&mut rest, &mut element, depth + 1)?;
        path.push('/');
        path.push_str(&text_of_json(element));
    }
    if !rest.is_empty() {
        return Err(bad("bytes after a pointer's path"));
    }
    let _ = serde_json::to_writer(&mut *out, &path);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(blob: &[u8]) -> String {
        let mut out = Vec::new();
        write_json(blob, &mut out).unwrap_or_else(|e| panic!("{e}: {blob:02x?}"));
        String::from_utf8(out).unwrap()
    }

    /// Golden vectors written from CloudVision's codec rules (NOTES §2.4).
    #[test]
    fn every_kind_reads_as_the_rules_say() {
        let cases: &[(&[u8], &str)] = &[
            (b"\xc4\x01a", r#""a""#),
            (b"\xc4\x00", r#""""#),
            (b"\xa2hi", r#""hi""#),
            (b"\xc0", "null"),
            (b"\xc2", "false"),
            (b"\xc3", "true"),
            (b"\x05", "5"),
            (b"\xcc\xc8", "200"),
            (b"\xcd\x80\x00", "32768"),
            (b"\xce\x00\x01\x00\x00", "65536"),
            (
                b"\xcf\xff\xff\xff\xff\xff\xff\xff\xff",
                "18446744073709551615",
            ),
            (b"\xff", "-1"),
            (b"\xd0\xdf", "-33"),
            (b"\xd1\x80\x00", "-32768"),
            (
                b"\xd3\x80\x00\x00\x00\x00\x00\x00\x00",
                "-9223372036854775808",
            ),
            (b"\xca\x3f\xc0\x00\x00", "1.5"),
            (b"\xca\x3d\xcc\xcc\xcd", "0.1"),
            (b"\xcb\x3f\xb9\x99\x99\x99\x99\x99\x9a", "0.1"),
            (b"\xcb\x7f\xf8\x00\x00\x00\x00\x00\x00", "null"),
            (b"\x92\xc4\x01a\x01", r#"["a",1]"#),
            // A map, entries in NEAT's sorted order, one nested.
            (
                b"\x82\xc4\x01a\x01\xc4\x01b\x81\xc4\x01c\xc3",
                r#"{"a":1,"b":{"c":true}}"#,
            ),
            // Complex keys: a number and a map as keys.
            (b"\x81\x07\xc4\x01x", r#"{"7":"x"}"#),
            (b"\x81\x81\xc4\x01k\x01\xc4\x01v", r#"{"{\"k\":1}":"v"}"#),
            // Pointers, in each ext form the rules name.
            (b"\xd4\x00\x90", r#""""#),
            (
                b"\xd8\x00\x92\xc4\x07Devices\xc4\x04JPE1",
                r#""/Devices/JPE1""#,
            ),
            (b"\xc7\x07\x00\x92\xc4\x01a\xc4\x01b", r#""/a/b""#),
            (b"\xc7\x00\x01", r#""*""#),
            (b"\xd5\x05\x01\x02", r#"{"ext":5,"data":"AQI="}"#),
            // Bytes that are not UTF-8 are replaced, as CloudVision's client does.
            (b"\xc4\x02\xff\x41", "\"\u{fffd}A\""),
        ];
        for (blob, expected) in cases {
            assert_eq!(json(blob), *expected, "{blob:02x?}");
        }
    }

    #[test]
    fn wider_forms_read_alike() {
        // bin16, map16 and array16 hold what their short forms hold.
        assert_eq!(json(b"\xc5\x00\x01a"), r#""a""#);
        assert_eq!(json(b"\xdc\x00\x01\x01"), "[1]");
        assert_eq!(json(b"\xde\x00\x01\xc4\x01a\x02"), r#"{"a":2}"#);
        assert_eq!(json(b"\xc8\x00\x07\x00\x92\xc4\x01a\xc4\x01b"), r#""/a/b""#);
    }

    #[test]
    fn text_is_a_string_as_it_is_and_anything_else_as_json() {
        assert_eq!(to_text(b"\xc4\x03eth").unwrap(), "eth");
        assert_eq!(to_text(b"\x07").unwrap(), "7");
        assert_eq!(to_text(&encode_str("Ethernet1/1")).unwrap(), "Ethernet1/1");
        assert_eq!(encode_str("a"), b"\xc4\x01a");
    }

    #[test]
    fn what_is_encoded_reads_back() {
        let value = Neat::Map(vec![
            (Neat::str("b"), Neat::F32(0.5)),
            (
                Neat::str("a"),
                Neat::Pointer(vec![Neat::str("Devices"), Neat::str("JPE1")]),
            ),
            (
                Neat::Map(vec![(Neat::str("k"), Neat::Int(1))]),
                Neat::List(vec![Neat::Nil, Neat::Bool(true), Neat::Int(-33)]),
            ),
        ]);
        assert_eq!(
            json(&value.encode()),
            // Sorted bytewise by encoded key: a map (0x81) before a bin (0xc4).
            r#"{"{\"k\":1}":[null,true,-33],"a":"/Devices/JPE1","b":0.5}"#
        );
        assert_eq!(
            Neat::Pointer(vec![Neat::str("a"), Neat::str("b")]).encode(),
            b"\xc7\x07\x00\x92\xc4\x01a\xc4\x01b"
        );
    }

    #[test]
    fn damage_is_an_error() {
        for blob in [
            &b""[..],
            b"\xc4\x05ab",
            b"\x92\x01",
            b"\xc1",
            b"\x01\x02",
            b"\xd4\x00\x01",
        ] {
            assert!(write_json(blob, &mut Vec::new()).is_err(), "{blob:02x?}");
        }
        let deep = [vec![0x91u8; 100], vec![0x01]].concat();
        assert!(write_json(&deep, &mut Vec::new()).is_err());
    }

    /// Fuzz target: any bytes are read or refused, never a panic, and what
    /// is read is JSON.
    #[test]
    fn fuzz_any_blob_reads_as_json_or_is_refused() {
        arbtest::arbtest(|u| {
            let blob: Vec<u8> = u.arbitrary()?;
            let mut out = Vec::new();
            if write_json(&blob, &mut out).is_ok() {
                serde_json::from_slice::<serde_json::Value>(&out)
                    .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out)));
            }
            Ok(())
        });
    }
}
