//! The byte-level pieces of link format v1 (docs/links.md): LEB128 varints,
//! length-prefixed UTF-8 strings, and unpadded base64url (RFC 4648 §5).

use super::LinkError;

pub struct Writer(pub Vec<u8>);

impl Writer {
    pub fn u64(&mut self, mut v: u64) {
        loop {
            let b = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                self.0.push(b);
                return;
            }
            self.0.push(b | 0x80);
        }
    }
    pub fn str(&mut self, s: &str) {
        self.u64(s.len() as u64);
        self.0.extend_from_slice(s.as_bytes());
    }
    pub fn bytes(&mut self, b: &[u8]) {
        self.0.extend_from_slice(b);
    }
}

pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }
    /// Bytes not read yet.
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }
    pub fn u8(&mut self, what: &'static str) -> Result<u8, LinkError> {
        let b = *self.buf.get(self.pos).ok_or(LinkError::Truncated(what))?;
        self.pos += 1;
        Ok(b)
    }
    /// An unsigned LEB128 varint in its one minimal form: at most 10 bytes, the
    /// 10th at most 1, and no final 0x00 byte after the first (which would be a
    /// longer spelling of the same number).
    pub fn u64(&mut self, what: &'static str) -> Result<u64, LinkError> {
        let mut v: u64 = 0;
        for shift in (0..64).step_by(7) {
            let b = self.u8(what)?;
            let part = (b & 0x7f) as u64;
            if shift == 63 && part > 1 {
                return Err(LinkError::Malformed(what));
            }
            v |= part << shift;
            if b & 0x80 == 0 {
                if b == 0 && shift > 0 {
                    return Err(LinkError::Overlong(what));
                }
                return Ok(v);
            }
        }
        Err(LinkError::Malformed(what))
    }
    /// A varint that must not exceed `max`.
    pub fn bounded(&mut self, what: &'static str, max: u64) -> Result<u64, LinkError> {
        let v = self.u64(what)?;
        if v > max {
            return Err(LinkError::OutOfRange {
                what,
                value: v,
                max,
            });
        }
        Ok(v)
    }
    pub fn u32(&mut self, what: &'static str) -> Result<u32, LinkError> {
        Ok(self.bounded(what, u32::MAX as u64)? as u32)
    }
    pub fn bytes(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], LinkError> {
        let end = self.pos.checked_add(n).ok_or(LinkError::Truncated(what))?;
        let s = self
            .buf
            .get(self.pos..end)
            .ok_or(LinkError::Truncated(what))?;
        self.pos = end;
        Ok(s)
    }
    pub fn str(&mut self, what: &'static str, max_len: usize) -> Result<String, LinkError> {
        let n = self.bounded(what, max_len as u64)? as usize;
        let b = self.bytes(n, what)?;
        String::from_utf8(b.to_vec()).map_err(|_| LinkError::NotUtf8(what))
    }
}

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

pub fn base64url_encode(data: &[u8]) -> String {
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let n = chunk.len();
        let v = (chunk[0] as u32) << 16
            | (*chunk.get(1).unwrap_or(&0) as u32) << 8
            | *chunk.get(2).unwrap_or(&0) as u32;
        for i in 0..=n {
            out.push(ALPHABET[(v >> (18 - 6 * i) & 63) as usize] as char);
        }
    }
    out
}

pub fn base64url_decode(s: &str) -> Result<Vec<u8>, LinkError> {
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let mut acc: u32 = 0;
    let mut bits = 0;
    for (i, c) in s.bytes().enumerate() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'-' => 62,
            b'_' => 63,
            _ => return Err(LinkError::BadCharacter { position: i }),
        };
        acc = (acc << 6) | v as u32;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    if bits >= 6 {
        return Err(LinkError::Truncated("base64 text"));
    }
    // Canonical encoding only: the unused low bits of the last character are zero.
    if acc != 0 {
        return Err(LinkError::Malformed("base64 text"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64url_round_trips_and_matches_rfc4648() {
        assert_eq!(base64url_encode(b"foobar"), "Zm9vYmFy");
        assert_eq!(base64url_encode(b"fo"), "Zm8");
        assert_eq!(base64url_encode(&[0xfb, 0xff]), "-_8");
        for n in 0..40u8 {
            let data: Vec<u8> = (0..n).map(|i| i.wrapping_mul(97)).collect();
            assert_eq!(base64url_decode(&base64url_encode(&data)).unwrap(), data);
        }
        assert!(base64url_decode("ab$d").is_err());
        assert!(base64url_decode("a").is_err());
    }

    #[test]
    fn varints_round_trip_and_reject_overlong() {
        let mut w = Writer(Vec::new());
        for v in [0, 1, 127, 128, 300, u32::MAX as u64, u64::MAX] {
            w.u64(v);
        }
        let mut r = Reader::new(&w.0);
        for v in [0, 1, 127, 128, 300, u32::MAX as u64, u64::MAX] {
            assert_eq!(r.u64("x").unwrap(), v);
        }
        assert_eq!(r.remaining(), 0);
        assert!(Reader::new(&[0xff; 11]).u64("x").is_err());
        assert!(Reader::new(&[0x80]).u64("x").is_err());
        // 0 and 1 spelled with two bytes; 128 with three.
        for overlong in [&[0x80, 0x00][..], &[0x81, 0x00], &[0x80, 0x81, 0x00]] {
            assert_eq!(
                Reader::new(overlong).u64("x"),
                Err(LinkError::Overlong("x"))
            );
        }
    }
}
