//! The AVX2 twins of [`super::softmax::scores`] and [`super::softmax::exps`]:
//! [`super::softmax::score_of`] and [`super::softmax::exp_of`] four positions at a
//! time in i64 lanes.
//!
//! Scores: the shift by `s = -(e + 16)` is a left shift by `max(-s, 0)` then a
//! rounded arithmetic right shift by `max(s, 0)`; AVX2 has no arithmetic 64-bit
//! shift, so `x >> r` is `((x >>> r) ^ m) - m` with `m = 2^63 >>> r`; the wrapping
//! 64 × 64 product is `lo·lo + ((hi·lo + lo·hi) << 32)` of 32-bit halves. Four
//! positions with any lane off the branch-free range go to the scalar definition.
//!
//! Exponentials: the clamp and the selections are compares and blends;
//! `neg · log2 e` (`neg <= 2^32`) is the 32 × 32 → 64 product of its low word plus
//! `log2 e · 2^32` when its bit 32 is set; the table's two entries are gathered;
//! every shift is of a non-negative value, so logical shifts equal the
//! definition's arithmetic ones.

use super::softmax::Weights;
use crate::exact::math::LOG2E_Q30;
use std::arch::x86_64::*;

/// `x >> r` (arithmetic) for shifts `r` in `0..=63` per lane.
#[inline(always)]
unsafe fn sra_var(x: __m256i, r: __m256i) -> __m256i {
    let m = _mm256_srlv_epi64(_mm256_set1_epi64x(i64::MIN), r);
    _mm256_sub_epi64(_mm256_xor_si256(_mm256_srlv_epi64(x, r), m), m)
}

/// The low 64 bits of `a · b` per lane.
#[inline(always)]
unsafe fn mul_lo(a: __m256i, b: __m256i) -> __m256i {
    let cross = _mm256_add_epi64(
        _mm256_mul_epu32(_mm256_srli_epi64::<32>(a), b),
        _mm256_mul_epu32(a, _mm256_srli_epi64::<32>(b)),
    );
    _mm256_add_epi64(_mm256_mul_epu32(a, b), _mm256_slli_epi64::<32>(cross))
}

/// See [`super::softmax::scores`]. The caller has checked that AVX2 is present and
/// that `k_exp` has one exponent per position.
#[target_feature(enable = "avx2")]
pub unsafe fn scores(p: &mut [i64], k_exp: &[i32], q_exp: i32, scale_q30: i64) -> i64 {
    let n = p.len();
    let set = _mm256_set1_epi64x;
    let zero = _mm256_setzero_si256();
    // s = -(q_exp + k_exp + 16) = base - k_exp
    let base = set(-(q_exp as i64 + 16));
    let (scale, one) = (set(scale_q30), set(1));
    let (lo_s, hi_s) = (set(-64), set(63));
    let (lo_d, hi_d) = (set(-(1 << 62)), set(1 << 62));
    let mut maxv = set(i64::MIN);
    let mut i = 0;
    while i + 4 <= n {
        let ptr = p.as_mut_ptr().add(i) as *mut __m256i;
        let dot = _mm256_loadu_si256(ptr);
        let ke = _mm256_cvtepi32_epi64(_mm_loadu_si128(k_exp.as_ptr().add(i) as *const __m128i));
        let s = _mm256_sub_epi64(base, ke);
        // In range: -63 <= s <= 62 and |dot| < 2^62.
        let ok = _mm256_and_si256(
            _mm256_and_si256(_mm256_cmpgt_epi64(s, lo_s), _mm256_cmpgt_epi64(hi_s, s)),
            _mm256_and_si256(_mm256_cmpgt_epi64(dot, lo_d), _mm256_cmpgt_epi64(hi_d, dot)),
        );
        let score = if _mm256_movemask_epi8(ok) == -1 {
            let neg = _mm256_cmpgt_epi64(zero, s);
            let l = _mm256_and_si256(neg, _mm256_sub_epi64(zero, s));
            let r = _mm256_andnot_si256(neg, s);
            let half = _mm256_srli_epi64::<1>(_mm256_sllv_epi64(one, r));
            let s16 = sra_var(_mm256_add_epi64(_mm256_sllv_epi64(dot, l), half), r);
            // round_shift(s16 · scale, 30) = (x >> 30) + ((x >> 29) & 1)
            let x = mul_lo(s16, scale);
            let thirty = _mm256_set_epi64x(30, 30, 30, 30);
            _mm256_add_epi64(
                sra_var(x, thirty),
                _mm256_and_si256(_mm256_srli_epi64::<29>(x), one),
            )
        } else {
            let mut lanes = [0i64; 4];
            for (j, v) in lanes.iter_mut().enumerate() {
                *v = super::softmax::score_of(p[i + j], q_exp + k_exp[i + j], scale_q30);
            }
            _mm256_loadu_si256(lanes.as_ptr() as *const __m256i)
        };
        _mm256_storeu_si256(ptr, score);
        maxv = _mm256_blendv_epi8(maxv, score, _mm256_cmpgt_epi64(score, maxv));
        i += 4;
    }
    let mut lanes = [0i64; 4];
    _mm256_storeu_si256(lanes.as_mut_ptr() as *mut __m256i, maxv);
    let mut max = lanes.into_iter().max().unwrap_or(i64::MIN);
    for (d, &e) in p[i..].iter_mut().zip(&k_exp[i..]) {
        *d = super::softmax::score_of(*d, q_exp + e, scale_q30);
        max = max.max(*d);
    }
    max
}

/// See [`super::softmax::exps`]. The caller has checked that AVX2 is present.
#[target_feature(enable = "avx2")]
pub unsafe fn exps(p: &mut [i64], max: i64, t: &[u32; 257]) -> u64 {
    let n = p.len();
    let set = _mm256_set1_epi64x;
    let (zero, maxv, lim, log2e) = (
        _mm256_setzero_si256(),
        set(max),
        set(1 << 32),
        set(LOG2E_Q30),
    );
    let mut sum = zero;
    let mut i = 0;
    while i + 4 <= n {
        let ptr = p.as_mut_ptr().add(i) as *mut __m256i;
        let d = _mm256_sub_epi64(_mm256_loadu_si256(ptr), maxv);
        // neg = clamp(-d, 0, 2^32)
        let neg = _mm256_sub_epi64(zero, d);
        let neg = _mm256_blendv_epi8(neg, zero, _mm256_cmpgt_epi64(zero, neg));
        let neg = _mm256_blendv_epi8(neg, lim, _mm256_cmpgt_epi64(neg, lim));
        // y = round_shift(neg · log2 e, 22), the product below 2^63
        let high = _mm256_slli_epi64::<32>(_mm256_mul_epu32(_mm256_srli_epi64::<32>(neg), log2e));
        let prod = _mm256_add_epi64(_mm256_mul_epu32(neg, log2e), high);
        let y = _mm256_srli_epi64::<22>(_mm256_add_epi64(prod, set(1 << 21)));
        let nexp = _mm256_srli_epi64::<24>(y);
        let j = _mm256_and_si256(_mm256_srli_epi64::<16>(y), set(0xff));
        let r = _mm256_and_si256(y, set(0xffff));
        // a = t[j], b = t[j + 1]; v = a - round_shift((a - b) r, 16), a >= b
        let base = t.as_ptr() as *const i32;
        let a = _mm256_cvtepu32_epi64(_mm256_i64gather_epi32::<4>(base, j));
        let b = _mm256_cvtepu32_epi64(_mm256_i64gather_epi32::<4>(base.add(1), j));
        let m = _mm256_mul_epu32(_mm256_sub_epi64(a, b), r);
        let v = _mm256_sub_epi64(
            a,
            _mm256_srli_epi64::<16>(_mm256_add_epi64(m, set(1 << 15))),
        );
        // e = round_shift(v, min(n, 31))
        let k = _mm256_blendv_epi8(nexp, set(31), _mm256_cmpgt_epi64(nexp, set(31)));
        let half = _mm256_srli_epi64::<1>(_mm256_sllv_epi64(set(1), k));
        let e = _mm256_srlv_epi64(_mm256_add_epi64(v, half), k);
        // n >= 31: 0; d >= 0: 2^30
        let e = _mm256_andnot_si256(_mm256_cmpgt_epi64(nexp, set(30)), e);
        let e = _mm256_blendv_epi8(e, set(1 << 30), _mm256_cmpgt_epi64(d, set(-1)));
        _mm256_storeu_si256(ptr, e);
        sum = _mm256_add_epi64(sum, e);
        i += 4;
    }
    let mut lanes = [0u64; 4];
    _mm256_storeu_si256(lanes.as_mut_ptr() as *mut __m256i, sum);
    let mut total: u64 = lanes.iter().sum();
    for d in &mut p[i..] {
        *d = super::softmax::exp_of(t, d.wrapping_sub(max));
        total += *d as u64;
    }
    total
}

/// See [`super::softmax::weights`]: `q = (p m) >> 32`, then `q + 1` where
/// `(q + 1) S <= p 2^30` ([`Weights`] `div` of the sum `S`). The caller has
/// checked that AVX2 is present, that `w` has one weight per numerator, that
/// `2^30 <= S < 2^62` (so `(q + 1) S <= p 2^30 + S < 2^63` compares as signed) and
/// that `m < 2^32`.
#[target_feature(enable = "avx2")]
pub unsafe fn weights(p: &[i64], div: &Weights, w: &mut [u32]) {
    let n = p.len();
    let (sv, mv) = (
        _mm256_set1_epi64x(div.sum as i64),
        _mm256_set1_epi64x(div.m as i64),
    );
    let (one, top) = (_mm256_set1_epi64x(1), _mm256_set1_epi64x(1 << 30));
    let evens = _mm256_setr_epi32(0, 2, 4, 6, 0, 0, 0, 0);
    let mut i = 0;
    while i + 4 <= n {
        let pv = _mm256_loadu_si256(p.as_ptr().add(i) as *const __m256i);
        // Numerators outside 0..=2^30 take the division.
        let off = _mm256_or_si256(
            _mm256_cmpgt_epi64(pv, top),
            _mm256_cmpgt_epi64(_mm256_setzero_si256(), pv),
        );
        if _mm256_movemask_epi8(off) != 0 {
            for j in i..i + 4 {
                w[j] = div.of(p[j] as u64) as u32;
            }
            i += 4;
            continue;
        }
        let q = _mm256_srli_epi64::<32>(_mm256_mul_epu32(pv, mv));
        let q1 = _mm256_add_epi64(q, one);
        let lhs = mul_lo(q1, sv);
        // (q + 1) S <= p 2^30, i.e. p 2^30 > (q + 1) S - 1
        let up = _mm256_cmpgt_epi64(_mm256_slli_epi64::<30>(pv), _mm256_sub_epi64(lhs, one));
        let q = _mm256_sub_epi64(q, up);
        let packed = _mm256_permutevar8x32_epi32(q, evens);
        _mm_storeu_si128(
            w.as_mut_ptr().add(i) as *mut __m128i,
            _mm256_castsi256_si128(packed),
        );
        i += 4;
    }
    for j in i..n {
        w[j] = div.of(p[j] as u64) as u32;
    }
}
