//! Numeric spec `score-1` (docs/numerics.md, section 12): log-likelihoods from the
//! exact engine's Q16 logits by an integer log-softmax, and the predictions made
//! from them. Integers only, from the logits to the stored log-likelihood and
//! every prediction; metrics for display are computed elsewhere
//! ([`super::metrics`]).
#![deny(clippy::float_arithmetic)]

use crate::exact::fixed::round_shift_i128;
use crate::exact::math::{exp_neg_q16, log2_int_q60, LN2_Q60};

/// The name of this scoring spec; results and eval links record it.
pub const SCORE_SPEC: &str = "score-1";

/// Largest vocabulary the bounds of `score-1` allow (the sum of the Q30
/// exponentials stays below 2^61).
pub const MAX_VOCAB: usize = 1 << 30;

/// The log-probability of one token under one row of logits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenScore {
    /// `ln p(target)` in Q16 (always `<= 0`).
    pub logprob_q16: i64,
    /// The target is the greedy choice: the first index of the largest logit.
    pub greedy: bool,
}

/// `ln(sum_i e^(l_i - max))` in Q16 and the first index of the maximum
/// (section 12, steps 1-4).
pub fn log_sum_exp_q16(logits: &[i32]) -> (i64, usize) {
    assert!(
        !logits.is_empty() && logits.len() <= MAX_VOCAB,
        "logits row of an unsupported size"
    );
    let mut arg = 0;
    for (i, &l) in logits.iter().enumerate() {
        if l > logits[arg] {
            arg = i;
        }
    }
    let mx = logits[arg] as i64;
    let s: u64 = logits
        .iter()
        .map(|&l| exp_neg_q16(l as i64 - mx) as u64)
        .sum();
    // s >= 2^30 (the maximum contributes exactly 2^30): the logarithm is >= 0.
    let log2_s = log2_int_q60(s as i128) - (30i128 << 60);
    let lse = round_shift_i128(log2_s * LN2_Q60, 104) as i64;
    (lse, arg)
}

/// `ln softmax(logits)[target]` in Q16 and whether `target` is the greedy token.
pub fn token_score(logits: &[i32], target: u32) -> TokenScore {
    let (lse, arg) = log_sum_exp_q16(logits);
    let t = target as usize;
    assert!(t < logits.len(), "target token outside the logits row");
    let mx = logits[arg] as i64;
    TokenScore {
        logprob_q16: logits[t] as i64 - mx - lse,
        greedy: t == arg,
    }
}

/// The log-likelihood of a continuation: the sum of its tokens' scores.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ContinuationScore {
    /// `sum ln p` in Q16.
    pub loglik_q16: i64,
    /// Every token was the greedy choice.
    pub greedy: bool,
    /// Number of tokens scored.
    pub tokens: u32,
}

impl ContinuationScore {
    /// Scores `targets[i]` under `rows[i]`.
    pub fn from_rows<R: AsRef<[i32]>>(rows: &[R], targets: &[u32]) -> Self {
        assert_eq!(rows.len(), targets.len(), "one logits row per target token");
        let mut out = Self {
            loglik_q16: 0,
            greedy: true,
            tokens: targets.len() as u32,
        };
        for (row, &t) in rows.iter().zip(targets) {
            let s = token_score(row.as_ref(), t);
            out.loglik_q16 += s.logprob_q16;
            out.greedy &= s.greedy;
        }
        out
    }
}

/// The index of the first largest log-likelihood (`acc`'s prediction).
pub fn argmax_first(logliks: &[i64]) -> usize {
    let mut best = 0;
    for (i, &v) in logliks.iter().enumerate() {
        if v > logliks[best] {
            best = i;
        }
    }
    best
}

/// The index of the first largest `loglik / length` (`acc_norm`'s prediction),
/// compared exactly by cross-multiplication: `a/la > b/lb` iff `a*lb > b*la`
/// (lengths are positive).
pub fn argmax_norm_first(logliks: &[i64], lengths: &[u32]) -> usize {
    assert_eq!(logliks.len(), lengths.len());
    assert!(lengths.iter().all(|&l| l > 0), "a choice of length 0");
    let mut best = 0;
    for i in 1..logliks.len() {
        let lhs = logliks[i] as i128 * lengths[best] as i128;
        let rhs = logliks[best] as i128 * lengths[i] as i128;
        if lhs > rhs {
            best = i;
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Q16 of `x`, for readable test inputs.
    fn q16(x: i64) -> i32 {
        (x << 16) as i32
    }

    #[test]
    fn uniform_logits_give_minus_ln_n() {
        // Two equal logits: S = 2^31 exactly, log2 S - 30 = 1, ln = ln 2.
        // ln 2 in Q16 = round(0.693147... * 65536) = round(45426.09) = 45426.
        let (lse, arg) = log_sum_exp_q16(&[q16(3), q16(3)]);
        assert_eq!((lse, arg), (45426, 0));
        let s = token_score(&[q16(3), q16(3)], 1);
        assert_eq!(s.logprob_q16, -45426);
        assert!(!s.greedy, "a tie goes to the first maximum");
        assert!(token_score(&[q16(3), q16(3)], 0).greedy);
        // Four equal logits: S = 2^32, ln 4 = 1.386294... -> 90852.19 -> 90852.
        assert_eq!(log_sum_exp_q16(&[7; 4]).0, 90852);
        // 1024 equal logits: ln 1024 = 6.931471... * 65536 = 454260.9 -> 454261.
        assert_eq!(log_sum_exp_q16(&[-5; 1024]).0, 454261);
    }

    #[test]
    fn one_logit_is_certain() {
        assert_eq!(
            token_score(&[123], 0),
            TokenScore {
                logprob_q16: 0,
                greedy: true
            }
        );
    }

    #[test]
    fn far_below_the_maximum_contributes_nothing() {
        // e^-40 is below the Q30 grid: S = 2^30, lse = 0, logprob = -40 exactly.
        let s = token_score(&[q16(0), q16(-40)], 1);
        assert_eq!(s.logprob_q16, -40 << 16);
        assert!(!s.greedy);
    }

    #[test]
    fn a_hand_computed_two_token_case() {
        // logits (1, 0): S = 2^30 + exp_neg_q16(-65536).
        // exp_neg_q16(-1.0): y = round_shift(65536 * 1549082005, 22) = 24204406
        // (1.4426950 in Q24), n = 1, f = 7427190, j = 113, r = 21622;
        // EXP2[113] = 790721137, EXP2[114] = 788583072 (round(2^30 * 2^(-j/256)));
        // t = 790721137 - round_shift(2138065 * 21622, 16) = 790015735, halved and
        // rounded: 395007868 (e^-1 * 2^30 = 395007542.2; linear interpolation
        // overshoots). S = 1468749692; ln(S / 2^30) = 0.31326191 -> 20529.93 in Q16
        // -> 20530.
        let e = exp_neg_q16(-65536) as u64;
        assert_eq!(e, 395_007_868);
        let (lse, arg) = log_sum_exp_q16(&[q16(1), q16(0)]);
        assert_eq!((lse, arg), (20530, 0));
        assert_eq!(token_score(&[q16(1), q16(0)], 0).logprob_q16, -20530);
        assert_eq!(
            token_score(&[q16(1), q16(0)], 1).logprob_q16,
            -65536 - 20530
        );
    }

    #[test]
    fn continuation_sums_and_needs_every_token_greedy() {
        let rows = [vec![q16(1), q16(0)], vec![q16(0), q16(1)]];
        let c = ContinuationScore::from_rows(&rows, &[0, 1]);
        assert_eq!(c.loglik_q16, -2 * 20530);
        assert!(c.greedy);
        assert_eq!(c.tokens, 2);
        let c = ContinuationScore::from_rows(&rows, &[0, 0]);
        assert_eq!(c.loglik_q16, -20530 - 65536 - 20530);
        assert!(!c.greedy);
    }

    #[test]
    fn predictions_take_the_first_maximum() {
        assert_eq!(argmax_first(&[-5, -3, -3, -9]), 1);
        assert_eq!(argmax_first(&[-1]), 0);
        // loglik per character: -10/5 = -2, -9/3 = -3, -4/2 = -2 (tie with 0).
        assert_eq!(argmax_norm_first(&[-10, -9, -4], &[5, 3, 2]), 0);
        // -12/4 = -3 vs -10/5 = -2: the normalised choice differs from the raw one.
        assert_eq!(argmax_first(&[-12, -10]), 1);
        assert_eq!(argmax_norm_first(&[-12, -10], &[4, 5]), 1);
        assert_eq!(argmax_norm_first(&[-12, -10], &[8, 4]), 0);
        // Products past i64 are compared exactly in i128.
        assert_eq!(
            argmax_norm_first(&[i64::MIN / 2, i64::MIN / 2 + 1], &[u32::MAX, u32::MAX]),
            1
        );
    }
}
