//! The AVX2 twins (x86_64, chosen at run time) of the exact-2 K-quants' `S1`
//! (module docs of [`super::exact2`]; the 32-element Q4_0, Q5_0 and Q5_1 blocks go
//! to the one-shift kernels of `avx2.rs`): one super-block at a time, weights
//! widened to 16-bit lanes, times their sub-block scale, then `pmaddwd` against the
//! activation. Layouts: docs/numerics.md, section 14.

use super::exact2::row_acc;
use crate::exact::act::Act;
use crate::exact::quant::WeightFormat;
use std::arch::x86_64::*;

const Q4_K: u8 = 3;
const Q5_K: u8 = 4;
const Q6_K: u8 = 5;

#[inline(always)]
unsafe fn load_a(a: *const i16, i: usize) -> __m256i {
    _mm256_loadu_si256(a.add(i) as *const __m256i)
}

#[inline(always)]
unsafe fn load32(p: *const u8) -> __m256i {
    _mm256_loadu_si256(p as *const __m256i)
}

/// `acc` (four i64 lanes) plus the eight i32 lanes of `v`, widened.
#[inline(always)]
unsafe fn widen_add(acc: __m256i, v: __m256i) -> __m256i {
    let lo = _mm256_cvtepi32_epi64(_mm256_castsi256_si128(v));
    let hi = _mm256_cvtepi32_epi64(_mm256_extracti128_si256(v, 1));
    _mm256_add_epi64(acc, _mm256_add_epi64(lo, hi))
}

/// The sum of the four i64 lanes of `v` (exact: each lane is below 2^40).
#[inline(always)]
unsafe fn hsum64(v: __m256i) -> i64 {
    let mut l = [0i64; 4];
    _mm256_storeu_si256(l.as_mut_ptr() as *mut __m256i, v);
    l[0] + l[1] + l[2] + l[3]
}

/// Eight i32 lanes summing to `sc * sum_j q_j a_j` over 32 elements whose `q_j`
/// are the bytes of `q` read as `SIGNED` or unsigned. `|q * sc| <= 4096` fits
/// i16; each lane sums four products below 2^28.
#[inline(always)]
unsafe fn scaled_dot<const SIGNED: bool>(q: __m256i, a: *const i16, sc0: i16, sc1: i16) -> __m256i {
    let (q0, q1) = (_mm256_castsi256_si128(q), _mm256_extracti128_si256(q, 1));
    let (q0, q1) = if SIGNED {
        (_mm256_cvtepi8_epi16(q0), _mm256_cvtepi8_epi16(q1))
    } else {
        (_mm256_cvtepu8_epi16(q0), _mm256_cvtepu8_epi16(q1))
    };
    let q0 = _mm256_mullo_epi16(q0, _mm256_set1_epi16(sc0));
    let q1 = _mm256_mullo_epi16(q1, _mm256_set1_epi16(sc1));
    _mm256_add_epi32(
        _mm256_madd_epi16(q0, load_a(a, 0)),
        _mm256_madd_epi16(q1, load_a(a, 16)),
    )
}

/// `S1` of one Q4_K or Q5_K super-block: four groups of 64 elements, the low
/// nibbles of 32 bytes (sub-block `2g`) then their high nibbles (`2g + 1`), Q5_K's
/// fifth bits from bits `2g`, `2g + 1` of `qh[l]`. Per group, an i32 lane sums
/// eight products `|q sc a| <= 31 * 63 * 32767 < 2^26` before it is widened.
#[inline(always)]
unsafe fn k45_s1<const Q5: bool>(blk: *const u8, a: *const i16, sc: &[i16; 16]) -> i64 {
    let qs = blk.add(if Q5 { 48 } else { 16 });
    let qh = if Q5 {
        load32(blk.add(16))
    } else {
        _mm256_setzero_si256()
    };
    let m4 = _mm256_set1_epi8(15);
    let mut acc = _mm256_setzero_si256();
    for g in 0..4 {
        let q = load32(qs.add(32 * g));
        let mut lo = _mm256_and_si256(q, m4);
        let mut hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
        if Q5 {
            let bit = |k: usize| {
                let b = _mm256_set1_epi8((1u8 << k) as i8);
                let set = _mm256_cmpeq_epi8(_mm256_and_si256(qh, b), b);
                _mm256_and_si256(set, _mm256_set1_epi8(16))
            };
            lo = _mm256_or_si256(lo, bit(2 * g));
            hi = _mm256_or_si256(hi, bit(2 * g + 1));
        }
        let (s0, s1) = (sc[2 * g], sc[2 * g + 1]);
        let p = _mm256_add_epi32(
            scaled_dot::<false>(lo, a.add(64 * g), s0, s0),
            scaled_dot::<false>(hi, a.add(64 * g + 32), s1, s1),
        );
        acc = widen_add(acc, p);
    }
    hsum64(acc)
}

/// `S1` of one Q6_K super-block: per half `n`, 32-byte vectors of `ql` (`L0`,
/// `L1`) and `qh` (`H`) give the four runs of 32 elements (numerics.md, section
/// 14), each two 16-element sub-blocks. Byte lanes are shifted in 16-bit lanes;
/// the masks keep only bits that came from the same byte. Per run, an i32 lane sums
/// four products `|q sc a| <= 32 * 128 * 32767 < 2^27` before it is widened.
#[inline(always)]
unsafe fn q6k_s1(blk: *const u8, a: *const i16, sc: &[i16; 16]) -> i64 {
    let (m4, m30, off) = (
        _mm256_set1_epi8(15),
        _mm256_set1_epi8(0x30),
        _mm256_set1_epi8(32),
    );
    let mut acc = _mm256_setzero_si256();
    for n in 0..2 {
        let l0 = load32(blk.add(64 * n));
        let l1 = load32(blk.add(64 * n + 32));
        let h = load32(blk.add(128 + 32 * n));
        let runs = [
            _mm256_or_si256(
                _mm256_and_si256(l0, m4),
                _mm256_and_si256(_mm256_slli_epi16(h, 4), m30),
            ),
            _mm256_or_si256(
                _mm256_and_si256(l1, m4),
                _mm256_and_si256(_mm256_slli_epi16(h, 2), m30),
            ),
            _mm256_or_si256(
                _mm256_and_si256(_mm256_srli_epi16(l0, 4), m4),
                _mm256_and_si256(h, m30),
            ),
            _mm256_or_si256(
                _mm256_and_si256(_mm256_srli_epi16(l1, 4), m4),
                _mm256_and_si256(_mm256_srli_epi16(h, 2), m30),
            ),
        ];
        for (k, run) in runs.into_iter().enumerate() {
            let q = _mm256_sub_epi8(run, off);
            let s = 8 * n + 2 * k;
            let p = scaled_dot::<true>(q, a.add(128 * n + 32 * k), sc[s], sc[s + 1]);
            acc = widen_add(acc, p);
        }
    }
    hsum64(acc)
}

#[target_feature(enable = "avx2")]
unsafe fn run<const F: u8>(
    format: WeightFormat,
    rows: &[u8],
    rb: usize,
    n_rows: usize,
    act: &Act,
    emit: &mut impl FnMut(usize, i64),
) {
    for r in 0..n_rows {
        let w = &rows[r * rb..(r + 1) * rb];
        // SAFETY (each kernel): `row_acc` passes one whole block and its `len`
        // activations; every load stays inside them.
        let acc = row_acc(format, w, act, |blk, a, sc| {
            let (blk, a) = (blk.as_ptr(), a.as_ptr());
            match F {
                Q4_K => k45_s1::<false>(blk, a, sc),
                Q5_K => k45_s1::<true>(blk, a, sc),
                _ => q6k_s1(blk, a, sc),
            }
        });
        emit(r, acc);
    }
}

/// Accumulators of rows `0..n_rows` (`rb` bytes each) of `rows`, an exact-2
/// `format`; the caller has checked that AVX2 is present and that `rows` holds
/// `n_rows` rows.
pub unsafe fn rows_acc(
    format: WeightFormat,
    rows: &[u8],
    rb: usize,
    n_rows: usize,
    act: &Act,
    emit: &mut impl FnMut(usize, i64),
) {
    match format {
        WeightFormat::Q4K => run::<Q4_K>(format, rows, rb, n_rows, act, emit),
        WeightFormat::Q5K => run::<Q5_K>(format, rows, rb, n_rows, act, emit),
        WeightFormat::Q6K => run::<Q6_K>(format, rows, rb, n_rows, act, emit),
        WeightFormat::Q4_1
        | WeightFormat::Q8_0
        | WeightFormat::Q4_0
        | WeightFormat::Q5_0
        | WeightFormat::Q5_1 => {
            unreachable!("32-element blocks take the one-shift kernels of avx2.rs")
        }
    }
}
