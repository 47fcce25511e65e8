//! Activation format of spec `exact-1` (docs/numerics.md, "Activations").
//!
//! A matmul input vector is `n` symmetric 16-bit integers (|a| <= 32767) with one
//! power-of-two exponent for the whole vector: value_i = a_i * 2^exp. Per 32-element
//! block the sum of the a_i is kept (the Q4_1 minimum term needs it).

use super::fixed::{bit_len, round_shift};

/// Largest magnitude of a 16-bit activation (symmetric, so that a pair product sum
/// `a*b + c*d` of two activations fits in i32).
pub const ACT_MAX: i64 = 32767;
/// Elements per block.
pub const BLOCK: usize = 32;

/// One quantized activation vector.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Act {
    /// The integers a_i (a matmul input has a multiple of [`BLOCK`] of them).
    pub q: Vec<i16>,
    /// value_i = q_i * 2^exp.
    pub exp: i32,
    /// Sum of q over each block of 32 (the last block may be shorter).
    pub block_sums: Vec<i32>,
}

impl Act {
    /// Quantizes `v` (value_i = v_i * 2^v_exp): the smallest right shift `s >= 0`
    /// with every `round_shift(v_i, s)` inside ±[`ACT_MAX`].
    pub fn quantize(v: &[i64], v_exp: i32) -> Act {
        let max = v.iter().map(|x| x.unsigned_abs()).max().unwrap_or(0);
        let mut s = (bit_len(max) - 15).max(0);
        if round_shift(max.min(i64::MAX as u64) as i64, s) > ACT_MAX {
            s += 1;
        }
        let mut act = Act {
            q: Vec::with_capacity(v.len()),
            exp: v_exp + s,
            block_sums: Vec::with_capacity(v.len() / BLOCK),
        };
        for block in v.chunks(BLOCK) {
            let mut sum = 0i32;
            for &x in block {
                let a = round_shift(x, s).clamp(-ACT_MAX, ACT_MAX) as i16;
                sum += a as i32;
                act.q.push(a);
            }
            act.block_sums.push(sum);
        }
        act
    }

    /// Quantizes a Q16 vector (value = v_i / 2^16).
    pub fn from_q16(v: &[i32]) -> Act {
        let wide: Vec<i64> = v.iter().map(|&x| x as i64).collect();
        Self::quantize(&wide, -16)
    }
}

#[cfg(test)]
#[allow(clippy::float_arithmetic, clippy::excessive_precision)]
mod tests {
    use super::*;

    #[test]
    fn quantize_keeps_small_vectors_exact_and_fits_large_ones() {
        let v: Vec<i64> = (0..32).map(|i| i * 100 - 1600).collect();
        let a = Act::quantize(&v, -16);
        assert_eq!(a.exp, -16);
        assert_eq!(a.q[0], -1600);
        let big: Vec<i64> = (0..64).map(|i| (i - 32) * 1_000_000_007).collect();
        let a = Act::quantize(&big, 0);
        assert!(a.q.iter().all(|&x| (x as i64).abs() <= ACT_MAX));
        assert!(a.q.iter().any(|&x| (x as i64).abs() > ACT_MAX / 2));
        assert_eq!(a.block_sums.len(), 2);
        assert_eq!(
            a.block_sums[0],
            a.q[..32].iter().map(|&x| x as i32).sum::<i32>()
        );
    }

    #[test]
    fn rounding_up_to_32768_takes_one_more_shift() {
        let v = vec![65535i64; 32]; // round_shift(65535, 1) = 32768 > ACT_MAX
        let a = Act::quantize(&v, 0);
        assert_eq!(a.exp, 2);
        assert_eq!(a.q[0], 16384);
    }
}
