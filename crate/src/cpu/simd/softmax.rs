//! The attention's scores and softmax numerators (docs/numerics.md, "Attention"
//! steps 3 and 4, and section 6 for `exp_neg_q16`): [`scores`] turns a head's dot
//! products into scores and finds their maximum, [`exps`] turns the scores into
//! `p_t = exp_neg_q16(s_t - max)` and sums them, [`weights`] divides them by the
//! sum ([`Weights`]). [`score_of`] and [`exp_of`] are
//! the definitions without a branch on their shifts; the AVX2 twins
//! (`softmax_avx2.rs`) compute them four positions at a time with the same
//! integer steps. The tests compare them with [`attention::score`] and
//! [`exp_neg_q16`] themselves.

use super::Twin;
use crate::exact::attention;
use crate::exact::fixed::round_shift;
#[cfg(test)]
use crate::exact::math::exp_neg_q16;
use crate::exact::math::{exp2_table, LOG2E_Q30};

/// [`attention::score`] of `dot` for the exponent sum `e = q_exp + k_exp`, with
/// no branch on the sign of the shift: for `s = -(e + 16)` in `1..=62`,
/// `round_shift(dot, s) = (dot + 2^(s-1)) >> s` (no overflow: `|dot| < 2^62`, the
/// attention's dot products being below `head_dim * 2^30`), and for `s` in
/// `-63..=0` it is `dot << -s`; other shifts take the definition.
#[inline(always)]
pub(crate) fn score_of(dot: i64, e: i32, scale_q30: i64) -> i64 {
    let s = -(e + 16);
    if !(-63..=62).contains(&s) || dot.unsigned_abs() >= 1 << 62 {
        return attention::score(dot, e, 0, scale_q30);
    }
    let (l, r) = ((-s).max(0) as u32, s.max(0) as u32);
    let s16 = (dot.wrapping_shl(l) + ((1i64 << r) >> 1)) >> r;
    round_shift(s16.wrapping_mul(scale_q30), 30)
}

/// [`exp_neg_q16`] of `d` (in the table `t`, [`exp2_table`]) with no branch on the
/// final shift `n`: for `n` in `0..=30`, `round_shift(v, n) = (v + (2^n >> 1)) >> n`
/// (`0 <= v <= 2^30`).
#[inline(always)]
pub(crate) fn exp_of(t: &[u32; 257], d: i64) -> i64 {
    let neg = d.wrapping_neg().clamp(0, 1 << 32);
    let y = round_shift(neg * LOG2E_Q30, 22);
    let n = y >> 24;
    let f = y & 0xff_ffff;
    let (j, r) = ((f >> 16) as usize, f & 0xffff);
    let (a, b) = (t[j] as i64, t[j + 1] as i64);
    let v = a - round_shift((a - b) * r, 16);
    let k = n.min(31) as u32;
    let e = (v + ((1i64 << k) >> 1)) >> k;
    if d >= 0 {
        1 << 30
    } else if n >= 31 {
        0
    } else {
        e
    }
}

/// Panics unless this CPU has AVX2 (a twin chosen by hand in tests).
#[cfg(target_arch = "x86_64")]
fn assert_avx2() {
    assert!(
        std::arch::is_x86_feature_detected!("avx2"),
        "no AVX2 on this CPU"
    );
}

/// Replaces each dot product in `p` by its score ([`score_of`] with the exponent
/// sum `q_exp + k_exp[t]`) and returns the largest score (`i64::MIN` for none), on
/// the fastest twin this machine has.
pub fn scores(p: &mut [i64], k_exp: &[i32], q_exp: i32, scale_q30: i64) -> i64 {
    scores_on(Twin::detected(), p, k_exp, q_exp, scale_q30)
}

/// [`scores`] on a given twin.
pub fn scores_on(twin: Twin, p: &mut [i64], k_exp: &[i32], q_exp: i32, scale_q30: i64) -> i64 {
    assert_eq!(
        p.len(),
        k_exp.len(),
        "scores: one key exponent per position"
    );
    match twin {
        #[cfg(target_arch = "x86_64")]
        Twin::Avx2 => {
            assert_avx2();
            // SAFETY: AVX2 is present; the lengths are equal.
            unsafe { super::softmax_avx2::scores(p, k_exp, q_exp, scale_q30) }
        }
        _ => {
            let mut max = i64::MIN;
            for (d, &e) in p.iter_mut().zip(k_exp) {
                *d = score_of(*d, q_exp + e, scale_q30);
                max = max.max(*d);
            }
            max
        }
    }
}

/// Replaces each score `s` in `p` by `exp_neg_q16(s - max)` (the subtraction
/// wrapping) and returns their sum, on the fastest twin this machine has.
pub fn exps(p: &mut [i64], max: i64) -> u64 {
    exps_on(Twin::detected(), p, max)
}

/// [`exps`] on a given twin.
pub fn exps_on(twin: Twin, p: &mut [i64], max: i64) -> u64 {
    let t = exp2_table();
    match twin {
        #[cfg(target_arch = "x86_64")]
        Twin::Avx2 => {
            assert_avx2();
            // SAFETY: AVX2 is present.
            unsafe { super::softmax_avx2::exps(p, max, t) }
        }
        _ => {
            let mut sum = 0u64;
            for d in p.iter_mut() {
                *d = exp_of(t, d.wrapping_sub(max));
                sum += *d as u64;
            }
            sum
        }
    }
}

/// The softmax weights `floor(p_t 2^30 / S)` of one head (docs/numerics.md,
/// "Attention") for its sum `S`, by 64-bit multiplications (wasm has no 64 × 64 →
/// 128-bit product). For `S >= 2^30` (the largest score's `p` is `2^30`) and
/// `p <= 2^30` (every `exp_neg_q16`): with `m = floor(2^62 / S) <= 2^32`,
/// `p m <= 2^62`, and `q = (p m) >> 32` is the weight or one less, because
/// `p 2^62 / S = p m + p e` with `0 <= e < 1` and `p e < 2^30 < 2^32`. One
/// comparison fixes it: `(q + 1) S <= p 2^30 + S < 2^64`. Other inputs divide.
pub(crate) struct Weights {
    pub(super) sum: u64,
    pub(super) m: u64,
    fast: bool,
}

impl Weights {
    pub(crate) fn new(sum: u64) -> Self {
        assert!(sum >= 1, "division by zero");
        Weights {
            sum,
            m: (1u64 << 62) / sum,
            fast: sum >= 1 << 30,
        }
    }

    #[inline]
    pub(crate) fn of(&self, p: u64) -> u64 {
        if !self.fast || p > 1 << 30 {
            return (((p as u128) << 30) / self.sum as u128) as u64;
        }
        let q = (p * self.m) >> 32;
        if (q + 1) * self.sum <= p << 30 {
            q + 1
        } else {
            q
        }
    }
}

/// The weights `floor(p_t 2^30 / S)` of the numerators `p` (each in `0..=2^30`,
/// [`exps`]) for their sum `S` into `w`, on the fastest twin this machine has.
pub fn weights(p: &[i64], sum: u64, w: &mut [u32]) {
    weights_on(Twin::detected(), p, sum, w)
}

/// [`weights`] on a given twin.
pub fn weights_on(twin: Twin, p: &[i64], sum: u64, w: &mut [u32]) {
    assert_eq!(p.len(), w.len(), "weights: one weight per numerator");
    let div = Weights::new(sum);
    match twin {
        #[cfg(target_arch = "x86_64")]
        Twin::Avx2 if div.m < 1 << 32 && (1 << 30..1 << 62).contains(&sum) => {
            assert_avx2();
            // SAFETY: AVX2 is present; the lengths are equal; 2^30 <= S < 2^62 and
            // m < 2^32.
            unsafe { super::softmax_avx2::weights(p, &div, w) }
        }
        _ => {
            for (w, &pt) in w.iter_mut().zip(p) {
                *w = div.of(pt as u64) as u32;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    /// A small deterministic generator (xorshift64).
    fn xorshift(mut x: u64) -> impl FnMut() -> u64 {
        move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        }
    }

    /// Every twin this machine runs.
    fn twins() -> Vec<Twin> {
        let mut v = vec![Twin::Scalar];
        if Twin::detected() != Twin::Scalar {
            v.push(Twin::detected());
        }
        v
    }

    #[test]
    fn branch_free_score_equals_the_definition() {
        let mut next = xorshift(0xe4u64);
        let scale = attention::score_scale_q30(64);
        // Scores: dot products up to 64 * 2^30, every exponent sum the cache can hold
        // and beyond (the definition's path), shifts of both signs.
        for e in -40..=80 {
            for _ in 0..300 {
                let dot = (next() % (1 << 37)) as i64 - (1 << 36);
                for d in [dot, 0, 1, -1, 1 << 36, -(1 << 36)] {
                    // Debug builds check the spec's bounds in the definition (a left
                    // shift may not overflow); release builds wrap, and so does score_of.
                    let up = e + 16;
                    let in_bounds =
                        up <= 0 || d == 0 || (up < 64 && d.wrapping_shl(up as u32) >> up == d);
                    if cfg!(debug_assertions) && !in_bounds {
                        continue;
                    }
                    let want = attention::score(d, e, 0, scale);
                    assert_eq!(score_of(d, e, scale), want, "dot {d} e {e}");
                }
            }
        }
    }

    #[test]
    fn scores_twins_equal_the_definition() {
        let mut next = xorshift(0x51u64);
        for hd in [64usize, 256, 48] {
            let scale = attention::score_scale_q30(hd);
            for len in [0, 1, 3, 4, 7, 64, 129] {
                // Exponent sums from far left shifts to far right ones, some off the
                // branch-free range (the definition's path), dot products up to
                // head_dim * 2^30 and the extremes.
                for (q_exp, spread) in [(-16, 12u64), (-10, 30), (-30, 20), (40, 10), (-90, 10)] {
                    let k_exp: Vec<i32> = (0..len)
                        .map(|_| -16 + (next() % spread) as i32 - (spread / 2) as i32)
                        .collect();
                    let dots: Vec<i64> = (0..len)
                        .map(|i| match i % 13 {
                            0 => 0,
                            1 => (1 << 62) - 1,
                            2 => -(1 << 62) + 1,
                            // Off the branch-free range: the definition, whose debug
                            // build checks left shifts, so only with right shifts.
                            3 if q_exp <= -16 => 1 << 62,
                            4 if q_exp <= -16 => i64::MIN,
                            _ => (next() % ((hd as u64) << 30)) as i64 - ((hd as i64) << 29),
                        })
                        .collect();
                    let mut want = dots.clone();
                    let max = scores_on(Twin::Scalar, &mut want, &k_exp, q_exp, scale);
                    for (i, (&d, &w)) in dots.iter().zip(&want).enumerate() {
                        let e = q_exp + k_exp[i];
                        let up = e + 16;
                        let in_bounds =
                            up <= 0 || d == 0 || (up < 64 && d.wrapping_shl(up as u32) >> up == d);
                        if in_bounds && d.unsigned_abs() < 1 << 62 {
                            assert_eq!(w, attention::score(d, e, 0, scale), "dot {d} e {e}");
                        }
                    }
                    for twin in twins() {
                        let mut p = dots.clone();
                        let m = scores_on(twin, &mut p, &k_exp, q_exp, scale);
                        assert_eq!(p, want, "{twin:?} hd {hd} len {len} q_exp {q_exp}");
                        assert_eq!(m, max, "{twin:?} hd {hd} len {len} q_exp {q_exp}");
                    }
                }
            }
        }
    }

    #[test]
    fn weights_divide_exactly() {
        let mut next = xorshift(99u64);
        let sums = [
            1u64,
            3,
            (1 << 30) - 1,
            1 << 30,
            (1 << 30) + 1,
            3 << 30,
            (1 << 41) - 1,
            1 << 43,
            (1 << 62) + 5,
        ];
        let random: Vec<u64> = (0..300).map(|_| (1 << 30) + next() % (1 << 43)).collect();
        for sum in sums.into_iter().chain(random) {
            let w = Weights::new(sum);
            let want = |p: u64| ((p as u128) << 30) / sum as u128;
            let edges = [0, 1, 2, (1 << 30) - 1, 1 << 30, (1 << 30) + 1, 1 << 33];
            let random: Vec<u64> = (0..300).map(|_| next() % ((1 << 30) + 1)).collect();
            for p in edges.into_iter().chain(random) {
                assert_eq!(w.of(p) as u128, want(p), "{p} * 2^30 / {sum}");
            }
            // Where p 2^30 is a multiple of the sum or just below one (an estimate
            // one too low shows there).
            for k in 1..64u64 {
                let p = ((k as u128 * sum as u128) >> 30).min(1 << 31) as u64;
                for p in [p, p.saturating_sub(1), p + 1] {
                    if p <= 1 << 30 {
                        assert_eq!(w.of(p) as u128, want(p), "{p} * 2^30 / {sum}");
                    }
                }
            }
        }
    }

    #[test]
    fn weights_twins_equal_the_division() {
        let mut next = xorshift(0x77u64);
        for len in [0usize, 1, 3, 4, 5, 64, 131] {
            // Numerators: the maximum's 2^30, zeros, small, random; the sum as
            // exps makes it, and sums at and past the fast path's bounds.
            let p: Vec<i64> = (0..len)
                .map(|i| match i % 7 {
                    0 => 1 << 30,
                    1 => 0,
                    2 => 1 + (next() % 100) as i64,
                    _ => (next() % (1 << 30)) as i64,
                })
                .collect();
            let total: u64 = p.iter().map(|&v| v as u64).sum();
            for sum in [
                total.max(1),
                1 << 30,
                (1 << 30) + 1,
                1 << 41,
                (1 << 62) - 1,
                1 << 62,
            ] {
                let want: Vec<u32> = p
                    .iter()
                    .map(|&v| (((v as u128) << 30) / sum as u128) as u32)
                    .collect();
                for twin in twins() {
                    let mut w = vec![0u32; len];
                    weights_on(twin, &p, sum, &mut w);
                    assert_eq!(w, want, "{twin:?} len {len} sum {sum}");
                }
            }
        }
    }

    #[test]
    fn exp_of_equals_the_definition() {
        // Every d from -2^22 to 0 (n up to 22), then samples down to the
        // saturation at -2^32 and beyond, and positive d.
        let t = exp2_table();
        let step = if cfg!(target_arch = "wasm32") { 61 } else { 1 };
        for d in (-(1i64 << 22)..=0).step_by(step) {
            assert_eq!(exp_of(t, d), exp_neg_q16(d) as i64, "d {d}");
        }
        let mut next = xorshift(0x9e37_79b9_7f4a_7c15);
        for _ in 0..100_000 {
            let d = -((next() % (1 << 34)) as i64);
            assert_eq!(exp_of(t, d), exp_neg_q16(d) as i64, "d {d}");
        }
        for d in [
            1,
            1 << 40,
            -(1 << 32),
            -(1 << 32) - 1,
            -(1 << 50),
            i64::MIN / 2,
        ] {
            assert_eq!(exp_of(t, d), exp_neg_q16(d) as i64, "d {d}");
        }
    }

    #[test]
    fn exps_twins_equal_the_definition() {
        let t = exp2_table();
        let mut next = xorshift(0x2545_f491_4f6c_dd1du64);
        // Lengths off the vector step, scores near the maximum, far below it (zero
        // weights), at the saturation, above the maximum, and wrapping extremes.
        for len in [0, 1, 3, 4, 5, 8, 63, 64, 130] {
            for spread in [8u32, 20, 24, 34, 40, 63] {
                let max = (next() % (1 << 40)) as i64 - (1 << 39);
                let scores: Vec<i64> = (0..len)
                    .map(|i| match i % 11 {
                        0 => max,
                        1 => max + 1 + (next() % 1000) as i64,
                        2 => max - (1 << 32),
                        3 => max - (1 << 32) - 1,
                        4 => i64::MIN,
                        5 => i64::MAX,
                        _ => max - (next() % (1u64 << spread)) as i64,
                    })
                    .collect();
                let want: Vec<i64> = scores
                    .iter()
                    .map(|&s| exp_of(t, s.wrapping_sub(max)))
                    .collect();
                let sum: u64 = want.iter().map(|&p| p as u64).sum();
                for twin in twins() {
                    let mut p = scores.clone();
                    assert_eq!(exps_on(twin, &mut p, max), sum, "{twin:?} len {len}");
                    assert_eq!(p, want, "{twin:?} len {len} spread {spread}");
                }
            }
        }
    }
}
