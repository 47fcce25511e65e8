//! The AVX2 twin for a batch of activations (a prompt's rows): each weight row
//! against [`TILE`] activations at a time (module docs of [`super`], "Batches").
//!
//! Per block the weights are loaded and widened to 16-bit lanes once and multiplied
//! into every activation of the tile; per four blocks the f16 scales are decoded
//! once. Each activation keeps its own accumulator lanes and its own shift, and
//! every term is the one [`super::avx2`] adds for that activation alone, so each
//! (row, activation) sum is the single-activation twin's, which is the definition's
//! ([`quant::row_dot_acc`]).

use super::avx2::{decode, partial, q4_weights, q8_weights, rd16, rd32, reduce4, MAX_EF};
use super::shift::{block_count, Shift, FLUSH_BLOCKS};
use super::Prepared;
use crate::exact::act::{Act, BLOCK};
use crate::exact::quant::{self, WeightFormat};
use std::arch::x86_64::*;

/// Activations per tile: the weight decode is shared four ways, and a tile's
/// partial sums (four blocks of four activations) fit the sixteen registers.
pub const TILE: usize = 4;

/// One activation's accumulator lanes and its shift as vectors. A left shift has
/// `half = 0` and `mask = -1`, so adding is plain addition, as in
/// [`super::avx2`]'s `LEFT` path.
#[derive(Clone, Copy)]
struct Lane {
    acc: __m256i,
    half: __m256i,
    mask: __m256i,
    shift: Shift,
}

impl Lane {
    #[inline(always)]
    unsafe fn new(shift: Shift) -> Self {
        Lane {
            acc: _mm256_setzero_si256(),
            half: _mm256_set1_epi64x(shift.half()),
            mask: _mm256_set1_epi64x(shift.mask()),
            shift,
        }
    }

    /// Adds the four terms whose exact products `F*S` are the i64 lanes of `p`.
    #[inline(always)]
    unsafe fn add(&mut self, p: __m256i) {
        let t = _mm256_and_si256(_mm256_add_epi64(p, self.half), self.mask);
        self.acc = _mm256_add_epi64(self.acc, t);
    }

    /// The sum of the terms added since the last flush.
    #[inline(always)]
    unsafe fn flush(&mut self) -> i64 {
        let mut l = [0i64; 4];
        _mm256_storeu_si256(l.as_mut_ptr() as *mut __m256i, self.acc);
        self.acc = _mm256_setzero_si256();
        self.shift.finish(l)
    }
}

/// Blocks `0..N` (1 <= N <= 4) of one row at `blk` against the same blocks of the
/// `T` activations `a` (block sums `bs`). Missing blocks are zero, as in
/// [`super::avx2`]: scale bits 0 decode to `F = 0`.
#[inline(always)]
unsafe fn group<const N: usize, const Q4: bool, const T: usize>(
    lanes: &mut [Lane; T],
    worst: &mut __m256i,
    blk: *const u8,
    a: &[*const i16; T],
    bs: &[*const i32; T],
) {
    let bb = if Q4 { 20 } else { 34 };
    // p[i][t]: block i's partial sums against activation t.
    let mut p = [[_mm256_setzero_si256(); T]; 4];
    for (i, pi) in p.iter_mut().enumerate().take(N) {
        let w = if Q4 {
            q4_weights(blk.add(i * bb + 4))
        } else {
            q8_weights(blk.add(i * bb + 2))
        };
        for (pit, at) in pi.iter_mut().zip(a) {
            *pit = partial(w, at.add(i * BLOCK));
        }
    }
    let sums = |t: usize| reduce4([p[0][t], p[1][t], p[2][t], p[3][t]]);
    let scales = |i: usize| match (i < N, Q4) {
        (false, _) => 0,
        (true, true) => rd32(blk.add(i * bb)),
        (true, false) => rd16(blk.add(i * bb)),
    };
    let h = _mm_setr_epi32(scales(0), scales(1), scales(2), scales(3));
    if Q4 {
        // Lanes [d0, m0, d1, m1, ...] against [S1_0, S0_0, S1_1, S0_1, ...].
        let f = decode(_mm256_cvtepu16_epi32(h), worst);
        let f_odd = _mm256_srli_epi64(f, 32);
        for (t, (lane, &bs)) in lanes.iter_mut().zip(bs).enumerate() {
            let s1 = sums(t);
            let s0 = if N == 4 {
                _mm_loadu_si128(bs as *const __m128i)
            } else {
                let s0 = |i: usize| if i < N { *bs.add(i) } else { 0 };
                _mm_setr_epi32(s0(0), s0(1), s0(2), s0(3))
            };
            let s = _mm256_set_m128i(_mm_unpackhi_epi32(s1, s0), _mm_unpacklo_epi32(s1, s0));
            lane.add(_mm256_mul_epi32(f, s));
            lane.add(_mm256_mul_epi32(f_odd, _mm256_srli_epi64(s, 32)));
        }
    } else {
        let f = decode(_mm256_cvtepu32_epi64(h), worst);
        for (t, lane) in lanes.iter_mut().enumerate() {
            lane.add(_mm256_mul_epi32(f, _mm256_cvtepu32_epi64(sums(t))));
        }
    }
}

/// Rows `0..n_rows` (`rb` bytes each) against the `T` activations `acts` (shifts
/// `shifts`, `n` blocks each): `emit(t, r, acc)` for each pair.
#[target_feature(enable = "avx2")]
unsafe fn tile<const Q4: bool, const T: usize>(
    rows: &[u8],
    rb: usize,
    n_rows: usize,
    acts: [&Act; T],
    shifts: [Shift; T],
    n: usize,
    emit: &mut impl FnMut(usize, usize, i64),
) {
    let (format, bb) = if Q4 {
        (WeightFormat::Q4_1, 20)
    } else {
        (WeightFormat::Q8_0, 34)
    };
    let fresh: [Lane; T] = std::array::from_fn(|t| Lane::new(shifts[t]));
    for r in 0..n_rows {
        let w = rows.as_ptr().add(r * rb);
        let mut lanes = fresh;
        let mut worst = _mm256_setzero_si256();
        let mut total = [0i64; T];
        let mut b = 0;
        let at = |b: usize| -> ([*const i16; T], [*const i32; T]) {
            (
                std::array::from_fn(|t| acts[t].q.as_ptr().add(b * BLOCK)),
                std::array::from_fn(|t| acts[t].block_sums.as_ptr().add(b)),
            )
        };
        while b + 4 <= n {
            let (a, bs) = at(b);
            group::<4, Q4, T>(&mut lanes, &mut worst, w.add(b * bb), &a, &bs);
            b += 4;
            if b % FLUSH_BLOCKS == 0 {
                for (sum, lane) in total.iter_mut().zip(&mut lanes) {
                    *sum = sum.wrapping_add(lane.flush());
                }
            }
        }
        let (a, bs) = at(b);
        let wb = w.add(b * bb);
        match n - b {
            3 => group::<3, Q4, T>(&mut lanes, &mut worst, wb, &a, &bs),
            2 => group::<2, Q4, T>(&mut lanes, &mut worst, wb, &a, &bs),
            1 => group::<1, Q4, T>(&mut lanes, &mut worst, wb, &a, &bs),
            _ => {}
        }
        let bad = _mm256_cmpgt_epi32(worst, _mm256_set1_epi32(MAX_EF));
        if _mm256_movemask_epi8(bad) != 0 {
            // A scale outside the decoded range: the definition, as the one-row twin.
            let row = &rows[r * rb..(r + 1) * rb];
            for (t, act) in acts.iter().enumerate() {
                emit(t, r, quant::row_dot_acc(format, row, act));
            }
        } else {
            for (t, (sum, lane)) in total.iter().zip(&mut lanes).enumerate() {
                emit(t, r, sum.wrapping_add(lane.flush()));
            }
        }
    }
}

/// [`tile`] for the activations `xs[t0..t0 + T]`, if each has a shift on the fast
/// path and they all have `n` blocks; `false` (nothing emitted) otherwise.
unsafe fn try_tile<const Q4: bool, const T: usize>(
    rows: &[u8],
    rb: usize,
    n_rows: usize,
    xs: &[Prepared],
    t0: usize,
    emit: &mut impl FnMut(usize, usize, i64),
) -> bool {
    let format = if Q4 {
        WeightFormat::Q4_1
    } else {
        WeightFormat::Q8_0
    };
    let acts: [&Act; T] = std::array::from_fn(|t| xs[t0 + t].act);
    let n = block_count(format, rb, acts[0]);
    let shifts: [Option<Shift>; T] = std::array::from_fn(|t| Shift::of(acts[t].exp));
    if shifts.iter().any(Option::is_none) || acts.iter().any(|a| block_count(format, rb, a) != n) {
        return false;
    }
    let shifts = shifts.map(|s| s.expect("checked above"));
    tile::<Q4, T>(rows, rb, n_rows, acts, shifts, n, &mut |t, r, acc| {
        emit(t0 + t, r, acc)
    });
    true
}

/// Accumulators of rows `0..n_rows` (`rb` bytes each) of a Q4_1 or Q8_0 matrix
/// against every activation of `xs`: `emit(t, r, acc)`, tile by tile (each tile's
/// rows in order). Activations the fast path cannot take go through
/// [`super::avx2::rows_acc`] one at a time. The caller has checked that AVX2 is
/// present and that `rows` holds `n_rows` rows.
pub unsafe fn rows_acc(
    format: WeightFormat,
    rows: &[u8],
    rb: usize,
    n_rows: usize,
    xs: &[Prepared],
    emit: &mut impl FnMut(usize, usize, i64),
) {
    let q4 = match format {
        WeightFormat::Q4_1 => true,
        WeightFormat::Q8_0 => false,
        _ => panic!("batch_avx2::rows_acc takes Q4_1 or Q8_0, not {format:?}"),
    };
    let mut t0 = 0;
    while t0 < xs.len() {
        let size = (xs.len() - t0).min(TILE);
        let done = match (q4, size) {
            (true, 4) => try_tile::<true, 4>(rows, rb, n_rows, xs, t0, emit),
            (true, 3) => try_tile::<true, 3>(rows, rb, n_rows, xs, t0, emit),
            (true, 2) => try_tile::<true, 2>(rows, rb, n_rows, xs, t0, emit),
            (false, 4) => try_tile::<false, 4>(rows, rb, n_rows, xs, t0, emit),
            (false, 3) => try_tile::<false, 3>(rows, rb, n_rows, xs, t0, emit),
            (false, 2) => try_tile::<false, 2>(rows, rb, n_rows, xs, t0, emit),
            _ => false,
        };
        if !done {
            for (t, x) in xs.iter().enumerate().skip(t0).take(size) {
                super::avx2::rows_acc(format, rows, rb, n_rows, x, &mut |r, acc| emit(t, r, acc));
            }
        }
        t0 += size;
    }
}
