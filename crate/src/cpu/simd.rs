//! SIMD twins of the exact row accumulator [`quant::row_dot_acc`]: AVX2 on x86_64
//! (chosen at run time), simd128 on wasm32, the scalar definition elsewhere. Every
//! twin returns the scalar bits for every input; `tests` compare them.
//!
//! # One shift per row
//!
//! The spec (docs/numerics.md, section 3) rounds each term on its own:
//! `T = round_shift(dm * S, s)` with `s = -(de + e + 32)`, where `dm * 2^de` is the
//! block's f16 scale, `e` the activation exponent and `S` the block's exact integer
//! sum (`S1`, or `S0` for the Q4_1 minimum). The shift depends on the block, so the
//! plain code runs a serial chain per block: horizontal sum, multiply, a left or
//! right shift by a variable amount, add. The twins rewrite the term:
//!
//! * `k = de + 24` is in `0..=29` for every finite f16, so `F = dm * 2^k` (the scale
//!   times 2^24) is an exact integer, and `s = U - k` with `U = -(e + 8)`, which
//!   depends on the activation only: one shift for the whole row.
//! * For `U >= 1`: if `s > 0`, `round_shift(dm*S, s) = floor((dm*S + 2^(s-1)) /
//!   2^s)`; multiplying numerator and denominator by `2^k` gives
//!   `floor((F*S + 2^(U-1)) / 2^U) = round_shift(F*S, U)`. If `s <= 0`, the spec's
//!   value is `dm*S * 2^-s`, and `F*S = dm*S * 2^-s * 2^U` is an exact multiple of
//!   `2^U`, so `round_shift(F*S, U)` is again that value. Either way
//!   `T = round_shift(F*S, U)` exactly, as long as `F*S` is exact.
//! * For `-63 <= U <= 0` every `s = U - k` is `<= 0`: the spec's value is
//!   `dm*S << -s` modulo 2^64 (0 for `-s >= 64`), and `F*S << -U` is
//!   `dm*S * 2^(k-U)` modulo 2^64: the same number.
//!
//! The fast paths decode `F` only where `|F| < 2^31` (exponent fields up to 21 on
//! AVX2, 4..=18 on wasm, which has no per-lane shifts), so `F*S` is one signed
//! 32×32→64 multiply; `|S| < 2^27` (section 9 bounds: `|a| <= 32767`) gives
//! `|F*S| < 2^58`. A row with a scale outside that range, or an activation exponent
//! outside `-65..=55` (`U` outside `-63..=57`), is computed by the scalar code
//! instead, so the twins never guess.
//!
//! # Rounding without 64-bit arithmetic shifts
//!
//! For `U >= 1`, `x = F*S + 2^(U-1)` and `x & -2^U` is `2^U * floor(x / 2^U)
//! = 2^U * T`: the term, still multiplied by `2^U`. Accumulator lanes add these
//! (exactly: below 2^59 each for `U <= 57`, and a lane is flushed at least every 16
//! terms, so a lane's sum stays below 2^63); a flush shifts each lane right by `U`,
//! which is exact because the lane holds a multiple of `2^U`. (AVX2 has no 64-bit
//! arithmetic shift and wasm's `i64x2.shr_s` is emulated on x86 hosts; this needs
//! neither in the loop.) For `U <= 0` the lanes add `F*S` (wrapping) and a flush
//! shifts left by `-U`: a left shift distributes over wrapping sums. The row sum
//! adds the flushed lane sums wrapping, like the spec's accumulator, so the order of
//! terms cannot matter.
//!
//! # Shapes
//!
//! AVX2 handles one row, four blocks per step: four independent dot products, one
//! horizontal reduction for all four, one vector scale step. wasm handles two rows
//! and two blocks per tile, two tiles per loop step: the rows share the activation
//! loads, and the four (row, block) sums of a tile share one reduction and one scale
//! decode. wasm also reads the activation in a per-block permuted order
//! ([`Prepared`], made once per matmul input), which lets 16-bit shifts pick the
//! nibbles or bytes of a weight register in place of byte → 16-bit widening.

use crate::exact::act::{Act, BLOCK};
use crate::exact::fixed::{round_shift, sat_i32};
use crate::exact::quant::{self, WeightFormat, ACC_FRAC, OUT_FRAC};

/// How the terms of a row are brought to Q32, from the activation exponent alone
/// (module docs): `Right(U)` for `1 <= U <= 57`, `Left(-U)` for `-63 <= U <= 0`.
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
            1..=57 => Some(Shift::Right(u as u32)),
            -63..=0 => Some(Shift::Left((-u) as u32)),
            _ => None,
        }
    }

    /// Added to each product before masking: `2^(U-1)` (0 for left shifts).
    fn half(self) -> i64 {
        match self {
            Shift::Right(u) => 1i64 << (u - 1),
            Shift::Left(_) => 0,
        }
    }

    /// Clears the bits below `2^U` (all ones for left shifts).
    fn mask(self) -> i64 {
        match self {
            Shift::Right(u) => -(1i64 << u),
            Shift::Left(_) => -1,
        }
    }

    /// The sum of the terms held by accumulator lanes `l` (module docs).
    #[inline(always)]
    fn finish<const L: usize>(self, l: [i64; L]) -> i64 {
        match self {
            Shift::Right(u) => l.iter().fold(0i64, |s, &x| s.wrapping_add(x >> u)),
            Shift::Left(k) => l
                .iter()
                .fold(0i64, |s, &x| s.wrapping_add(x))
                .wrapping_shl(k),
        }
    }
}

/// Flushes of the accumulator lanes come at least every 16 blocks (module docs):
/// every step adds at most one term per lane per block.
#[cfg_attr(
    not(any(target_arch = "x86_64", target_arch = "wasm32")),
    allow(dead_code)
)]
const FLUSH_BLOCKS: usize = 16;

/// Blocks the reference reads of a row of `row_bytes`: it zips the row's blocks with
/// the activation's.
#[cfg_attr(
    not(any(target_arch = "x86_64", target_arch = "wasm32")),
    allow(dead_code)
)]
fn block_count(format: WeightFormat, row_bytes: usize, act: &Act) -> usize {
    let n = (row_bytes / format.block_bytes()).min(act.q.len() / BLOCK);
    if format == WeightFormat::Q4_1 {
        // The reference indexes block_sums[b] for every block (and panics if short).
        assert!(act.block_sums.len() >= n, "activation block sums too short");
    }
    n
}

/// A matmul input made ready for the SIMD kernels, once per matmul: on wasm a copy
/// of the activation with each block's elements in the order
/// `0, 2, .., 14, 1, 3, .., 15, 16, 18, .., 30, 17, 19, .., 31`, the order in which
/// 16-bit lanes of a weight register hold the nibbles (Q4_1) or bytes (Q8_0).
pub struct Prepared<'a> {
    act: &'a Act,
    #[cfg(target_arch = "wasm32")]
    perm: Vec<i16>,
}

impl<'a> Prepared<'a> {
    /// `act` must be what [`Act::quantize`] builds (`|q| <= 32767`, `block_sums` the
    /// sums of the blocks of `q`): the kernels' overflow bounds rest on it.
    pub fn new(act: &'a Act) -> Self {
        debug_assert!(well_formed(act), "malformed activation");
        Prepared {
            act,
            #[cfg(target_arch = "wasm32")]
            perm: wasm::permute(&act.q),
        }
    }
}

/// Whether `act` keeps [`Act::quantize`]'s invariants.
fn well_formed(act: &Act) -> bool {
    let sums = act
        .q
        .chunks(BLOCK)
        .map(|b| b.iter().map(|&a| a as i32).sum::<i32>());
    act.q.iter().all(|&a| a != i16::MIN) && sums.zip(&act.block_sums).all(|(s, &t)| s == t)
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::{block_count, quant, Act, Prepared, Shift, WeightFormat, BLOCK, FLUSH_BLOCKS};
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
        let h = _mm256_hadd_epi32(_mm256_hadd_epi32(p[0], p[1]), _mm256_hadd_epi32(p[2], p[3]));
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

    /// The state of one row: four i64 lanes of scaled terms (module docs), the largest
    /// exponent field seen, and the row's shift as vectors.
    struct Row {
        acc: __m256i,
        worst: __m256i,
        half: __m256i,
        mask: __m256i,
    }

    impl Row {
        /// Adds the four terms whose exact products `F*S` are the i64 lanes of `p`.
        #[inline(always)]
        unsafe fn add<const LEFT: bool>(&mut self, p: __m256i) {
            let t = if LEFT {
                p
            } else {
                _mm256_and_si256(_mm256_add_epi64(p, self.half), self.mask)
            };
            self.acc = _mm256_add_epi64(self.acc, t);
        }

        /// The sum of the terms added since the last flush.
        #[inline(always)]
        unsafe fn flush(&mut self, shift: Shift) -> i64 {
            let mut l = [0i64; 4];
            _mm256_storeu_si256(l.as_mut_ptr() as *mut __m256i, self.acc);
            self.acc = _mm256_setzero_si256();
            shift.finish(l)
        }
    }

    /// Blocks `0..N` (1 <= N <= 4) at `blk` (stride 20 for Q4_1, 34 for Q8_0),
    /// activations at `a`, block sums at `bs`. Missing blocks are zero: scale bits 0
    /// decode to `F = 0`, so their lanes add exactly 0.
    #[inline(always)]
    unsafe fn group<const N: usize, const Q4: bool, const LEFT: bool>(
        row: &mut Row,
        blk: *const u8,
        a: *const i16,
        bs: *const i32,
    ) {
        let bb = if Q4 { 20 } else { 34 };
        let partial = |i: usize| {
            if i >= N {
                _mm256_setzero_si256()
            } else if Q4 {
                q4_partial(blk.add(i * bb + 4), a.add(i * BLOCK))
            } else {
                q8_partial(blk.add(i * bb + 2), a.add(i * BLOCK))
            }
        };
        let s1 = reduce4([partial(0), partial(1), partial(2), partial(3)]);
        // The scale bits of block i (Q4_1: d and m; Q8_0: d), 0 for missing blocks.
        let scales = |i: usize| match (i < N, Q4) {
            (false, _) => 0,
            (true, true) => rd32(blk.add(i * bb)),
            (true, false) => rd16(blk.add(i * bb)),
        };
        let h = _mm_setr_epi32(scales(0), scales(1), scales(2), scales(3));
        if Q4 {
            // Lanes [d0, m0, d1, m1, d2, m2, d3, m3] against [S1_0, S0_0, S1_1, S0_1, ...].
            let f = decode(_mm256_cvtepu16_epi32(h), &mut row.worst);
            let s0 = if N == 4 {
                _mm_loadu_si128(bs as *const __m128i)
            } else {
                let s0 = |i: usize| if i < N { *bs.add(i) } else { 0 };
                _mm_setr_epi32(s0(0), s0(1), s0(2), s0(3))
            };
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

    /// The accumulator of one row of `n` blocks at `w`, or `None` if a scale is
    /// outside the decoded range.
    #[inline(always)]
    unsafe fn row<const Q4: bool, const LEFT: bool>(
        w: *const u8,
        act: &Act,
        n: usize,
        shift: Shift,
    ) -> Option<i64> {
        let bb = if Q4 { 20 } else { 34 };
        let mut st = Row {
            acc: _mm256_setzero_si256(),
            worst: _mm256_setzero_si256(),
            half: _mm256_set1_epi64x(shift.half()),
            mask: _mm256_set1_epi64x(shift.mask()),
        };
        let (a, bs) = (act.q.as_ptr(), act.block_sums.as_ptr());
        let mut total = 0i64;
        let mut b = 0;
        while b + 4 <= n {
            group::<4, Q4, LEFT>(&mut st, w.add(b * bb), a.add(b * BLOCK), bs.add(b));
            b += 4;
            if b % FLUSH_BLOCKS == 0 {
                total = total.wrapping_add(st.flush(shift));
            }
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
        Some(total.wrapping_add(st.flush(shift)))
    }

    #[target_feature(enable = "avx2")]
    unsafe fn run<const Q4: bool, const LEFT: bool>(
        rows: &[u8],
        rb: usize,
        n_rows: usize,
        act: &Act,
        shift: Shift,
        emit: &mut impl FnMut(usize, i64),
    ) {
        let format = if Q4 {
            WeightFormat::Q4_1
        } else {
            WeightFormat::Q8_0
        };
        let n = block_count(format, rb, act);
        for r in 0..n_rows {
            let w = &rows[r * rb..(r + 1) * rb];
            let acc = row::<Q4, LEFT>(w.as_ptr(), act, n, shift);
            emit(r, acc.unwrap_or_else(|| quant::row_dot_acc(format, w, act)));
        }
    }

    /// Accumulators of rows `0..n_rows` (`rb` bytes each) of `rows`; the caller has
    /// checked that AVX2 is present and that `rows` holds `n_rows` rows.
    pub unsafe fn rows_acc(
        format: WeightFormat,
        rows: &[u8],
        rb: usize,
        n_rows: usize,
        x: &Prepared,
        emit: &mut impl FnMut(usize, i64),
    ) {
        let act = x.act;
        match (Shift::of(act.exp), format) {
            (None, _) => {
                for r in 0..n_rows {
                    emit(
                        r,
                        quant::row_dot_acc(format, &rows[r * rb..(r + 1) * rb], act),
                    );
                }
            }
            (Some(s @ Shift::Right(_)), WeightFormat::Q4_1) => {
                run::<true, false>(rows, rb, n_rows, act, s, emit)
            }
            (Some(s @ Shift::Left(_)), WeightFormat::Q4_1) => {
                run::<true, true>(rows, rb, n_rows, act, s, emit)
            }
            (Some(s @ Shift::Right(_)), WeightFormat::Q8_0) => {
                run::<false, false>(rows, rb, n_rows, act, s, emit)
            }
            (Some(s @ Shift::Left(_)), WeightFormat::Q8_0) => {
                run::<false, true>(rows, rb, n_rows, act, s, emit)
            }
        }
    }
}

#[cfg(target_arch = "wasm32")]
mod wasm {
    use super::{block_count, quant, Prepared, Shift, WeightFormat, BLOCK, FLUSH_BLOCKS};
    use std::arch::wasm32::*;

    /// Scale bits of a missing block (a one-block tile): 1.0, exponent field 15,
    /// inside the fast range. Its sums are 0, so its lanes add exactly 0.
    const PAD: u16 = 0x3c00;
    /// Decoded exponent fields are `4..=18`, i.e. `field - 4` in `0..=14`.
    const MAX_E4: u16 = 14;

    #[inline(always)]
    unsafe fn load_a(a: *const i16, i: usize) -> v128 {
        v128_load(a.add(i) as *const v128)
    }

    /// The activation with each block in [`Prepared`]'s order: even then odd
    /// elements of each half block.
    pub fn permute(q: &[i16]) -> Vec<i16> {
        let mut out = vec![0i16; q.len() / BLOCK * BLOCK];
        for (src, dst) in q.chunks_exact(BLOCK).zip(out.chunks_exact_mut(BLOCK)) {
            // SAFETY: both blocks hold 32 i16; v128 loads and stores may be unaligned.
            unsafe {
                let (a, d) = (src.as_ptr(), dst.as_mut_ptr());
                for half in [0, 16] {
                    let (lo, hi) = (load_a(a, half), load_a(a, half + 8));
                    let even = i16x8_shuffle::<0, 2, 4, 6, 8, 10, 12, 14>(lo, hi);
                    let odd = i16x8_shuffle::<1, 3, 5, 7, 9, 11, 13, 15>(lo, hi);
                    v128_store(d.add(half) as *mut v128, even);
                    v128_store(d.add(half + 8) as *mut v128, odd);
                }
            }
        }
        out
    }

    /// Four i32 lanes summing to S1 of one Q4_1 block: 16 nibble bytes at `qs`
    /// (element j < 16 is the low nibble of byte j, element j + 16 its high nibble)
    /// against the block's permuted activations at `a` ([`Prepared`]). Read as 16-bit
    /// lanes, `q` holds byte 2i in the low and byte 2i+1 in the high half of lane i,
    /// so a nibble's shift to the top of the lane and back down gives elements 2i,
    /// 2i+1, 2i+16 and 2i+17 in lane i. Each i32 lane is a sum of exact products
    /// below 2^24: no lane can wrap.
    #[inline(always)]
    unsafe fn q4_partial(qs: *const u8, a: *const i16) -> v128 {
        let q = v128_load(qs as *const v128);
        let even_lo = u16x8_shr(i16x8_shl(q, 12), 12);
        let odd_lo = u16x8_shr(i16x8_shl(q, 4), 12);
        let even_hi = u16x8_shr(i16x8_shl(q, 8), 12);
        let odd_hi = u16x8_shr(q, 12);
        i32x4_add(
            i32x4_add(
                i32x4_dot_i16x8(even_lo, load_a(a, 0)),
                i32x4_dot_i16x8(odd_lo, load_a(a, 8)),
            ),
            i32x4_add(
                i32x4_dot_i16x8(even_hi, load_a(a, 16)),
                i32x4_dot_i16x8(odd_hi, load_a(a, 24)),
            ),
        )
    }

    /// Four i32 lanes summing to S1 of one Q8_0 block: 32 i8 at `qs` against the
    /// block's permuted activations at `a`. Lane i of a 16-bit view holds bytes 2i
    /// (sign-extended by shifting left then right) and 2i+1 (shifting right).
    #[inline(always)]
    unsafe fn q8_partial(qs: *const u8, a: *const i16) -> v128 {
        let q0 = v128_load(qs as *const v128);
        let q1 = v128_load(qs.add(16) as *const v128);
        let even = |q: v128| i16x8_shr(i16x8_shl(q, 8), 8);
        i32x4_add(
            i32x4_add(
                i32x4_dot_i16x8(even(q0), load_a(a, 0)),
                i32x4_dot_i16x8(i16x8_shr(q0, 8), load_a(a, 8)),
            ),
            i32x4_add(
                i32x4_dot_i16x8(even(q1), load_a(a, 16)),
                i32x4_dot_i16x8(i16x8_shr(q1, 8), load_a(a, 24)),
            ),
        )
    }

    /// `[sum(p0), sum(p1), sum(p2), sum(p3)]`, each the sum of a vector's four lanes.
    #[inline(always)]
    fn reduce4(p0: v128, p1: v128, p2: v128, p3: v128) -> v128 {
        // [a0+a2, b0+b2, a1+a3, b1+b3] for (a, b) = (p0, p1), then (p2, p3).
        let t0 = i32x4_add(
            i32x4_shuffle::<0, 4, 1, 5>(p0, p1),
            i32x4_shuffle::<2, 6, 3, 7>(p0, p1),
        );
        let t1 = i32x4_add(
            i32x4_shuffle::<0, 4, 1, 5>(p2, p3),
            i32x4_shuffle::<2, 6, 3, 7>(p2, p3),
        );
        i32x4_add(
            i32x4_shuffle::<0, 1, 4, 5>(t0, t1),
            i32x4_shuffle::<2, 3, 6, 7>(t0, t1),
        )
    }

    /// `F = dm << k` (signed, i32) of eight f16 bit patterns, as two i32x4 (lanes 0..4,
    /// lanes 4..8). Exponent fields `4..=18` only: then `dm = 1024 + frac`,
    /// `k = field - 1` and `F = (dm << 3) * 2^(field - 4)`, an i16 × i16 product
    /// (`|dm << 3| < 2^14`, `2^(field-4) <= 2^14`, so `|F| < 2^28`). wasm has no
    /// per-lane shift, so the power of two comes from a byte table (swizzle). `worst`
    /// keeps the largest `field - 4` (unsigned: fields below 4 wrap to large values)
    /// to reject the row.
    #[inline(always)]
    fn decode(h: v128, worst: &mut v128) -> (v128, v128) {
        // Exponent field: shift the sign out, then the fraction.
        let e4 = i16x8_sub(u16x8_shr(i16x8_shl(h, 1), 11), i16x8_splat(4));
        *worst = u16x8_max(*worst, e4);
        // 2^e4 as bytes: low byte table[e4] (2^e4 for e4 < 8), high byte table[e4 - 8]
        // (2^(e4-8) for e4 >= 8). e4 * 0x0101 copies e4 into both bytes; a table index
        // outside 0..16 (negative ones wrap above 127) reads 0.
        let idx = i16x8_sub(i16x8_mul(e4, i16x8_splat(0x0101)), i16x8_splat(0x0800));
        let table = u8x16(1, 2, 4, 8, 16, 32, 64, 128, 0, 0, 0, 0, 0, 0, 0, 0);
        let pow = i8x16_swizzle(table, idx);
        // (1024 + frac) << 3: the fraction's 10 bits moved to bits 3..13, plus the
        // implicit bit.
        let mant = v128_or(u16x8_shr(i16x8_shl(h, 6), 3), i16x8_splat(0x2000));
        let sign = i16x8_shr(h, 15);
        let m = i16x8_sub(v128_xor(mant, sign), sign);
        (
            i32x4_extmul_low_i16x8(m, pow),
            i32x4_extmul_high_i16x8(m, pow),
        )
    }

    /// The state of two rows: two i64 lanes of scaled terms per row (module docs),
    /// the largest `field - 4`, and the rows' shift as vectors.
    struct Rows2 {
        acc: [v128; 2],
        worst: v128,
        half: v128,
        mask: v128,
    }

    impl Rows2 {
        /// Adds to row `r` the two terms whose exact products `F*S` are the i64 lanes of `p`.
        #[inline(always)]
        fn add<const LEFT: bool>(&mut self, r: usize, p: v128) {
            let t = if LEFT {
                p
            } else {
                v128_and(i64x2_add(p, self.half), self.mask)
            };
            self.acc[r] = i64x2_add(self.acc[r], t);
        }

        /// The sums of the terms added to each row since the last flush.
        #[inline(always)]
        fn flush(&mut self, shift: Shift) -> [i64; 2] {
            let f =
                |v: v128| shift.finish([i64x2_extract_lane::<0>(v), i64x2_extract_lane::<1>(v)]);
            let s = [f(self.acc[0]), f(self.acc[1])];
            self.acc = [i64x2_splat(0); 2];
            s
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

    /// One tile: blocks `0..NB` (NB = 1 or 2) of rows `w[0]` and `w[1]` (stride 20
    /// for Q4_1, 34 for Q8_0) against permuted activations `a` and block sums `bs`.
    /// Both rows share the activation loads; the four (row, block) sums go through
    /// one reduction and one scale decode. With NB = 1 the second block's lanes hold
    /// a [`PAD`] scale and zero sums (so they add exactly 0), or are not added.
    #[inline(always)]
    unsafe fn tile<const NB: usize, const Q4: bool, const LEFT: bool>(
        st: &mut Rows2,
        w: [*const u8; 2],
        a: *const i16,
        bs: *const i32,
    ) {
        let bb = if Q4 { 20 } else { 34 };
        let z = i32x4_splat(0);
        // V8 keeps wasm loads in program order but sinks pure arithmetic to its first
        // use, so without an anchor every load of the tile is issued first and the
        // loaded vectors overflow the 16 registers. A volatile store of each block
        // sum must happen before the next load, which keeps its arithmetic in place.
        let mut slot = z;
        let mut partial = |r: usize, j: usize| {
            let p = if Q4 {
                q4_partial(w[r].add(j * bb + 4), a.add(j * BLOCK))
            } else {
                q8_partial(w[r].add(j * bb + 2), a.add(j * BLOCK))
            };
            core::ptr::write_volatile(&mut slot, p);
            p
        };
        // [S1 r0b0, S1 r0b1, S1 r1b0, S1 r1b1] (zeros for a missing second block).
        let s1 = {
            let p00 = partial(0, 0);
            let p10 = partial(1, 0);
            if NB == 2 {
                let p01 = partial(0, 1);
                let p11 = partial(1, 1);
                reduce4(p00, p01, p10, p11)
            } else {
                reduce4(p00, z, p10, z)
            }
        };
        let mut h = u16x8_splat(PAD);
        if Q4 {
            // Lanes [d, m] of r0b0, r0b1, r1b0, r1b1: the first 4 bytes of each block.
            h = lane32::<0>(h, w[0]);
            h = lane32::<2>(h, w[1]);
            if NB == 2 {
                h = lane32::<1>(h, w[0].add(bb));
                h = lane32::<3>(h, w[1].add(bb));
            }
            let (f0, f1) = decode(h, &mut st.worst);
            // [S0 b0, S0 b1, S0 b0, S0 b1] (zeros for a missing second block).
            let s0 = if NB == 2 {
                v128_load64_splat(bs as *const u64)
            } else {
                let s = v128_load32_zero(bs as *const u32);
                i32x4_shuffle::<0, 1, 0, 1>(s, s)
            };
            // Row r: [S1 b0, S0 b0, S1 b1, S0 b1], matching F's lanes [d b0, m b0, d b1, m b1].
            let s_r0 = i32x4_shuffle::<0, 4, 1, 5>(s1, s0);
            let s_r1 = i32x4_shuffle::<2, 6, 3, 7>(s1, s0);
            st.add::<LEFT>(0, i64x2_extmul_low_i32x4(f0, s_r0));
            st.add::<LEFT>(1, i64x2_extmul_low_i32x4(f1, s_r1));
            if NB == 2 {
                st.add::<LEFT>(0, i64x2_extmul_high_i32x4(f0, s_r0));
                st.add::<LEFT>(1, i64x2_extmul_high_i32x4(f1, s_r1));
            }
        } else {
            // Lanes [d r0b0, d r0b1, d r1b0, d r1b1, PAD, ..]: the first 2 bytes of each block.
            h = lane16::<0>(h, w[0]);
            h = lane16::<2>(h, w[1]);
            if NB == 2 {
                h = lane16::<1>(h, w[0].add(bb));
                h = lane16::<3>(h, w[1].add(bb));
            }
            let (f, _) = decode(h, &mut st.worst);
            st.add::<LEFT>(0, i64x2_extmul_low_i32x4(f, s1));
            st.add::<LEFT>(1, i64x2_extmul_high_i32x4(f, s1));
        }
    }

    /// Accumulators of the rows at `w[0]` and `w[1]` (`n` blocks each), or `None` if
    /// a scale is outside the decoded range.
    #[inline(always)]
    unsafe fn pair<const Q4: bool, const LEFT: bool>(
        st: &mut Rows2,
        w: [*const u8; 2],
        x: &Prepared,
        n: usize,
        shift: Shift,
    ) -> Option<[i64; 2]> {
        let bb = if Q4 { 20 } else { 34 };
        let (a, bs) = (x.perm.as_ptr(), x.act.block_sums.as_ptr());
        st.worst = i16x8_splat(0);
        let mut total = [0i64; 2];
        let mut b = 0;
        // Two tiles per loop step: fewer loop overheads for V8 to schedule around.
        while b + 4 <= n {
            let wb = [w[0].add(b * bb), w[1].add(b * bb)];
            tile::<2, Q4, LEFT>(st, wb, a.add(b * BLOCK), bs.add(b));
            let wb = [w[0].add((b + 2) * bb), w[1].add((b + 2) * bb)];
            tile::<2, Q4, LEFT>(st, wb, a.add((b + 2) * BLOCK), bs.add(b + 2));
            b += 4;
            if b % FLUSH_BLOCKS == 0 {
                let s = st.flush(shift);
                total = [total[0].wrapping_add(s[0]), total[1].wrapping_add(s[1])];
            }
        }
        if b + 2 <= n {
            let wb = [w[0].add(b * bb), w[1].add(b * bb)];
            tile::<2, Q4, LEFT>(st, wb, a.add(b * BLOCK), bs.add(b));
            b += 2;
        }
        if b < n {
            let wb = [w[0].add(b * bb), w[1].add(b * bb)];
            tile::<1, Q4, LEFT>(st, wb, a.add(b * BLOCK), bs.add(b));
        }
        let s = st.flush(shift);
        if v128_any_true(u16x8_gt(st.worst, u16x8_splat(MAX_E4))) {
            return None;
        }
        Some([total[0].wrapping_add(s[0]), total[1].wrapping_add(s[1])])
    }

    unsafe fn run<const Q4: bool, const LEFT: bool>(
        rows: &[u8],
        rb: usize,
        n_rows: usize,
        x: &Prepared,
        shift: Shift,
        emit: &mut impl FnMut(usize, i64),
    ) {
        let format = if Q4 {
            WeightFormat::Q4_1
        } else {
            WeightFormat::Q8_0
        };
        let n = block_count(format, rb, x.act);
        let mut st = Rows2 {
            acc: [i64x2_splat(0); 2],
            worst: i16x8_splat(0),
            half: i64x2_splat(shift.half()),
            mask: i64x2_splat(shift.mask()),
        };
        let row = |r: usize| &rows[r * rb..(r + 1) * rb];
        let mut r = 0;
        while r < n_rows {
            // A lone last row is paired with itself.
            let r1 = (r + 1).min(n_rows - 1);
            let got = pair::<Q4, LEFT>(&mut st, [row(r).as_ptr(), row(r1).as_ptr()], x, n, shift);
            let acc =
                got.unwrap_or_else(|| [r, r1].map(|r| quant::row_dot_acc(format, row(r), x.act)));
            emit(r, acc[0]);
            if r1 > r {
                emit(r1, acc[1]);
            }
            r += 2;
        }
    }

    /// Accumulators of rows `0..n_rows` (`rb` bytes each) of `rows`; the caller has
    /// checked that `rows` holds `n_rows` rows.
    pub fn rows_acc(
        format: WeightFormat,
        rows: &[u8],
        rb: usize,
        n_rows: usize,
        x: &Prepared,
        emit: &mut impl FnMut(usize, i64),
    ) {
        // SAFETY (each `run`): every row has `rb` bytes, so `n = block_count(..)`
        // blocks; `x.perm` holds `n * 32` activations and (Q4_1) `block_sums` `n`
        // sums; every load of the kernels stays inside them.
        unsafe {
            match (Shift::of(x.act.exp), format) {
                (None, _) => {
                    for r in 0..n_rows {
                        let w = &rows[r * rb..(r + 1) * rb];
                        emit(r, quant::row_dot_acc(format, w, x.act));
                    }
                }
                (Some(s @ Shift::Right(_)), WeightFormat::Q4_1) => {
                    run::<true, false>(rows, rb, n_rows, x, s, emit)
                }
                (Some(s @ Shift::Left(_)), WeightFormat::Q4_1) => {
                    run::<true, true>(rows, rb, n_rows, x, s, emit)
                }
                (Some(s @ Shift::Right(_)), WeightFormat::Q8_0) => {
                    run::<false, false>(rows, rb, n_rows, x, s, emit)
                }
                (Some(s @ Shift::Left(_)), WeightFormat::Q8_0) => {
                    run::<false, true>(rows, rb, n_rows, x, s, emit)
                }
            }
        }
    }
}

/// Q32 accumulators of rows `0..n_rows` of `rows` (`row_bytes` bytes each) times the
/// activation of `x`, on the fastest twin this machine has: `emit(r, acc)` for each.
fn rows_acc(
    format: WeightFormat,
    rows: &[u8],
    row_bytes: usize,
    n_rows: usize,
    x: &Prepared,
    emit: &mut impl FnMut(usize, i64),
) {
    assert!(rows.len() >= n_rows * row_bytes, "weight rows out of range");
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: AVX2 is present; `rows` holds `n_rows` rows (checked above).
            unsafe { avx2::rows_acc(format, rows, row_bytes, n_rows, x, emit) };
            return;
        }
    }
    #[cfg(target_arch = "wasm32")]
    {
        wasm::rows_acc(format, rows, row_bytes, n_rows, x, emit);
        return;
    }
    #[allow(unreachable_code)]
    for r in 0..n_rows {
        let w = &rows[r * row_bytes..(r + 1) * row_bytes];
        emit(r, quant::row_dot_acc(format, w, x.act));
    }
}

/// Q16 outputs of consecutive weight rows: `out[r]` is row `r` of `rows` (each
/// `row_bytes` bytes; `out.len()` rows) times `x`, as [`quant::row_dot`] computes it.
pub fn rows_dot(
    format: WeightFormat,
    rows: &[u8],
    row_bytes: usize,
    x: &Prepared,
    out: &mut [i32],
) {
    let n_rows = out.len();
    rows_acc(format, rows, row_bytes, n_rows, x, &mut |r, acc| {
        out[r] = to_q16(acc)
    });
}

/// Q32 accumulators of consecutive weight rows (see [`rows_dot`]).
pub fn rows_dot_acc(
    format: WeightFormat,
    rows: &[u8],
    row_bytes: usize,
    x: &Prepared,
    out: &mut [i64],
) {
    let n_rows = out.len();
    rows_acc(format, rows, row_bytes, n_rows, x, &mut |r, acc| {
        out[r] = acc
    });
}

/// Q32 accumulator of `row` times `act` (see [`quant::row_dot_acc`]). Prepares `act`
/// on every call: matmuls go through [`rows_dot`] with one [`Prepared`] per input.
pub fn row_dot_acc(format: WeightFormat, row: &[u8], act: &Act) -> i64 {
    let mut out = 0;
    rows_acc(
        format,
        row,
        row.len(),
        1,
        &Prepared::new(act),
        &mut |_, acc| out = acc,
    );
    out
}

/// One Q16 output element (see [`quant::row_dot`]).
pub fn row_dot(format: WeightFormat, row: &[u8], act: &Act) -> i32 {
    to_q16(row_dot_acc(format, row, act))
}

#[inline(always)]
fn to_q16(acc: i64) -> i32 {
    sat_i32(round_shift(acc, ACC_FRAC - OUT_FRAC))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exact::fixed::f16_bits;

    /// xorshift64*, for test data only.
    fn rng(state: &mut u64) -> u64 {
        *state ^= *state >> 12;
        *state ^= *state << 25;
        *state ^= *state >> 27;
        state.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Random f16 scale bits with a finite exponent field drawn by `mode`: the
    /// model's range, anything finite, tiny (zero and subnormals), or the edges of
    /// the SIMD fast ranges.
    fn scale_bits(s: &mut u64, mode: u64) -> u16 {
        let r = rng(s);
        let field = match mode {
            0 => 4 + r % 15,
            1 => r % 31,
            2 => r % 4,
            _ => [3, 4, 5, 17, 18, 19, 20, 21, 22, 30][(r % 10) as usize],
        } as u16;
        let frac = if mode == 2 && r % 3 == 0 {
            0
        } else {
            (r >> 8) as u16 & 0x3ff
        };
        ((r >> 20) as u16 & 0x8000) | (field << 10) | frac
    }

    /// `rows` random weight rows of `blocks` blocks each.
    fn weights(s: &mut u64, format: WeightFormat, rows: usize, blocks: usize) -> Vec<u8> {
        let mode = rng(s) % 4;
        let mut w = Vec::with_capacity(rows * blocks * format.block_bytes());
        for _ in 0..rows * blocks {
            let scales = if format == WeightFormat::Q4_1 { 2 } else { 1 };
            for _ in 0..scales {
                // Mostly one mode per matrix, sometimes a stray block of another.
                let m = if rng(s) % 50 == 0 { rng(s) % 4 } else { mode };
                w.extend_from_slice(&scale_bits(s, m).to_le_bytes());
            }
            let n = format.block_bytes() - 2 * scales;
            w.extend((0..n).map(|_| rng(s) as u8));
        }
        w
    }

    /// A random activation of `blocks` blocks; every fourth one gets an exponent at
    /// an edge of the fast paths (or far beyond them).
    fn activation(s: &mut u64, blocks: usize) -> Act {
        let span = 1 + rng(s) % 40;
        let vals: Vec<i64> = (0..blocks * BLOCK)
            .map(|_| (rng(s) % (1 << span)) as i64 - (1 << (span - 1)))
            .collect();
        let mut act = Act::quantize(&vals, (rng(s) % 60) as i32 - 45);
        if rng(s) % 4 == 0 {
            let edges = [
                -300, -67, -66, -65, -64, -20, -10, -9, -8, -7, 0, 20, 54, 55, 56, 300,
            ];
            act.exp = edges[(rng(s) % edges.len() as u64) as usize];
        }
        act
    }

    /// Whether the scalar reference stays inside the spec's bounds for this row (debug
    /// builds check them with `debug_assert!`; release builds wrap, and so do the
    /// twins).
    fn in_bounds(format: WeightFormat, row: &[u8], act: &Act) -> bool {
        let mut acc = 0i64;
        let bb = format.block_bytes();
        for (b, blk) in row.chunks_exact(bb).enumerate() {
            let a = &act.q[b * BLOCK..(b + 1) * BLOCK];
            let d = f16_bits(u16::from_le_bytes([blk[0], blk[1]]));
            let mut terms = vec![if format == WeightFormat::Q4_1 {
                (d, quant::q4_block_sum(&blk[4..20], a))
            } else {
                (d, quant::q8_block_sum(&blk[2..34], a))
            }];
            if format == WeightFormat::Q4_1 {
                terms.push((
                    f16_bits(u16::from_le_bytes([blk[2], blk[3]])),
                    act.block_sums[b],
                ));
            }
            for (sc, sum) in terms {
                let v = sc.mant as i64 * sum as i64;
                let s = -(sc.exp + act.exp + ACC_FRAC);
                let t = if s > 0 {
                    round_shift(v, s)
                } else if v == 0 {
                    0
                } else if -s >= 63 || (v << -s) >> -s != v {
                    return false;
                } else {
                    v << -s
                };
                match acc.checked_add(t) {
                    Some(x) => acc = x,
                    None => return false,
                }
            }
        }
        true
    }

    fn format(case: usize) -> WeightFormat {
        if case % 2 == 0 {
            WeightFormat::Q4_1
        } else {
            WeightFormat::Q8_0
        }
    }

    #[test]
    fn simd_equals_scalar_over_random_rows() {
        let mut s = 0x1234_5678_9abc_def1u64;
        let mut checked = 0;
        for case in 0..3000 {
            let format = format(case);
            let blocks = 1 + (rng(&mut s) % 64) as usize;
            let row = weights(&mut s, format, 1, blocks);
            let act = activation(&mut s, blocks);
            if cfg!(debug_assertions) && !in_bounds(format, &row, &act) {
                continue;
            }
            checked += 1;
            assert_eq!(
                row_dot_acc(format, &row, &act),
                quant::row_dot_acc(format, &row, &act),
                "case {case}: {format:?}, {blocks} blocks, exp {}",
                act.exp
            );
            assert_eq!(
                row_dot(format, &row, &act),
                quant::row_dot(format, &row, &act)
            );
        }
        assert!(checked > 2000, "only {checked} cases inside the bounds");
    }

    #[test]
    fn simd_rows_equal_scalar_rows() {
        let mut s = 0x0bad_cafe_dead_beefu64;
        for case in 0..400 {
            let format = format(case);
            let blocks = 1 + (rng(&mut s) % 40) as usize;
            let n_rows = 1 + (rng(&mut s) % 9) as usize;
            let rb = blocks * format.block_bytes();
            let w = weights(&mut s, format, n_rows, blocks);
            let act = activation(&mut s, blocks);
            let rows: Vec<&[u8]> = w.chunks_exact(rb).collect();
            if cfg!(debug_assertions) && !rows.iter().all(|r| in_bounds(format, r, &act)) {
                continue;
            }
            let x = Prepared::new(&act);
            let mut acc = vec![0i64; n_rows];
            rows_dot_acc(format, &w, rb, &x, &mut acc);
            let mut out = vec![0i32; n_rows];
            rows_dot(format, &w, rb, &x, &mut out);
            for (r, row) in rows.iter().enumerate() {
                assert_eq!(
                    acc[r],
                    quant::row_dot_acc(format, row, &act),
                    "case {case} row {r}"
                );
                assert_eq!(
                    out[r],
                    quant::row_dot(format, row, &act),
                    "case {case} row {r}"
                );
            }
        }
    }

    /// The model's case: realistic scales, activation exponents around -14, long rows.
    #[test]
    fn simd_equals_scalar_on_model_like_rows() {
        let mut s = 0x005e_ed0f_5eed_u64;
        for case in 0..200 {
            let format = format(case);
            let blocks = [18, 48][case % 4 / 2];
            let rb = blocks * format.block_bytes();
            let mut w = Vec::new();
            for _ in 0..4 * blocks {
                let field = |s: &mut u64, lo: u64, hi: u64| (lo + rng(s) % (hi - lo + 1)) as u16;
                let d = field(&mut s, 7, 13) << 10 | (rng(&mut s) as u16 & 0x3ff);
                w.extend_from_slice(&d.to_le_bytes());
                if format == WeightFormat::Q4_1 {
                    let m = 0x8000 | field(&mut s, 10, 17) << 10 | (rng(&mut s) as u16 & 0x3ff);
                    w.extend_from_slice(&m.to_le_bytes());
                }
                let n = format.block_bytes() - if format == WeightFormat::Q4_1 { 4 } else { 2 };
                w.extend((0..n).map(|_| rng(&mut s) as u8));
            }
            let vals: Vec<i64> = (0..blocks * BLOCK)
                .map(|_| (rng(&mut s) % (1 << 22)) as i64 - (1 << 21))
                .collect();
            let act = Act::quantize(&vals, -7 - (rng(&mut s) % 12) as i32 - 14);
            let mut acc = vec![0i64; 4];
            rows_dot_acc(format, &w, rb, &Prepared::new(&act), &mut acc);
            for (r, row) in w.chunks_exact(rb).enumerate() {
                assert_eq!(
                    acc[r],
                    quant::row_dot_acc(format, row, &act),
                    "case {case} row {r}"
                );
            }
        }
    }

    /// Products as large as the fast paths allow (|F*S| near 2^58), 64 blocks, every
    /// activation exponent around the edges of the fast paths: the accumulator lanes
    /// come closest to overflowing here.
    #[test]
    fn simd_equals_scalar_at_extreme_magnitudes() {
        let mut s = 0xfeed_f00d_u64;
        let blocks = 64;
        for case in 0..400 {
            let format = format(case);
            let field = [18u16, 21][case / 2 % 2];
            let sign = if rng(&mut s) % 2 == 0 { 0 } else { 0x8000 };
            let bits = (sign | field << 10 | 0x3ff).to_le_bytes();
            let mut w = Vec::new();
            for _ in 0..2 * blocks {
                w.extend_from_slice(&bits);
                if format == WeightFormat::Q4_1 {
                    w.extend_from_slice(&bits);
                    w.extend_from_slice(&[0xff; 16]);
                } else {
                    w.extend_from_slice(&[0x80; 32]);
                }
            }
            let a = if rng(&mut s) % 2 == 0 { 32767 } else { -32767 };
            let mut act = Act::quantize(&vec![a; blocks * BLOCK], 0);
            let edges = [-75..=-60, -12..=-4, 48..=58];
            let range = edges[case / 4 % 3].clone();
            act.exp = *range.start() + (rng(&mut s) % (range.count() as u64)) as i32;
            let rb = blocks * format.block_bytes();
            let rows: Vec<&[u8]> = w.chunks_exact(rb).collect();
            if cfg!(debug_assertions) && !rows.iter().all(|r| in_bounds(format, r, &act)) {
                continue;
            }
            let mut acc = [0i64; 2];
            rows_dot_acc(format, &w, rb, &Prepared::new(&act), &mut acc);
            for (r, row) in rows.iter().enumerate() {
                let want = quant::row_dot_acc(format, row, &act);
                assert_eq!(acc[r], want, "case {case}: {format:?} exp {}", act.exp);
            }
        }
    }

    #[test]
    fn empty_rows_and_inputs() {
        let act = Act::quantize(&[], -16);
        let x = Prepared::new(&act);
        let mut out = [7i32; 3];
        rows_dot(WeightFormat::Q4_1, &[], 0, &x, &mut out);
        assert_eq!(out, [0; 3]);
        rows_dot(WeightFormat::Q8_0, &[], 0, &x, &mut []);
    }
}
