//! The gemma3 architecture (Gemma Team 2025, "Gemma 3 Technical Report"; llama.cpp
//! `src/models/gemma3.cpp`) under spec `exact-2` (docs/numerics.md, section 14): an
//! embedding scaled by `sqrt(n_embd)`, blocks with RMSNorm before and after both
//! attention and the GELU-gated FFN, QK-norm, NEOX-style RoPE, five sliding-window
//! (local) layers for each global one, each kind with its own RoPE base, and the
//! output head tied to the embedding.

use super::{f32_bits, weight_view, ModelError};
use crate::exact::gemma::{embed_scale_q30, gamma_q16_wide, RESIDUAL_SHIFT};
use crate::exact::rope::{RopeStyle, RopeTable};
use crate::exec::{AttnShape, Executor};
use crate::gguf::{Gemma3Config, GgufModel, ModelConfig};
use std::sync::Arc;

/// One transformer block's weights.
struct Layer<E: Executor> {
    attn_norm: Vec<i32>,      // [n_embd], Q16
    wq: E::Weight,            // [n_head * head_dim, n_embd]
    wk: E::Weight,            // [n_head_kv * head_dim, n_embd]
    wv: E::Weight,            // [n_head_kv * head_dim, n_embd]
    q_norm: Vec<i32>,         // [head_dim], Q16
    k_norm: Vec<i32>,         // [head_dim], Q16
    wo: E::Weight,            // [n_embd, n_head * head_dim]
    post_attn_norm: Vec<i32>, // [n_embd], Q16
    ffn_norm: Vec<i32>,       // [n_embd], Q16
    gate: E::Weight,          // [n_ff, n_embd]
    up: E::Weight,            // [n_ff, n_embd]
    down: E::Weight,          // [n_embd, n_ff]
    post_ffn_norm: Vec<i32>,  // [n_embd], Q16
    /// Sliding-window (local) layer, else global.
    local: bool,
}

/// Model weights, on the executor's device.
pub struct Gemma3Weights<E: Executor> {
    pub config: Gemma3Config,
    tok_embd: E::Weight,   // [n_vocab, n_embd]
    output: E::Weight,     // [n_vocab, n_embd]
    output_norm: Vec<i32>, // [n_embd], Q16
    embed_scale: i64,      // sqrt(n_embd), Q30
    eps_bits: u32,
    layers: Vec<Layer<E>>,
}

/// Run state: KV caches, the two RoPE tables, number of positions processed.
pub struct Gemma3State<E: Executor> {
    caches: Vec<E::KvCache>,
    rope_local: RopeTable,
    rope_global: RopeTable,
    pub pos: usize,
}

impl<E: Executor> Gemma3Weights<E> {
    pub fn load(ex: &mut E, gguf: &GgufModel, file: &Arc<Vec<u8>>) -> Result<Self, ModelError> {
        let ModelConfig::Gemma3(config) = &gguf.config else {
            return Err(ModelError::Unsupported(format!(
                "the '{}' architecture as gemma3",
                gguf.config.architecture().as_str()
            )));
        };
        if config.n_embd > 1 << 16 || config.head_dim % 2 != 0 || config.head_dim > 1 << 16 {
            return Err(ModelError::Unsupported(format!(
                "gemma3 with n_embd {} and head size {}",
                config.n_embd, config.head_dim
            )));
        }
        let w = |ex: &mut E, name: &str| -> Result<E::Weight, ModelError> {
            Ok(ex.weight(weight_view(gguf, file, name)?)?)
        };
        let g = |name: &str| -> Result<Vec<i32>, ModelError> {
            Ok(gamma_q16_wide(&f32_bits(gguf, file, name)?))
        };
        let mut layers = Vec::with_capacity(config.n_layer);
        for i in 0..config.n_layer {
            let n = |s: &str| format!("blk.{i}.{s}.weight");
            layers.push(Layer {
                attn_norm: g(&n("attn_norm"))?,
                wq: w(ex, &n("attn_q"))?,
                wk: w(ex, &n("attn_k"))?,
                wv: w(ex, &n("attn_v"))?,
                q_norm: g(&n("attn_q_norm"))?,
                k_norm: g(&n("attn_k_norm"))?,
                wo: w(ex, &n("attn_output"))?,
                post_attn_norm: g(&n("post_attention_norm"))?,
                ffn_norm: g(&n("ffn_norm"))?,
                gate: w(ex, &n("ffn_gate"))?,
                up: w(ex, &n("ffn_up"))?,
                down: w(ex, &n("ffn_down"))?,
                post_ffn_norm: g(&n("post_ffw_norm"))?,
                local: (i + 1) % config.sliding_window_pattern != 0,
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
            embed_scale: embed_scale_q30(config.n_embd),
            eps_bits: config.rms_eps.to_bits(),
            layers,
        })
    }

    pub fn new_state(&self, ex: &mut E) -> Gemma3State<E> {
        let c = &self.config;
        Gemma3State {
            caches: self
                .layers
                .iter()
                .map(|l| {
                    ex.new_cache(AttnShape {
                        n_head: c.n_head,
                        n_head_kv: c.n_head_kv,
                        head_dim: c.head_dim,
                        window: l.local.then_some(c.sliding_window),
                    })
                })
                .collect(),
            rope_local: RopeTable::new(
                c.head_dim,
                c.rope_freq_base_local.to_bits(),
                RopeStyle::Neox,
            ),
            rope_global: RopeTable::new(c.head_dim, c.rope_freq_base.to_bits(), RopeStyle::Neox),
            pos: 0,
        }
    }

    /// Runs `tokens` at positions `state.pos..`, returning Q16 logits for the last
    /// token, or for every token when `all_logits`; the logits stay on the device.
    pub fn forward_rows(
        &self,
        ex: &mut E,
        state: &mut Gemma3State<E>,
        tokens: &[u32],
        all_logits: bool,
    ) -> Result<E::Rows, ModelError> {
        let c = &self.config;
        let (eps, hd) = (self.eps_bits, c.head_dim);
        let pos0 = state.pos;
        super::check_input(pos0, tokens, c.context_length, c.n_vocab)?;
        // h: the residual stream, Q16 of h * 2^-RESIDUAL_SHIFT.
        let mut h = ex.embed(&self.tok_embd, tokens);
        ex.scale(&mut h, self.embed_scale)?;
        for (layer, cache) in self.layers.iter().zip(state.caches.iter_mut()) {
            let rope = if layer.local {
                &mut state.rope_local
            } else {
                &mut state.rope_global
            };
            let x = ex.rms_norm_wide(&h, &layer.attn_norm, eps)?;
            let mut q = ex.matmul(&layer.wq, &x);
            let mut k = ex.matmul(&layer.wk, &x);
            let v = ex.matmul(&layer.wv, &x);
            ex.rms_norm_q16(&mut q, &layer.q_norm, eps, 0)?;
            ex.rms_norm_q16(&mut k, &layer.k_norm, eps, 0)?;
            ex.rope(&mut q, rope, hd, pos0);
            ex.rope(&mut k, rope, hd, pos0);
            let att = ex.attention(cache, &q, &k, &v, pos0);
            let att = ex.quantize(&att);
            let mut o = ex.matmul(&layer.wo, &att);
            ex.rms_norm_q16(&mut o, &layer.post_attn_norm, eps, RESIDUAL_SHIFT)?;
            ex.add(&mut h, &o);

            let x = ex.rms_norm_wide(&h, &layer.ffn_norm, eps)?;
            let gate = ex.matmul(&layer.gate, &x);
            let up = ex.matmul(&layer.up, &x);
            let hidden = ex.gelu_mul(&gate, &up)?;
            let mut down = ex.matmul(&layer.down, &hidden);
            ex.rms_norm_q16(&mut down, &layer.post_ffn_norm, eps, RESIDUAL_SHIFT)?;
            ex.add(&mut h, &down);
        }
        state.pos = pos0 + tokens.len();
        let h = if all_logits { h } else { ex.last_row(&h) };
        let x = ex.rms_norm_wide(&h, &self.output_norm, eps)?;
        Ok(ex.matmul(&self.output, &x))
    }
}
