//! SIMD twins of the row accumulator for spec `exact-2`'s block formats (Q4_0,
//! Q5_0, Q5_1, Q4_K, Q5_K, Q6_K; docs/numerics.md, section 14; the definition is
//! [`blocks::row_dot_acc`]): AVX2 in `exact2_avx2.rs` (the K-quants; the
//! 32-element blocks take `avx2.rs`'s one-shift kernels, module docs of [`super`],
//! "Legacy blocks"), wasm simd128 in `exact2_simd128.rs`.
//!
//! # What the vectors compute, what stays scalar
//!
//! Per (super-)block the definition adds two terms, each rounded once:
//! `round_shift(dm * S1, -(de + e + 32))` and, with a minimum,
//! `round_shift(mnm * S0', -(mne + e + 32))`. The twins compute `S1 = sum_s sc_s *
//! sum_{j in s} q_j a_j` with vector instructions, exactly (integers, no lane can
//! wrap: the bounds are in each kernel's docs), and hand it to [`row_acc`], which
//! forms the two terms with the definition's own arithmetic ([`round_shift`],
//! [`wadd`], the f16 decoding, [`blocks::scale_min_k4`], `S0'` from the
//! activation's block sums). So a twin equals the definition as soon as its `S1`
//! does, for every scale and every activation exponent: there is no fast range and
//! no fallback. The scalar part is a few operations per 32 (legacy formats) or 256
//! (K-quants) elements.
//!
//! # Sub-block scales in 16 bits
//!
//! The K-quants' `q_j * sc_s` fits in i16 (`|q| <= 31`, `sc <= 63` for Q4_K/Q5_K;
//! `|q| <= 32`, `|sc| <= 128` for Q6_K: at most 4096), so the kernels multiply the
//! weights by their sub-block's scale in 16-bit lanes and then use the i16 pair
//! multiply-add (`pmaddwd`, `i32x4.dot_i16x8_s`) against the activation
//! (`|a| <= 32767`, [`Act::quantize`]): each i32 lane is a sum of exact products.

use crate::exact::act::{Act, BLOCK};
use crate::exact::blocks::{self, scale_min_k4};
use crate::exact::fixed::{f16_bits, round_shift, wadd, Scaled};
use crate::exact::quant::{WeightFormat, ACC_FRAC};

#[cfg(target_arch = "x86_64")]
use super::exact2_avx2;
#[cfg(target_arch = "wasm32")]
use super::exact2_simd128;
use super::{Prepared, Twin};

/// Whether `format` is one of this module's (exact-2's added block formats).
pub(super) fn covers(format: WeightFormat) -> bool {
    use WeightFormat::*;
    matches!(format, Q4_0 | Q5_0 | Q5_1 | Q4K | Q5K | Q6K)
}

#[inline(always)]
fn f16_at(b: &[u8], i: usize) -> Scaled {
    f16_bits(u16::from_le_bytes([b[i], b[i + 1]]))
}

/// The Q32 accumulator of one weight `row` of `format` (a format [`covers`], or
/// Q8_0, whose term is the same; not Q4_1) times
/// `act`, as [`blocks::row_dot_acc`] defines it, with each (super-)block's `S1`
/// from `s1(block bytes, its activations, sc)`, where `sc` holds the block's
/// sub-block scales (K-quants; 1 otherwise).
#[inline(always)]
pub(super) fn row_acc(
    format: WeightFormat,
    row: &[u8],
    act: &Act,
    mut s1: impl FnMut(&[u8], &[i16], &[i16; 16]) -> i64,
) -> i64 {
    let (bb, len) = (format.block_bytes(), format.block_elems());
    let e = act.exp;
    let mut acc = 0i64;
    let mut sc = [1i16; 16];
    for (b, blk) in row.chunks_exact(bb).enumerate() {
        // The definition's slices: a short activation panics there as here.
        let a = &act.q[b * len..(b + 1) * len];
        let sums = &act.block_sums[b * len / BLOCK..(b + 1) * len / BLOCK];
        let (d, min) = match format {
            WeightFormat::Q5_1 => (f16_at(blk, 0), Some((f16_at(blk, 2), sums[0] as i64))),
            WeightFormat::Q4K | WeightFormat::Q5K => {
                let mut s0 = 0i64;
                for (s, &sum) in sums.iter().enumerate() {
                    let (c, m) = scale_min_k4(s, &blk[4..16]);
                    sc[s] = c as i16;
                    s0 += sum as i64 * m as i64;
                }
                let dmin = f16_at(blk, 2);
                let mn = Scaled {
                    mant: -dmin.mant,
                    exp: dmin.exp,
                };
                (f16_at(blk, 0), Some((mn, s0)))
            }
            WeightFormat::Q6K => {
                for (s, &c) in blk[192..208].iter().enumerate() {
                    sc[s] = c as i8 as i16;
                }
                (f16_at(blk, 208), None)
            }
            _ => (f16_at(blk, 0), None),
        };
        let t = round_shift(d.mant as i64 * s1(blk, a, &sc), -(d.exp + e + ACC_FRAC));
        acc = wadd(acc, t);
        if let Some((mn, s0)) = min {
            acc = wadd(
                acc,
                round_shift(mn.mant as i64 * s0, -(mn.exp + e + ACC_FRAC)),
            );
        }
    }
    acc
}

/// Q32 accumulators of rows `0..n_rows` (`rb` bytes each) of `rows`, in a format
/// [`covers`], times `x` on a SIMD `twin`: `emit(r, acc)` for each.
pub(super) fn rows_acc(
    twin: Twin,
    format: WeightFormat,
    rows: &[u8],
    rb: usize,
    n_rows: usize,
    x: &Prepared,
    emit: &mut impl FnMut(usize, i64),
) {
    assert!(covers(format), "{format:?} is not an exact-2 block format");
    assert!(rows.len() >= n_rows * rb, "weight rows out of range");
    let act = x.act;
    match twin {
        Twin::Scalar => {
            for r in 0..n_rows {
                emit(
                    r,
                    blocks::row_dot_acc(format, &rows[r * rb..(r + 1) * rb], act),
                );
            }
        }
        #[cfg(target_arch = "x86_64")]
        Twin::Avx2 => {
            assert!(
                std::arch::is_x86_feature_detected!("avx2"),
                "no AVX2 on this CPU"
            );
            // SAFETY: AVX2 is present.
            unsafe { exact2_avx2::rows_acc(format, rows, rb, n_rows, act, emit) }
        }
        #[cfg(target_arch = "wasm32")]
        Twin::Simd128 => exact2_simd128::rows_acc(format, rows, rb, n_rows, act, emit),
    }
}
