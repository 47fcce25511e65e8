//! The integer sampler of spec `exact-1` (docs/numerics.md, "Sampler").
//!
//! Order of operations follows llama.cpp's default chain: repetition penalty,
//! then (greedy when the temperature is 0) top-k, top-p and min-p on the
//! temperature-1 distribution, then temperature, then one draw from the
//! [`DrawStream`]. Every parameter is an integer (milli- or micro-units), so a
//! link carries exactly the value that ran. Candidates are ordered by
//! (logit descending, token id ascending), a total order, so ties go to the
//! lowest id.
#![deny(clippy::float_arithmetic)]

pub mod chacha;

use crate::exact::math::exp_neg_q16;
pub use chacha::DrawStream;
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Sampling parameters, all integers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SamplingParams {
    /// Temperature in thousandths; 0 = greedy.
    pub temperature_milli: u32,
    /// Keep the k most likely tokens; 0 = off.
    pub top_k: u32,
    /// Nucleus threshold in millionths; 1_000_000 = off.
    pub top_p_micro: u32,
    /// Minimum probability relative to the top token, in millionths; 0 = off.
    pub min_p_micro: u32,
    /// Repetition penalty in thousandths; 1000 = off.
    pub repeat_penalty_milli: u32,
    /// How many recent tokens the penalty looks at.
    pub repeat_last_n: u32,
    pub seed: u64,
}

impl Default for SamplingParams {
    fn default() -> Self {
        Self {
            temperature_milli: 0,
            top_k: 40,
            top_p_micro: 950_000,
            min_p_micro: 50_000,
            repeat_penalty_milli: 1000,
            repeat_last_n: 64,
            seed: 0,
        }
    }
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum ParamError {
    #[error("temperature must be between 0 and 10 (got {0})")]
    Temperature(String),
    #[error("top-p must be between 0 and 1 (got {0})")]
    TopP(String),
    #[error("min-p must be between 0 and 1 (got {0})")]
    MinP(String),
    #[error("repetition penalty must be between 0.1 and 10 (got {0})")]
    RepeatPenalty(String),
    #[error("top-k must be at most 1000000 (got {0})")]
    TopK(String),
    #[error("'{0}' is not a decimal number like 0.7")]
    NotDecimal(String),
}

/// Parses a non-negative decimal string ("0.7", "1", ".05") into an integer in
/// units of 10^-`digits`, exactly (no float parsing); extra digits must be zero.
pub fn parse_fixed(s: &str, digits: u32) -> Result<u64, ParamError> {
    let bad = || ParamError::NotDecimal(s.chars().take(40).collect());
    let s = s.trim();
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    if (int.is_empty() && frac.is_empty())
        || !int.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
        || int.len() > 9
    {
        return Err(bad());
    }
    let mut v: u64 = if int.is_empty() {
        0
    } else {
        int.parse().map_err(|_| bad())?
    };
    for i in 0..digits as usize {
        let d = frac.as_bytes().get(i).map_or(0, |b| (b - b'0') as u64);
        v = v * 10 + d;
    }
    if frac.len() > digits as usize && frac[digits as usize..].bytes().any(|b| b != b'0') {
        return Err(bad());
    }
    Ok(v)
}

impl SamplingParams {
    /// Checks ranges; every accepted value is one the sampler handles without overflow.
    pub fn validate(&self) -> Result<(), ParamError> {
        let milli = |v: u32| format!("{}.{:03}", v / 1000, v % 1000);
        let micro = |v: u32| format!("{}.{:06}", v / 1_000_000, v % 1_000_000);
        if self.temperature_milli > 10_000 {
            return Err(ParamError::Temperature(milli(self.temperature_milli)));
        }
        if self.top_p_micro > 1_000_000 {
            return Err(ParamError::TopP(micro(self.top_p_micro)));
        }
        if self.min_p_micro > 1_000_000 {
            return Err(ParamError::MinP(micro(self.min_p_micro)));
        }
        if !(100..=10_000).contains(&self.repeat_penalty_milli) {
            return Err(ParamError::RepeatPenalty(milli(self.repeat_penalty_milli)));
        }
        if self.top_k > 1_000_000 {
            return Err(ParamError::TopK(self.top_k.to_string()));
        }
        Ok(())
    }

    pub fn is_greedy(&self) -> bool {
        self.temperature_milli == 0
    }
}

/// Rounded `a * num / den` (half up), `den > 0`.
fn mul_div_round(a: i64, num: i64, den: i64) -> i64 {
    let p = a as i128 * num as i128;
    (p * 2 + den as i128).div_euclid(2 * den as i128) as i64
}

/// Applies llama.cpp's repetition penalty to `logits` (Q16) in place: a token
/// seen in the last `repeat_last_n` of `history` has its logit divided by the
/// penalty if positive, multiplied if not.
pub fn apply_repeat_penalty(logits: &mut [i32], history: &[u32], p: &SamplingParams) {
    if p.repeat_penalty_milli == 1000 || p.repeat_last_n == 0 {
        return;
    }
    let start = history.len().saturating_sub(p.repeat_last_n as usize);
    let mut seen: Vec<u32> = history[start..].to_vec();
    seen.sort_unstable();
    seen.dedup();
    let pen = p.repeat_penalty_milli as i64;
    for &t in &seen {
        if let Some(l) = logits.get_mut(t as usize) {
            let v = *l as i64;
            let nv = if v > 0 {
                mul_div_round(v, 1000, pen)
            } else {
                mul_div_round(v, pen, 1000)
            };
            *l = nv.clamp(i32::MIN as i64, i32::MAX as i64) as i32;
        }
    }
}

/// Index of the largest logit, lowest id on ties.
pub fn argmax(logits: &[i32]) -> u32 {
    let mut best = 0usize;
    for (i, &l) in logits.iter().enumerate() {
        if l > logits[best] {
            best = i;
        }
    }
    best as u32
}

/// Picks the next token from Q16 `logits` (already penalized). `draw` is this
/// token's random draw; it is not used when sampling is greedy.
pub fn sample(logits: &[i32], p: &SamplingParams, draw: u64) -> u32 {
    if p.is_greedy() || logits.len() == 1 {
        return argmax(logits);
    }
    // Candidates in total order: logit descending, id ascending.
    let mut cand: Vec<(i32, u32)> = logits
        .iter()
        .enumerate()
        .map(|(i, &l)| (l, i as u32))
        .collect();
    let by_rank = |a: &(i32, u32), b: &(i32, u32)| b.0.cmp(&a.0).then(a.1.cmp(&b.1));
    let k = if p.top_k == 0 {
        cand.len()
    } else {
        (p.top_k as usize).min(cand.len())
    };
    if k < cand.len() {
        cand.select_nth_unstable_by(k - 1, by_rank);
        cand.truncate(k);
    }
    cand.sort_unstable_by(by_rank);
    let max = cand[0].0 as i64;
    // Temperature-1 probabilities (Q30) for top-p and min-p.
    let p1: Vec<u64> = cand
        .iter()
        .map(|&(l, _)| exp_neg_q16(l as i64 - max) as u64)
        .collect();
    let mut keep = cand.len();
    if p.top_p_micro < 1_000_000 {
        let total: u128 = p1.iter().map(|&v| v as u128).sum();
        let mut cum: u128 = 0;
        for (i, &v) in p1.iter().enumerate() {
            cum += v as u128;
            if cum * 1_000_000 >= total * p.top_p_micro as u128 {
                keep = i + 1;
                break;
            }
        }
    }
    if p.min_p_micro > 0 {
        let threshold = (1u128 << 30) * p.min_p_micro as u128;
        let n = p1[..keep]
            .iter()
            .take_while(|&&v| v as u128 * 1_000_000 >= threshold)
            .count();
        keep = n.max(1);
    }
    cand.truncate(keep);
    // Temperature: e^((l - max) / T), with (l - max) / T rounded in Q16.
    let t = p.temperature_milli as i64;
    let w: Vec<u64> = cand
        .iter()
        .map(|&(l, _)| exp_neg_q16(mul_div_round(l as i64 - max, 1000, t)) as u64)
        .collect();
    let total: u64 = w.iter().sum();
    let r = ((draw as u128 * total as u128) >> 64) as u64;
    let mut cum = 0u64;
    for (i, &wi) in w.iter().enumerate() {
        cum += wi;
        if r < cum {
            return cand[i].1;
        }
    }
    cand[0].1
}

#[cfg(test)]
#[allow(clippy::float_arithmetic, clippy::excessive_precision)]
mod tests {
    use super::*;

    #[test]
    fn parse_fixed_is_exact() {
        assert_eq!(parse_fixed("0.7", 3), Ok(700));
        assert_eq!(parse_fixed("1", 3), Ok(1000));
        assert_eq!(parse_fixed(".05", 6), Ok(50_000));
        assert_eq!(parse_fixed("0.95000", 3), Ok(950));
        assert!(parse_fixed("0.9501", 3).is_err());
        assert!(parse_fixed("-1", 3).is_err());
        assert!(parse_fixed("1e3", 3).is_err());
        assert!(parse_fixed("", 3).is_err());
        assert!(parse_fixed("99999999999999", 3).is_err());
    }

    #[test]
    fn validate_rejects_absurd_values() {
        let mut p = SamplingParams::default();
        assert!(p.validate().is_ok());
        p.top_p_micro = 7_000_000;
        assert!(matches!(p.validate(), Err(ParamError::TopP(_))));
        p = SamplingParams {
            temperature_milli: 1_000_000,
            ..Default::default()
        };
        assert!(p.validate().is_err());
    }

    #[test]
    fn greedy_ties_go_to_lowest_id() {
        assert_eq!(argmax(&[3, 7, 7, 1]), 1);
        let p = SamplingParams::default();
        assert_eq!(sample(&[3, 7, 7, 1], &p, 12345), 1);
    }

    #[test]
    fn sampling_follows_the_distribution() {
        // Two tokens with logits differing by ln(3) (Q16): probabilities 3/4 and 1/4.
        let ln3 = 71_999; // round(ln(3) * 65536)
        let logits = [0, ln3];
        let p = SamplingParams {
            temperature_milli: 1000,
            top_k: 0,
            top_p_micro: 1_000_000,
            min_p_micro: 0,
            ..Default::default()
        };
        let s = DrawStream::new(7);
        let n = 4000;
        let ones = (0..n)
            .filter(|&k| sample(&logits, &p, s.draw(k)) == 1)
            .count();
        assert!((ones as f64 / n as f64 - 0.75).abs() < 0.03, "{ones}");
    }

    #[test]
    fn top_k_one_is_greedy() {
        let p = SamplingParams {
            temperature_milli: 1500,
            top_k: 1,
            ..Default::default()
        };
        for k in 0..50 {
            assert_eq!(sample(&[5, 9, 2, 9], &p, DrawStream::new(1).draw(k)), 1);
        }
    }

    #[test]
    fn repeat_penalty_divides_positive_and_multiplies_negative() {
        let mut l = [1000, -1000, 500];
        let p = SamplingParams {
            repeat_penalty_milli: 2000,
            ..Default::default()
        };
        apply_repeat_penalty(&mut l, &[0, 1, 0], &p);
        assert_eq!(l, [500, -2000, 500]);
    }
}
