//! Causal multi-head attention with an integer softmax (docs/numerics.md,
//! "Attention"); Vaswani et al. 2017 with grouped-query heads (Ainslie et al. 2023).
//!
//! Scores `q.k / sqrt(d)` in Q16, `p_t = e^(s_t - max)` in Q30 from [`exp_neg_q16`],
//! weights `w_t = floor(p_t 2^30 / sum p)`, output `sum w_t v_t` rounded to Q16.

use super::act::Act;
use super::fixed::{isqrt_u128, round_shift, sat_i32, wadd};
use super::math::exp_neg_q16;

/// One cached key or value vector of one kv head: 16-bit integers and an exponent.
#[derive(Debug, Clone, Default)]
pub struct CachedVec {
    pub q: Vec<i16>,
    pub exp: i32,
}

impl From<Act> for CachedVec {
    fn from(a: Act) -> Self {
        Self { q: a.q, exp: a.exp }
    }
}

/// `floor(sqrt(2^60 / head_dim))`: 1/sqrt(d) in Q30.
pub fn score_scale_q30(head_dim: usize) -> i64 {
    isqrt_u128((1u128 << 60) / head_dim as u128) as i64
}

/// One attention score (section 7): the exact dot product `dot = sum q_i k_i` of
/// activations with exponents `q_exp`, `k_exp`, as Q16, times 1/sqrt(d) in Q30.
#[inline]
pub fn score(dot: i64, q_exp: i32, k_exp: i32, scale_q30: i64) -> i64 {
    let s16 = round_shift(dot, -(q_exp + k_exp + 16));
    round_shift(s16.wrapping_mul(scale_q30), 30)
}

/// The unnormalised softmax weights `exp(s - max)` (Q16) of `scores` (section 7).
pub fn exp_weights(scores: &[i64]) -> Vec<u64> {
    let max = scores.iter().copied().max().unwrap_or(0);
    scores
        .iter()
        .map(|&s| exp_neg_q16(s - max) as u64)
        .collect()
}

/// `sum q_i k_i` over one head, exact.
#[inline]
pub fn dot_i16(a: &[i16], b: &[i16]) -> i64 {
    a.iter().zip(b).map(|(&u, &v)| u as i64 * v as i64).sum()
}

/// Attention output (Q16, `head_dim` values) of one query head over `keys`/`values`
/// (the positions it may see, in order).
pub fn attend(
    q: &Act,
    keys: &[&CachedVec],
    values: &[&CachedVec],
    scale_q30: i64,
    out: &mut [i32],
) {
    attend_with(q, keys, values, scale_q30, out, dot_i16)
}

/// [`attend`] with the exact dot product `dot` (a SIMD twin of [`dot_i16`]).
pub fn attend_with(
    q: &Act,
    keys: &[&CachedVec],
    values: &[&CachedVec],
    scale_q30: i64,
    out: &mut [i32],
    dot: impl Fn(&[i16], &[i16]) -> i64,
) {
    let scores: Vec<i64> = keys
        .iter()
        .map(|k| score(dot(&q.q, &k.q), q.exp, k.exp, scale_q30))
        .collect();
    let p = exp_weights(&scores);
    let sum: u64 = p.iter().sum();
    let mut acc = vec![0i64; out.len()];
    for (pt, v) in p.iter().zip(values) {
        let w = ((pt << 30) / sum) as i64;
        if w == 0 {
            continue;
        }
        let sh = -(v.exp + 16);
        if (-63..=0).contains(&sh) {
            // V = x * 2^-sh exactly (|x| < 2^15, so no bits are lost below 2^48).
            let up = (-sh) as u32;
            for (a, &x) in acc.iter_mut().zip(&v.q) {
                *a = wadd(*a, w * ((x as i64) << up));
            }
        } else {
            for (a, &x) in acc.iter_mut().zip(&v.q) {
                *a = wadd(*a, w * round_shift(x as i64, sh));
            }
        }
    }
    for (o, a) in out.iter_mut().zip(acc) {
        *o = sat_i32(round_shift(a, 30));
    }
}
