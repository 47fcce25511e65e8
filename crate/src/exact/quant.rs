//! Weight block formats (ggml `ggml-common.h`: `block_q4_1`, `block_q8_0`) and their
//! exact integer dot products with an [`Act`] (docs/numerics.md, "Matmul").
//!
//! A row of weights times an activation vector accumulates, per 32-element block b,
//!   `round_shift(d_mant * S1_b, -(d_exp + act_exp + 32))`
//! (+ the same for the Q4_1 minimum `m` with `S0_b`, the block's activation sum),
//! wrapping in i64 (a Q32 number), then rounds once to Q16 and saturates to i32.
//! `S1_b = sum_j q_j * a_j` is an exact integer sum; the f16 scales are decoded exactly.

use super::act::{Act, BLOCK};
use super::fixed::{f16_bits, round_shift, sat_i32, wadd};

/// Fractional bits of the cross-block accumulator.
pub const ACC_FRAC: i32 = 32;
/// Fractional bits of matmul outputs.
pub const OUT_FRAC: i32 = 16;

/// A quantized weight format the exact engine reads: Q4_1 and Q8_0 since spec
/// `exact-1`, the others since `exact-2` (their definitions: [`super::blocks`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WeightFormat {
    Q4_1,
    Q8_0,
    Q4_0,
    Q5_0,
    Q5_1,
    Q4K,
    Q5K,
    Q6K,
}

impl WeightFormat {
    /// Bytes per block (per 256-element super-block for the K-quants).
    pub const fn block_bytes(self) -> usize {
        match self {
            Self::Q4_1 => 20,
            Self::Q8_0 => 34,
            Self::Q4_0 => 18,
            Self::Q5_0 => 22,
            Self::Q5_1 => 24,
            Self::Q4K => 144,
            Self::Q5K => 176,
            Self::Q6K => 210,
        }
    }

    /// Elements per block: 32, or 256 for the K-quants.
    pub const fn block_elems(self) -> usize {
        match self {
            Self::Q4K | Self::Q5K | Self::Q6K => super::blocks::QK_K,
            _ => BLOCK,
        }
    }

    /// Byte offsets of the block's f16 scales (`d`, and `m`/`dmin` where there is one).
    pub const fn scale_offsets(self) -> &'static [usize] {
        match self {
            Self::Q8_0 | Self::Q4_0 | Self::Q5_0 => &[0],
            Self::Q4_1 | Self::Q5_1 | Self::Q4K | Self::Q5K => &[0, 2],
            Self::Q6K => &[208],
        }
    }

    /// The first numeric spec that defines this format.
    pub const fn spec(self) -> &'static str {
        match self {
            Self::Q4_1 | Self::Q8_0 => super::SPEC_EXACT_1,
            _ => super::SPEC_EXACT_2,
        }
    }

    /// The format's name as ggml spells it.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Q4_1 => "Q4_1",
            Self::Q8_0 => "Q8_0",
            Self::Q4_0 => "Q4_0",
            Self::Q5_0 => "Q5_0",
            Self::Q5_1 => "Q5_1",
            Self::Q4K => "Q4_K",
            Self::Q5K => "Q5_K",
            Self::Q6K => "Q6_K",
        }
    }
}

#[inline(always)]
fn f16_at(b: &[u8], i: usize) -> super::fixed::Scaled {
    f16_bits(u16::from_le_bytes([b[i], b[i + 1]]))
}

#[inline(always)]
fn scaled_term(mant: i32, sum: i32, exp: i32, act_exp: i32) -> i64 {
    round_shift(mant as i64 * sum as i64, -(exp + act_exp + ACC_FRAC))
}

/// `sum_j (qs nibble j) * a_j` for one Q4_1 block: element j < 16 is the low nibble
/// of byte j, element j + 16 its high nibble.
#[inline(always)]
pub fn q4_block_sum(qs: &[u8], a: &[i16]) -> i32 {
    let (lo, hi) = a.split_at(16);
    let mut s = 0i32;
    for j in 0..16 {
        s += (qs[j] & 15) as i32 * lo[j] as i32 + (qs[j] >> 4) as i32 * hi[j] as i32;
    }
    s
}

/// `sum_j q_j * a_j` for one Q8_0 block.
#[inline(always)]
pub fn q8_block_sum(qs: &[u8], a: &[i16]) -> i32 {
    let mut s = 0i32;
    for j in 0..BLOCK {
        s += qs[j] as i8 as i32 * a[j] as i32;
    }
    s
}

/// Q32 accumulator of one weight row (`row` = its blocks' bytes) times `act`.
pub fn row_dot_acc(format: WeightFormat, row: &[u8], act: &Act) -> i64 {
    let mut acc = 0i64;
    let e = act.exp;
    match format {
        WeightFormat::Q4_1 => {
            for (b, (blk, a)) in row
                .chunks_exact(20)
                .zip(act.q.chunks_exact(BLOCK))
                .enumerate()
            {
                let d = f16_at(blk, 0);
                let m = f16_at(blk, 2);
                let s1 = q4_block_sum(&blk[4..20], a);
                acc = wadd(acc, scaled_term(d.mant, s1, d.exp, e));
                acc = wadd(acc, scaled_term(m.mant, act.block_sums[b], m.exp, e));
            }
        }
        WeightFormat::Q8_0 => {
            for (blk, a) in row.chunks_exact(34).zip(act.q.chunks_exact(BLOCK)) {
                let d = f16_at(blk, 0);
                let s1 = q8_block_sum(&blk[2..34], a);
                acc = wadd(acc, scaled_term(d.mant, s1, d.exp, e));
            }
        }
        other => return super::blocks::row_dot_acc(other, row, act),
    }
    acc
}

/// One output element in Q16: the row's accumulator rounded once and saturated.
#[inline]
pub fn row_dot(format: WeightFormat, row: &[u8], act: &Act) -> i32 {
    sat_i32(round_shift(
        row_dot_acc(format, row, act),
        ACC_FRAC - OUT_FRAC,
    ))
}

/// Row `r` of an embedding table as Q16 values (value = d * q), exactly rounded.
pub fn dequant_row_q16(format: WeightFormat, row: &[u8], out: &mut [i32]) {
    match format {
        WeightFormat::Q8_0 => {
            for (blk, o) in row.chunks_exact(34).zip(out.chunks_exact_mut(BLOCK)) {
                let d = f16_at(blk, 0);
                for j in 0..BLOCK {
                    let v = d.mant as i64 * blk[2 + j] as i8 as i64;
                    o[j] = sat_i32(round_shift(v, -(d.exp + OUT_FRAC)));
                }
            }
        }
        WeightFormat::Q4_1 => {
            for (blk, o) in row.chunks_exact(20).zip(out.chunks_exact_mut(BLOCK)) {
                let d = f16_at(blk, 0);
                let m = f16_at(blk, 2);
                for j in 0..BLOCK {
                    let q = if j < 16 {
                        blk[4 + j] & 15
                    } else {
                        blk[4 + j - 16] >> 4
                    };
                    // d*q and m at a common exponent, then one rounding to Q16.
                    let lo = d.exp.min(m.exp);
                    let v = ((d.mant as i64 * q as i64) << (d.exp - lo))
                        + ((m.mant as i64) << (m.exp - lo));
                    o[j] = sat_i32(round_shift(v, -(lo + OUT_FRAC)));
                }
            }
        }
        other => super::blocks::dequant_row_q16(other, row, out),
    }
}

#[cfg(test)]
#[allow(clippy::float_arithmetic, clippy::excessive_precision)]
mod tests {
    use super::*;

    fn f16(x: f32) -> [u8; 2] {
        // test-only encoder for normal numbers
        let b = x.to_bits();
        let sign = ((b >> 16) & 0x8000) as u16;
        let e = ((b >> 23) & 0xff) as i32 - 127 + 15;
        let m = ((b >> 13) & 0x3ff) as u16;
        (sign | ((e as u16) << 10) | m).to_le_bytes()
    }

    fn value(bits: [u8; 2]) -> f64 {
        let s = f16_bits(u16::from_le_bytes(bits));
        s.mant as f64 * 2f64.powi(s.exp)
    }

    #[test]
    fn q4_1_row_matches_float_math() {
        let mut row = Vec::new();
        let mut want = 0f64;
        let act_vals: Vec<i64> = (0..64).map(|i| (i * 37 % 101 - 50) * 300).collect();
        let act = Act::quantize(&act_vals, -20);
        for b in 0..2 {
            let (d, m) = (f16(0.0123 + b as f32 * 0.001), f16(-0.07));
            row.extend_from_slice(&d);
            row.extend_from_slice(&m);
            let mut qs = [0u8; 16];
            for (j, q) in qs.iter_mut().enumerate() {
                *q = ((j * 7 + b) % 16) as u8 | ((((j * 5 + 3) % 16) as u8) << 4);
            }
            row.extend_from_slice(&qs);
            for j in 0..32 {
                let q = if j < 16 { qs[j] & 15 } else { qs[j - 16] >> 4 } as f64;
                let a = act.q[b * 32 + j] as f64 * 2f64.powi(act.exp);
                want += (value(d) * q + value(m)) * a;
            }
        }
        let got = row_dot(WeightFormat::Q4_1, &row, &act) as f64 / 65536.0;
        assert!((got - want).abs() < 2.0 / 65536.0, "got {got} want {want}");
    }
}
