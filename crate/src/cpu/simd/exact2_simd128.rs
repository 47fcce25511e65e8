//! The wasm simd128 twins (wasm32, built with `+simd128`) of the exact-2 block
//! formats' `S1` (module docs of [`super::exact2`]): one (super-)block at a time,
//! over the activation in its natural order, weights widened to 16-bit lanes,
//! times their sub-block scale, then `i32x4.dot_i16x8_s`. Layouts:
//! docs/numerics.md, section 14.

use super::exact2::row_acc;
use crate::exact::act::Act;
use crate::exact::quant::WeightFormat;
use std::arch::wasm32::*;

const Q4_0: u8 = 0;
const Q5_0: u8 = 1;
const Q5_1: u8 = 2;
const Q4_K: u8 = 3;
const Q5_K: u8 = 4;
const Q6_K: u8 = 5;

#[inline(always)]
unsafe fn load(p: *const u8) -> v128 {
    v128_load(p as *const v128)
}

#[inline(always)]
unsafe fn load_a(a: *const i16, i: usize) -> v128 {
    v128_load(a.add(i) as *const v128)
}

/// The sum of the four i32 lanes of `v` (the caller bounds it below 2^31).
#[inline(always)]
fn hsum32(v: v128) -> i64 {
    let s = i32x4_add(v, i32x4_shuffle::<2, 3, 0, 1>(v, v));
    let s = i32x4_add(s, i32x4_shuffle::<1, 0, 3, 2>(s, s));
    i32x4_extract_lane::<0>(s) as i64
}

/// `acc` (two i64 lanes) plus the four i32 lanes of `v`, widened.
#[inline(always)]
fn widen_add(acc: v128, v: v128) -> v128 {
    i64x2_add(
        acc,
        i64x2_add(i64x2_extend_low_i32x4(v), i64x2_extend_high_i32x4(v)),
    )
}

/// Eight i16 lanes, lane `j` = 16 if bit `j` of `bits` is set, else 0.
#[inline(always)]
fn fifth_bits(bits: u32) -> v128 {
    let m = i16x8(1, 2, 4, 8, 16, 32, 64, 128);
    let v = v128_and(i16x8_splat(bits as u16 as i16), m);
    v128_and(i16x8_eq(v, m), i16x8_splat(16))
}

/// `S1` of one 32-element legacy block (Q4_0, Q5_0, Q5_1) at `blk` against `a`:
/// nibble `j` (+ 16 × bit `j` of `qh`) minus the format's offset. `|q| <= 31`,
/// so each i32 lane sums eight products below 2^20.
#[inline(always)]
unsafe fn legacy_s1<const F: u8>(blk: *const u8, a: *const i16) -> i64 {
    let (qs, off) = match F {
        Q4_0 => (blk.add(2), 8),
        Q5_0 => (blk.add(6), 16),
        _ => (blk.add(8), 0),
    };
    let q = load(qs);
    let lo = v128_and(q, u8x16_splat(15));
    let hi = u8x16_shr(q, 4);
    // Elements 0..8, 8..16 (low nibbles), 16..24, 24..32 (high nibbles).
    let mut v = [
        u16x8_extend_low_u8x16(lo),
        u16x8_extend_high_u8x16(lo),
        u16x8_extend_low_u8x16(hi),
        u16x8_extend_high_u8x16(hi),
    ];
    if F != Q4_0 {
        let qh = blk.add(if F == Q5_0 { 2 } else { 4 });
        let h = (qh as *const u32).read_unaligned();
        for (i, v) in v.iter_mut().enumerate() {
            *v = v128_or(*v, fifth_bits(h >> (8 * i)));
        }
    }
    if off != 0 {
        for v in v.iter_mut() {
            *v = i16x8_sub(*v, i16x8_splat(off));
        }
    }
    hsum32(i32x4_add(
        i32x4_add(
            i32x4_dot_i16x8(v[0], load_a(a, 0)),
            i32x4_dot_i16x8(v[1], load_a(a, 8)),
        ),
        i32x4_add(
            i32x4_dot_i16x8(v[2], load_a(a, 16)),
            i32x4_dot_i16x8(v[3], load_a(a, 24)),
        ),
    ))
}

/// `S1` of one Q8_0 block (exact-1's format: `d`, then 32 i8 at byte 2). Each i32
/// lane sums eight products below 2^22.
#[inline(always)]
unsafe fn q8_0_s1(blk: *const u8, a: *const i16) -> i64 {
    let (q0, q1) = (load(blk.add(2)), load(blk.add(18)));
    hsum32(i32x4_add(
        i32x4_add(
            i32x4_dot_i16x8(i16x8_extend_low_i8x16(q0), load_a(a, 0)),
            i32x4_dot_i16x8(i16x8_extend_high_i8x16(q0), load_a(a, 8)),
        ),
        i32x4_add(
            i32x4_dot_i16x8(i16x8_extend_low_i8x16(q1), load_a(a, 16)),
            i32x4_dot_i16x8(i16x8_extend_high_i8x16(q1), load_a(a, 24)),
        ),
    ))
}

/// The accumulator of one Q8_0 `row` (whole blocks, no more than `act` has) as
/// exact-1's [`crate::exact::quant::row_dot_acc`] defines it (section 14's
/// definition is section 3's term for term), for any scale: the fallback of the
/// Q8_0 tile kernel for rows with a scale outside its decoded range (Gemma's
/// token embedding and tied head have many).
pub fn q8_0_row_acc(row: &[u8], act: &Act) -> i64 {
    row_acc(WeightFormat::Q8_0, row, act, |blk, a, _| {
        // SAFETY: one whole 34-byte block and its 32 activations.
        unsafe { q8_0_s1(blk.as_ptr(), a.as_ptr()) }
    })
}

/// Four i32 lanes summing to `sc * sum_j q_j a_j` over 16 elements whose `q_j`
/// are the bytes of `q` read as `SIGNED` or unsigned. `|q * sc| <= 4096` fits
/// i16; each lane sums four products below 2^27.
#[inline(always)]
unsafe fn scaled_dot<const SIGNED: bool>(q: v128, a: *const i16, sc: i16) -> v128 {
    let (q0, q1) = if SIGNED {
        (i16x8_extend_low_i8x16(q), i16x8_extend_high_i8x16(q))
    } else {
        (u16x8_extend_low_u8x16(q), u16x8_extend_high_u8x16(q))
    };
    let s = i16x8_splat(sc);
    i32x4_add(
        i32x4_dot_i16x8(i16x8_mul(q0, s), load_a(a, 0)),
        i32x4_dot_i16x8(i16x8_mul(q1, s), load_a(a, 8)),
    )
}

/// `S1` of one Q4_K or Q5_K super-block: four groups of 64 elements, the low
/// nibbles of 32 bytes (sub-block `2g`) then their high nibbles (`2g + 1`), Q5_K's
/// fifth bits from bits `2g`, `2g + 1` of `qh[l]`. Per group, an i32 lane sums
/// sixteen products `|q sc a| <= 31 * 63 * 32767 < 2^26` before it is widened.
#[inline(always)]
unsafe fn k45_s1<const Q5: bool>(blk: *const u8, a: *const i16, sc: &[i16; 16]) -> i64 {
    let qs = blk.add(if Q5 { 48 } else { 16 });
    let m4 = u8x16_splat(15);
    let mut acc = i64x2_splat(0);
    for g in 0..4 {
        let mut p = i32x4_splat(0);
        // Bytes 32g + 16h .. +16: elements 64g + 16h (low) and 64g + 32 + 16h (high).
        for h in 0..2 {
            let q = load(qs.add(32 * g + 16 * h));
            let mut lo = v128_and(q, m4);
            let mut hi = u8x16_shr(q, 4);
            if Q5 {
                let qh = load(blk.add(16 + 16 * h));
                let bit = |k: usize| {
                    let b = u8x16_splat(1 << k);
                    v128_and(i8x16_eq(v128_and(qh, b), b), u8x16_splat(16))
                };
                lo = v128_or(lo, bit(2 * g));
                hi = v128_or(hi, bit(2 * g + 1));
            }
            let e = 64 * g + 16 * h;
            p = i32x4_add(p, scaled_dot::<false>(lo, a.add(e), sc[2 * g]));
            p = i32x4_add(p, scaled_dot::<false>(hi, a.add(e + 32), sc[2 * g + 1]));
        }
        acc = widen_add(acc, p);
    }
    i64x2_extract_lane::<0>(acc) + i64x2_extract_lane::<1>(acc)
}

/// `S1` of one Q6_K super-block: per half `n` and 16-byte quarter `h`, vectors of
/// `ql` (`L0`, `L1`) and `qh` (`H`) give 16 elements of each of the four runs of
/// 32 (numerics.md, section 14); 16 elements are one sub-block. Per two runs, an
/// i32 lane sums eight products `|q sc a| <= 32 * 128 * 32767 < 2^27` before it
/// is widened.
#[inline(always)]
unsafe fn q6k_s1(blk: *const u8, a: *const i16, sc: &[i16; 16]) -> i64 {
    let (m4, m30, off) = (u8x16_splat(15), u8x16_splat(0x30), u8x16_splat(32));
    let mut acc = i64x2_splat(0);
    for n in 0..2 {
        for h in 0..2 {
            let l0 = load(blk.add(64 * n + 16 * h));
            let l1 = load(blk.add(64 * n + 32 + 16 * h));
            let hb = load(blk.add(128 + 32 * n + 16 * h));
            let runs = [
                v128_or(v128_and(l0, m4), v128_and(i8x16_shl(hb, 4), m30)),
                v128_or(v128_and(l1, m4), v128_and(i8x16_shl(hb, 2), m30)),
                v128_or(u8x16_shr(l0, 4), v128_and(hb, m30)),
                v128_or(u8x16_shr(l1, 4), v128_and(u8x16_shr(hb, 2), m30)),
            ];
            for (pi, pair) in runs.chunks_exact(2).enumerate() {
                let mut p = i32x4_splat(0);
                for (j, &run) in pair.iter().enumerate() {
                    let q = i8x16_sub(run, off);
                    let e = 128 * n + 32 * (2 * pi + j) + 16 * h;
                    p = i32x4_add(p, scaled_dot::<true>(q, a.add(e), sc[e / 16]));
                }
                acc = widen_add(acc, p);
            }
        }
    }
    i64x2_extract_lane::<0>(acc) + i64x2_extract_lane::<1>(acc)
}

/// Accumulators of rows `0..n_rows` (`rb` bytes each) of `rows`, an exact-2
/// `format`; the caller has checked that `rows` holds `n_rows` rows.
pub fn rows_acc(
    format: WeightFormat,
    rows: &[u8],
    rb: usize,
    n_rows: usize,
    act: &Act,
    emit: &mut impl FnMut(usize, i64),
) {
    match format {
        WeightFormat::Q4_0 => run::<Q4_0>(format, rows, rb, n_rows, act, emit),
        WeightFormat::Q5_0 => run::<Q5_0>(format, rows, rb, n_rows, act, emit),
        WeightFormat::Q5_1 => run::<Q5_1>(format, rows, rb, n_rows, act, emit),
        WeightFormat::Q4K => run::<Q4_K>(format, rows, rb, n_rows, act, emit),
        WeightFormat::Q5K => run::<Q5_K>(format, rows, rb, n_rows, act, emit),
        WeightFormat::Q6K => run::<Q6_K>(format, rows, rb, n_rows, act, emit),
        WeightFormat::Q4_1 | WeightFormat::Q8_0 => {
            unreachable!("exact-1 formats have their own twins")
        }
    }
}

fn run<const F: u8>(
    format: WeightFormat,
    rows: &[u8],
    rb: usize,
    n_rows: usize,
    act: &Act,
    emit: &mut impl FnMut(usize, i64),
) {
    for r in 0..n_rows {
        let w = &rows[r * rb..(r + 1) * rb];
        let acc = row_acc(format, w, act, |blk, a, sc| {
            let (blk, a) = (blk.as_ptr(), a.as_ptr());
            // SAFETY: `row_acc` passes one whole block and its `len` activations;
            // every load stays inside them (v128 loads may be unaligned).
            unsafe {
                match F {
                    Q4_0 | Q5_0 | Q5_1 => legacy_s1::<F>(blk, a),
                    Q4_K => k45_s1::<false>(blk, a, sc),
                    Q5_K => k45_s1::<true>(blk, a, sc),
                    _ => q6k_s1(blk, a, sc),
                }
            }
        });
        emit(r, acc);
    }
}
