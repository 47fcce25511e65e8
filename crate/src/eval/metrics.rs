//! Metrics for display, computed from the exact integer results after scoring
//! (docs/numerics.md, section 12, "Displayed metrics"). Counts and sums are
//! integers; the divisions, square roots and exponentials here only format them
//! and never feed back into a prediction or a hash.

use super::run::ItemResult;
use super::task::OutputType;
use serde::{Deserialize, Serialize};

/// lm-eval's metrics for one result, rounded to 6 decimals.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub acc: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub acc_stderr: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub acc_norm: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub acc_norm_stderr: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub perplexity: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub word_perplexity: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub byte_perplexity: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub bits_per_byte: Option<f64>,
}

fn round6(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}

/// `count / n` and lm-eval's standard error `sqrt(p(1-p)/(n-1))`.
fn mean_stderr(count: u64, n: u64) -> (f64, f64) {
    let p = count as f64 / n as f64;
    let se = if n > 1 {
        (p * (1.0 - p) / (n - 1) as f64).sqrt()
    } else {
        0.0
    };
    (round6(p), round6(se))
}

/// Q16 log-likelihood sum as a float (exact: |sum| < 2^53).
fn nats(q16: i64) -> f64 {
    q16 as f64 / 65536.0
}

/// The integer tallies behind the metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    pub n: u64,
    pub correct: u64,
    pub correct_norm: u64,
    pub loglik_q16: i64,
    pub words: u64,
    pub bytes: u64,
}

impl Tally {
    pub fn of(items: &[ItemResult], ot: OutputType) -> Self {
        let mut t = Tally {
            n: items.len() as u64,
            ..Default::default()
        };
        for it in items {
            match ot {
                OutputType::MultipleChoice => {
                    t.correct += (Some(it.pred) == it.gold) as u64;
                    t.correct_norm += (Some(it.pred_norm) == it.gold) as u64;
                }
                OutputType::Loglikelihood => {
                    t.correct += it.scores.iter().all(|s| s.greedy) as u64;
                }
                OutputType::LoglikelihoodRolling => {}
            }
            t.loglik_q16 += it.scores.iter().map(|s| s.loglik_q16).sum::<i64>();
            t.words += it.words.unwrap_or(0);
            t.bytes += it.bytes.unwrap_or(0);
        }
        t
    }

    pub fn metrics(&self, ot: OutputType) -> Metrics {
        let mut m = Metrics::default();
        if self.n == 0 {
            return m;
        }
        match ot {
            OutputType::MultipleChoice => {
                let (a, se) = mean_stderr(self.correct, self.n);
                let (an, sen) = mean_stderr(self.correct_norm, self.n);
                (m.acc, m.acc_stderr, m.acc_norm, m.acc_norm_stderr) =
                    (Some(a), Some(se), Some(an), Some(sen));
            }
            OutputType::Loglikelihood => {
                let (a, se) = mean_stderr(self.correct, self.n);
                (m.acc, m.acc_stderr) = (Some(a), Some(se));
                m.perplexity = Some(round6((-nats(self.loglik_q16) / self.n as f64).exp()));
            }
            OutputType::LoglikelihoodRolling => {
                let ll = -nats(self.loglik_q16);
                if self.words > 0 {
                    m.word_perplexity = Some(round6((ll / self.words as f64).exp()));
                }
                if self.bytes > 0 {
                    m.byte_perplexity = Some(round6((ll / self.bytes as f64).exp()));
                    m.bits_per_byte = Some(round6(ll / self.bytes as f64 / std::f64::consts::LN_2));
                }
            }
        }
        m
    }
}

/// The headline figure of a task type, for one-line summaries:
/// ("acc", value) or ("word_perplexity", value).
pub fn headline(m: &Metrics) -> (&'static str, f64) {
    if let Some(a) = m.acc {
        ("acc", a)
    } else {
        ("word_perplexity", m.word_perplexity.unwrap_or(0.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accuracy_and_stderr_as_lm_eval() {
        // 3 of 4: p = 0.75, sqrt(0.75 * 0.25 / 3) = 0.25.
        assert_eq!(mean_stderr(3, 4), (0.75, 0.25));
        assert_eq!(mean_stderr(1, 3), (0.333333, 0.333333));
        let t = Tally {
            n: 2,
            correct: 1,
            loglik_q16: -4 * 65536,
            ..Default::default()
        };
        // perplexity = exp(4 / 2) = e^2 = 7.3890561 -> 7.389056.
        assert_eq!(
            t.metrics(OutputType::Loglikelihood).perplexity,
            Some(7.389056)
        );
    }
}
