//! Run options as they arrive from outside (the page, golden case files, links):
//! decimals as strings so they are parsed exactly, the seed as a decimal string so
//! all 64 bits survive JavaScript. One parser for every caller.

use crate::error::{Error, Result};
use crate::sampler::{parse_fixed, SamplingParams};
use crate::session::GenerateRequest;
use crate::tokenizer::ChatMessage;
use serde::{Deserialize, Serialize};

/// A generation request in its external form.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunOptions {
    pub prompt: String,
    #[serde(default)]
    pub chat: bool,
    /// A whole conversation (with `chat`); `prompt` is then ignored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub messages: Option<Vec<ChatMessage>>,
    pub max_tokens: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_k: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_p: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repeat_penalty: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repeat_last_n: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stop: Vec<String>,
}

fn invalid(msg: String) -> Error {
    Error::InvalidRequest(msg)
}

impl RunOptions {
    /// The sampling parameters, validated.
    pub fn params(&self) -> Result<SamplingParams> {
        let d = SamplingParams::default();
        let fixed = |v: &Option<String>, digits: u32, default: u32, what: &str| -> Result<u32> {
            match v {
                None => Ok(default),
                Some(s) => {
                    let x = parse_fixed(s, digits).map_err(|e| invalid(format!("{what}: {e}")))?;
                    u32::try_from(x).map_err(|_| invalid(format!("{what} is too large")))
                }
            }
        };
        let seed = match &self.seed {
            None => 0,
            Some(s) => s.trim().parse::<u64>().map_err(|_| {
                invalid(format!(
                    "the seed must be a whole number from 0 to 18446744073709551615, not '{}'",
                    s.chars().take(30).collect::<String>()
                ))
            })?,
        };
        let p = SamplingParams {
            temperature_milli: fixed(&self.temperature, 3, d.temperature_milli, "temperature")?,
            top_k: self.top_k.unwrap_or(d.top_k),
            top_p_micro: fixed(&self.top_p, 6, d.top_p_micro, "top-p")?,
            min_p_micro: fixed(&self.min_p, 6, d.min_p_micro, "min-p")?,
            repeat_penalty_milli: fixed(
                &self.repeat_penalty,
                3,
                d.repeat_penalty_milli,
                "repetition penalty",
            )?,
            repeat_last_n: self.repeat_last_n.unwrap_or(d.repeat_last_n),
            seed,
        };
        p.validate().map_err(|e| invalid(e.to_string()))?;
        Ok(p)
    }

    /// The validated request.
    pub fn to_request(&self) -> Result<GenerateRequest> {
        let req = GenerateRequest {
            prompt: self.prompt.clone(),
            chat: self.chat,
            messages: self.messages.clone(),
            max_tokens: self.max_tokens,
            params: self.params()?,
            stop: self.stop.clone(),
        };
        req.validate()?;
        Ok(req)
    }
}

/// `v` in units of 10^-`digits` as a short decimal string ("0.7", "1", "0.05").
pub fn format_fixed(v: u64, digits: u32) -> String {
    let scale = 10u64.pow(digits);
    let (int, frac) = (v / scale, v % scale);
    if frac == 0 {
        return int.to_string();
    }
    let f = format!("{frac:0width$}", width = digits as usize);
    format!("{int}.{}", f.trim_end_matches('0'))
}

impl RunOptions {
    /// The external form of a request (inverse of [`RunOptions::to_request`]).
    pub fn from_request(r: &GenerateRequest) -> Self {
        let p = &r.params;
        Self {
            prompt: r.prompt.clone(),
            chat: r.chat,
            messages: r.messages.clone(),
            max_tokens: r.max_tokens,
            temperature: Some(format_fixed(p.temperature_milli as u64, 3)),
            top_k: Some(p.top_k),
            top_p: Some(format_fixed(p.top_p_micro as u64, 6)),
            min_p: Some(format_fixed(p.min_p_micro as u64, 6)),
            repeat_penalty: Some(format_fixed(p.repeat_penalty_milli as u64, 3)),
            repeat_last_n: Some(p.repeat_last_n),
            seed: Some(p.seed.to_string()),
            stop: r.stop.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_exactly_and_rejects_absurd_values() {
        let o = RunOptions {
            prompt: "hi".into(),
            max_tokens: 8,
            temperature: Some("0.7".into()),
            top_p: Some("0.9".into()),
            seed: Some("18446744073709551615".into()),
            ..Default::default()
        };
        let r = o.to_request().unwrap();
        assert_eq!(r.params.temperature_milli, 700);
        assert_eq!(r.params.top_p_micro, 900_000);
        assert_eq!(r.params.seed, u64::MAX);
        assert_eq!(
            RunOptions::from_request(&r).to_request().unwrap().params,
            r.params
        );
        assert_eq!(format_fixed(700, 3), "0.7");
        assert_eq!(format_fixed(1000, 3), "1");
        assert_eq!(format_fixed(50_000, 6), "0.05");
        for bad in [
            RunOptions {
                max_tokens: 1_000_000_000,
                ..o.clone()
            },
            RunOptions {
                temperature: Some("-1".into()),
                ..o.clone()
            },
            RunOptions {
                top_p: Some("7".into()),
                ..o.clone()
            },
            RunOptions {
                seed: Some("1e9".into()),
                ..o.clone()
            },
            RunOptions {
                stop: vec![String::new()],
                ..o.clone()
            },
        ] {
            let e = bad.to_request().unwrap_err().to_string();
            assert!(e.starts_with("invalid request"), "{e}");
        }
    }
}
