//! The llama architecture (Touvron et al. 2023; llama.cpp `llm_build_llama`) under
//! spec `exact-1`: pre-norm blocks of grouped-query attention with interleaved RoPE
//! and a SiLU-gated FFN, a final RMSNorm and an output head (tied to the token
//! embedding when the file has no `output.weight`).

use super::{f32_bits, weight_view, ModelError};
use crate::exact::norm::gamma_q16;
use crate::exact::rope::{RopeStyle, RopeTable};
use crate::exec::{AttnShape, Executor};
use crate::gguf::{GgufModel, LlamaConfig, ModelConfig};
use std::sync::Arc;

/// One transformer block's weights.
struct Layer<E: Executor> {
    attn_norm: Vec<i32>, // [n_embd], Q16
    wq: E::Weight,       // [n_head * head_dim, n_embd]
    wk: E::Weight,       // [n_head_kv * head_dim, n_embd]
    wv: E::Weight,       // [n_head_kv * head_dim, n_embd]
    wo: E::Weight,       // [n_embd, n_head * head_dim]
    ffn_norm: Vec<i32>,  // [n_embd], Q16
    gate: E::Weight,     // [n_ff, n_embd]
    up: E::Weight,       // [n_ff, n_embd]
    down: E::Weight,     // [n_embd, n_ff]
}

/// Model weights, on the executor's device.
pub struct LlamaWeights<E: Executor> {
    pub config: LlamaConfig,
    tok_embd: E::Weight,   // [n_vocab, n_embd]
    output: E::Weight,     // [n_vocab, n_embd]
    output_norm: Vec<i32>, // [n_embd], Q16
    eps_bits: u32,
    layers: Vec<Layer<E>>,
}

/// Run state: KV caches, RoPE table, number of positions processed.
pub struct LlamaState<E: Executor> {
    caches: Vec<E::KvCache>,
    rope: RopeTable,
    pub pos: usize,
}

impl<E: Executor> LlamaWeights<E> {
    pub fn load(ex: &mut E, gguf: &GgufModel, file: &Arc<Vec<u8>>) -> Result<Self, ModelError> {
        let ModelConfig::Llama(config) = &gguf.config else {
            return Err(ModelError::Unsupported(format!(
                "the '{}' architecture",
                gguf.config.architecture().as_str()
            )));
        };
        if config.n_embd > 1 << 16 || config.rope_dim % 2 != 0 || config.rope_dim > config.head_dim
        {
            return Err(ModelError::Unsupported(format!(
                "llama with n_embd {} and rope dimension {} (head size {})",
                config.n_embd, config.rope_dim, config.head_dim
            )));
        }
        let w = |ex: &mut E, name: &str| -> Result<E::Weight, ModelError> {
            Ok(ex.weight(weight_view(gguf, file, name)?)?)
        };
        let g = |name: &str| -> Result<Vec<i32>, ModelError> {
            Ok(gamma_q16(&f32_bits(gguf, file, name)?))
        };
        let mut layers = Vec::with_capacity(config.n_layer);
        for i in 0..config.n_layer {
            let n = |s: &str| format!("blk.{i}.{s}.weight");
            layers.push(Layer {
                attn_norm: g(&n("attn_norm"))?,
                wq: w(ex, &n("attn_q"))?,
                wk: w(ex, &n("attn_k"))?,
                wv: w(ex, &n("attn_v"))?,
                wo: w(ex, &n("attn_output"))?,
                ffn_norm: g(&n("ffn_norm"))?,
                gate: w(ex, &n("ffn_gate"))?,
                up: w(ex, &n("ffn_up"))?,
                down: w(ex, &n("ffn_down"))?,
            });
        }
        let output_name = if gguf.content.tensor_infos.contains_key("output.weight") {
            "output.weight"
        } else {
            "token_embd.weight"
        };
        Ok(Self {
            config: config.clone(),
            tok_embd: w(ex, "token_embd.weight")?,
            output: w(ex, output_name)?,
            output_norm: g("output_norm.weight")?,
            eps_bits: config.rms_eps.to_bits(),
            layers,
        })
    }

    fn attn_shape(&self) -> AttnShape {
        AttnShape {
            n_head: self.config.n_head,
            n_head_kv: self.config.n_head_kv,
            head_dim: self.config.head_dim,
            window: None,
        }
    }

    pub fn new_state(&self, ex: &mut E) -> LlamaState<E> {
        LlamaState {
            caches: (0..self.config.n_layer)
                .map(|_| ex.new_cache(self.attn_shape()))
                .collect(),
            rope: RopeTable::new(
                self.config.rope_dim,
                self.config.rope_freq_base.to_bits(),
                RopeStyle::Interleaved,
            ),
            pos: 0,
        }
    }

    /// Runs `tokens` at positions `state.pos..`, returning Q16 logits for the last
    /// token, or for every token when `all_logits`.
    pub fn forward(
        &self,
        ex: &mut E,
        state: &mut LlamaState<E>,
        tokens: &[u32],
        all_logits: bool,
    ) -> Result<Vec<Vec<i32>>, ModelError> {
        let logits = self.forward_rows(ex, state, tokens, all_logits)?;
        Ok(ex.read(&logits)?)
    }

    /// [`LlamaWeights::forward`] without the read-back: the logits stay on the
    /// executor's device (a GPU executor reads them asynchronously in the browser).
    pub fn forward_rows(
        &self,
        ex: &mut E,
        state: &mut LlamaState<E>,
        tokens: &[u32],
        all_logits: bool,
    ) -> Result<E::Rows, ModelError> {
        let c = &self.config;
        let pos0 = state.pos;
        super::check_input(pos0, tokens, c.context_length, c.n_vocab)?;
        let mut h = ex.embed(&self.tok_embd, tokens);
        for (layer, cache) in self.layers.iter().zip(state.caches.iter_mut()) {
            let x = ex.rms_norm(&h, &layer.attn_norm, self.eps_bits);
            let mut q = ex.matmul(&layer.wq, &x);
            let mut k = ex.matmul(&layer.wk, &x);
            let v = ex.matmul(&layer.wv, &x);
            ex.rope(&mut q, &mut state.rope, c.head_dim, pos0);
            ex.rope(&mut k, &mut state.rope, c.head_dim, pos0);
            let att = ex.attention(cache, &q, &k, &v, pos0);
            let att = ex.quantize(&att);
            let o = ex.matmul(&layer.wo, &att);
            ex.add(&mut h, &o);

            let x = ex.rms_norm(&h, &layer.ffn_norm, self.eps_bits);
            let gate = ex.matmul(&layer.gate, &x);
            let up = ex.matmul(&layer.up, &x);
            let hidden = ex.silu_mul(&gate, &up);
            let down = ex.matmul(&layer.down, &hidden);
            ex.add(&mut h, &down);
        }
        state.pos = pos0 + tokens.len();
        let h = if all_logits { h } else { ex.last_row(&h) };
        let x = ex.rms_norm(&h, &self.output_norm, self.eps_bits);
        Ok(ex.matmul(&self.output, &x))
    }
}
