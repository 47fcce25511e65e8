//! The AVX2 row accumulator of the 32-element block formats for a batch of
//! activations (a prompt's rows; a decode step is a batch of one): each weight row
//! against up to [`TILE`] activations at a time (module docs of [`super`], "One
//! shift per row" and "Batches").
//!
//! Per block the weights are loaded and widened to 16-bit lanes once and multiplied
//! into every activation of the tile; per four blocks the f16 scales are decoded
//! once. Each activation keeps its own accumulator lanes and its own shift and gets
//! exactly its own terms, so each (row, activation) sum is the definition's
//! (exact-1's `quant::row_dot_acc`, exact-2's `blocks::row_dot_acc`) in any tile.

use super::avx2::{
    block_sums, blocks_of, decode, definition, format_of, has_min, layout, min_products, partial,
    reduce4, scale_bits, weights, MAX_EF, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0,
};
use super::shift::{Shift, FLUSH_BLOCKS};
use super::Prepared;
use crate::exact::act::{Act, BLOCK};
use crate::exact::quant::WeightFormat;
use std::arch::x86_64::*;

/// Activations per tile: the weight decode is shared four ways, and a tile's
/// partial sums (four blocks of four activations) fit the sixteen registers.
pub const TILE: usize = 4;

/// One activation's accumulator lanes and its shift as vectors. A left shift has
/// `half = 0` and `mask = -1`, so adding is plain addition.
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

/// Blocks `0..N` (1 <= N <= 4) of layout `L` at `blk` against the same blocks of
/// the `T` activations `a` (block sums `bs`). Missing blocks are zero, as in
/// [`super::avx2`]: scale bits 0 decode to `F = 0`.
#[inline(always)]
unsafe fn group<const N: usize, const L: u8, const T: usize>(
    lanes: &mut [Lane; T],
    worst: &mut __m256i,
    blk: *const u8,
    a: &[*const i16; T],
    bs: &[*const i32; T],
) {
    let bb = format_of(L).block_bytes();
    // p[i][t]: block i's partial sums against activation t.
    let mut p = [[_mm256_setzero_si256(); T]; 4];
    for (i, pi) in p.iter_mut().enumerate().take(N) {
        let w = weights::<L>(blk.add(i * bb));
        for (pit, at) in pi.iter_mut().zip(a) {
            *pit = partial(w, at.add(i * BLOCK));
        }
    }
    let sums = |t: usize| reduce4([p[0][t], p[1][t], p[2][t], p[3][t]]);
    let h = scale_bits::<N, L>(blk);
    if has_min(L) {
        let f = decode(_mm256_cvtepu16_epi32(h), worst);
        for (t, (lane, &bs)) in lanes.iter_mut().zip(bs).enumerate() {
            for prod in min_products(f, sums(t), block_sums::<N>(bs)) {
                lane.add(prod);
            }
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
unsafe fn tile<const L: u8, const T: usize>(
    rows: &[u8],
    rb: usize,
    n_rows: usize,
    acts: [&Act; T],
    shifts: [Shift; T],
    n: usize,
    emit: &mut impl FnMut(usize, usize, i64),
) {
    let (format, bb) = (format_of(L), format_of(L).block_bytes());
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
            group::<4, L, T>(&mut lanes, &mut worst, w.add(b * bb), &a, &bs);
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
            3 => group::<3, L, T>(&mut lanes, &mut worst, wb, &a, &bs),
            2 => group::<2, L, T>(&mut lanes, &mut worst, wb, &a, &bs),
            1 => group::<1, L, T>(&mut lanes, &mut worst, wb, &a, &bs),
            _ => {}
        }
        let bad = _mm256_cmpgt_epi32(worst, _mm256_set1_epi32(MAX_EF));
        if _mm256_movemask_epi8(bad) != 0 {
            // A scale outside the decoded range: the definition, as the one-row twin.
            let row = &rows[r * rb..(r + 1) * rb];
            for (t, act) in acts.iter().enumerate() {
                emit(t, r, definition(format, row, act));
            }
        } else {
            for (t, (sum, lane)) in total.iter().zip(&mut lanes).enumerate() {
                emit(t, r, sum.wrapping_add(lane.flush()));
            }
        }
    }
}

/// [`tile`] for the `T` activations `xs` (emitted as `t0..t0 + T`), if each has a
/// shift on the fast path and they all have `n` blocks; `false` (nothing emitted)
/// otherwise.
unsafe fn try_tile<const L: u8, const T: usize>(
    rows: &[u8],
    rb: usize,
    n_rows: usize,
    xs: &[Prepared],
    t0: usize,
    emit: &mut impl FnMut(usize, usize, i64),
) -> bool {
    let acts: [&Act; T] = std::array::from_fn(|t| xs[t].act);
    let n = blocks_of(L, rb, acts[0]);
    let shifts: [Option<Shift>; T] = std::array::from_fn(|t| Shift::of(acts[t].exp));
    if shifts.iter().any(Option::is_none) || acts.iter().any(|a| blocks_of(L, rb, a) != n) {
        return false;
    }
    let shifts = shifts.map(|s| s.expect("checked above"));
    tile::<L, T>(rows, rb, n_rows, acts, shifts, n, &mut |t, r, acc| {
        emit(t0 + t, r, acc)
    });
    true
}

/// [`try_tile`] for the 1 to [`TILE`] activations `xs` (emitted as `t0..`), in
/// `format`.
unsafe fn attempt(
    format: WeightFormat,
    rows: &[u8],
    rb: usize,
    n_rows: usize,
    xs: &[Prepared],
    t0: usize,
    emit: &mut impl FnMut(usize, usize, i64),
) -> bool {
    let l = layout(format).expect("the one-shift kernels take legacy block formats only");
    macro_rules! go {
        ($($l:ident),*) => {
            match (l, xs.len()) {
                $(
                    ($l, 4) => try_tile::<$l, 4>(rows, rb, n_rows, xs, t0, emit),
                    ($l, 3) => try_tile::<$l, 3>(rows, rb, n_rows, xs, t0, emit),
                    ($l, 2) => try_tile::<$l, 2>(rows, rb, n_rows, xs, t0, emit),
                    ($l, 1) => try_tile::<$l, 1>(rows, rb, n_rows, xs, t0, emit),
                )*
                _ => unreachable!("layout() gives one of the five; tiles hold 1 to 4"),
            }
        };
    }
    go!(Q4_1, Q8_0, Q4_0, Q5_0, Q5_1)
}

/// Accumulators of rows `0..n_rows` (`rb` bytes each) of a matrix in a format
/// [`layout`] takes against every activation of `xs` (one, for a decode step):
/// `emit(t, r, acc)`, tile by tile (each tile's rows in order). A tile the fast
/// path cannot take whole goes one activation at a time; an activation exponent off
/// the fast path goes to the definition. The caller has checked that AVX2 is
/// present and that `rows` holds `n_rows` rows.
pub unsafe fn rows_acc(
    format: WeightFormat,
    rows: &[u8],
    rb: usize,
    n_rows: usize,
    xs: &[Prepared],
    emit: &mut impl FnMut(usize, usize, i64),
) {
    let mut t0 = 0;
    while t0 < xs.len() {
        let size = (xs.len() - t0).min(TILE);
        if size == 1 || !attempt(format, rows, rb, n_rows, &xs[t0..t0 + size], t0, emit) {
            for t in t0..t0 + size {
                if !attempt(format, rows, rb, n_rows, &xs[t..t + 1], t, emit) {
                    for r in 0..n_rows {
                        emit(
                            t,
                            r,
                            definition(format, &rows[r * rb..(r + 1) * rb], xs[t].act),
                        );
                    }
                }
            }
        }
        t0 += size;
    }
}
