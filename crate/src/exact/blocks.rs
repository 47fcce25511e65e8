//! The weight block formats spec `exact-2` adds (docs/numerics.md, section 13):
//! ggml's `block_q4_0`, `block_q5_0`, `block_q5_1` (32 elements) and the K-quants
//! `block_q4_K`, `block_q5_K`, `block_q6_K` (256-element super-blocks), laid out as in
//! ggml `ggml-common.h` and decoded as ggml `ggml-quants.c` (`dequantize_row_*`,
//! `get_scale_min_k4`) does, but in integers.
//!
//! Every format is read as one shape: a (super-)block of `len` elements holds
//! integers `q_j` (the format's offset already subtracted), integer sub-block scales
//! `sc_s` (sub-blocks of `sub` elements; 1 for single-scale formats), an f16 scale
//! `d`, and optionally a minimum `mn` (f16, negated for the K-quants, whose value
//! subtracts it) with integer per-32-element multipliers `mm_k`:
//!
//!   `value_j = d * sc_s(j) * q_j + mn * mm_k(j)`.
//!
//! A row times an activation `(a, e)` adds, per (super-)block, two terms, each
//! rounded once (the order of blocks cannot matter):
//!   `S1 = sum_s sc_s * sum_{j in s} q_j a_j`, `S0 = sum_k mm_k * S0_k`,
//!   `T = round_shift(dm * S1, -(de + e + 32)) + round_shift(mnm * S0, -(mne + e + 32))`.
//! For Q4_1 and Q8_0 (sc = 1, mm = 1, one 32-block) this is exact-1's section 3
//! term for term, which is why exact-2 is a strict superset of exact-1.

use super::act::{Act, BLOCK};
use super::fixed::{f16_bits, round_shift, sat_i32, wadd, Scaled};
use super::quant::{WeightFormat, ACC_FRAC, OUT_FRAC};

/// Elements of a K-quant super-block (ggml `QK_K`).
pub const QK_K: usize = 256;

/// One (super-)block decoded into integers (module docs).
pub struct Decoded {
    /// `q_j` with the format's offset subtracted; the first `len` are used.
    pub q: [i8; QK_K],
    /// Elements in the (super-)block: 32 or 256.
    pub len: usize,
    /// Elements per sub-block scale: 32, or 16 (Q6_K).
    pub sub: usize,
    /// Integer sub-block scales `sc_s` (`len / sub` of them).
    pub sc: [i32; 16],
    /// The f16 scale `d`.
    pub d: Scaled,
    /// The minimum `mn` (already signed as it is added) and its per-32 multipliers.
    pub min: Option<(Scaled, [i32; 8])>,
}

impl Default for Decoded {
    fn default() -> Self {
        Self {
            q: [0; QK_K],
            len: 0,
            sub: BLOCK,
            sc: [1; 16],
            d: Scaled { mant: 0, exp: 0 },
            min: None,
        }
    }
}

#[inline(always)]
fn f16_at(b: &[u8], i: usize) -> Scaled {
    f16_bits(u16::from_le_bytes([b[i], b[i + 1]]))
}

#[inline(always)]
fn neg(s: Scaled) -> Scaled {
    Scaled {
        mant: -s.mant,
        exp: s.exp,
    }
}

/// ggml `get_scale_min_k4`: the 6-bit scale and minimum of sub-block `j` (0..8)
/// packed in the 12 bytes `q`.
#[inline(always)]
pub fn scale_min_k4(j: usize, q: &[u8]) -> (i32, i32) {
    if j < 4 {
        ((q[j] & 63) as i32, (q[j + 4] & 63) as i32)
    } else {
        (
            ((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4)) as i32,
            ((q[j + 4] >> 4) | ((q[j] >> 6) << 4)) as i32,
        )
    }
}

/// The 32 nibbles of a 16-byte `qs` (element `j < 16` the low nibble of byte `j`,
/// `j + 16` its high nibble), plus the fifth bits of `qh` (bit `j` of the little-endian
/// u32) when `qh` is given, minus `offset`.
#[inline(always)]
fn legacy_q(qs: &[u8], qh: Option<&[u8]>, offset: i32, q: &mut [i8]) {
    let h = qh.map_or(0, |h| u32::from_le_bytes([h[0], h[1], h[2], h[3]]));
    for j in 0..16 {
        let lo = (qs[j] & 15) as i32 | ((((h >> j) & 1) << 4) as i32);
        let hi = (qs[j] >> 4) as i32 | ((((h >> (j + 16)) & 1) << 4) as i32);
        q[j] = (lo - offset) as i8;
        q[j + 16] = (hi - offset) as i8;
    }
}

/// Decodes block `blk` of an exact-2 `format` into `out`. Q4_1 and Q8_0 are decoded
/// too (the same shape), so tests can check the shared definition against exact-1.
pub fn decode(format: WeightFormat, blk: &[u8], out: &mut Decoded) {
    out.sub = BLOCK;
    out.len = format.block_elems();
    out.sc = [1; 16];
    match format {
        WeightFormat::Q8_0 => {
            out.d = f16_at(blk, 0);
            out.min = None;
            for j in 0..BLOCK {
                out.q[j] = blk[2 + j] as i8;
            }
        }
        WeightFormat::Q4_0 => {
            out.d = f16_at(blk, 0);
            out.min = None;
            legacy_q(&blk[2..18], None, 8, &mut out.q);
        }
        WeightFormat::Q4_1 => {
            out.d = f16_at(blk, 0);
            out.min = Some((f16_at(blk, 2), [1; 8]));
            legacy_q(&blk[4..20], None, 0, &mut out.q);
        }
        WeightFormat::Q5_0 => {
            out.d = f16_at(blk, 0);
            out.min = None;
            legacy_q(&blk[6..22], Some(&blk[2..6]), 16, &mut out.q);
        }
        WeightFormat::Q5_1 => {
            out.d = f16_at(blk, 0);
            out.min = Some((f16_at(blk, 2), [1; 8]));
            legacy_q(&blk[8..24], Some(&blk[4..8]), 0, &mut out.q);
        }
        WeightFormat::Q4K | WeightFormat::Q5K => {
            // d, dmin, scales[12], (Q5_K: qh[32]), qs[128].
            out.d = f16_at(blk, 0);
            let scales = &blk[4..16];
            let mut mm = [0i32; 8];
            for (s, m) in mm.iter_mut().enumerate() {
                let (sc, mi) = scale_min_k4(s, scales);
                out.sc[s] = sc;
                *m = mi;
            }
            out.min = Some((neg(f16_at(blk, 2)), mm));
            let (qh, qs) = if format == WeightFormat::Q5K {
                (Some(&blk[16..48]), &blk[48..176])
            } else {
                (None, &blk[16..144])
            };
            // Four groups of 64: the low nibbles of 32 bytes, then their high nibbles;
            // Q5_K's fifth bits are bits 2g and 2g + 1 of qh[l].
            for g in 0..4 {
                let bytes = &qs[32 * g..32 * g + 32];
                for l in 0..32 {
                    let (h0, h1) = match qh {
                        Some(h) => (
                            (((h[l] >> (2 * g)) & 1) << 4) as i32,
                            (((h[l] >> (2 * g + 1)) & 1) << 4) as i32,
                        ),
                        None => (0, 0),
                    };
                    out.q[64 * g + l] = ((bytes[l] & 15) as i32 | h0) as i8;
                    out.q[64 * g + 32 + l] = ((bytes[l] >> 4) as i32 | h1) as i8;
                }
            }
        }
        WeightFormat::Q6K => {
            // ql[128], qh[64], scales[16] (i8), d.
            let (ql, qh, sc) = (&blk[0..128], &blk[128..192], &blk[192..208]);
            out.d = f16_at(blk, 208);
            out.min = None;
            out.sub = 16;
            for (s, v) in sc.iter().enumerate() {
                out.sc[s] = *v as i8 as i32;
            }
            for n in 0..2 {
                let (ql, qh, y) = (&ql[64 * n..], &qh[32 * n..], &mut out.q[128 * n..]);
                for l in 0..32 {
                    let b =
                        |x: u8, sh: u32| ((x as i32) | ((((qh[l] >> sh) & 3) as i32) << 4)) - 32;
                    y[l] = b(ql[l] & 15, 0) as i8;
                    y[l + 32] = b(ql[l + 32] & 15, 2) as i8;
                    y[l + 64] = b(ql[l] >> 4, 4) as i8;
                    y[l + 96] = b(ql[l + 32] >> 4, 6) as i8;
                }
            }
        }
    }
}

/// `sum_j q_j * a_j` over one sub-block (exact: `|q| <= 128`, `|a| <= 32767`).
#[inline(always)]
fn dot_q(q: &[i8], a: &[i16]) -> i32 {
    q.iter().zip(a).map(|(&q, &a)| q as i32 * a as i32).sum()
}

/// Q32 accumulator of one weight row of `format` (its blocks' bytes) times `act`:
/// the sum of every (super-)block's term `T` (module docs), wrapping.
pub fn row_dot_acc(format: WeightFormat, row: &[u8], act: &Act) -> i64 {
    let e = act.exp;
    let mut dec = Decoded::default();
    let mut acc = 0i64;
    let len = format.block_elems();
    for (bi, blk) in row.chunks_exact(format.block_bytes()).enumerate() {
        decode(format, blk, &mut dec);
        let a = &act.q[bi * len..(bi + 1) * len];
        let mut s1 = 0i64;
        for (s, (q, a)) in dec.q[..len]
            .chunks_exact(dec.sub)
            .zip(a.chunks_exact(dec.sub))
            .enumerate()
        {
            s1 += dec.sc[s] as i64 * dot_q(q, a) as i64;
        }
        acc = wadd(
            acc,
            round_shift(dec.d.mant as i64 * s1, -(dec.d.exp + e + ACC_FRAC)),
        );
        if let Some((mn, mm)) = dec.min {
            let sums = &act.block_sums[bi * len / BLOCK..(bi + 1) * len / BLOCK];
            let s0: i64 = sums.iter().zip(mm).map(|(&s, m)| s as i64 * m as i64).sum();
            acc = wadd(
                acc,
                round_shift(mn.mant as i64 * s0, -(mn.exp + e + ACC_FRAC)),
            );
        }
    }
    acc
}

/// A row of `format` as Q16 values: per element, `d * sc * q` and `mn * mm` are
/// brought to the smaller of their two exponents exactly, summed, and rounded once.
pub fn dequant_row_q16(format: WeightFormat, row: &[u8], out: &mut [i32]) {
    let mut dec = Decoded::default();
    let len = format.block_elems();
    for (blk, o) in row
        .chunks_exact(format.block_bytes())
        .zip(out.chunks_exact_mut(len))
    {
        decode(format, blk, &mut dec);
        for (j, o) in o.iter_mut().enumerate() {
            let term = dec.d.mant as i64 * dec.sc[j / dec.sub] as i64 * dec.q[j] as i64;
            *o = match dec.min {
                None => sat_i32(round_shift(term, -(dec.d.exp + OUT_FRAC))),
                Some((mn, mm)) => {
                    let lo = dec.d.exp.min(mn.exp);
                    let v = (term << (dec.d.exp - lo))
                        + ((mn.mant as i64 * mm[j / BLOCK] as i64) << (mn.exp - lo));
                    sat_i32(round_shift(v, -(lo + OUT_FRAC)))
                }
            };
        }
    }
}

#[cfg(test)]
#[path = "blocks_tests.rs"]
mod tests;
