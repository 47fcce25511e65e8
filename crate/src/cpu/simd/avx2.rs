//! The AVX2 twins (x86_64, chosen at run time when the CPU has AVX2): the row
//! accumulator of the 32-element block formats ([`quant::row_dot_acc`], and
//! exact-2's legacy blocks of [`blocks::row_dot_acc`]) one row and four blocks per
//! step (module docs of [`super`]), and the attention dot product [`dot_i16`].

use super::shift::block_count;
use crate::exact::act::Act;
use crate::exact::blocks;
use crate::exact::quant::{self, WeightFormat};
use std::arch::x86_64::*;

/// The block layouts the one-shift kernels take (module docs of [`super`], "Legacy
/// blocks"): exact-1's Q4_1 and Q8_0 and exact-2's Q4_0, Q5_0 and Q5_1, whose terms
/// have the same form (a scale `d` times `S1`, and for Q4_1/Q5_1 a minimum `m`
/// times the block's activation sum).
pub(super) const Q4_1: u8 = 0;
pub(super) const Q8_0: u8 = 1;
pub(super) const Q4_0: u8 = 2;
pub(super) const Q5_0: u8 = 3;
pub(super) const Q5_1: u8 = 4;

/// The layout constant of `format`, if the one-shift kernels take it.
pub(super) fn layout(format: WeightFormat) -> Option<u8> {
    match format {
        WeightFormat::Q4_1 => Some(Q4_1),
        WeightFormat::Q8_0 => Some(Q8_0),
        WeightFormat::Q4_0 => Some(Q4_0),
        WeightFormat::Q5_0 => Some(Q5_0),
        WeightFormat::Q5_1 => Some(Q5_1),
        _ => None,
    }
}

/// The format of layout `L`.
pub(super) const fn format_of(l: u8) -> WeightFormat {
    match l {
        Q4_1 => WeightFormat::Q4_1,
        Q8_0 => WeightFormat::Q8_0,
        Q4_0 => WeightFormat::Q4_0,
        Q5_0 => WeightFormat::Q5_0,
        _ => WeightFormat::Q5_1,
    }
}

/// Whether layout `L` has a minimum (two f16 scales `d`, `m` at the block's start).
pub(super) const fn has_min(l: u8) -> bool {
    l == Q4_1 || l == Q5_1
}

/// 16 i16 lanes, lane `j` = 16 if bit `j` of `bits` is set, else 0.
#[inline(always)]
unsafe fn fifth_bits(bits: u32) -> __m256i {
    let m = _mm256_setr_epi16(
        1,
        2,
        4,
        8,
        16,
        32,
        64,
        128,
        256,
        512,
        1024,
        2048,
        4096,
        8192,
        16384,
        i16::MIN,
    );
    let v = _mm256_and_si256(_mm256_set1_epi16(bits as u16 as i16), m);
    _mm256_and_si256(_mm256_cmpeq_epi16(v, m), _mm256_set1_epi16(16))
}

/// The block's 32 weights as 16-bit lanes (elements 0..16, 16..32): nibbles or
/// bytes, plus the fifth bit (Q5_0, Q5_1), minus the offset (Q4_0: 8, Q5_0: 16);
/// `|q| <= 127`. Layouts: docs/numerics.md, sections 3 and 14.
#[inline(always)]
pub(super) unsafe fn weights<const L: u8>(blk: *const u8) -> (__m256i, __m256i) {
    let sub = |(lo, hi): (__m256i, __m256i), off: i16| {
        let o = _mm256_set1_epi16(off);
        (_mm256_sub_epi16(lo, o), _mm256_sub_epi16(hi, o))
    };
    let fifth = |(lo, hi): (__m256i, __m256i), qh: *const u8| {
        let h = rd32(qh) as u32;
        (
            _mm256_or_si256(lo, fifth_bits(h & 0xffff)),
            _mm256_or_si256(hi, fifth_bits(h >> 16)),
        )
    };
    match L {
        Q4_1 => q4_weights(blk.add(4)),
        Q8_0 => q8_weights(blk.add(2)),
        Q4_0 => sub(q4_weights(blk.add(2)), 8),
        Q5_0 => sub(fifth(q4_weights(blk.add(6)), blk.add(2)), 16),
        _ => fifth(q4_weights(blk.add(8)), blk.add(4)),
    }
}

/// The exact integer sum (Q32 accumulator) of one row as the spec defines it:
/// exact-1's [`quant::row_dot_acc`] or exact-2's [`blocks::row_dot_acc`].
pub(super) fn definition(format: WeightFormat, row: &[u8], act: &Act) -> i64 {
    if super::exact2::covers(format) {
        blocks::row_dot_acc(format, row, act)
    } else {
        quant::row_dot_acc(format, row, act)
    }
}

/// Blocks of a row of `rb` bytes the kernels read: [`block_count`] for exact-1;
/// exact-2's definition reads every block of the row and slices the activation
/// (a short one panics there, and here).
pub(super) fn blocks_of(l: u8, rb: usize, act: &Act) -> usize {
    let format = format_of(l);
    let n = block_count(format, rb, act);
    if super::exact2::covers(format) {
        let whole = rb / format.block_bytes();
        assert!(
            n == whole && act.block_sums.len() >= n,
            "activation shorter than the weight row"
        );
    }
    n
}

/// Largest f16 exponent field decoded on this path: `|F| <= 2047 << 20 < 2^31`.
pub(super) const MAX_EF: i32 = 21;

#[inline(always)]
pub(super) unsafe fn load_a(a: *const i16, i: usize) -> __m256i {
    _mm256_loadu_si256(a.add(i) as *const __m256i)
}

/// The 32 weights of one Q4_1 block (16 nibble bytes at `qs`) as 16-bit lanes:
/// elements 0..16 and 16..32.
#[inline(always)]
pub(super) unsafe fn q4_weights(qs: *const u8) -> (__m256i, __m256i) {
    let q = _mm_loadu_si128(qs as *const __m128i);
    let m = _mm_set1_epi8(15);
    (
        _mm256_cvtepu8_epi16(_mm_and_si128(q, m)),
        _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(q, 4), m)),
    )
}

/// The 32 weights of one Q8_0 block (32 i8 at `qs`) as 16-bit lanes.
#[inline(always)]
pub(super) unsafe fn q8_weights(qs: *const u8) -> (__m256i, __m256i) {
    (
        _mm256_cvtepi8_epi16(_mm_loadu_si128(qs as *const __m128i)),
        _mm256_cvtepi8_epi16(_mm_loadu_si128(qs.add(16) as *const __m128i)),
    )
}

/// Eight i32 lanes summing to a block's S1: its weights `w` (as
/// [`q4_weights`]/[`q8_weights`] give them) against the 32 activations at `a`.
#[inline(always)]
pub(super) unsafe fn partial(w: (__m256i, __m256i), a: *const i16) -> __m256i {
    _mm256_add_epi32(
        _mm256_madd_epi16(w.0, load_a(a, 0)),
        _mm256_madd_epi16(w.1, load_a(a, 16)),
    )
}

/// `[sum(p0), sum(p1), sum(p2), sum(p3)]`, each the sum of a vector's eight lanes.
#[inline(always)]
pub(super) unsafe fn reduce4(p: [__m256i; 4]) -> __m128i {
    // hadd(hadd(p0, p1), hadd(p2, p3)) holds, per 128-bit half, the four sums of
    // that half of p0..p3; adding the halves gives the four totals.
    let h = _mm256_hadd_epi32(_mm256_hadd_epi32(p[0], p[1]), _mm256_hadd_epi32(p[2], p[3]));
    _mm_add_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256(h, 1))
}

/// `F = dm << k` (signed) of the f16 in the low 16 bits of each i32 lane (the high
/// 16 bits are zero). Exponent field 0 (subnormal): `dm = frac`, `k = 0`; else
/// `dm = 1024 + frac`, `k = field - 1`. Fields above [`MAX_EF`] give wrong lanes;
/// `worst` keeps the largest field seen so the caller can reject the row.
#[inline(always)]
pub(super) unsafe fn decode(h: __m256i, worst: &mut __m256i) -> __m256i {
    let ef = _mm256_and_si256(_mm256_srli_epi32(h, 10), _mm256_set1_epi32(31));
    *worst = _mm256_max_epi32(*worst, ef);
    let normal = _mm256_cmpgt_epi32(ef, _mm256_setzero_si256()); // -1 where field > 0
    let mant = _mm256_or_si256(
        _mm256_and_si256(h, _mm256_set1_epi32(0x3ff)),
        _mm256_and_si256(normal, _mm256_set1_epi32(0x400)),
    );
    let k = _mm256_add_epi32(ef, normal);
    let f = _mm256_sllv_epi32(mant, k);
    let sign = _mm256_srai_epi32(_mm256_slli_epi32(h, 16), 31);
    _mm256_sub_epi32(_mm256_xor_si256(f, sign), sign)
}

#[inline(always)]
pub(super) unsafe fn rd32(p: *const u8) -> i32 {
    (p as *const u32).read_unaligned() as i32
}

#[inline(always)]
pub(super) unsafe fn rd16(p: *const u8) -> i32 {
    (p as *const u16).read_unaligned() as i32
}

/// The scale bits of blocks `0..4` of layout `L` at `blk` (with a minimum: `d` in
/// the low and `m` in the high 16 bits of each i32; else `d`), 0 for blocks from
/// `N` on.
#[inline(always)]
pub(super) unsafe fn scale_bits<const N: usize, const L: u8>(blk: *const u8) -> __m128i {
    let bb = format_of(L).block_bytes();
    let bits = |i: usize| match (i < N, has_min(L)) {
        (false, _) => 0,
        (true, true) => rd32(blk.add(i * bb)),
        (true, false) => rd16(blk.add(i * bb)),
    };
    _mm_setr_epi32(bits(0), bits(1), bits(2), bits(3))
}

/// The activation's sums of blocks `0..4` at `bs`, 0 from `N` on.
#[inline(always)]
pub(super) unsafe fn block_sums<const N: usize>(bs: *const i32) -> __m128i {
    if N == 4 {
        _mm_loadu_si128(bs as *const __m128i)
    } else {
        let s0 = |i: usize| if i < N { *bs.add(i) } else { 0 };
        _mm_setr_epi32(s0(0), s0(1), s0(2), s0(3))
    }
}

/// The eight exact products `F*S` of four blocks with a minimum, as two vectors of
/// i64 lanes: `f` holds `[d0, m0, d1, m1, ...]` (decoded), against `[S1_0, S0_0,
/// S1_1, S0_1, ...]`. `mul_epi32` multiplies the low (even) i32 of each i64 lane,
/// sign-extended.
#[inline(always)]
pub(super) unsafe fn min_products(f: __m256i, s1: __m128i, s0: __m128i) -> [__m256i; 2] {
    let s = _mm256_set_m128i(_mm_unpackhi_epi32(s1, s0), _mm_unpacklo_epi32(s1, s0));
    [
        _mm256_mul_epi32(f, s),
        _mm256_mul_epi32(_mm256_srli_epi64(f, 32), _mm256_srli_epi64(s, 32)),
    ]
}

/// `sum a_i * b_i` over the common length (see [`super::dot_i16`]); the caller has
/// checked that AVX2 is present.
#[target_feature(enable = "avx2")]
pub unsafe fn dot_i16(a: &[i16], b: &[i16]) -> i64 {
    let n = a.len().min(b.len());
    let mut acc = _mm256_setzero_si256();
    let mut i = 0;
    while i + 16 <= n {
        // SAFETY: i + 16 <= n for both slices.
        let va = _mm256_loadu_si256(a.as_ptr().add(i) as *const __m256i);
        let vb = _mm256_loadu_si256(b.as_ptr().add(i) as *const __m256i);
        let p = _mm256_madd_epi16(va, vb);
        acc = _mm256_add_epi64(acc, _mm256_cvtepi32_epi64(_mm256_castsi256_si128(p)));
        acc = _mm256_add_epi64(acc, _mm256_cvtepi32_epi64(_mm256_extracti128_si256(p, 1)));
        i += 16;
    }
    let mut lanes = [0i64; 4];
    _mm256_storeu_si256(lanes.as_mut_ptr() as *mut __m256i, acc);
    let mut s = lanes.iter().fold(0i64, |x, &y| x.wrapping_add(y));
    for j in i..n {
        s = s.wrapping_add(a[j] as i64 * b[j] as i64);
    }
    s
}
