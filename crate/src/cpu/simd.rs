//! SIMD twins of the exact row accumulator [`quant::row_dot_acc`]: AVX2 on x86_64
//! (chosen at run time), simd128 on wasm32, the scalar definition elsewhere. Every
//! twin returns the scalar bits for every input; `tests` compare them.
//!
//! # One shift per row
//!
//! The spec (docs/numerics.md, section 3) rounds each term on its own:
//! `T = round_shift(dm * S, s)` with `s = -(de + e + 32)`, where `dm * 2^de` is the
//! block's f16 scale, `e` the activation exponent and `S` the block's exact integer
//! sum (`S1` or `S0`). The shift depends on the block, which makes a scalar chain of
//! a variable, two-way (left or right) shift per term. The twins rewrite it:
//!
//! * `k = de + 24` is in `0..=29` for every finite f16, so `F = dm * 2^k` (the scale
//!   times `2^24`) is an exact integer, and `s = U - k` with `U = -(e + 8)`, which
//!   depends on the activation only: one shift for the whole row.
//! * For `1 <= U <= 62`: if `s > 0`, `round_shift(dm*S, s) = floor((dm*S + 2^(s-1)) /
//!   2^s)`; multiplying numerator and denominator by `2^k` gives
//!   `floor((F*S + 2^(U-1)) / 2^U) = round_shift(F*S, U)`. If `s <= 0` the spec's
//!   value is `dm*S*2^-s` and `F*S = dm*S*2^-s * 2^U` is an exact multiple of
//!   `2^U`, so `round_shift(F*S, U)` is again that value. Either way
//!   `T = round_shift(F*S, U)`, exactly, as long as `F*S` itself is exact.
//! * For `-63 <= U <= 0` every `s = U - k <= 0`: the spec's value is
//!   `dm*S << -s` modulo `2^64` (0 for `-s >= 64`), and `F*S << -U` is
//!   `dm*S * 2^(k-U)` modulo `2^64`, the same number.
//! * Other `U` (activation exponents outside `-70..=55`) take the scalar code.
//!
//! The fast paths decode `F` only where `|F| < 2^31` (the twins differ in how far they
//! go; exponent field at most 21 on AVX2, 4..=18 on wasm). Then `F*S` is one signed
//! 32×32→64 multiply, and `|S| < 2^27` (section 9 bounds; `Act` keeps `|a| <=
//! 32767`) gives `|F*S| < 2^58`: exact. A row with any scale outside that range
//! is computed again by the scalar code, so the twins never guess.
//!
//! Right shifts are done logically on a biased value: for `|x| < 2^62` and
//! `1 <= U <= 62`, `x + 2^(U-1) + 2^62` lies in `(0, 2^63)`, so its logical shift by
//! `U` is `round_shift(x, U) + 2^(62-U)` (2^62 is a multiple of 2^U). Each lane
//! accumulates biased terms (wrapping); the bias times the number of terms is taken
//! off at the end, which gives the same wrapping sum as the spec's. (AVX2 has no
//! 64-bit arithmetic shift, and wasm's `i64x2.shr_s` is emulated on x86 hosts.)
//! Sums are wrapping, so the order of the terms cannot change the result.
//!
//! Each loop step handles four blocks: four independent dot products, one horizontal
//! reduction for all four, and vector scale arithmetic, instead of a serial
//! hsum → multiply → shift → add chain per block.

use crate::exact::act::{Act, BLOCK};
use crate::exact::fixed::{round_shift, sat_i32};
use crate::exact::quant::{self, WeightFormat, ACC_FRAC, OUT_FRAC};

/// How the terms of a row are brought to Q32, from the activation exponent alone
/// (module docs): `Right(U)` for `1 <= U <= 62`, `Left(-U)` for `-63 <= U <= 0`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(
    not(any(target_arch = "x86_64", target_arch = "wasm32")),
    allow(dead_code)
)]
enum Shift {
    Right(u32),
    Left(u32),
}

#[cfg_attr(
    not(any(target_arch = "x86_64", target_arch = "wasm32")),
    allow(dead_code)
)]
impl Shift {
    fn of(act_exp: i32) -> Option<Shift> {
        let u = -(act_exp as i64 + 8);
        match u {
            1..=62 => Some(Shift::Right(u as u32)),
            -63..=0 => Some(Shift::Left((-u) as u32)),
            _ => None,
        }
    }

    /// The per-lane addend of the right shift: `2^(U-1) + 2^62` (0 for left shifts).
    fn addend(self) -> i64 {
        match self {
            Shift::Right(u) => (1i64 << 62) + (1i64 << (u - 1)),
            Shift::Left(_) => 0,
        }
    }

    /// What each accumulated lane carries besides its term: `2^(62-U)` (0 for left shifts).
    fn bias(self) -> i64 {
        match self {
            Shift::Right(u) => 1i64 << (62 - u),
            Shift::Left(_) => 0,
        }
    }

    fn count(self) -> u32 {
        match self {
            Shift::Right(u) | Shift::Left(u) => u,
        }
    }
}

/// Blocks the reference reads: it zips the row's blocks with the activation's.
#[cfg_attr(
    not(any(target_arch = "x86_64", target_arch = "wasm32")),
    allow(dead_code)
)]
fn block_count(format: WeightFormat, row: &[u8], act: &Act) -> usize {
    let n = (row.len() / format.block_bytes()).min(act.q.len() / BLOCK);
    if format == WeightFormat::Q4_1 {
        // The reference indexes block_sums[b] for every block (and panics if short).
        assert!(act.block_sums.len() >= n, "activation block sums too short");
    }
    n
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::{block_count, quant, Act, Shift, WeightFormat, BLOCK};
    use std::arch::x86_64::*;

    /// Largest f16 exponent field decoded on this path: `|F| <= 2047 << 20 < 2^31`.
    const MAX_EF: i32 = 21;

    #[inline(always)]
    unsafe fn load_a(a: *const i16, i: usize) -> __m256i {
        _mm256_loadu_si256(a.add(i) as *const __m256i)
    }

    /// Eight i32 lanes summing to S1 of one Q4_1 block (16 nibble bytes at `qs`:
    /// element j < 16 is the low nibble of byte j, element j + 16 its high nibble).
    /// Each lane is a sum of exact products below 2^24: no lane can wrap.
    #[inline(always)]
    unsafe fn q4_partial(qs: *const u8, a: *const i16) -> __m256i {
        let q = _mm_loadu_si128(qs as *const __m128i);
        let m = _mm_set1_epi8(15);
        let lo = _mm256_cvtepu8_epi16(_mm_and_si128(q, m));
        let hi = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(q, 4), m));
        _mm256_add_epi32(
            _mm256_madd_epi16(lo, load_a(a, 0)),
            _mm256_madd_epi16(hi, load_a(a, 16)),
        )
    }

    /// Eight i32 lanes summing to S1 of one Q8_0 block (32 i8 at `qs`).
    #[inline(always)]
    unsafe fn q8_partial(qs: *const u8, a: *const i16) -> __m256i {
        let q0 = _mm256_cvtepi8_epi16(_mm_loadu_si128(qs as *const __m128i));
        let q1 = _mm256_cvtepi8_epi16(_mm_loadu_si128(qs.add(16) as *const __m128i));
        _mm256_add_epi32(
            _mm256_madd_epi16(q0, load_a(a, 0)),
            _mm256_madd_epi16(q1, load_a(a, 16)),
        )
    }

    /// `[sum(p0), sum(p1), sum(p2), sum(p3)]`, each the sum of a vector's eight lanes.
    #[inline(always)]
    unsafe fn reduce4(p: [__m256i; 4]) -> __m128i {
        // hadd(hadd(p0, p1), hadd(p2, p3)) holds, per 128-bit half, the four sums of
        // that half of p0..p3; adding the halves gives the four totals.
        let h = _mm256_hadd_epi32(
            _mm256_hadd_epi32(p[0], p[1]),
            _mm256_hadd_epi32(p[2], p[3]),
        );
        _mm_add_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256(h, 1))
    }

    /// `F = dm << k` (signed) of the f16 in the low 16 bits of each i32 lane (the high
    /// 16 bits are zero). Exponent field 0 (subnormal): `dm = frac`, `k = 0`; else
    /// `dm = 1024 + frac`, `k = field - 1`. Fields above [`MAX_EF`] give wrong lanes;
    /// `worst` keeps the largest field seen so the caller can reject the row.
    #[inline(always)]
    unsafe fn decode(h: __m256i, worst: &mut __m256i) -> __m256i {
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
    unsafe fn rd32(p: *const u8) -> i32 {
        (p as *const u32).read_unaligned() as i32
    }

    #[inline(always)]
    unsafe fn rd16(p: *const u8) -> i32 {
        (p as *const u16).read_unaligned() as i32
    }

    /// The row state: four i64 lanes of biased terms, the largest exponent field seen,
    /// the lane count, and the row's shift.
    struct Row {
        acc: __m256i,
        worst: __m256i,
        lanes: u64,
        addend: __m256i,
        count: __m128i,
    }

    impl Row {
        /// Adds the four terms whose exact products `F*S` are the i64 lanes of `p`.
        #[inline(always)]
        unsafe fn add<const LEFT: bool>(&mut self, p: __m256i) {
            let t = if LEFT {
                _mm256_sll_epi64(p, self.count)
            } else {
                _mm256_srl_epi64(_mm256_add_epi64(p, self.addend), self.count)
            };
            self.acc = _mm256_add_epi64(self.acc, t);
            self.lanes += 4;
        }
    }

    /// Blocks `0..N` (N <= 4) at `blk` (stride 20 for Q4_1, 34 for Q8_0), activations
    /// at `a`, block sums at `bs`. Missing blocks are zero: scale 0 gives `F = 0`, so
    /// their lanes hold exactly the bias.
    #[inline(always)]
    unsafe fn group<const N: usize, const Q4: bool, const LEFT: bool>(
        row: &mut Row,
        blk: *const u8,
        a: *const i16,
        bs: *const i32,
    ) {
        let bb = if Q4 { 20 } else { 34 };
        let mut h = [0i32; 4];
        let mut p = [_mm256_setzero_si256(); 4];
        for i in 0..N {
            let b = blk.add(i * bb);
            h[i] = if Q4 { rd32(b) } else { rd16(b) };
            p[i] = if Q4 {
                q4_partial(b.add(4), a.add(i * BLOCK))
            } else {
                q8_partial(b.add(2), a.add(i * BLOCK))
            };
        }
        let h = _mm_setr_epi32(h[0], h[1], h[2], h[3]);
        let s1 = reduce4(p);
        if Q4 {
            // Lanes [d0, m0, d1, m1, d2, m2, d3, m3] against [S1_0, S0_0, S1_1, S0_1, ...].
            let f = decode(_mm256_cvtepu16_epi32(h), &mut row.worst);
            let mut s0 = [0i32; 4];
            for (i, v) in s0.iter_mut().enumerate().take(N) {
                *v = *bs.add(i);
            }
            let s0 = _mm_setr_epi32(s0[0], s0[1], s0[2], s0[3]);
            let s = _mm256_set_m128i(_mm_unpackhi_epi32(s1, s0), _mm_unpacklo_epi32(s1, s0));
            // mul_epi32 multiplies the low (even) i32 of each i64 lane, sign-extended.
            row.add::<LEFT>(_mm256_mul_epi32(f, s));
            row.add::<LEFT>(_mm256_mul_epi32(
                _mm256_srli_epi64(f, 32),
                _mm256_srli_epi64(s, 32),
            ));
        } else {
            // Lanes [d0, 0, d1, 0, ...]: the d's in the even i32 lanes, like the sums.
            let f = decode(_mm256_cvtepu32_epi64(h), &mut row.worst);
            row.add::<LEFT>(_mm256_mul_epi32(f, _mm256_cvtepu32_epi64(s1)));
        }
    }

    #[target_feature(enable = "avx2")]
    unsafe fn run<const Q4: bool, const LEFT: bool>(
        row: &[u8],
        act: &Act,
        n: usize,
        shift: Shift,
    ) -> Option<i64> {
        let bb = if Q4 { 20 } else { 34 };
        let mut st = Row {
            acc: _mm256_setzero_si256(),
            worst: _mm256_setzero_si256(),
            lanes: 0,
            addend: _mm256_set1_epi64x(shift.addend()),
            count: _mm_cvtsi32_si128(shift.count() as i32),
        };
        let (w, a, bs) = (row.as_ptr(), act.q.as_ptr(), act.block_sums.as_ptr());
        let mut b = 0;
        while b + 4 <= n {
            group::<4, Q4, LEFT>(&mut st, w.add(b * bb), a.add(b * BLOCK), bs.add(b));
            b += 4;
        }
        let (w, a, bs) = (w.add(b * bb), a.add(b * BLOCK), bs.add(b));
        match n - b {
            3 => group::<3, Q4, LEFT>(&mut st, w, a, bs),
            2 => group::<2, Q4, LEFT>(&mut st, w, a, bs),
            1 => group::<1, Q4, LEFT>(&mut st, w, a, bs),
            _ => {}
        }
        let bad = _mm256_cmpgt_epi32(st.worst, _mm256_set1_epi32(MAX_EF));
        if _mm256_movemask_epi8(bad) != 0 {
            return None;
        }
        let mut l = [0i64; 4];
        _mm256_storeu_si256(l.as_mut_ptr() as *mut __m256i, st.acc);
        let sum = l[0].wrapping_add(l[1]).wrapping_add(l[2]).wrapping_add(l[3]);
        Some(sum.wrapping_sub((st.lanes as i64).wrapping_mul(shift.bias())))
    }

    /// The row accumulator; the caller has checked that AVX2 is present.
    pub unsafe fn row_acc(format: WeightFormat, row: &[u8], act: &Act) -> i64 {
        let n = block_count(format, row, act);
        let got = match (Shift::of(act.exp), format) {
            (None, _) => None,
            (Some(s @ Shift::Right(_)), WeightFormat::Q4_1) => run::<true, false>(row, act, n, s),
            (Some(s @ Shift::Left(_)), WeightFormat::Q4_1) => run::<true, true>(row, act, n, s),
            (Some(s @ Shift::Right(_)), WeightFormat::Q8_0) => run::<false, false>(row, act, n, s),
            (Some(s @ Shift::Left(_)), WeightFormat::Q8_0) => run::<false, true>(row, act, n, s),
        };
        got.unwrap_or_else(|| quant::row_dot_acc(format, row, act))
    }
}

#[cfg(target_arch = "wasm32")]
mod wasm {
    use super::{block_count, quant, Act, Shift, WeightFormat, BLOCK};
    use std::arch::wasm32::*;

    /// Scale bits of missing blocks in a short group: 1.0 (exponent field 15, inside
    /// the fast range). Their sums are 0, so their lanes hold exactly the bias.
    const PAD: u16 = 0x3c00;
    /// Decoded exponent fields are `4..=18`, i.e. `field - 4` in `0..=14`.
    const MAX_E4: u16 = 14;

    #[inline(always)]
    unsafe fn load_a(a: *const i16, i: usize) -> v128 {
        v128_load(a.add(i) as *const v128)
    }

    /// Four i32 lanes summing to S1 of one Q4_1 block (16 nibble bytes at `qs`).
    /// Each lane is a sum of exact products below 2^24: no lane can wrap.
    #[inline(always)]
    unsafe fn q4_partial(qs: *const u8, a: *const i16) -> v128 {
        let q = v128_load(qs as *const v128);
        let m = u8x16_splat(15);
        let lo = v128_and(q, m);
        let hi = v128_and(u16x8_shr(q, 4), m);
        i32x4_add(
            i32x4_add(
                i32x4_dot_i16x8(u16x8_extend_low_u8x16(lo), load_a(a, 0)),
                i32x4_dot_i16x8(u16x8_extend_high_u8x16(lo), load_a(a, 8)),
            ),
            i32x4_add(
                i32x4_dot_i16x8(u16x8_extend_low_u8x16(hi), load_a(a, 16)),
                i32x4_dot_i16x8(u16x8_extend_high_u8x16(hi), load_a(a, 24)),
            ),
        )
    }

    /// Four i32 lanes summing to S1 of one Q8_0 block (32 i8 at `qs`).
    #[inline(always)]
    unsafe fn q8_partial(qs: *const u8, a: *const i16) -> v128 {
        let q0 = v128_load(qs as *const v128);
        let q1 = v128_load(qs.add(16) as *const v128);
        i32x4_add(
            i32x4_add(
                i32x4_dot_i16x8(i16x8_extend_low_i8x16(q0), load_a(a, 0)),
                i32x4_dot_i16x8(i16x8_extend_high_i8x16(q0), load_a(a, 8)),
            ),
            i32x4_add(
                i32x4_dot_i16x8(i16x8_extend_low_i8x16(q1), load_a(a, 16)),
                i32x4_dot_i16x8(i16x8_extend_high_i8x16(q1), load_a(a, 24)),
            ),
        )
    }

    /// `[sum(p0), .., sum(p(N-1)), 0, ..]`: lane sums of the first N vectors.
    #[inline(always)]
    fn reduce<const N: usize>(p: [v128; 4]) -> v128 {
        let z = i32x4_splat(0);
        // [a0+a2, b0+b2, a1+a3, b1+b3] for a = p0, b = p1 (b = 0 when N = 1).
        let t0 = i32x4_add(
            i32x4_shuffle::<0, 4, 1, 5>(p[0], p[1]),
            i32x4_shuffle::<2, 6, 3, 7>(p[0], p[1]),
        );
        if N <= 2 {
            return i32x4_add(
                i32x4_shuffle::<0, 1, 4, 5>(t0, z),
                i32x4_shuffle::<2, 3, 4, 5>(t0, z),
            );
        }
        let t1 = i32x4_add(
            i32x4_shuffle::<0, 4, 1, 5>(p[2], p[3]),
            i32x4_shuffle::<2, 6, 3, 7>(p[2], p[3]),
        );
        i32x4_add(
            i32x4_shuffle::<0, 1, 4, 5>(t0, t1),
            i32x4_shuffle::<2, 3, 6, 7>(t0, t1),
        )
    }

    /// `F = dm << k` (signed, i32) of eight f16 bit patterns, as two i32x4 (lanes 0..4,
    /// lanes 4..8). Exponent fields `4..=18` only: then `dm = 1024 + frac`,
    /// `k = field - 1` and `F = (dm << 3) * 2^(field - 4)`, an i16 × i16 product
    /// (`|dm << 3| < 2^14`, `2^(field-4) <= 2^14`). wasm has no per-lane shift, so the
    /// power of two comes from a byte table (swizzle). `worst` keeps the largest
    /// `field - 4` (unsigned: fields below 4 wrap to large values) to reject the row.
    #[inline(always)]
    fn decode(h: v128, worst: &mut v128) -> (v128, v128) {
        let e4 = i16x8_sub(
            v128_and(u16x8_shr(h, 10), i16x8_splat(31)),
            i16x8_splat(4),
        );
        *worst = u16x8_max(*worst, e4);
        // Low byte of 2^e4 is table[e4], high byte table[e4 - 8]; indices outside
        // 0..16 (negative ones wrap above 127) read 0.
        let table = u8x16(1, 2, 4, 8, 16, 32, 64, 128, 0, 0, 0, 0, 0, 0, 0, 0);
        let dup = u8x16(0, 0, 2, 2, 4, 4, 6, 6, 8, 8, 10, 10, 12, 12, 14, 14);
        let off = u8x16(0, 8, 0, 8, 0, 8, 0, 8, 0, 8, 0, 8, 0, 8, 0, 8);
        let pow = i8x16_swizzle(table, i8x16_sub(i8x16_swizzle(e4, dup), off));
        let mant = i16x8_shl(
            v128_or(v128_and(h, i16x8_splat(0x3ff)), i16x8_splat(0x400)),
            3,
        );
        let sign = i16x8_shr(h, 15);
        let m = i16x8_sub(v128_xor(mant, sign), sign);
        (i32x4_extmul_low_i16x8(m, pow), i32x4_extmul_high_i16x8(m, pow))
    }

    /// The row state: two i64 lanes of biased terms, the largest `field - 4`, the
    /// lane count and the row's shift.
    struct Row {
        acc: v128,
        worst: v128,
        lanes: u64,
        addend: v128,
        count: u32,
    }

    impl Row {
        /// Adds the two terms whose exact products `F*S` are the i64 lanes of `p`.
        #[inline(always)]
        fn add<const LEFT: bool>(&mut self, p: v128) {
            let t = if LEFT {
                i64x2_shl(p, self.count)
            } else {
                u64x2_shr(i64x2_add(p, self.addend), self.count)
            };
            self.acc = i64x2_add(self.acc, t);
            self.lanes += 2;
        }
    }

    #[inline(always)]
    unsafe fn lane32<const L: usize>(v: v128, p: *const u8) -> v128 {
        v128_load32_lane::<L>(v, p as *const u32)
    }

    #[inline(always)]
    unsafe fn lane16<const L: usize>(v: v128, p: *const u8) -> v128 {
        v128_load16_lane::<L>(v, p as *const u16)
    }

    /// Blocks `0..N` (N <= 4) at `blk` (stride 20 for Q4_1, 34 for Q8_0), activations
    /// at `a`, block sums at `bs`. Lanes of missing blocks multiply a [`PAD`] scale by
    /// a zero sum, or are not accumulated.
    #[inline(always)]
    unsafe fn group<const N: usize, const Q4: bool, const LEFT: bool>(
        row: &mut Row,
        blk: *const u8,
        a: *const i16,
        bs: *const i32,
    ) {
        let bb = if Q4 { 20 } else { 34 };
        let mut p = [i32x4_splat(0); 4];
        for (i, pi) in p.iter_mut().enumerate().take(N) {
            let b = blk.add(i * bb);
            *pi = if Q4 {
                q4_partial(b.add(4), a.add(i * BLOCK))
            } else {
                q8_partial(b.add(2), a.add(i * BLOCK))
            };
        }
        let s1 = reduce::<N>(p);
        let mut h = u16x8_splat(PAD);
        if Q4 {
            // Lanes [d0, m0, d1, m1, d2, m2, d3, m3]: the first 4 bytes of each block.
            h = lane32::<0>(h, blk);
            if N > 1 {
                h = lane32::<1>(h, blk.add(bb));
            }
            if N > 2 {
                h = lane32::<2>(h, blk.add(2 * bb));
            }
            if N > 3 {
                h = lane32::<3>(h, blk.add(3 * bb));
            }
            let (f_lo, f_hi) = decode(h, &mut row.worst);
            let s0 = match N {
                4 => v128_load(bs as *const v128),
                3 => v128_load32_lane::<2>(v128_load64_zero(bs as *const u64), bs.add(2) as *const u32),
                2 => v128_load64_zero(bs as *const u64),
                _ => v128_load32_zero(bs as *const u32),
            };
            // [S1_0, S0_0, S1_1, S0_1] and [S1_2, S0_2, S1_3, S0_3], matching F's lanes.
            let s_lo = i32x4_shuffle::<0, 4, 1, 5>(s1, s0);
            let s_hi = i32x4_shuffle::<2, 6, 3, 7>(s1, s0);
            row.add::<LEFT>(i64x2_extmul_low_i32x4(f_lo, s_lo));
            if N > 1 {
                row.add::<LEFT>(i64x2_extmul_high_i32x4(f_lo, s_lo));
            }
            if N > 2 {
                row.add::<LEFT>(i64x2_extmul_low_i32x4(f_hi, s_hi));
            }
            if N > 3 {
                row.add::<LEFT>(i64x2_extmul_high_i32x4(f_hi, s_hi));
            }
        } else {
            // Lanes [d0, d1, d2, d3, PAD, ..]: the first 2 bytes of each block.
            h = lane16::<0>(h, blk);
            if N > 1 {
                h = lane16::<1>(h, blk.add(bb));
            }
            if N > 2 {
                h = lane16::<2>(h, blk.add(2 * bb));
            }
            if N > 3 {
                h = lane16::<3>(h, blk.add(3 * bb));
            }
            let (f, _) = decode(h, &mut row.worst);
            row.add::<LEFT>(i64x2_extmul_low_i32x4(f, s1));
            if N > 2 {
                row.add::<LEFT>(i64x2_extmul_high_i32x4(f, s1));
            }
        }
    }

    unsafe fn run<const Q4: bool, const LEFT: bool>(
        row: &[u8],
        act: &Act,
        n: usize,
        shift: Shift,
    ) -> Option<i64> {
        let bb = if Q4 { 20 } else { 34 };
        let mut st = Row {
            acc: i64x2_splat(0),
            worst: i16x8_splat(0),
            lanes: 0,
            addend: i64x2_splat(shift.addend()),
            count: shift.count(),
        };
        let (w, a, bs) = (row.as_ptr(), act.q.as_ptr(), act.block_sums.as_ptr());
        let mut b = 0;
        while b + 4 <= n {
            group::<4, Q4, LEFT>(&mut st, w.add(b * bb), a.add(b * BLOCK), bs.add(b));
            b += 4;
        }
        let (w, a, bs) = (w.add(b * bb), a.add(b * BLOCK), bs.add(b));
        match n - b {
            3 => group::<3, Q4, LEFT>(&mut st, w, a, bs),
            2 => group::<2, Q4, LEFT>(&mut st, w, a, bs),
            1 => group::<1, Q4, LEFT>(&mut st, w, a, bs),
            _ => {}
        }
        if v128_any_true(u16x8_gt(st.worst, u16x8_splat(MAX_E4))) {
            return None;
        }
        let sum = i64x2_extract_lane::<0>(st.acc).wrapping_add(i64x2_extract_lane::<1>(st.acc));
        Some(sum.wrapping_sub((st.lanes as i64).wrapping_mul(shift.bias())))
    }

    pub fn row_acc(format: WeightFormat, row: &[u8], act: &Act) -> i64 {
        let n = block_count(format, row, act);
        // SAFETY: `n` blocks of `row`, `n * 32` activations and (Q4_1) `n` block sums
        // exist (block_count); every load below stays inside them.
        let got = unsafe {
            match (Shift::of(act.exp), format) {
                (None, _) => None,
                (Some(s @ Shift::Right(_)), WeightFormat::Q4_1) => run::<true, false>(row, act, n, s),
                (Some(s @ Shift::Left(_)), WeightFormat::Q4_1) => run::<true, true>(row, act, n, s),
                (Some(s @ Shift::Right(_)), WeightFormat::Q8_0) => run::<false, false>(row, act, n, s),
                (Some(s @ Shift::Left(_)), WeightFormat::Q8_0) => run::<false, true>(row, act, n, s),
            }
        };
        got.unwrap_or_else(|| quant::row_dot_acc(format, row, act))
    }
}

/// Q32 accumulator of `row` times `act`, on the fastest twin this machine has.
#[inline]
pub fn row_dot_acc(format: WeightFormat, row: &[u8], act: &Act) -> i64 {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: AVX2 is present.
            return unsafe { avx2::row_acc(format, row, act) };
        }
    }
    #[cfg(target_arch = "wasm32")]
    {
        return wasm::row_acc(format, row, act);
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
