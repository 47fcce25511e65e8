//! Typed hyper-parameters read from GGUF metadata (`<arch>.*` keys of the GGUF spec).

use super::limits::{MAX_DIM, MAX_LAYERS, MAX_VOCAB};
use super::GgufError;
use candle_core::quantized::gguf_file::Value;
use std::collections::HashMap;

/// Model families this crate runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Architecture {
    Llama,
    Gemma3,
}

impl Architecture {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Llama => "llama",
            Self::Gemma3 => "gemma3",
        }
    }
}

/// Llama-family hyper-parameters (SmolLM2 uses these).
#[derive(Debug, Clone, PartialEq)]
pub struct LlamaConfig {
    pub n_embd: usize,
    pub n_layer: usize,
    pub n_head: usize,
    pub n_head_kv: usize,
    pub n_ff: usize,
    pub n_vocab: usize,
    pub head_dim: usize,
    pub rope_dim: usize,
    /// RoPE base frequency, as stored in the file.
    pub rope_freq_base: f32,
    /// RMSNorm epsilon, as stored in the file.
    pub rms_eps: f32,
    pub context_length: usize,
}

/// Gemma 3 hyper-parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct Gemma3Config {
    pub n_embd: usize,
    pub n_layer: usize,
    pub n_head: usize,
    pub n_head_kv: usize,
    pub n_ff: usize,
    pub n_vocab: usize,
    pub head_dim: usize,
    pub rope_freq_base: f32,
    pub rope_freq_base_local: f32,
    pub sliding_window: usize,
    /// Every `sliding_window_pattern`-th layer uses global attention.
    pub sliding_window_pattern: usize,
    pub rms_eps: f32,
    pub context_length: usize,
}

/// Hyper-parameters of a supported model.
#[derive(Debug, Clone, PartialEq)]
pub enum ModelConfig {
    Llama(LlamaConfig),
    Gemma3(Gemma3Config),
}

struct Meta<'a> {
    md: &'a HashMap<String, Value>,
    prefix: &'static str,
}

impl Meta<'_> {
    fn key(&self, k: &str) -> String {
        format!("{}.{}", self.prefix, k)
    }
    fn get(&self, k: &str) -> Option<&Value> {
        self.md.get(&self.key(k))
    }
    /// A positive integer no larger than [`MAX_DIM`].
    fn usize(&self, k: &str) -> Result<usize, GgufError> {
        self.bounded(k, MAX_DIM, "MAX_DIM")
    }
    /// A positive integer no larger than `max` (the limit called `name`).
    fn bounded(&self, k: &str, max: u64, name: &'static str) -> Result<usize, GgufError> {
        let key = self.key(k);
        let v = self.get(k).ok_or(GgufError::MissingMetadata(key.clone()))?;
        let n = match v {
            Value::U8(x) => u64::from(*x),
            Value::U16(x) => u64::from(*x),
            Value::U32(x) => u64::from(*x),
            Value::U64(x) => *x,
            Value::I32(x) if *x >= 0 => *x as u64,
            Value::I64(x) if *x >= 0 => *x as u64,
            other => {
                return Err(GgufError::BadMetadata {
                    key,
                    reason: format!("expected a non-negative integer, found {other:?}"),
                })
            }
        };
        if n == 0 {
            return Err(GgufError::BadMetadata {
                key,
                reason: "0 is out of range".into(),
            });
        }
        if n > max {
            return Err(GgufError::Limit {
                what: key,
                value: n,
                limit: max,
                name,
            });
        }
        Ok(n as usize)
    }
    fn usize_or(&self, k: &str, default: usize) -> Result<usize, GgufError> {
        if self.get(k).is_some() {
            self.usize(k)
        } else {
            Ok(default)
        }
    }
    fn f32(&self, k: &str) -> Result<f32, GgufError> {
        let key = self.key(k);
        match self.get(k) {
            None => Err(GgufError::MissingMetadata(key)),
            Some(Value::F32(x)) if x.is_finite() && *x > 0.0 => Ok(*x),
            Some(Value::F64(x)) if x.is_finite() && *x > 0.0 => Ok(*x as f32),
            Some(other) => Err(GgufError::BadMetadata {
                key,
                reason: format!("expected a positive number, found {other:?}"),
            }),
        }
    }
    fn f32_or(&self, k: &str, default: f32) -> Result<f32, GgufError> {
        if self.get(k).is_some() {
            self.f32(k)
        } else {
            Ok(default)
        }
    }
    /// A RoPE base frequency: at least 1 (the spec's frequencies `base^(-2i/d)`
    /// are then at most 1).
    fn rope_base(&self, k: &str, default: f32) -> Result<f32, GgufError> {
        let v = self.f32_or(k, default)?;
        if v < 1.0 {
            return Err(GgufError::BadMetadata {
                key: self.key(k),
                reason: format!("{v} is below 1"),
            });
        }
        Ok(v)
    }
}

fn divides(key: &str, n: usize, d: usize) -> Result<(), GgufError> {
    if !n.is_multiple_of(d) {
        return Err(GgufError::BadMetadata {
            key: key.to_string(),
            reason: format!("{n} is not a multiple of {d}"),
        });
    }
    Ok(())
}

impl ModelConfig {
    /// Reads the configuration from GGUF metadata. `vocab_len` is the length of
    /// `tokenizer.ggml.tokens`, used when the file has no `<arch>.vocab_size`.
    pub fn from_metadata(
        md: &HashMap<String, Value>,
        vocab_len: Option<u64>,
    ) -> Result<Self, GgufError> {
        let arch = match md.get("general.architecture") {
            Some(Value::String(s)) => s.as_str(),
            Some(_) => {
                return Err(GgufError::BadMetadata {
                    key: "general.architecture".into(),
                    reason: "not a string".into(),
                })
            }
            None => return Err(GgufError::MissingMetadata("general.architecture".into())),
        };
        match arch {
            "llama" => {
                let m = Meta {
                    md,
                    prefix: "llama",
                };
                let n_embd = m.usize("embedding_length")?;
                let n_head = m.usize("attention.head_count")?;
                let n_head_kv = m.usize_or("attention.head_count_kv", n_head)?;
                divides("llama.embedding_length", n_embd, n_head)?;
                divides("llama.attention.head_count", n_head, n_head_kv)?;
                let head_dim = n_embd / n_head;
                let n_vocab = vocab(&m, vocab_len)?;
                Ok(Self::Llama(LlamaConfig {
                    n_embd,
                    n_layer: m.bounded("block_count", MAX_LAYERS, "MAX_LAYERS")?,
                    n_head,
                    n_head_kv,
                    n_ff: m.usize("feed_forward_length")?,
                    n_vocab,
                    head_dim,
                    rope_dim: m.usize_or("rope.dimension_count", head_dim)?,
                    rope_freq_base: m.rope_base("rope.freq_base", 10_000.0)?,
                    rms_eps: m.f32("attention.layer_norm_rms_epsilon")?,
                    context_length: m.usize("context_length")?,
                }))
            }
            "gemma3" => {
                let m = Meta {
                    md,
                    prefix: "gemma3",
                };
                let n_head = m.usize("attention.head_count")?;
                let n_head_kv = m.usize_or("attention.head_count_kv", n_head)?;
                divides("gemma3.attention.head_count", n_head, n_head_kv)?;
                let head_dim = m.usize("attention.key_length")?;
                // The attention widths (heads x head size) stay within MAX_DIM too, so
                // no shape product overflows a 32-bit usize.
                if n_head as u64 * head_dim as u64 > MAX_DIM {
                    return Err(GgufError::Limit {
                        what: "gemma3 attention width (head_count x key_length)".into(),
                        value: n_head as u64 * head_dim as u64,
                        limit: MAX_DIM,
                        name: "MAX_DIM",
                    });
                }
                let value_len = m.usize_or("attention.value_length", head_dim)?;
                if value_len != head_dim {
                    return Err(GgufError::BadMetadata {
                        key: "gemma3.attention.value_length".into(),
                        reason: format!("{value_len} differs from key_length {head_dim}"),
                    });
                }
                Ok(Self::Gemma3(Gemma3Config {
                    n_embd: m.usize("embedding_length")?,
                    n_layer: m.bounded("block_count", MAX_LAYERS, "MAX_LAYERS")?,
                    n_head,
                    n_head_kv,
                    n_ff: m.usize("feed_forward_length")?,
                    n_vocab: vocab(&m, vocab_len)?,
                    head_dim,
                    rope_freq_base: m.rope_base("rope.freq_base", 1_000_000.0)?,
                    rope_freq_base_local: m.rope_base("rope.local_freq_base", 10_000.0)?,
                    sliding_window: m.usize("attention.sliding_window")?,
                    sliding_window_pattern: m.usize_or("attention.sliding_window_type", 6)?,
                    rms_eps: m.f32("attention.layer_norm_rms_epsilon")?,
                    context_length: m.usize("context_length")?,
                }))
            }
            other => Err(GgufError::UnknownArchitecture(other.to_string())),
        }
    }

    pub fn architecture(&self) -> Architecture {
        match self {
            Self::Llama(_) => Architecture::Llama,
            Self::Gemma3(_) => Architecture::Gemma3,
        }
    }

    pub fn n_layer(&self) -> usize {
        match self {
            Self::Llama(c) => c.n_layer,
            Self::Gemma3(c) => c.n_layer,
        }
    }

    pub fn n_vocab(&self) -> usize {
        match self {
            Self::Llama(c) => c.n_vocab,
            Self::Gemma3(c) => c.n_vocab,
        }
    }

    pub fn n_embd(&self) -> usize {
        match self {
            Self::Llama(c) => c.n_embd,
            Self::Gemma3(c) => c.n_embd,
        }
    }

    pub fn context_length(&self) -> usize {
        match self {
            Self::Llama(c) => c.context_length,
            Self::Gemma3(c) => c.context_length,
        }
    }
}

fn vocab(m: &Meta<'_>, vocab_len: Option<u64>) -> Result<usize, GgufError> {
    if m.get("vocab_size").is_some() {
        return m.bounded("vocab_size", MAX_VOCAB, "MAX_VOCAB");
    }
    match vocab_len {
        Some(n) if n > MAX_VOCAB => Err(GgufError::Limit {
            what: "number of tokenizer.ggml.tokens".into(),
            value: n,
            limit: MAX_VOCAB,
            name: "MAX_VOCAB",
        }),
        Some(n) if n > 0 => Ok(n as usize),
        _ => Err(GgufError::MissingMetadata("tokenizer.ggml.tokens".into())),
    }
}
