//! SIMD twins of the exact block dot products in [`crate::exact::quant`]:
//! AVX2 on x86_64 (chosen at run time), simd128 on wasm32, the scalar definition
//! elsewhere. Integer sums are exact, so each twin returns the same bits as the
//! scalar code; `tests` compare them over random blocks.

use crate::exact::act::{Act, BLOCK};
use crate::exact::fixed::{f16_bits, round_shift, sat_i32, wadd};
use crate::exact::quant::{self, WeightFormat, ACC_FRAC, OUT_FRAC};

#[inline(always)]
fn term(mant: i32, sum: i32, exp: i32, act_exp: i32) -> i64 {
    round_shift(mant as i64 * sum as i64, -(exp + act_exp + ACC_FRAC))
}

#[inline(always)]
fn f16_at(b: &[u8], i: usize) -> crate::exact::fixed::Scaled {
    f16_bits(u16::from_le_bytes([b[i], b[i + 1]]))
}

/// The row accumulator with `q4` / `q8` as the block sums; shared by every twin.
#[inline(always)]
fn row_acc(
    format: WeightFormat,
    row: &[u8],
    act: &Act,
    q4: impl Fn(&[u8], &[i16]) -> i32,
    q8: impl Fn(&[u8], &[i16]) -> i32,
) -> i64 {
    let mut acc = 0i64;
    let e = act.exp;
    match format {
        WeightFormat::Q4_1 => {
            for (b, (blk, a)) in row
                .chunks_exact(20)
                .zip(act.q.chunks_exact(BLOCK))
                .enumerate()
            {
                let (d, m) = (f16_at(blk, 0), f16_at(blk, 2));
                acc = wadd(acc, term(d.mant, q4(&blk[4..20], a), d.exp, e));
                acc = wadd(acc, term(m.mant, act.block_sums[b], m.exp, e));
            }
        }
        WeightFormat::Q8_0 => {
            for (blk, a) in row.chunks_exact(34).zip(act.q.chunks_exact(BLOCK)) {
                let d = f16_at(blk, 0);
                acc = wadd(acc, term(d.mant, q8(&blk[2..34], a), d.exp, e));
            }
        }
    }
    acc
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::*;

    #[inline(always)]
    unsafe fn hsum(v: __m256i) -> i32 {
        let s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
        let s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0b01_00_11_10));
        let s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0b10_11_00_01));
        _mm_cvtsi128_si32(s)
    }

    #[inline(always)]
    pub unsafe fn q4(qs: &[u8], a: &[i16]) -> i32 {
        let q = _mm_loadu_si128(qs.as_ptr() as *const __m128i);
        let m = _mm_set1_epi8(15);
        let lo = _mm256_cvtepu8_epi16(_mm_and_si128(q, m));
        let hi = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(q, 4), m));
        let a0 = _mm256_loadu_si256(a.as_ptr() as *const __m256i);
        let a1 = _mm256_loadu_si256(a.as_ptr().add(16) as *const __m256i);
        hsum(_mm256_add_epi32(
            _mm256_madd_epi16(lo, a0),
            _mm256_madd_epi16(hi, a1),
        ))
    }

    #[inline(always)]
    pub unsafe fn q8(qs: &[u8], a: &[i16]) -> i32 {
        let q0 = _mm256_cvtepi8_epi16(_mm_loadu_si128(qs.as_ptr() as *const __m128i));
        let q1 = _mm256_cvtepi8_epi16(_mm_loadu_si128(qs.as_ptr().add(16) as *const __m128i));
        let a0 = _mm256_loadu_si256(a.as_ptr() as *const __m256i);
        let a1 = _mm256_loadu_si256(a.as_ptr().add(16) as *const __m256i);
        hsum(_mm256_add_epi32(
            _mm256_madd_epi16(q0, a0),
            _mm256_madd_epi16(q1, a1),
        ))
    }

    #[target_feature(enable = "avx2")]
    pub unsafe fn row_acc(format: super::WeightFormat, row: &[u8], act: &super::Act) -> i64 {
        super::row_acc(
            format,
            row,
            act,
            |q, a| unsafe { q4(q, a) },
            |q, a| unsafe { q8(q, a) },
        )
    }
}

#[cfg(target_arch = "wasm32")]
mod wasm {
    use std::arch::wasm32::*;

    #[inline(always)]
    fn hsum(v: v128) -> i32 {
        i32x4_extract_lane::<0>(v)
            .wrapping_add(i32x4_extract_lane::<1>(v))
            .wrapping_add(i32x4_extract_lane::<2>(v))
            .wrapping_add(i32x4_extract_lane::<3>(v))
    }

    #[inline(always)]
    fn load(a: &[i16], i: usize) -> v128 {
        // SAFETY: callers pass 32-element blocks; i + 8 <= 32.
        unsafe { v128_load(a.as_ptr().add(i) as *const v128) }
    }

    #[inline(always)]
    pub fn q4(qs: &[u8], a: &[i16]) -> i32 {
        // SAFETY: qs has 16 bytes.
        let q = unsafe { v128_load(qs.as_ptr() as *const v128) };
        let lo = v128_and(q, u8x16_splat(15));
        let hi = u8x16_shr(q, 4);
        let s = i32x4_add(
            i32x4_add(
                i32x4_dot_i16x8(u16x8_extend_low_u8x16(lo), load(a, 0)),
                i32x4_dot_i16x8(u16x8_extend_high_u8x16(lo), load(a, 8)),
            ),
            i32x4_add(
                i32x4_dot_i16x8(u16x8_extend_low_u8x16(hi), load(a, 16)),
                i32x4_dot_i16x8(u16x8_extend_high_u8x16(hi), load(a, 24)),
            ),
        );
        hsum(s)
    }

    #[inline(always)]
    pub fn q8(qs: &[u8], a: &[i16]) -> i32 {
        // SAFETY: qs has 32 bytes.
        let (q0, q1) = unsafe {
            (
                v128_load(qs.as_ptr() as *const v128),
                v128_load(qs.as_ptr().add(16) as *const v128),
            )
        };
        let s = i32x4_add(
            i32x4_add(
                i32x4_dot_i16x8(i16x8_extend_low_i8x16(q0), load(a, 0)),
                i32x4_dot_i16x8(i16x8_extend_high_i8x16(q0), load(a, 8)),
            ),
            i32x4_add(
                i32x4_dot_i16x8(i16x8_extend_low_i8x16(q1), load(a, 16)),
                i32x4_dot_i16x8(i16x8_extend_high_i8x16(q1), load(a, 24)),
            ),
        );
        hsum(s)
    }
}

/// Q32 accumulator of `row` times `act`, on the fastest twin this machine has.
#[inline]
pub fn row_dot_acc(format: WeightFormat, row: &[u8], act: &Act) -> i64 {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: AVX2 is present; blocks are whole (chunks_exact).
            return unsafe { avx2::row_acc(format, row, act) };
        }
    }
    #[cfg(target_arch = "wasm32")]
    {
        return row_acc(format, row, act, wasm::q4, wasm::q8);
    }
    #[allow(unreachable_code)]
    quant::row_dot_acc(format, row, act)
}

/// One Q16 output element (see [`crate::exact::quant::row_dot`]).
#[inline]
pub fn row_dot(format: WeightFormat, row: &[u8], act: &Act) -> i32 {
    sat_i32(round_shift(
        row_dot_acc(format, row, act),
        ACC_FRAC - OUT_FRAC,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// xorshift64*, for test data only.
    fn rng(state: &mut u64) -> u64 {
        *state ^= *state >> 12;
        *state ^= *state << 25;
        *state ^= *state >> 27;
        state.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    #[test]
    fn simd_equals_scalar_over_random_rows() {
        let mut s = 0x1234_5678_9abc_def1u64;
        for case in 0..400 {
            let blocks = 1 + (rng(&mut s) % 40) as usize;
            let format = if case % 2 == 0 {
                WeightFormat::Q4_1
            } else {
                WeightFormat::Q8_0
            };
            let row: Vec<u8> = (0..blocks * format.block_bytes())
                .map(|i| {
                    let b = rng(&mut s) as u8;
                    // keep f16 scales finite: clear the top exponent bit of each scale's high byte
                    let off = i % format.block_bytes();
                    if off == 1 || (format == WeightFormat::Q4_1 && off == 3) {
                        b & 0b1011_1111
                    } else {
                        b
                    }
                })
                .collect();
            let span = 1 + rng(&mut s) % 40;
            let vals: Vec<i64> = (0..blocks * 32)
                .map(|_| (rng(&mut s) % (1 << span)) as i64 - (1 << (span - 1)))
                .collect();
            let act = Act::quantize(&vals, (rng(&mut s) % 40) as i32 - 30);
            assert_eq!(
                row_dot_acc(format, &row, &act),
                quant::row_dot_acc(format, &row, &act),
                "case {case}"
            );
        }
    }
}
