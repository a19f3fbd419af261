//! Protobuf straight to JSON: a generated reader or the walk writes each
//! value as it is read, with no record in between. The text is exactly what
//! `netpipe_core::json` writes for the decoded record (tests hold them
//! together), at a fraction of the cost: a dense message is thousands of
//! values, and building them is most of decoding's work. It is protobuf's
//! JSON mapping with the field names of the `.proto` files, 64-bit integers
//! as numbers, and what the [`crate::Rules`] render (addresses, text
//! bytes); enum numbers without a name are strings of their digits, and
//! floats that are not finite are `null`.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

use crate::address::Address;
use crate::dynamic;
use crate::handler::{Handler, Scalar};
use crate::values::lossless_text;

/// Writes what a reader reports as JSON into `out`.
pub struct JsonWriter<'o> {
    out: &'o mut Vec<u8>,
    /// Where this message's JSON starts, to start over from.
    start: usize,
}

impl<'o> JsonWriter<'o> {
    pub fn new(out: &'o mut Vec<u8>) -> Self {
        let start = out.len();
        JsonWriter { out, start }
    }
}

/// As serde_json writes it for records: shortest round-trip digits, null
/// when not finite.
fn write_float(out: &mut Vec<u8>, value: f64) {
    // Writing into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, &value);
}

/// Text with no escapes: enum names, and plain text.
#[inline(always)]
fn write_quoted(out: &mut Vec<u8>, text: &[u8]) {
    out.push(b'"');
    out.extend_from_slice(text);
    out.push(b'"');
}

/// A JSON string, escaped as serde_json escapes it for records.
fn write_escaped(out: &mut Vec<u8>, text: &str) {
    let _ = serde_json::to_writer(&mut *out, text);
}

fn write_base64(out: &mut Vec<u8>, bytes: &[u8]) {
    out.push(b'"');
    let start = out.len();
    let len = base64::encoded_len(bytes.len(), true).expect("a frame-sized length");
    out.resize(start + len, 0);
    let _ = BASE64.encode_slice(bytes, &mut out[start..]);
    out.push(b'"');
}

/// A value as JSON, for the walk's writer and the generated readers alike.
/// Inlined at every field of the generated readers, so the longer writers
/// stay out of line: inlined too, they made the readers' code outgrow the
/// caches.
#[inline(always)]
fn write_scalar(out: &mut Vec<u8>, value: Scalar<'_>) {
    match value {
        Scalar::Bool(b) => out.extend_from_slice(if b { b"true" } else { b"false" }),
        Scalar::Int(i) => write_int(out, i),
        Scalar::Float(f) => write_float(out, f),
        Scalar::String(bytes) => write_string(out, bytes),
        Scalar::Text(bytes) => write_text(out, bytes),
        Scalar::Bytes(bytes) => write_base64(out, bytes),
        Scalar::Enum(name) => write_quoted(out, name.as_bytes()),
        Scalar::UnknownEnum(n) => write_quoted(out, itoa::Buffer::new().format(n).as_bytes()),
        Scalar::Address(address) => write_address(out, address),
        Scalar::Null => out.extend_from_slice(b"null"),
        Scalar::UInt(u) => write_uint(out, u),
        _ => write_well_known(out, value),
    }
}

/// A `uint64` above `i64::MAX` (rare: out of line, as the readers inline
/// this function at every field).
#[inline(never)]
fn write_uint(out: &mut Vec<u8>, value: u64) {
    out.extend_from_slice(itoa::Buffer::new().format(value).as_bytes());
}

/// The well-known types' own forms (rare: out of line).
#[inline(never)]
fn write_well_known(out: &mut Vec<u8>, value: Scalar<'_>) {
    match value {
        Scalar::Timestamp { seconds, nanos } => write_quoted(
            out,
            dynamic::timestamp(seconds, nanos).to_rfc3339().as_bytes(),
        ),
        Scalar::Duration { seconds, nanos } => {
            write_quoted(out, dynamic::duration_text(seconds, nanos).as_bytes())
        }
        Scalar::FieldMask(bytes) => write_escaped(out, &dynamic::field_mask_text(bytes)),
        Scalar::Json(known, bytes) => dynamic::write_json(known, bytes, out),
        _ => unreachable!("written by write_scalar"),
    }
}

/// Each number below 100 as two digits.
const DIGIT_PAIRS: [[u8; 2]; 100] = {
    let mut pairs = [[0; 2]; 100];
    let mut n = 0;
    while n < 100 {
        pairs[n] = [b'0' + (n / 10) as u8, b'0' + (n % 10) as u8];
        n += 1;
    }
    pairs
};

/// An integer's decimal digits, written in place. Out of line: a dense
/// message has hundreds of integer fields, and formatting inlined at each
/// (digits into a buffer, then a copy of a length known only then, a call)
/// was the largest part of the readers' code.
#[inline(never)]
fn write_int(out: &mut Vec<u8>, value: i64) {
    let negative = value < 0;
    let mut rest = value.unsigned_abs();
    let digits = rest.checked_ilog10().map_or(1, |log| log as usize + 1);
    let len = digits + usize::from(negative);
    out.reserve(len);
    let start = out.len();
    // SAFETY: `reserve` made room for `len` bytes past `start`. The sign
    // goes first and the digits fill the last `digits` of them from the
    // end (over the sign when there is none), so all `len` bytes are
    // written, within the room, before `set_len` covers them.
    unsafe {
        let first = out.as_mut_ptr().add(start);
        first.write(b'-');
        let mut end = first.add(len);
        while rest >= 100 {
            end = end.sub(2);
            let pair = DIGIT_PAIRS[(rest % 100) as usize];
            std::ptr::copy_nonoverlapping(pair.as_ptr(), end, 2);
            rest /= 100;
        }
        match rest {
            10.. => {
                let pair = DIGIT_PAIRS[rest as usize];
                std::ptr::copy_nonoverlapping(pair.as_ptr(), end.sub(2), 2);
            }
            _ => end.sub(1).write(b'0' + rest as u8),
        }
        out.set_len(start + len);
    }
}

/// Most text is plain ASCII, copied as it is.
#[inline(never)]
fn write_string(out: &mut Vec<u8>, bytes: &[u8]) {
    match plain(bytes) {
        true => write_quoted(out, bytes),
        false => write_escaped(out, &String::from_utf8_lossy(bytes)),
    }
}

/// A `bytes` field that holds a name, losslessly.
#[inline(never)]
fn write_text(out: &mut Vec<u8>, bytes: &[u8]) {
    match plain(bytes) {
        true => write_quoted(out, bytes),
        false => write_escaped(out, &lossless_text(bytes)),
    }
}

/// Addresses are hex digits, dots and colons: nothing to escape.
#[inline(never)]
fn write_address(out: &mut Vec<u8>, address: Address<'_>) {
    out.push(b'"');
    address.write(out);
    out.push(b'"');
}

/// Printable ASCII but `"` and `\`: valid UTF-8 that JSON takes as it is,
/// and that [`lossless_text`] leaves alone. Checked eight bytes at a time
/// (the last eight overlapping), with the bit tricks that find a byte below
/// a bound or equal to a value in a word.
fn plain(bytes: &[u8]) -> bool {
    const ONES: u64 = u64::from_ne_bytes([1; 8]);
    const HIGHS: u64 = ONES << 7;
    let below = |word: u64, bound: u8| word.wrapping_sub(ONES * u64::from(bound)) & !word & HIGHS;
    let special = |word: u64| {
        (word & HIGHS)
            | below(word, 0x20)
            | below(word ^ (ONES * u64::from(b'"')), 1)
            | below(word ^ (ONES * u64::from(b'\\')), 1)
    };
    let word = |chunk: &[u8]| u64::from_ne_bytes(chunk.try_into().expect("8 bytes"));
    let Some(last) = bytes.len().checked_sub(8) else {
        return bytes
            .iter()
            .all(|&b| (0x20..0x80).contains(&b) && b != b'"' && b != b'\\');
    };
    let found = bytes
        .chunks_exact(8)
        .fold(special(word(&bytes[last..])), |found, chunk| {
            found | special(word(chunk))
        });
    found == 0
}

/// Separators are placed by the reader, which knows where fields and lists end.
impl Handler for JsonWriter<'_> {
    #[inline(always)]
    fn begin(&mut self, _: usize) {
        self.out.push(b'{');
    }

    /// A field's opening, `]` `,` `"key":` `[` as they apply, appended
    /// after one capacity check instead of one per piece: this runs at
    /// every field, and fewer checks make the readers' code smaller too.
    #[inline(always)]
    fn open(&mut self, after: bool, close_list: bool, _: usize, key: &[u8], repeated: bool) {
        let room = key.len() + 3;
        self.out.reserve(room);
        let len = self.out.len();
        // SAFETY: `reserve` made room for `room` bytes past `len`; what is
        // written below is at most one byte, one byte, the key and one
        // byte, `room` in all, and `set_len` covers only what was written.
        unsafe {
            let start = self.out.as_mut_ptr().add(len);
            let mut at = start;
            // Written always, kept only when it applies: no branch.
            at.write(b']');
            at = at.add(usize::from(close_list));
            at.write(b',');
            at = at.add(usize::from(after));
            std::ptr::copy_nonoverlapping(key.as_ptr(), at, key.len());
            at = at.add(key.len());
            if repeated {
                at.write(b'[');
                at = at.add(1);
            }
            self.out.set_len(len + at.offset_from_unsigned(start));
        }
    }

    #[inline(always)]
    fn next(&mut self) {
        self.out.push(b',');
    }

    #[inline(always)]
    fn end(&mut self, close_list: bool) {
        if close_list {
            self.out.push(b']');
        }
        self.out.push(b'}');
    }

    #[inline(always)]
    fn scalar(&mut self, _: usize, _: bool, value: Scalar<'_>) {
        write_scalar(self.out, value);
    }

    #[inline(always)]
    fn enum_name(&mut self, _: usize, _: usize, _: bool, _: i32, quoted: &'static [u8]) {
        self.out.extend_from_slice(quoted);
    }

    fn begin_map(&mut self) {
        self.out.push(b'{');
    }

    /// Keys are strings: numbers and booleans as their text.
    fn map_key(&mut self, after: bool, key: Scalar<'_>) {
        if after {
            self.out.push(b',');
        }
        match key {
            Scalar::String(_) => write_scalar(self.out, key),
            key => {
                self.out.push(b'"');
                write_scalar(self.out, key);
                self.out.push(b'"');
            }
        }
        self.out.push(b':');
    }

    fn end_map(&mut self) {
        self.out.push(b'}');
    }

    fn restart(&mut self) {
        self.out.truncate(self.start);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_are_written_as_itoa_writes_them() {
        let edges = (0..19).flat_map(|power| {
            let ten = 10i64.pow(power);
            [ten - 1, ten, ten + 1, -ten + 1, -ten, -ten - 1]
        });
        // Values of every length, from a xorshift sequence cut to a random width.
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let sweep = std::iter::repeat_with(move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> (state % 64)) as i64
        });
        let fixed = [i64::MIN, i64::MAX, i64::MIN + 1, 0, 42, -7];
        for value in edges.chain(fixed).chain(sweep.take(100_000)) {
            let mut out = b"x".to_vec();
            write_int(&mut out, value);
            assert_eq!(
                out[1..],
                *itoa::Buffer::new().format(value).as_bytes(),
                "{value}"
            );
        }
    }

    #[test]
    fn plain_text_is_what_a_byte_by_byte_check_finds() {
        let plain_bytes = |text: &[u8]| {
            text.iter()
                .all(|&b| (0x20..0x80).contains(&b) && b != b'"' && b != b'\\')
        };
        for len in 0..20 {
            assert!(plain(&vec![b'a'; len]));
            for at in 0..len {
                for b in 0..=255u8 {
                    let mut text = vec![b'a'; len];
                    text[at] = b;
                    assert_eq!(plain(&text), plain_bytes(&text), "{text:?}");
                }
            }
        }
    }
}
