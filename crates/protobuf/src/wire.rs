//! The protobuf wire format at its lowest level: varints, fixed-width
//! values and length-delimited slices read from a borrowed buffer, with
//! truncation reported instead of panicking.

pub const VARINT: u8 = 0;
pub const FIXED64: u8 = 1;
pub const LEN: u8 = 2;
pub const FIXED32: u8 = 5;

/// The buffer ended inside a value, or a value is malformed. Carries
/// nothing, so results stay in registers on the hot path; callers name the
/// message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Malformed;

/// Reads one message's bytes front to back.
pub struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    #[inline(always)]
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf }
    }

    #[inline(always)]
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    #[inline(always)]
    pub fn varint(&mut self) -> Result<u64, Malformed> {
        // Tags and most values fit in one byte, lengths in two.
        match *self.buf {
            [b0, ref rest @ ..] if b0 < 0x80 => {
                self.buf = rest;
                Ok(u64::from(b0))
            }
            [b0, b1, ref rest @ ..] if b1 < 0x80 => {
                self.buf = rest;
                Ok(u64::from(b0 & 0x7f) | u64::from(b1) << 7)
            }
            _ => self.long_varint(),
        }
    }

    /// A varint of three bytes or more.
    #[inline]
    fn long_varint(&mut self) -> Result<u64, Malformed> {
        let mut value = 0u64;
        for (i, &byte) in self.buf.iter().take(10).enumerate() {
            value |= u64::from(byte & 0x7f) << (7 * i);
            if byte < 0x80 {
                self.buf = &self.buf[i + 1..];
                return Ok(value);
            }
        }
        Err(Malformed)
    }

    #[inline]
    pub fn take(&mut self, len: usize) -> Result<&'a [u8], Malformed> {
        if self.buf.len() < len {
            return Err(Malformed);
        }
        let (head, tail) = self.buf.split_at(len);
        self.buf = tail;
        Ok(head)
    }

    #[inline]
    pub fn fixed64(&mut self) -> Result<u64, Malformed> {
        let bytes = self.take(8)?;
        Ok(u64::from_le_bytes(bytes.try_into().expect("8 bytes")))
    }

    #[inline]
    pub fn fixed32(&mut self) -> Result<u32, Malformed> {
        let bytes = self.take(4)?;
        Ok(u32::from_le_bytes(bytes.try_into().expect("4 bytes")))
    }

    /// A length-delimited value.
    #[inline]
    pub fn bytes(&mut self) -> Result<&'a [u8], Malformed> {
        let len = self.varint()?;
        self.take(usize::try_from(len).map_err(|_| Malformed)?)
    }

    /// Skips a value of a field the descriptors do not know.
    #[inline]
    pub fn skip(&mut self, wire: u8) -> Result<(), Malformed> {
        match wire {
            VARINT => self.varint().map(drop),
            FIXED64 => self.take(8).map(drop),
            LEN => self.bytes().map(drop),
            FIXED32 => self.take(4).map(drop),
            // Groups (3, 4) are long deprecated and absent from these protos.
            _ => Err(Malformed),
        }
    }
}

/// `payload` with every occurrence of its first field moved behind all the
/// others: out of declaration order, which the generated readers leave to
/// the walk. Read with prost, independently of this module; for tests of
/// both readers, here and in vendor crates.
pub fn first_field_last(payload: &[u8]) -> Vec<u8> {
    use prost::bytes::Buf;
    let (mut first, mut rest) = (Vec::new(), Vec::new());
    let mut buf = payload;
    let mut first_tag = None;
    while buf.has_remaining() {
        let start = buf;
        let (tag, wire) = prost::encoding::decode_key(&mut buf).unwrap();
        prost::encoding::skip_field(wire, tag, &mut buf, Default::default()).unwrap();
        let field = &start[..start.len() - buf.len()];
        match *first_tag.get_or_insert(tag) == tag {
            true => first.extend_from_slice(field),
            false => rest.extend_from_slice(field),
        }
    }
    assert!(
        !first.is_empty() && !rest.is_empty(),
        "a payload of two fields or more"
    );
    rest.extend_from_slice(&first);
    rest
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_varints_and_reports_truncation() {
        let mut r = Reader::new(&[0x96, 0x01, 0xff]);
        assert_eq!(r.varint(), Ok(150));
        assert_eq!(r.varint(), Err(Malformed));
        let mut r = Reader::new(&[0x03, b'a', b'b']);
        assert!(r.bytes().is_err());
    }

    #[test]
    fn varints_of_every_length_read_as_prost_writes_them() {
        let values = (0..64).flat_map(|bits| [1u64 << bits, (1u64 << bits) - 1, u64::MAX >> bits]);
        for value in values {
            let mut encoded = Vec::new();
            prost::encoding::encode_varint(value, &mut encoded);
            // Alone, and with bytes after it that it must not take.
            for tail in [&[][..], &[0x7f; 12]] {
                let bytes = [&encoded[..], tail].concat();
                let mut r = Reader::new(&bytes);
                assert_eq!(r.varint(), Ok(value), "{value:#x}");
                assert_eq!(r.buf, tail);
            }
            // Cut short: truncated.
            let cut = &encoded[..encoded.len() - 1];
            assert_eq!(Reader::new(cut).varint(), Err(Malformed), "{value:#x}");
        }
        // Eleven continuation bytes: not a varint.
        assert_eq!(Reader::new(&[0xff; 11]).varint(), Err(Malformed));
    }
}
