//! ChaCha20 (RFC 8439, section 2.3) as the sampler's portable random stream.
//!
//! Stream layout of spec `exact-1`: key = the seed as 8 little-endian bytes
//! followed by 24 zero bytes, nonce = 12 zero bytes, block counter starting at 0.
//! Draw `k` is the little-endian u64 made of keystream bytes `8k..8k+8`.

/// The ChaCha20 block function: 16 output words for `key`, `counter`, `nonce`.
pub fn chacha20_block(key: &[u32; 8], counter: u32, nonce: &[u32; 3]) -> [u32; 16] {
    let mut s = [0u32; 16];
    s[..4].copy_from_slice(&[0x6170_7865, 0x3320_646e, 0x7962_2d32, 0x6b20_6574]);
    s[4..12].copy_from_slice(key);
    s[12] = counter;
    s[13..].copy_from_slice(nonce);
    let mut x = s;
    fn qr(x: &mut [u32; 16], a: usize, b: usize, c: usize, d: usize) {
        x[a] = x[a].wrapping_add(x[b]);
        x[d] = (x[d] ^ x[a]).rotate_left(16);
        x[c] = x[c].wrapping_add(x[d]);
        x[b] = (x[b] ^ x[c]).rotate_left(12);
        x[a] = x[a].wrapping_add(x[b]);
        x[d] = (x[d] ^ x[a]).rotate_left(8);
        x[c] = x[c].wrapping_add(x[d]);
        x[b] = (x[b] ^ x[c]).rotate_left(7);
    }
    for _ in 0..10 {
        qr(&mut x, 0, 4, 8, 12);
        qr(&mut x, 1, 5, 9, 13);
        qr(&mut x, 2, 6, 10, 14);
        qr(&mut x, 3, 7, 11, 15);
        qr(&mut x, 0, 5, 10, 15);
        qr(&mut x, 1, 6, 11, 12);
        qr(&mut x, 2, 7, 8, 13);
        qr(&mut x, 3, 4, 9, 14);
    }
    for (o, i) in x.iter_mut().zip(s) {
        *o = o.wrapping_add(i);
    }
    x
}

/// Random draws for one run.
#[derive(Debug, Clone)]
pub struct DrawStream {
    key: [u32; 8],
}

impl DrawStream {
    pub fn new(seed: u64) -> Self {
        let mut key = [0u32; 8];
        key[0] = seed as u32;
        key[1] = (seed >> 32) as u32;
        Self { key }
    }

    /// Draw number `k` (each block holds 8 draws).
    pub fn draw(&self, k: u64) -> u64 {
        let block = chacha20_block(&self.key, (k / 8) as u32, &[0; 3]);
        let w = (k % 8) as usize * 2;
        block[w] as u64 | (block[w + 1] as u64) << 32
    }
}

#[cfg(test)]
#[allow(clippy::float_arithmetic, clippy::excessive_precision)]
mod tests {
    use super::*;

    #[test]
    fn rfc8439_block_test_vector() {
        // RFC 8439 section 2.3.2
        let key: [u32; 8] = core::array::from_fn(|i| {
            u32::from_le_bytes([
                4 * i as u8,
                4 * i as u8 + 1,
                4 * i as u8 + 2,
                4 * i as u8 + 3,
            ])
        });
        let nonce = [0x0900_0000, 0x4a00_0000, 0];
        let out = chacha20_block(&key, 1, &nonce);
        assert_eq!(out[0], 0xe4e7_f110);
        assert_eq!(out[1], 0x1559_3bd1);
        assert_eq!(out[15], 0x4e3c_50a2);
    }

    #[test]
    fn draws_are_stable() {
        let s = DrawStream::new(42);
        assert_ne!(s.draw(0), s.draw(1));
        assert_eq!(s.draw(9), DrawStream::new(42).draw(9));
        assert_ne!(DrawStream::new(43).draw(0), s.draw(0));
    }
}
