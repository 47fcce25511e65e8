//! The wasm simd128 twins (wasm32, built with `+simd128`): the row accumulator of
//! [`quant::row_dot_acc`] two rows and two blocks per tile over a permuted activation
//! ([`Prepared`]; module docs of [`super`]), and the attention dot product [`dot_i16`].

use super::shift::{block_count, Shift, FLUSH_BLOCKS};
use super::Prepared;
use crate::exact::act::BLOCK;
use crate::exact::quant::{self, WeightFormat};
use std::arch::wasm32::*;

/// Scale bits of a missing block (a one-block tile): 1.0, exponent field 15,
/// inside the fast range. Its sums are 0, so its lanes add exactly 0.
const PAD: u16 = 0x3c00;
/// Decoded exponent fields are `0..=18`, i.e. `g = max(field, 1) - 1` in `0..=17`.
const MAX_G: u16 = 17;
/// The largest decoded exponent field.
const MAX_FIELD: u8 = 18;

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
/// lanes 4..8). Exponent fields `0..=18`: `dm = frac` and `k = 0` for field 0
/// (subnormal), else `dm = 1024 + frac` and `k = field - 1`; so `k = g` with
/// `g = max(field, 1) - 1` in `0..=17` and `|F| < 2^11 * 2^17 = 2^28`. wasm has no
/// per-lane shift, so `F = (dm * 2^c) * 2^p` with `c = min(g, 3)` and `p = g - c`:
/// `dm * 2^c < 2^14` is an exact i16 product, `2^p <= 2^14`, and their i16 × i16
/// product is exact in i32; the powers of two come from a byte table (swizzle).
/// `worst` keeps the largest `g` (fields 19..=31 give 18..=30) to reject the row.
#[inline(always)]
fn decode(h: v128, worst: &mut v128) -> (v128, v128) {
    // Exponent field: shift the sign out, then the fraction; `g` saturates at 0.
    let field = u16x8_shr(i16x8_shl(h, 1), 11);
    let g = u16x8_sub_sat(field, i16x8_splat(1));
    *worst = u16x8_max(*worst, g);
    let c = u16x8_min(g, i16x8_splat(3));
    let p = i16x8_sub(g, c);
    let table = u8x16(1, 2, 4, 8, 16, 32, 64, 128, 0, 0, 0, 0, 0, 0, 0, 0);
    // 2^p as bytes: low byte table[p] (2^p for p < 8), high byte table[p - 8]
    // (2^(p-8) for p >= 8). p * 0x0101 copies p into both bytes; a table index
    // outside 0..16 (negative ones wrap above 127) reads 0.
    let idx = i16x8_sub(i16x8_mul(p, i16x8_splat(0x0101)), i16x8_splat(0x0800));
    let pow_p = i8x16_swizzle(table, idx);
    // 2^c: low byte table[c], high byte index 0xff reads 0.
    let pow_c = i8x16_swizzle(table, v128_or(c, i16x8_splat(-256)));
    // dm: the fraction's 10 bits, plus the implicit bit where the field is nonzero
    // (min(field, 1) << 10).
    let implicit = i16x8_shl(u16x8_min(field, i16x8_splat(1)), 10);
    let dm = v128_or(v128_and(h, i16x8_splat(0x3ff)), implicit);
    let mant = i16x8_mul(dm, pow_c);
    let sign = i16x8_shr(h, 15);
    let m = i16x8_sub(v128_xor(mant, sign), sign);
    (
        i32x4_extmul_low_i16x8(m, pow_p),
        i32x4_extmul_high_i16x8(m, pow_p),
    )
}

/// The state of two rows: two i64 lanes of scaled terms per row (module docs),
/// the largest `g` (see [`decode`]), and the rows' shift as vectors.
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
        let f = |v: v128| shift.finish([i64x2_extract_lane::<0>(v), i64x2_extract_lane::<1>(v)]);
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
    if v128_any_true(u16x8_gt(st.worst, u16x8_splat(MAX_G))) {
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
    // Whether every read block of a Q8_0 row has its scale's exponent field in the
    // decoded range (`decode`: fields 0..=MAX_FIELD).
    let decodable = |w: &[u8]| {
        w[..n * 34]
            .chunks_exact(34)
            .all(|b| (b[1] >> 2) & 31 <= MAX_FIELD)
    };
    let mut r = 0;
    while r < n_rows {
        // A lone last row is paired with itself.
        let r1 = (r + 1).min(n_rows - 1);
        // Q8_0 rows with a scale outside the decoded range (fields above 18) go
        // straight to the per-block path, which takes any scale.
        let got = if Q4 || decodable(row(r)) && decodable(row(r1)) {
            pair::<Q4, LEFT>(&mut st, [row(r).as_ptr(), row(r1).as_ptr()], x, n, shift)
        } else {
            None
        };
        let acc = got.unwrap_or_else(|| {
            [r, r1].map(|r| match Q4 {
                true => quant::row_dot_acc(format, row(r), x.act),
                false => super::exact2_simd128::q8_0_row_acc(&row(r)[..n * 34], x.act),
            })
        });
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
            // exact-2's formats never come here (`super::rows_acc` sends them to `exact2.rs`).
            (None, _)
            | (
                _,
                WeightFormat::Q4_0
                | WeightFormat::Q5_0
                | WeightFormat::Q5_1
                | WeightFormat::Q4K
                | WeightFormat::Q5K
                | WeightFormat::Q6K,
            ) => {
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

/// `sum a_i * b_i` over the common length (see [`super::dot_i16`]).
pub fn dot_i16(a: &[i16], b: &[i16]) -> i64 {
    let n = a.len().min(b.len());
    let mut acc = i64x2_splat(0);
    let mut i = 0;
    while i + 8 <= n {
        // SAFETY: i + 8 <= n for both slices.
        let (va, vb) = unsafe {
            (
                v128_load(a.as_ptr().add(i) as *const v128),
                v128_load(b.as_ptr().add(i) as *const v128),
            )
        };
        let p = i32x4_dot_i16x8(va, vb);
        acc = i64x2_add(acc, i64x2_extend_low_i32x4(p));
        acc = i64x2_add(acc, i64x2_extend_high_i32x4(p));
        i += 8;
    }
    let mut s = i64x2_extract_lane::<0>(acc).wrapping_add(i64x2_extract_lane::<1>(acc));
    for j in i..n {
        s = s.wrapping_add(a[j] as i64 * b[j] as i64);
    }
    s
}
