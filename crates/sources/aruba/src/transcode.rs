//! Protobuf straight to JSON: a [`crate::walk`] that writes each value as
//! it is read, with no record in between. The text is exactly what
//! `netpipe_core::json` writes for the decoded record (a test holds the two
//! together), at a fraction of the cost: a dense monitoring message is
//! thousands of values, and building them is most of decoding's work.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;

use crate::decode::lossless_text;
use crate::schema::MessagePlan;
use crate::walk::{Scalar, Visitor};

/// Writes the walked message as JSON into `out`.
pub struct JsonWriter<'o> {
    out: &'o mut Vec<u8>,
    /// Where the message begins in `out`.
    start: usize,
    /// A value was just completed, so the next one needs a comma.
    comma: bool,
}

impl<'o> JsonWriter<'o> {
    pub fn new(out: &'o mut Vec<u8>) -> Self {
        let start = out.len();
        JsonWriter {
            out,
            start,
            comma: false,
        }
    }

    fn separate(&mut self) {
        if self.comma {
            self.out.push(b',');
        }
    }

    fn quoted(&mut self, text: &[u8]) {
        self.out.push(b'"');
        self.out.extend_from_slice(text);
        self.out.push(b'"');
    }

    /// A JSON string, escaped as serde_json escapes it for records.
    fn escaped(&mut self, text: &str) {
        // Writing a string into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut *self.out, text);
    }
}

/// Printable ASCII but `"` and `\`: valid UTF-8 that JSON takes as it is,
/// and that [`lossless_text`] leaves alone. (Checked without stopping
/// early, which lets the compiler check many bytes at once.)
fn plain(bytes: &[u8]) -> bool {
    bytes.iter().fold(true, |plain, &b| {
        plain & (0x20..0x80).contains(&b) & (b != b'"') & (b != b'\\')
    })
}

impl Visitor for JsonWriter<'_> {
    #[inline(always)]
    fn begin_message(&mut self, _: &MessagePlan) {
        self.separate();
        self.out.push(b'{');
        self.comma = false;
    }

    #[inline(always)]
    fn field(&mut self, plan: &MessagePlan, slot: usize) {
        self.separate();
        self.out.extend_from_slice(&plan.json_keys[slot]);
        self.comma = false;
    }

    #[inline(always)]
    fn begin_list(&mut self) {
        self.out.push(b'[');
    }

    #[inline(always)]
    fn end_list(&mut self) {
        self.out.push(b']');
        self.comma = true;
    }

    #[inline(always)]
    fn scalar(&mut self, value: Scalar<'_>) {
        self.separate();
        match value {
            Scalar::Bool(b) => self
                .out
                .extend_from_slice(if b { b"true" } else { b"false" }),
            Scalar::Int(i) => self
                .out
                .extend_from_slice(itoa::Buffer::new().format(i).as_bytes()),
            // serde_json, as for records: shortest round-trip digits, null when not finite.
            Scalar::Float(f) => drop(serde_json::to_writer(&mut *self.out, &f)),
            // Most text is plain ASCII, copied as it is.
            Scalar::String(bytes) | Scalar::Text(bytes) if plain(bytes) => self.quoted(bytes),
            Scalar::String(bytes) => self.escaped(&String::from_utf8_lossy(bytes)),
            Scalar::Text(bytes) => self.escaped(&lossless_text(bytes)),
            Scalar::Bytes(bytes) => {
                self.out.push(b'"');
                let start = self.out.len();
                let len = base64::encoded_len(bytes.len(), true).expect("a frame-sized length");
                self.out.resize(start + len, 0);
                let _ = BASE64.encode_slice(bytes, &mut self.out[start..]);
                self.out.push(b'"');
            }
            // Enum names are identifiers: nothing to escape.
            Scalar::Enum(name) => self.quoted(name.as_bytes()),
            Scalar::UnknownEnum(n) => self.quoted(itoa::Buffer::new().format(n).as_bytes()),
            // Addresses are hex digits, dots and colons: nothing to escape.
            Scalar::Address(address) => {
                self.out.push(b'"');
                address.write(self.out);
                self.out.push(b'"');
            }
        }
        self.comma = true;
    }

    #[inline(always)]
    fn end_message(&mut self, _: &MessagePlan) {
        self.out.push(b'}');
        self.comma = true;
    }

    fn restart(&mut self) {
        self.out.truncate(self.start);
        self.comma = false;
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use netpipe_core::{Payload, json};
    use prost::Message as _;
    use prost_reflect::{DynamicMessage, Kind, Value};

    use super::*;
    use crate::decode::Decoder;
    use crate::schema::descriptor_pool;
    use crate::walk::Walker;

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
    fn transcoded_json_equals_the_records_json_for_awkward_values_of_every_message() {
        let decoder = Decoder::new();
        let pool = descriptor_pool();
        for (index, plan) in decoder.plans().messages.iter().enumerate() {
            if plan.address.is_some() {
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
            let mut transcoded = Vec::new();
            Walker::new(decoder.plans())
                .walk(index, &bytes, &mut JsonWriter::new(&mut transcoded))
                .unwrap();
            let record = decoder.decode_message(index, &bytes, &bytes).unwrap();
            let mut serialized = Vec::new();
            json::write_payload(&Payload::from(record), &mut serialized);
            assert_eq!(
                String::from_utf8(transcoded).unwrap(),
                String::from_utf8(serialized).unwrap(),
                "{}",
                plan.full_name
            );
        }
    }
}
