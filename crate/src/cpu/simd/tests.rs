//! Every twin against the scalar definition ([`quant::row_dot_acc`],
//! [`attention::dot_i16`]), over random rows, model-like rows and the extreme
//! magnitudes the spec's bounds allow. The same tests run natively (the scalar twin,
//! and AVX2, which an x86_64 test host must have) and on wasm32 (simd128).
//! Generators that must stay inside the spec's bounds count what they keep and fail
//! below a floor, so a generator change cannot quietly stop testing.

use super::*;
use crate::exact::fixed::f16_bits;
#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

/// The SIMD twin of this target, which the tests must exercise: AVX2 on x86_64 (a
/// host without it would compare the scalar code with itself, so the tests fail
/// instead), simd128 on wasm32, none elsewhere.
fn simd_twin() -> Option<Twin> {
    #[cfg(target_arch = "x86_64")]
    {
        assert_eq!(
            Twin::detected(),
            Twin::Avx2,
            "this x86_64 CPU has no AVX2: the SIMD tests would compare the scalar code with itself"
        );
        Some(Twin::Avx2)
    }
    #[cfg(target_arch = "wasm32")]
    {
        assert_eq!(Twin::detected(), Twin::Simd128);
        Some(Twin::Simd128)
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "wasm32")))]
    {
        None
    }
}

/// The twins under test: the scalar one (the dispatcher's own loop) and this
/// target's SIMD twin.
pub(super) fn twins() -> Vec<Twin> {
    [Twin::Scalar].into_iter().chain(simd_twin()).collect()
}

/// Whether this target's SIMD twin computes `rows` (each `rb` bytes) with its
/// vector code rather than handing them to the scalar definition (module docs: the
/// activation exponent gives `U` in `-63..=57`, and every f16 exponent field is in
/// the decoded range: up to 21 on AVX2, up to 18 on simd128).
pub(super) fn fast_path(format: WeightFormat, w: &[u8], rb: usize, act: &Act) -> bool {
    let fields: Box<dyn Fn(u16) -> bool> = match simd_twin() {
        #[cfg(target_arch = "x86_64")]
        Some(Twin::Avx2) => Box::new(|f| f <= 21),
        #[cfg(target_arch = "wasm32")]
        Some(Twin::Simd128) => Box::new(|f| f <= 18),
        _ => return false,
    };
    let u = -(act.exp as i64 + 8);
    let n = (rb / format.block_bytes()).min(act.q.len() / BLOCK);
    (-63..=57).contains(&u)
        && w.chunks_exact(rb).all(|row| {
            row.chunks_exact(format.block_bytes()).take(n).all(|b| {
                (format.scale_offsets().iter())
                    .all(|&i| fields(u16::from_le_bytes([b[i], b[i + 1]]) >> 10 & 31))
            })
        })
}

/// Checks rows `w` (each `rb` bytes) times `act` on every twin, row by row against
/// the definition, through both entry points (Q32 accumulators and Q16 outputs).
fn check(format: WeightFormat, w: &[u8], rb: usize, act: &Act, what: &str) {
    let n_rows = w.len() / rb;
    let x = Prepared::new(act);
    for twin in twins() {
        let mut acc = vec![0i64; n_rows];
        rows_dot_acc_on(twin, format, w, rb, &x, &mut acc);
        let mut out = vec![0i32; n_rows];
        rows_dot_on(twin, format, w, rb, &x, &mut out);
        for (r, row) in w.chunks_exact(rb).enumerate() {
            let want = quant::row_dot_acc(format, row, act);
            assert_eq!(
                acc[r], want,
                "{what} row {r}: {twin:?}, {format:?}, exp {}",
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

/// xorshift64*, for test data only.
pub(super) fn rng(state: &mut u64) -> u64 {
    *state ^= *state >> 12;
    *state ^= *state << 25;
    *state ^= *state >> 27;
    state.wrapping_mul(0x2545_f491_4f6c_dd1d)
}

/// Random f16 scale bits with a finite exponent field drawn by `mode`: the
/// model's range, anything finite, tiny (zero and subnormals), or the edges of
/// the SIMD fast ranges.
pub(super) fn scale_bits(s: &mut u64, mode: u64) -> u16 {
    let r = rng(s);
    let field = match mode {
        0 => 4 + r % 15,
        1 => r % 31,
        2 => r % 4,
        _ => [3, 4, 5, 17, 18, 19, 20, 21, 22, 30][(r % 10) as usize],
    } as u16;
    let frac = if mode == 2 && r.is_multiple_of(3) {
        0
    } else {
        (r >> 8) as u16 & 0x3ff
    };
    ((r >> 20) as u16 & 0x8000) | (field << 10) | frac
}

/// `rows` random weight rows of `blocks` blocks each.
pub(super) fn weights(s: &mut u64, format: WeightFormat, rows: usize, blocks: usize) -> Vec<u8> {
    let mode = rng(s) % 4;
    let mut w = Vec::with_capacity(rows * blocks * format.block_bytes());
    for _ in 0..rows * blocks {
        let scales = if format == WeightFormat::Q4_1 { 2 } else { 1 };
        for _ in 0..scales {
            // Mostly one mode per matrix, sometimes a stray block of another.
            let m = if rng(s).is_multiple_of(50) {
                rng(s) % 4
            } else {
                mode
            };
            w.extend_from_slice(&scale_bits(s, m).to_le_bytes());
        }
        let n = format.block_bytes() - 2 * scales;
        w.extend((0..n).map(|_| rng(s) as u8));
    }
    w
}

/// A random activation of `blocks` blocks; every fourth one gets an exponent at
/// an edge of the fast paths (or far beyond them).
pub(super) fn activation(s: &mut u64, blocks: usize) -> Act {
    let span = 1 + rng(s) % 40;
    let vals: Vec<i64> = (0..blocks * BLOCK)
        .map(|_| (rng(s) % (1 << span)) as i64 - (1 << (span - 1)))
        .collect();
    let mut act = Act::quantize(&vals, (rng(s) % 60) as i32 - 45);
    if rng(s).is_multiple_of(4) {
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
pub(super) fn in_bounds(format: WeightFormat, row: &[u8], act: &Act) -> bool {
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
    if case.is_multiple_of(2) {
        WeightFormat::Q4_1
    } else {
        WeightFormat::Q8_0
    }
}

// Floors for the generators that drop cases outside the spec's bounds (debug builds)
// or that the SIMD twin hands to the scalar code: the counts are fixed by the seeds,
// and a floor a little below them catches a generator that quietly stops testing.
// Measured on x86_64 (AVX2) in debug builds: random rows 2062 of 3000 inside the
// bounds, 1052 of them on the vector path; row sets 269 of 400, 113; extreme
// magnitudes, per band of `EXTREME_BANDS`: 160, 160 and 83 of 160 with a nonzero
// term, 65, 160 and 83 of them on the vector path. On wasm32 (simd128, which
// decodes exponent fields up to 18, not 21) the same cases, with 937, 92, 35, 80
// and 83 on the vector path.
const FLOOR_RANDOM_ROWS: usize = 2000;
const FLOOR_ROWS: usize = 250;
const FLOOR_EXTREME_NONZERO: [usize; 3] = [160, 160, 80];

/// Floors on the vector path: [random rows, row sets, extreme bands 0, 1, 2] for
/// this target's SIMD twin.
fn floor_fast() -> [usize; 5] {
    match simd_twin() {
        #[cfg(target_arch = "x86_64")]
        Some(Twin::Avx2) => [1000, 100, 60, 150, 80],
        #[cfg(target_arch = "wasm32")]
        Some(Twin::Simd128) => [900, 85, 30, 70, 80],
        _ => [0; 5],
    }
}

#[test]
fn the_simd_twin_is_the_one_detected() {
    // On x86_64 this fails loudly without AVX2 (see `simd_twin`).
    if let Some(twin) = simd_twin() {
        assert_eq!(Twin::detected(), twin);
    } else {
        assert_eq!(Twin::detected(), Twin::Scalar);
    }
}

#[test]
fn simd_equals_scalar_over_random_rows() {
    let mut s = 0x1234_5678_9abc_def1u64;
    let (mut checked, mut fast) = (0, 0);
    for case in 0..3000 {
        let format = format(case);
        let blocks = 1 + (rng(&mut s) % 64) as usize;
        let row = weights(&mut s, format, 1, blocks);
        let act = activation(&mut s, blocks);
        if cfg!(debug_assertions) && !in_bounds(format, &row, &act) {
            continue;
        }
        checked += 1;
        fast += fast_path(format, &row, row.len(), &act) as usize;
        check(format, &row, row.len(), &act, &format!("case {case}"));
        // The one-row entry points, on the detected twin.
        assert_eq!(
            row_dot_acc(format, &row, &act),
            quant::row_dot_acc(format, &row, &act)
        );
        assert_eq!(
            row_dot(format, &row, &act),
            quant::row_dot(format, &row, &act)
        );
    }
    assert!(
        checked >= FLOOR_RANDOM_ROWS,
        "only {checked} of 3000 cases inside the bounds"
    );
    assert!(
        fast >= floor_fast()[0],
        "only {fast} cases on the SIMD twin's vector path"
    );
}

#[test]
fn simd_rows_equal_scalar_rows() {
    let mut s = 0x0bad_cafe_dead_beefu64;
    let (mut checked, mut fast) = (0, 0);
    for case in 0..400 {
        let format = format(case);
        let blocks = 1 + (rng(&mut s) % 40) as usize;
        let n_rows = 1 + (rng(&mut s) % 9) as usize;
        let rb = blocks * format.block_bytes();
        let w = weights(&mut s, format, n_rows, blocks);
        let act = activation(&mut s, blocks);
        if cfg!(debug_assertions) && !w.chunks_exact(rb).all(|r| in_bounds(format, r, &act)) {
            continue;
        }
        checked += 1;
        fast += fast_path(format, &w, rb, &act) as usize;
        check(format, &w, rb, &act, &format!("case {case}"));
    }
    assert!(
        checked >= FLOOR_ROWS,
        "only {checked} of 400 cases inside the bounds"
    );
    assert!(
        fast >= floor_fast()[1],
        "only {fast} cases on the SIMD twin's vector path"
    );
}

/// The model's case: realistic scales, activation exponents around -14, long rows;
/// every one on the SIMD twin's vector path. Every third case has the tiny scales of
/// Gemma's tied head (exponent fields 0..=5: subnormal and small).
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
            let (lo, hi) = if case % 3 == 0 { (0, 5) } else { (7, 13) };
            let d = field(&mut s, lo, hi) << 10 | (rng(&mut s) as u16 & 0x3ff);
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
        assert!(
            simd_twin().is_none() || fast_path(format, &w, rb, &act),
            "case {case} is not on the vector path"
        );
        check(format, &w, rb, &act, &format!("case {case}"));
    }
}

/// Activation exponent bands at the edges of the fast paths: `U = -(e + 8)` crosses
/// 57 (right shifts; beyond it the twins hand the row to the scalar code), crosses 0
/// (right to left shifts), and reaches -63 and beyond (the largest left shifts).
const EXTREME_BANDS: [std::ops::RangeInclusive<i32>; 3] = [-75..=-60, -12..=-4, 48..=58];

/// Products as large as the bounds allow, 64 blocks, every activation exponent of
/// [`EXTREME_BANDS`]: the accumulator lanes come closest to overflowing here. Scales
/// are the largest of the fast ranges (exponent fields 18 and 21; the Q4_1 minimum
/// with the opposite sign) with the largest weights, or, for the band of large
/// activation exponents, the smallest nonzero ones; activations start at ±32767
/// everywhere. In debug builds, where the definition checks the spec's
/// bounds, a case outside them is shrunk (magnitude halved, then fewer nonzero
/// activations) until it fits, so no case is skipped; release builds take the full
/// magnitudes, where the definition and the twins all wrap.
#[test]
fn simd_equals_scalar_at_extreme_magnitudes() {
    let mut s = 0xfeed_f00d_u64;
    let blocks = 64;
    let (mut nonzero, mut fast) = ([0usize; 3], [0usize; 3]);
    let mut exps_seen = std::collections::BTreeSet::new();
    let mut exps_nonzero = std::collections::BTreeSet::new();
    for case in 0..480 {
        let format = format(case);
        let band = case / 2 % 3;
        let range = EXTREME_BANDS[band].clone();
        let exp = *range.start() + (rng(&mut s) % (range.count() as u64)) as i32;
        exps_seen.insert(exp);
        let sign = if rng(&mut s).is_multiple_of(2) {
            0
        } else {
            0x8000
        };
        // Band 2: the smallest nonzero scales (subnormal, fraction 1..=3) and weights
        // (nibble 1, byte 1), or no term could stay inside the bounds.
        let (bits, nibbles, bytes) = if band == 2 {
            (sign | (1 + rng(&mut s) % 3) as u16, 0x11, 0x01)
        } else {
            (sign | [18u16, 21][case / 6 % 2] << 10 | 0x3ff, 0xff, 0x80)
        };
        let mut w = Vec::new();
        for _ in 0..2 * blocks {
            w.extend_from_slice(&bits.to_le_bytes());
            if format == WeightFormat::Q4_1 {
                w.extend_from_slice(&(bits ^ 0x8000).to_le_bytes());
                w.extend_from_slice(&[nibbles; 16]);
            } else {
                w.extend_from_slice(&[bytes; 32]);
            }
        }
        let rb = blocks * format.block_bytes();
        let negative = rng(&mut s).is_multiple_of(2);
        let (mut magnitude, mut count) = (32767i64, blocks * BLOCK);
        let act = loop {
            let a = if negative { -magnitude } else { magnitude };
            let vals: Vec<i64> = (0..blocks * BLOCK)
                .map(|i| if i < count { a } else { 0 })
                .collect();
            let mut act = Act::quantize(&vals, 0);
            act.exp = exp;
            if !cfg!(debug_assertions)
                || count == 0
                || w.chunks_exact(rb).all(|r| in_bounds(format, r, &act))
            {
                break act;
            }
            if magnitude > 1 {
                magnitude /= 2;
            } else {
                count /= 2;
            }
        };
        if count > 0 {
            nonzero[band] += 1;
            exps_nonzero.insert(exp);
            fast[band] += fast_path(format, &w, rb, &act) as usize;
        }
        check(format, &w, rb, &act, &format!("case {case}"));
    }
    assert_eq!(
        exps_seen.len(),
        EXTREME_BANDS
            .iter()
            .map(|r| r.clone().count())
            .sum::<usize>(),
        "every exponent of every band"
    );
    for (band, range) in EXTREME_BANDS.iter().enumerate() {
        let n = nonzero[band];
        assert!(
            n >= FLOOR_EXTREME_NONZERO[band],
            "band {range:?}: only {n} of 160 cases with a nonzero term"
        );
        let f = fast[band];
        assert!(
            f >= floor_fast()[2 + band],
            "band {range:?}: only {f} cases on the vector path"
        );
    }
    // Every exponent whose terms can be nonzero inside the bounds had one: up to 54
    // in the last band (from 55 on, the smallest term 1 << (e + 8) passes 2^62).
    let want: Vec<i32> = EXTREME_BANDS
        .iter()
        .flat_map(|r| r.clone())
        .filter(|&e| e <= 54)
        .collect();
    assert!(
        want.iter().all(|e| exps_nonzero.contains(e)),
        "exponents with nonzero terms: {exps_nonzero:?}"
    );
}

#[test]
fn empty_rows_and_inputs() {
    let act = Act::quantize(&[], -16);
    let x = Prepared::new(&act);
    for twin in twins() {
        let mut out = [7i32; 3];
        rows_dot_on(twin, WeightFormat::Q4_1, &[], 0, &x, &mut out);
        assert_eq!(out, [0; 3]);
        rows_dot_on(twin, WeightFormat::Q8_0, &[], 0, &x, &mut []);
    }
}

#[test]
fn simd_dot_equals_scalar() {
    let mut s = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        s
    };
    for len in 0..300usize {
        // Any value in [-32767, 32767]; the extremes only; small values.
        for mode in 0..3 {
            let gen = |r: u64| -> i16 {
                match mode {
                    0 => ((r % 65535) as i32 - 32767) as i16,
                    1 => [32767, -32767][(r % 2) as usize],
                    _ => (r % 200) as i16 - 100,
                }
            };
            let a: Vec<i16> = (0..len).map(|_| gen(next())).collect();
            let b: Vec<i16> = (0..len).map(|_| gen(next())).collect();
            let want = attention::dot_i16(&a, &b);
            for twin in twins() {
                assert_eq!(
                    dot_i16_on(twin, &a, &b),
                    want,
                    "len {len} mode {mode}: {twin:?}"
                );
            }
            assert_eq!(dot_i16(&a, &b), want);
        }
    }
    // The largest total: every product 32767^2 with one sign.
    let a = vec![-32767i16; 4096];
    for twin in twins() {
        assert_eq!(dot_i16_on(twin, &a, &a), 4096 * 32767 * 32767);
        assert_eq!(dot_i16_on(twin, &a, &a[..4095]), 4095 * 32767 * 32767);
    }
}

/// A xorshift64 stream for the attention kernels' tests (here and `attn_tests.rs`).
pub(super) fn xorshift(seed: u64) -> impl FnMut() -> u64 {
    let mut s = seed;
    move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        s
    }
}

/// A page block of keys in value pairs (`kv_cache`): `rows[t]` (each `hd` values)
/// at `(i / 2 * page + t) * 2 + i % 2`, the rest (an odd head's padding, positions
/// past the rows) left at `fill`.
fn pair_block(rows: &[Vec<i16>], hd: usize, page: usize, fill: i16) -> Vec<i16> {
    let mut b = vec![fill; hd.div_ceil(2) * page * 2];
    for (t, r) in rows.iter().enumerate() {
        for (i, &v) in r.iter().enumerate() {
            b[(i / 2 * page + t) * 2 + i % 2] = v;
        }
    }
    if hd % 2 == 1 {
        for t in 0..page {
            b[(hd / 2 * page + t) * 2 + 1] = 0;
        }
    }
    b
}

#[test]
fn dots_twins_equal_the_definition() {
    let mut next = xorshift(0x1357_9bdf_2468_ace0);
    // Head sizes on and off the SIMD paths (even up to 256, odd, longer), pages of
    // 64 and 48 positions (and 40: off the 16-lane groups), every start and count
    // around the 16-lane groups; activations (`|x| <= 32767`) anywhere, at the
    // extremes, or small; other positions of the page hold junk.
    for hd in [0usize, 2, 8, 16, 30, 64, 80, 128, 256, 264, 7] {
        for page in [64usize, 48, 40] {
            for mode in 0..3 {
                let gen = |r: u64| -> i16 {
                    match mode {
                        0 => ((r % 65535) as i32 - 32767) as i16,
                        1 => [32767, -32767][(r % 2) as usize],
                        _ => (r % 200) as i16 - 100,
                    }
                };
                let q: Vec<i16> = (0..hd).map(|_| gen(next())).collect();
                let rows: Vec<Vec<i16>> = (0..page)
                    .map(|_| (0..hd).map(|_| gen(next())).collect())
                    .collect();
                let block = pair_block(&rows, hd, page, i16::MIN);
                let kq = KeyQuery::new(&q);
                for (t0, n) in [
                    (0, page),
                    (0, 1),
                    (3, 13),
                    (15, 2),
                    (16, 16),
                    (17, 31),
                    (page - 1, 1),
                    (5, 0),
                ]
                .into_iter()
                .filter(|&(t0, n)| t0 + n <= page)
                {
                    let want: Vec<i64> = (t0..t0 + n)
                        .map(|t| attention::dot_i16(&q, &rows[t]))
                        .collect();
                    for (twin, avx512) in dot_twins() {
                        let mut got = vec![0i64; n];
                        with_avx512(avx512, || {
                            dots_pairs_on(twin, &kq, &block, page, t0, &mut got)
                        });
                        assert_eq!(
                            got, want,
                            "hd {hd} page {page} from {t0} n {n} mode {mode}: {twin:?} {avx512}"
                        );
                    }
                }
            }
        }
    }
    // The largest split sums: every product of one sign at the extremes.
    for (qv, kv) in [
        (-32767i16, -32767i16),
        (-32767, 32767),
        (32767, 32767),
        (-1, -32767),
        (255, -32767),
        (255, -32768),
    ] {
        let q = vec![qv; 256];
        let block = pair_block(&vec![vec![kv; 256]; 64], 256, 64, kv);
        let want = 256 * qv as i64 * kv as i64;
        for (twin, avx512) in dot_twins() {
            let mut got = vec![0i64; 64];
            with_avx512(avx512, || {
                dots_pairs_on(twin, &KeyQuery::new(&q), &block, 64, 0, &mut got)
            });
            assert_eq!(got, vec![want; 64], "{qv} x {kv}: {twin:?} {avx512}");
        }
    }
}

#[test]
#[should_panic(expected = "positions out of the block")]
fn dots_pairs_refuses_positions_past_the_page() {
    let q = [1i16; 8];
    let block = vec![0i16; 8 * 64];
    dots_pairs(&KeyQuery::new(&q), &block, 64, 60, &mut [0; 5]);
}

/// The twins of the attention's dot products, each with whether the AVX-512 twin
/// may stand in for the AVX2 one (on a CPU that has it: both are checked).
fn dot_twins() -> Vec<(Twin, bool)> {
    let v = twins().into_iter().map(|t| (t, true));
    #[cfg(target_arch = "x86_64")]
    let v = v.chain([(Twin::Avx2, false)]);
    v.collect()
}

/// Runs `f` with the AVX-512 twins allowed or not.
fn with_avx512<R>(allowed: bool, f: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    if !allowed {
        return without_avx512(f);
    }
    let _ = allowed;
    f()
}
