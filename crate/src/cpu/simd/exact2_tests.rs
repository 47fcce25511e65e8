//! The exact-2 formats' SIMD twins ([`super::exact2`]) against their definition
//! ([`blocks::row_dot_acc`]) through the dispatcher's entry points, over random
//! blocks, awkward shapes (no blocks, one, odd counts, trailing bytes, longer
//! activations, several rows) and the extreme blocks the formats can hold. Natively
//! with AVX2 (which an x86_64 test host must have) and on wasm32 (simd128,
//! `make test-wasm`). Generators that drop cases outside the spec's bounds count what
//! they keep and fail below a floor.

use super::*;
use crate::exact::blocks::{self, decode, Decoded};
#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

const FORMATS: [WeightFormat; 6] = [
    WeightFormat::Q4_0,
    WeightFormat::Q5_0,
    WeightFormat::Q5_1,
    WeightFormat::Q4K,
    WeightFormat::Q5K,
    WeightFormat::Q6K,
];

/// This target's SIMD twin (x86_64 without AVX2 fails: the tests would compare the
/// scalar code with itself).
fn simd_twin() -> Option<Twin> {
    #[cfg(target_arch = "x86_64")]
    {
        assert_eq!(Twin::detected(), Twin::Avx2, "this x86_64 CPU has no AVX2");
        Some(Twin::Avx2)
    }
    #[cfg(target_arch = "wasm32")]
    {
        Some(Twin::Simd128)
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "wasm32")))]
    {
        None
    }
}

fn twins() -> Vec<Twin> {
    [Twin::Scalar].into_iter().chain(simd_twin()).collect()
}

/// xorshift64*, for test data only.
fn rng(state: &mut u64) -> u64 {
    *state ^= *state >> 12;
    *state ^= *state << 25;
    *state ^= *state >> 27;
    state.wrapping_mul(0x2545_f491_4f6c_dd1d)
}

/// Rows `w` (each `rb` bytes) times `act` on every twin, against the definition row
/// by row, through both entry points (Q32 accumulators, Q16 outputs).
fn check(format: WeightFormat, w: &[u8], rb: usize, n_rows: usize, act: &Act, what: &str) {
    let x = Prepared::new(act);
    for twin in twins() {
        let mut acc = vec![0i64; n_rows];
        rows_dot_acc_on(twin, format, w, rb, &x, &mut acc);
        let mut out = vec![0i32; n_rows];
        rows_dot_on(twin, format, w, rb, &x, &mut out);
        for r in 0..n_rows {
            let row = &w[r * rb..(r + 1) * rb];
            let want = blocks::row_dot_acc(format, row, act);
            assert_eq!(
                acc[r], want,
                "{what} row {r}: {twin:?} {format:?} exp {}",
                act.exp
            );
            assert_eq!(
                out[r],
                quant::row_dot(format, row, act),
                "{what} row {r}: {twin:?}"
            );
        }
    }
}

/// Random f16 scale bits: the model's range, any finite, tiny (zero, subnormal).
fn scale_bits(s: &mut u64, mode: u64) -> u16 {
    let r = rng(s);
    let field = match mode {
        0 => 4 + r % 15,
        1 => r % 31,
        _ => r % 3,
    } as u16;
    ((r >> 20) as u16 & 0x8000) | (field << 10) | ((r >> 8) as u16 & 0x3ff)
}

/// `n` random blocks of `format` with finite scales of `mode`.
fn random_blocks(s: &mut u64, format: WeightFormat, n: usize, mode: u64) -> Vec<u8> {
    let bb = format.block_bytes();
    let mut w: Vec<u8> = (0..n * bb).map(|_| rng(s) as u8).collect();
    for blk in w.chunks_exact_mut(bb) {
        for &o in format.scale_offsets() {
            blk[o..o + 2].copy_from_slice(&scale_bits(s, mode).to_le_bytes());
        }
    }
    w
}

/// A random activation of `n` elements (a multiple of 32) with exponent `exp`.
fn activation(s: &mut u64, n: usize, exp: i32) -> Act {
    let span = 1 + rng(s) % 40;
    let vals: Vec<i64> = (0..n)
        .map(|_| (rng(s) % (1 << span)) as i64 - (1 << (span - 1)))
        .collect();
    let mut act = Act::quantize(&vals, 0);
    act.exp = exp;
    act
}

/// Whether the definition stays inside the spec's bounds for `row` (debug builds
/// check them; release builds wrap, and so do the twins).
pub(super) fn in_bounds(format: WeightFormat, row: &[u8], act: &Act) -> bool {
    let mut dec = Decoded::default();
    let len = format.block_elems();
    let mut acc = 0i64;
    for (b, blk) in row.chunks_exact(format.block_bytes()).enumerate() {
        decode(format, blk, &mut dec);
        let a = &act.q[b * len..(b + 1) * len];
        let s1: i64 = (0..len)
            .map(|j| dec.sc[j / dec.sub] as i64 * dec.q[j] as i64 * a[j] as i64)
            .sum();
        let mut terms = vec![(dec.d, s1)];
        if let Some((mn, mm)) = dec.min {
            let sums = &act.block_sums[b * len / BLOCK..(b + 1) * len / BLOCK];
            let s0 = sums.iter().zip(mm).map(|(&s, m)| s as i64 * m as i64).sum();
            terms.push((mn, s0));
        }
        for (sc, sum) in terms {
            let v = sc.mant as i64 * sum;
            let sh = -(sc.exp + act.exp + ACC_FRAC);
            let t = if sh > 0 {
                round_shift(v, sh)
            } else if v == 0 {
                0
            } else if -sh >= 63 || (v << -sh) >> -sh != v {
                return false;
            } else {
                v << -sh
            };
            match acc.checked_add(t) {
                Some(x) => acc = x,
                None => return false,
            }
        }
    }
    true
}

/// Random rows in every shape: 0 to 9 super-blocks or 0 to 70 blocks, 0 to 4 rows,
/// trailing bytes after the last whole block (the definition ignores them), and
/// activations longer than the row.
#[test]
fn exact2_twins_equal_the_definition_over_random_shapes() {
    let mut s = 0x0e8a_c7e2_5eed_0001u64;
    let mut checked = [0usize; 6];
    for case in 0..1800 {
        let fi = case % 6;
        let format = FORMATS[fi];
        let (bb, len) = (format.block_bytes(), format.block_elems());
        let blocks = (rng(&mut s) % if len == 32 { 71 } else { 10 }) as usize;
        let n_rows = (rng(&mut s) % 5) as usize;
        let extra = if rng(&mut s).is_multiple_of(3) {
            1 + (rng(&mut s) % (bb as u64 - 1)) as usize
        } else {
            0
        };
        let rb = blocks * bb + extra;
        let mode = rng(&mut s) % 3;
        let mut w = Vec::new();
        for _ in 0..n_rows {
            w.extend(random_blocks(&mut s, format, blocks, mode));
            w.extend((0..extra).map(|_| rng(&mut s) as u8));
        }
        let more = (rng(&mut s) % 3) as usize * BLOCK;
        let exp = (rng(&mut s) % 70) as i32 - 55;
        let act = activation(&mut s, blocks * len + more, exp);
        if cfg!(debug_assertions)
            && !(0..n_rows).all(|r| in_bounds(format, &w[r * rb..(r + 1) * rb], &act))
        {
            continue;
        }
        checked[fi] += 1;
        check(format, &w, rb, n_rows, &act, &format!("case {case}"));
    }
    for (f, n) in FORMATS.iter().zip(checked) {
        assert!(n >= 200, "{f:?}: only {n} of 300 cases inside the bounds");
    }
}

/// The model's case (Gemma 3 270M's matrices: 640, 1024 and 2048 columns): scales
/// like a quantizer's, activation exponents around -20.
#[test]
fn exact2_twins_equal_the_definition_on_model_like_rows() {
    let mut s = 0x6e33_a270_0000_0001u64;
    for case in 0..120 {
        let format = FORMATS[case % 6];
        let cols = [640, 1024, 2048][case / 6 % 3];
        let (bb, len) = (format.block_bytes(), format.block_elems());
        let blocks = cols / len;
        let n_rows = 3;
        let mut w = random_blocks(&mut s, format, n_rows * blocks, 0);
        for blk in w.chunks_exact_mut(bb) {
            for (i, &o) in format.scale_offsets().iter().enumerate() {
                let field = 5 + rng(&mut s) % 9;
                let sign = if i == 1 {
                    0
                } else {
                    rng(&mut s) as u16 & 0x8000
                };
                let bits = sign | (field as u16) << 10 | (rng(&mut s) as u16 & 0x3ff);
                blk[o..o + 2].copy_from_slice(&bits.to_le_bytes());
            }
        }
        let exp = -14 - (rng(&mut s) % 12) as i32;
        let act = activation(&mut s, blocks * len, exp);
        if cfg!(debug_assertions)
            && !w
                .chunks_exact(blocks * bb)
                .all(|r| in_bounds(format, r, &act))
        {
            panic!("case {case}: a model-like row outside the bounds");
        }
        check(
            format,
            &w,
            blocks * bb,
            n_rows,
            &act,
            &format!("case {case}"),
        );
    }
}

/// One extreme block of `format`: every `q_j` at its largest (`high`) or its most
/// negative, every sub-block scale and multiplier at its largest magnitude (Q6_K:
/// -128 or 127), f16 scale bits `d`, `m`.
fn extreme_block(format: WeightFormat, high: bool, d: u16, m: u16) -> Vec<u8> {
    let mut b = vec![if high { 0xff } else { 0x00 }; format.block_bytes()];
    if format == WeightFormat::Q6K {
        // ql 0, qh 0 gives -32; all ones gives 31.
        b[192..208].fill(if high { 127 } else { 0x80 });
    }
    if matches!(format, WeightFormat::Q4K | WeightFormat::Q5K) {
        b[4..16].fill(0xff); // every 6-bit scale and minimum 63
    }
    let offs = format.scale_offsets();
    b[offs[0]..offs[0] + 2].copy_from_slice(&d.to_le_bytes());
    if let Some(&o) = offs.get(1) {
        b[o..o + 2].copy_from_slice(&m.to_le_bytes());
    }
    b
}

/// Extreme blocks against activations at ±32767 (all one sign, alternating, or
/// opposite to the weights): the largest lane sums the kernels' bounds allow. Scales
/// and exponents span right and left shifts; in debug builds a case outside the
/// spec's bounds is shrunk (activation halved) until it fits.
#[test]
fn exact2_twins_equal_the_definition_on_extreme_blocks() {
    let mut kept = 0;
    for (fi, format) in FORMATS.into_iter().enumerate() {
        let len = format.block_elems();
        let blocks = if len == 32 { 40 } else { 5 };
        for (ci, (high, sign_mode)) in [(true, 0), (false, 0), (true, 1), (false, 2)]
            .into_iter()
            .enumerate()
        {
            for (di, d) in [0x7bffu16, 0xfbff, 0x3c00, 0x0001, 0x0000]
                .into_iter()
                .enumerate()
            {
                for exp in [-70, -40, -24, -16, -8, 0] {
                    let w: Vec<u8> = (0..blocks)
                        .flat_map(|_| extreme_block(format, high, d, d ^ 0x8000))
                        .collect();
                    let mut magnitude = 32767i64;
                    let act = loop {
                        let vals: Vec<i64> = (0..blocks * len)
                            .map(|j| match sign_mode {
                                0 => magnitude,
                                1 => {
                                    if j % 2 == 0 {
                                        magnitude
                                    } else {
                                        -magnitude
                                    }
                                }
                                _ => -magnitude,
                            })
                            .collect();
                        let mut act = Act::quantize(&vals, 0);
                        act.exp = exp;
                        if !cfg!(debug_assertions) || magnitude == 0 || in_bounds(format, &w, &act)
                        {
                            break act;
                        }
                        magnitude /= 2;
                    };
                    kept += (magnitude == 32767) as usize;
                    let what = format!("format {fi} case {ci} d {di} exp {exp}");
                    check(format, &w, w.len(), 1, &act, &what);
                }
            }
        }
    }
    assert!(kept >= 100, "only {kept} extreme cases at full magnitude");
}

#[test]
fn exact2_twins_take_empty_rows_and_inputs() {
    let act = Act::quantize(&[], -16);
    let x = Prepared::new(&act);
    for twin in twins() {
        for format in FORMATS {
            let mut out = [7i32; 3];
            rows_dot_on(twin, format, &[], 0, &x, &mut out);
            assert_eq!(out, [0; 3]);
            rows_dot_on(twin, format, &[], 0, &x, &mut []);
        }
    }
}
