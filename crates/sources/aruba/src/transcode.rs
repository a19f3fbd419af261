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
    /// A value was just completed, so the next one needs a comma.
    comma: bool,
}

impl<'o> JsonWriter<'o> {
    pub fn new(out: &'o mut Vec<u8>) -> Self {
        JsonWriter { out, comma: false }
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

    fn escaped(&mut self, text: &str) {
        // Writing a string into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut *self.out, text);
    }
}

impl Visitor for JsonWriter<'_> {
    fn begin_message(&mut self, _: &MessagePlan) {
        self.separate();
        self.out.push(b'{');
        self.comma = false;
    }

    fn field(&mut self, plan: &MessagePlan, slot: usize) {
        self.separate();
        self.out.extend_from_slice(&plan.json_keys[slot]);
        self.comma = false;
    }

    fn begin_list(&mut self, _: usize) {
        self.out.push(b'[');
    }

    fn end_list(&mut self) {
        self.out.push(b']');
        self.comma = true;
    }

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
            // Enum names are identifiers, addresses hex digits and separators: nothing to escape.
            Scalar::Enum(name) => self.quoted(name.as_bytes()),
            Scalar::UnknownEnum(n) => self.quoted(itoa::Buffer::new().format(n).as_bytes()),
            Scalar::Address(text) => self.quoted(text.as_bytes()),
        }
        self.comma = true;
    }

    fn end_message(&mut self, _: &MessagePlan) {
        self.out.push(b'}');
        self.comma = true;
    }
}
