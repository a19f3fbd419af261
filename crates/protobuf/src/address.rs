//! Address messages rendered as people read them: MAC addresses as
//! `aa:bb:cc:dd:ee:ff`, IPv4 as dotted quads, IPv6 in RFC 5952 form. Each
//! is built in a stack buffer and appended to the output once, as ASCII
//! bytes: a dense monitoring message holds about a hundred addresses, and
//! per-character appends (or `fmt`) cost more than the rest of its walk.

use std::net::Ipv6Addr;
use std::sync::Arc;

const HEX: &[u8; 16] = b"0123456789abcdef";

/// An address message's value, as read from the wire and rendered on demand.
#[derive(Debug, Clone, Copy)]
pub enum Address<'a> {
    /// `{addr}`: `aa:bb:cc:dd:ee:ff`.
    Mac(&'a [u8]),
    /// `{af, addr}`: IPv6 when the family says so (`Some(true)`), else by length.
    Ip(Option<bool>, &'a [u8]),
}

impl Address<'_> {
    /// Appends the address's text.
    #[inline]
    pub fn write(&self, out: &mut Vec<u8>) {
        match *self {
            Address::Mac(&[a, b, c, d, e, f]) => {
                out.extend_from_slice(&mac_text([a, b, c, d, e, f]))
            }
            Address::Mac(addr) => write_mac(out, addr),
            Address::Ip(Some(false) | None, &[a, b, c, d]) => {
                let (text, len) = ipv4_text([a, b, c, d]);
                append_prefix(out, &text, len);
            }
            Address::Ip(Some(true) | None, addr) if addr.len() == 16 => {
                let (text, len) = ipv6_text(addr.try_into().expect("16 bytes"));
                append_prefix(out, &text, len);
            }
            Address::Ip(_, addr) => write_hex(out, addr),
        }
    }

    /// The address's text.
    pub fn to_text(&self) -> Arc<str> {
        let mut out = Vec::with_capacity(40);
        self.write(&mut out);
        Arc::from(std::str::from_utf8(&out).expect("addresses render as ASCII"))
    }

    /// The length of the address's text, without writing it. Inlined where
    /// it is summed up: called across the crates' boundary, LLVM would not.
    #[inline(always)]
    pub fn text_len(&self) -> usize {
        match *self {
            Address::Mac(addr) => (3 * addr.len()).saturating_sub(1),
            // Dotted quads counted: each octet's digits and dot, less the last dot.
            Address::Ip(Some(false) | None, &[a, b, c, d]) => {
                [a, b, c, d]
                    .map(|octet| OCTETS[usize::from(octet)].1)
                    .iter()
                    .sum::<usize>()
                    - 1
            }
            Address::Ip(Some(true) | None, addr) if addr.len() == 16 => {
                ipv6_text(addr.try_into().expect("16 bytes")).1
            }
            Address::Ip(_, addr) => 2 + 2 * addr.len(),
        }
    }
}

/// Each byte's two hex digits.
const HEX_PAIRS: [[u8; 2]; 256] = {
    let mut pairs = [[0; 2]; 256];
    let mut byte = 0;
    while byte < 256 {
        pairs[byte] = [HEX[byte >> 4], HEX[byte & 15]];
        byte += 1;
    }
    pairs
};

/// The usual six-byte MAC address, in one fixed-size buffer.
#[inline(always)]
fn mac_text(mac: [u8; 6]) -> [u8; 17] {
    let mut text = [b':'; 17];
    for (i, byte) in mac.into_iter().enumerate() {
        text[3 * i..3 * i + 2].copy_from_slice(&HEX_PAIRS[usize::from(byte)]);
    }
    text
}

/// Appends `aa:bb:cc:dd:ee:ff` (any length: nothing is dropped).
fn write_mac(out: &mut Vec<u8>, addr: &[u8]) {
    for (n, chunk) in addr.chunks(8).enumerate() {
        let mut text = [b':'; 3 * 8];
        for (i, &b) in chunk.iter().enumerate() {
            text[3 * i + 1..3 * i + 3].copy_from_slice(&HEX_PAIRS[usize::from(b)]);
        }
        // Each byte is `:xx`; the address's first has no colon.
        let start = usize::from(n == 0);
        append_prefix(out, &text[start..], 3 * chunk.len() - start);
    }
}

/// Appends the first `len` bytes of `text`, a short buffer: copied whole
/// (a fixed-size copy, inlined) and cut back, where a copy of a length
/// known only now is a call.
#[inline(always)]
fn append_prefix(out: &mut Vec<u8>, text: &[u8], len: usize) {
    let end = out.len() + len;
    out.extend_from_slice(text);
    out.truncate(end);
}

/// `0x` and the bytes in hex: what is neither IPv4 nor IPv6.
fn write_hex(out: &mut Vec<u8>, addr: &[u8]) {
    out.extend_from_slice(b"0x");
    for &b in addr {
        out.extend_from_slice(&HEX_PAIRS[usize::from(b)]);
    }
}

/// The longest IP text: IPv6 with eight full groups.
type IpText = ([u8; 39], usize);

/// Each octet's decimal digits and a dot after them, padded to four bytes,
/// and how many of the bytes are used.
const OCTETS: [([u8; 4], usize); 256] = {
    let mut table = [([0; 4], 0); 256];
    let mut octet = 0;
    while octet < 256 {
        let (hundreds, tens, ones) = (octet / 100, octet / 10 % 10, octet % 10);
        let digits = 1 + (octet >= 10) as usize + (octet >= 100) as usize;
        let all = [
            b'0' + hundreds as u8,
            b'0' + tens as u8,
            b'0' + ones as u8,
            b'.',
        ];
        let mut text = [0; 4];
        let mut i = 0;
        while i <= digits {
            text[i] = all[3 - digits + i];
            i += 1;
        }
        table[octet] = (text, digits + 1);
        octet += 1;
    }
    table
};

/// A dotted quad: at most 15 bytes, with room for the last octet's padding.
fn ipv4_text(octets: [u8; 4]) -> ([u8; 16], usize) {
    let mut text = [0u8; 16];
    let mut len = 0;
    for octet in octets {
        let (digits, used) = OCTETS[usize::from(octet)];
        text[len..len + 4].copy_from_slice(&digits);
        len += used;
    }
    // Without the last octet's dot.
    (text, len - 1)
}

/// For each pattern of zero groups in an IPv6 address (bit `i` set when
/// group `i` is zero), the longest run of two or more (the first, on a tie)
/// as `(start, end)`; `(8, 8)` when there is none.
const ZERO_RUNS: [(u8, u8); 256] = {
    let mut table = [(8, 8); 256];
    let mut pattern = 0;
    while pattern < 256 {
        let (mut best, mut run_start, mut i) = ((8, 8), 0, 0);
        while i <= 8 {
            if i < 8 && pattern >> i & 1 == 1 {
                i += 1;
                continue;
            }
            if i - run_start >= 2 && i - run_start > best.1 - best.0 {
                best = (run_start, i);
            }
            i += 1;
            run_start = i;
        }
        table[pattern] = (best.0 as u8, best.1 as u8);
        pattern += 1;
    }
    table
};

/// RFC 5952: lowercase groups without leading zeros, the longest run of two
/// or more zero groups (the first, on a tie) as `::`.
fn ipv6_text(octets: [u8; 16]) -> IpText {
    let mut text = [0u8; 39];
    if let Some(v4) = Ipv6Addr::from(octets).to_ipv4_mapped() {
        // `::ffff:a.b.c.d`, as the standard library writes it.
        let (v4, len) = ipv4_text(v4.octets());
        text[..7].copy_from_slice(b"::ffff:");
        text[7..7 + len].copy_from_slice(&v4[..len]);
        return (text, 7 + len);
    }
    let groups: [[u8; 2]; 8] = std::array::from_fn(|i| [octets[2 * i], octets[2 * i + 1]]);
    let zero_groups = (0..8).fold(0, |pattern, i| {
        pattern | usize::from(groups[i] == [0, 0]) << i
    });
    let (zeros_start, zeros_end) = ZERO_RUNS[zero_groups];
    let (zeros_start, zeros_end) = (usize::from(zeros_start), usize::from(zeros_end));
    let mut len = 0;
    let mut i = 0;
    while i < 8 {
        if i == zeros_start {
            text[len..len + 2].copy_from_slice(b"::");
            len += 2;
            i = zeros_end;
            continue;
        }
        if i > 0 && i != zeros_end {
            text[len] = b':';
            len += 1;
        }
        // The group's four hex digits as one word, less its leading zeros:
        // always a four-byte write, which fits (a group of fewer digits
        // leaves the text at least that much shorter).
        let [hi, lo] = groups[i].map(|b| HEX_PAIRS[usize::from(b)]);
        let hex = u32::from_le_bytes([hi[0], hi[1], lo[0], lo[1]]);
        let digits = (16 - u16::from_be_bytes(groups[i]).leading_zeros() as usize)
            .div_ceil(4)
            .max(1);
        text[len..len + 4].copy_from_slice(&(hex >> (8 * (4 - digits))).to_le_bytes());
        len += digits;
        i += 1;
    }
    (text, len)
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, Ipv6Addr};

    use super::*;

    fn rendered(address: Address<'_>) -> String {
        let mut out = Vec::new();
        address.write(&mut out);
        assert_eq!(out.len(), address.text_len(), "{address:?}");
        assert_eq!(out, address.to_text().as_bytes());
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn macs_and_odd_lengths() {
        let mac = [0xaa, 0xbb, 0xcc, 0x01, 0x02, 0x03];
        assert_eq!(rendered(Address::Mac(&mac)), "aa:bb:cc:01:02:03");
        assert_eq!(rendered(Address::Mac(&[])), "");
        let long: Vec<u8> = (1..=10).collect();
        assert_eq!(
            rendered(Address::Mac(&long)),
            "01:02:03:04:05:06:07:08:09:0a"
        );
        assert_eq!(rendered(Address::Ip(None, &[1, 2, 3])), "0x010203");
        assert_eq!(
            rendered(Address::Ip(Some(true), &[10, 1, 2, 3])),
            "0x0a010203"
        );
    }

    #[test]
    fn ipv4_as_the_standard_library_writes_it() {
        for octet in [0u8, 7, 10, 99, 100, 199, 255] {
            let v4 = [octet, 255 - octet, octet / 3, 1];
            let expected = Ipv4Addr::from(v4).to_string();
            assert_eq!(rendered(Address::Ip(None, &v4)), expected);
            assert_eq!(rendered(Address::Ip(Some(false), &v4)), expected);
        }
    }

    #[test]
    fn ipv6_as_the_standard_library_writes_it() {
        let v6 = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1).octets();
        assert_eq!(rendered(Address::Ip(Some(true), &v6)), "2001:db8::1");
        assert_eq!(rendered(Address::Ip(None, &v6)), "2001:db8::1");
        // Every pattern of zero and non-zero groups (runs, ties, ends), with
        // groups of every width, and IPv4-mapped addresses.
        let widths = [0x1, 0x2a, 0x3bc, 0xdef0];
        for pattern in 0u32..256 {
            let groups: [u16; 8] = std::array::from_fn(|i| match pattern >> i & 1 {
                1 => widths[(i + pattern as usize) % 4],
                _ => 0,
            });
            let addr = Ipv6Addr::from(groups);
            let expected = addr.to_string();
            assert_eq!(rendered(Address::Ip(Some(true), &addr.octets())), expected);
        }
        let mapped = Ipv4Addr::new(192, 0, 2, 1).to_ipv6_mapped().octets();
        assert_eq!(
            rendered(Address::Ip(Some(true), &mapped)),
            "::ffff:192.0.2.1"
        );
    }
}
