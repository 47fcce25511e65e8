//! The float reference: candle-transformers' quantized models run on the CPU.
//!
//! This is the quality oracle that the exact engine is measured against
//! (`quantized_llama` for the llama family, `quantized_gemma3` for Gemma 3).
//! Its outputs are *not* reproducible across machines; it never decides a
//! token in a replay link.

mod gemma3_all;
mod llama_all;

pub use gemma3_all::FloatGemma3All;
pub use llama_all::FloatLlamaAll;

use crate::gguf::{Architecture, GgufModel};
use candle_core::{Device, Tensor};
use candle_transformers::models::{quantized_gemma3, quantized_llama};
use std::io::Cursor;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum ReferenceError {
    #[error("the float reference model failed: {0}")]
    Candle(#[from] candle_core::Error),
    #[error("position {pos} is past the model's context length {max}")]
    ContextFull { pos: usize, max: usize },
}

enum Weights {
    Llama(quantized_llama::ModelWeights),
    Gemma3(quantized_gemma3::ModelWeights),
}

/// A float model with its KV cache.
pub struct FloatModel {
    weights: Weights,
    context_length: usize,
    device: Device,
}

impl FloatModel {
    /// Loads the weights of `model` (parsed from `bytes`) onto the CPU.
    pub fn load(model: &GgufModel, bytes: &[u8]) -> Result<Self, ReferenceError> {
        let device = Device::Cpu;
        // candle's loaders consume a `Content`; parsing the header again is cheap.
        let content =
            crate::gguf::read_content(bytes).map_err(|e| candle_core::Error::Msg(e.to_string()))?;
        let mut reader = Cursor::new(bytes);
        let weights = match model.config.architecture() {
            Architecture::Llama => Weights::Llama(quantized_llama::ModelWeights::from_gguf(
                content,
                &mut reader,
                &device,
            )?),
            Architecture::Gemma3 => Weights::Gemma3(quantized_gemma3::ModelWeights::from_gguf(
                content,
                &mut reader,
                &device,
            )?),
        };
        Ok(Self {
            weights,
            context_length: model.config.context_length(),
            device,
        })
    }

    /// Runs `tokens` at positions `pos..pos + tokens.len()` and returns the
    /// logits of the last one. `pos == 0` starts a new sequence.
    pub fn forward(&mut self, tokens: &[u32], pos: usize) -> Result<Vec<f32>, ReferenceError> {
        let end = pos + tokens.len();
        if end > self.context_length {
            return Err(ReferenceError::ContextFull {
                pos: end,
                max: self.context_length,
            });
        }
        let input = Tensor::new(tokens, &self.device)?.unsqueeze(0)?;
        let logits = match &mut self.weights {
            Weights::Llama(w) => w.forward(&input, pos)?,
            Weights::Gemma3(w) => w.forward(&input, pos)?,
        };
        Ok(logits.squeeze(0)?.to_vec1::<f32>()?)
    }
}

/// A batched (all-positions) float model of either architecture.
pub enum FloatAll {
    Llama(FloatLlamaAll),
    Gemma3(FloatGemma3All),
}

impl FloatAll {
    pub fn load(model: &GgufModel, bytes: &[u8]) -> Result<Self, ReferenceError> {
        Ok(match model.config.architecture() {
            Architecture::Llama => Self::Llama(FloatLlamaAll::load(model, bytes)?),
            Architecture::Gemma3 => Self::Gemma3(FloatGemma3All::load(model, bytes)?),
        })
    }

    /// Logits `[T, n_vocab]` for every position of `tokens` (a fresh sequence).
    pub fn forward_all(&self, tokens: &[u32]) -> Result<Vec<Vec<f32>>, ReferenceError> {
        match self {
            Self::Llama(m) => m.forward_all(tokens),
            Self::Gemma3(m) => m.forward_all(tokens),
        }
    }
}

/// Float logits rounded to Q16 so the integer sampler can run on them too
/// (greedy picks the same token as a float argmax unless two logits are within 2^-17).
pub fn logits_to_q16(logits: &[f32]) -> Vec<i32> {
    logits
        .iter()
        .map(|&l| {
            (l as f64 * 65536.0)
                .round()
                .clamp(i32::MIN as f64, i32::MAX as f64) as i32
        })
        .collect()
}
