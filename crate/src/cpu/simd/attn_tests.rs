//! [`acc_rows`]'s twins against the scalar loop: attention-like weights (summing to
//! at most 2^30), the extremes (`w = 2^30`, weights up to `2^31 - 1` that close
//! batches early, values at `-32768` and `32767`), every shift from 0 to 63, shifts
//! mixed within a batch (close, far, 32 and more apart), row counts around the
//! pair and batch sizes, vector lengths on and off the SIMD step, and rows from an
//! even or an odd position of their position pairs.

use super::tests::xorshift;
use super::*;
#[cfg(target_arch = "wasm32")]
use wasm_bindgen_test::wasm_bindgen_test as test;

/// Every twin this target runs: the scalar loop and the SIMD twin.
fn twins() -> Vec<Twin> {
    let mut t = vec![Twin::Scalar];
    #[cfg(target_arch = "x86_64")]
    {
        assert_eq!(Twin::detected(), Twin::Avx2, "no AVX2: nothing to compare");
        t.push(Twin::Avx2);
    }
    #[cfg(target_arch = "wasm32")]
    t.push(Twin::Simd128);
    t
}

/// The definition: `acc[i] += (w_t * x_ti) << up` one term at a time, wrapping.
fn definition(init: &[i64], rows: &[Vec<i16>], w: &[u32], up: &[u8]) -> Vec<i64> {
    let mut acc = init.to_vec();
    for ((x, &w), &u) in rows.iter().zip(w).zip(up) {
        for (a, &v) in acc.iter_mut().zip(x) {
            *a = a.wrapping_add((w as i64).wrapping_mul((v as i64).wrapping_shl(u as u32)));
        }
    }
    acc
}

fn check(init: &[i64], rows: &[Vec<i16>], w: &[u32], up: &[u8], what: &str) {
    let want = definition(init, rows, w, up);
    // The rows in position pairs of `stride` values (other values between them),
    // from an even and from an odd position, after `lead` positions not taken.
    let stride = init.len() + rows.len() % 3;
    for lead in [0, 1, 2, 5] {
        let end = lead + rows.len();
        let mut block = vec![i16::MIN; end.div_ceil(2).max(1) * 2 * stride];
        for (t, r) in rows.iter().enumerate() {
            let s = lead + t;
            for (i, &v) in r[..init.len()].iter().enumerate() {
                block[(s / 2 * stride + i) * 2 + s % 2] = v;
            }
        }
        for twin in twins() {
            let mut got = init.to_vec();
            acc_rows_on(twin, &mut got, &block, stride, lead, w, up);
            assert_eq!(got, want, "{what} from {lead}: {twin:?}");
            // On a CPU with AVX-512 the AVX2 arm takes its twin: the AVX2 one too.
            #[cfg(target_arch = "x86_64")]
            if twin == Twin::Avx2 {
                let mut got = init.to_vec();
                without_avx512(|| acc_rows_on(twin, &mut got, &block, stride, lead, w, up));
                assert_eq!(got, want, "{what} from {lead}: AVX2 without AVX-512");
            }
        }
    }
}

#[test]
fn acc_rows_twins_equal_the_definition() {
    let mut next = xorshift(0x0bad_cafe_f00d_1234);
    let mut cases = 0;
    for len in [0usize, 7, 8, 16, 24, 32, 64, 72, 128] {
        for n_rows in [0usize, 1, 2, 3, 64, 127, 128, 129, 257] {
            for mode in 0..4 {
                // Values: anywhere in i16, at the extremes, or small.
                let gen = |r: u64| -> i16 {
                    match mode {
                        0 => r as i16,
                        1 => [32767, -32767, -32768][(r % 3) as usize],
                        _ => (r % 200) as i16 - 100,
                    }
                };
                let rows: Vec<Vec<i16>> = (0..n_rows)
                    .map(|_| {
                        (0..len + (next() % 3) as usize)
                            .map(|_| gen(next()))
                            .collect()
                    })
                    .collect();
                // Weights: attention-like (random shares of 2^30), up to 2^31 - 1,
                // all 2^30 or all 2^31 - 1 (every pair closes a batch).
                let w: Vec<u32> = match mode {
                    0 | 1 => {
                        let raw: Vec<u64> = (0..n_rows).map(|_| next() % 1000).collect();
                        let sum = raw.iter().sum::<u64>().max(1);
                        raw.iter().map(|&r| ((r << 30) / sum) as u32).collect()
                    }
                    2 => (0..n_rows).map(|_| (next() as u32) >> 1).collect(),
                    _ => (0..n_rows)
                        .map(|t| [1 << 30, (1 << 31) - 1][t % 2])
                        .collect(),
                };
                let init: Vec<i64> = (0..len).map(|_| next() as i64).collect();
                // Shifts: one for all, two neighbours, a few apart, anywhere.
                let base = (next() % 64) as u8;
                for spread in [1u64, 2, 6, 64] {
                    let up: Vec<u8> = (0..n_rows)
                        .map(|_| ((base as u64 + next() % spread) % 64) as u8)
                        .collect();
                    let what = format!("len {len} rows {n_rows} mode {mode} spread {spread}");
                    check(&init, &rows, &w, &up, &what);
                    cases += 1;
                }
            }
        }
    }
    assert!(cases > 1000);
}

#[test]
fn acc_rows_twins_at_every_shift_and_the_extreme_weights() {
    let mut next = xorshift(0x1234_5678_9abc_def0);
    let rows: Vec<Vec<i16>> = (0..9)
        .map(|_| (0..64).map(|_| next() as i16).collect())
        .collect();
    let init: Vec<i64> = (0..64).map(|_| next() as i64).collect();
    for up in 0..64u8 {
        // One weight of 2^30 (the whole softmax on one position), mixed weights,
        // weights of 2^31 and more (the scalar loop), and all zero.
        let ws: [Vec<u32>; 6] = [
            vec![0, 0, 0, 1 << 30, 0, 0, 0, 0, 0],
            (0..9).map(|t| 1 << (3 * t)).collect(),
            vec![(1 << 31) - 1; 9],
            vec![1 << 31, u32::MAX, 0, 1, 2, 3, 4, 5, 6],
            vec![0; 9],
            vec![0, 5, 0, 1 << 29, 0, 0, 7, 0, 1 << 20],
        ];
        // The same shift for all, and shifts from `up` down by 0..9 (mod 64).
        let ups: [Vec<u8>; 2] = [vec![up; 9], (0..9).map(|t| (up + 64 - t) % 64).collect()];
        for (k, w) in ws.iter().enumerate() {
            for (l, u) in ups.iter().enumerate() {
                check(
                    &init,
                    &rows,
                    w,
                    u,
                    &format!("up {up} weights {k} shifts {l}"),
                );
            }
        }
    }
}

#[test]
fn batches_close_before_a_lane_could_wrap() {
    use attn::{batch, BATCH};
    // At most BATCH rows whose weights, scaled to the batch's shift, sum below 2^31.
    let w = vec![1 << 30; 5];
    assert_eq!(batch(&w, &[3; 5], 0), (1, 3));
    let w = vec![1 << 29; 5];
    assert_eq!(batch(&w, &[3; 5], 0), (3, 3));
    assert_eq!(batch(&w, &[3; 5], 4), (5, 3));
    // A smaller shift scales the rows before it: 2^29 * 2 + 2^29 < 2^31.
    assert_eq!(batch(&w, &[4, 3, 3, 3, 3], 0), (2, 3));
    assert_eq!(batch(&w, &[3, 4, 3, 3, 3], 0), (2, 3));
    // Shifts 32 or more apart never share a batch.
    assert_eq!(batch(&[1, 1], &[0, 32], 0), (1, 0));
    assert_eq!(batch(&[1, 1], &[40, 8], 0), (1, 40));
    assert_eq!(batch(&[1, 1], &[0, 30], 0), (2, 0));
    assert_eq!(batch(&[1, 1], &[0, 31], 0), (1, 0));
    let w = vec![(1 << 31) - 1; 3];
    assert_eq!(batch(&w, &[0; 3], 0), (1, 0));
    // Rows of weight 0 neither set nor limit the shift.
    assert_eq!(batch(&[0, 1, 0, 1], &[50, 3, 0, 3], 0), (4, 3));
    assert_eq!(batch(&[0, 0], &[9, 1], 0), (2, 9));
    let w = vec![1u32; 1000];
    assert_eq!(batch(&w, &[7; 1000], 0), (BATCH, 7));
    assert_eq!(batch(&w, &[7; 1000], 990), (1000, 7));
}
