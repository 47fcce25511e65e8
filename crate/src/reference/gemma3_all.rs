//! A float Gemma 3 forward pass over candle ops that returns the logits of *every*
//! position in one batched call, following llama.cpp's graph
//! (`src/models/gemma3.cpp`): GELU (tanh form) gating and a 512-position sliding
//! window on five of every six layers. candle-transformers' `quantized_gemma3`
//! (0.11.1) differs from it (SiLU gating, a 513-position window in a prompt and none
//! when decoding), so it cannot be the quality oracle for Gemma (docs/numerics.md,
//! section 15).
//!
//! Weights are the GGUF blocks dequantized exactly to f32 and activations stay f32,
//! as in [`super::FloatLlamaAll`].

use crate::gguf::{Gemma3Config, GgufModel, ModelConfig};
use crate::reference::ReferenceError;
use candle_core::{DType, Device, IndexOp, Tensor};
use std::io::Cursor;

struct Layer {
    attn_norm: Tensor,      // [n_embd]
    wq: Tensor,             // [n_head * head_dim, n_embd]
    wk: Tensor,             // [n_kv * head_dim, n_embd]
    wv: Tensor,             // [n_kv * head_dim, n_embd]
    q_norm: Tensor,         // [head_dim]
    k_norm: Tensor,         // [head_dim]
    wo: Tensor,             // [n_embd, n_head * head_dim]
    post_attn_norm: Tensor, // [n_embd]
    ffn_norm: Tensor,       // [n_embd]
    gate: Tensor,           // [n_ff, n_embd]
    up: Tensor,             // [n_ff, n_embd]
    down: Tensor,           // [n_embd, n_ff]
    post_ffn_norm: Tensor,  // [n_embd]
    local: bool,
}

/// f32 Gemma 3 weights.
pub struct FloatGemma3All {
    c: Gemma3Config,
    tok_embd: Tensor,    // [n_vocab, n_embd]
    output: Tensor,      // [n_vocab, n_embd]
    output_norm: Tensor, // [n_embd]
    layers: Vec<Layer>,
}

fn msg(e: impl std::fmt::Display) -> ReferenceError {
    ReferenceError::Candle(candle_core::Error::Msg(e.to_string()))
}

/// `(cos, sin)` `[T, hd/2]` for RoPE base `base`.
fn rope_tables(n: usize, hd: usize, base: f32) -> Result<(Tensor, Tensor), ReferenceError> {
    let dev = Device::Cpu;
    let theta: Vec<f32> = (0..hd)
        .step_by(2)
        .map(|i| 1f32 / base.powf(i as f32 / hd as f32))
        .collect();
    let theta = Tensor::new(theta.as_slice(), &dev)?;
    let pos = Tensor::arange(0, n as u32, &dev)?
        .to_dtype(DType::F32)?
        .reshape((n, 1))?;
    let angles = pos.matmul(&theta.reshape((1, hd / 2))?)?;
    Ok((angles.cos()?, angles.sin()?))
}

/// Causal mask `[T, T]`, limited to the last `window` positions when given.
fn mask(n: usize, window: Option<usize>) -> Result<Tensor, ReferenceError> {
    let m: Vec<f32> = (0..n)
        .flat_map(|i| {
            (0..n).map(move |j| {
                let hidden = j > i || window.is_some_and(|w| i - j >= w);
                if hidden {
                    f32::NEG_INFINITY
                } else {
                    0.0
                }
            })
        })
        .collect();
    Ok(Tensor::from_vec(m, (n, n), &Device::Cpu)?)
}

impl FloatGemma3All {
    pub fn load(gguf: &GgufModel, bytes: &[u8]) -> Result<Self, ReferenceError> {
        let ModelConfig::Gemma3(c) = &gguf.config else {
            return Err(msg("this float reference is for gemma3 models"));
        };
        let dev = Device::Cpu;
        let mut r = Cursor::new(bytes);
        let mut t = |name: &str| -> Result<Tensor, ReferenceError> {
            Ok(gguf.content.tensor(&mut r, name, &dev)?.dequantize(&dev)?)
        };
        let mut layers = Vec::new();
        for i in 0..c.n_layer {
            let n = |s: &str| format!("blk.{i}.{s}.weight");
            layers.push(Layer {
                attn_norm: t(&n("attn_norm"))?,
                wq: t(&n("attn_q"))?,
                wk: t(&n("attn_k"))?,
                wv: t(&n("attn_v"))?,
                q_norm: t(&n("attn_q_norm"))?,
                k_norm: t(&n("attn_k_norm"))?,
                wo: t(&n("attn_output"))?,
                post_attn_norm: t(&n("post_attention_norm"))?,
                ffn_norm: t(&n("ffn_norm"))?,
                gate: t(&n("ffn_gate"))?,
                up: t(&n("ffn_up"))?,
                down: t(&n("ffn_down"))?,
                post_ffn_norm: t(&n("post_ffw_norm"))?,
                local: (i + 1) % c.sliding_window_pattern != 0,
            });
        }
        let tok_embd = t("token_embd.weight")?;
        let output = if gguf.content.tensor_infos.contains_key("output.weight") {
            t("output.weight")?
        } else {
            tok_embd.clone()
        };
        Ok(Self {
            c: c.clone(),
            output_norm: t("output_norm.weight")?,
            tok_embd,
            output,
            layers,
        })
    }

    /// Logits `[T, n_vocab]` for every position of `tokens` (a fresh sequence).
    pub fn forward_all(&self, tokens: &[u32]) -> Result<Vec<Vec<f32>>, ReferenceError> {
        use candle_nn::ops::{rms_norm, softmax_last_dim};
        let c = &self.c;
        let n = tokens.len();
        let (hd, nh, nkv) = (c.head_dim, c.n_head, c.n_head_kv);
        let eps = c.rms_eps;
        let ids = Tensor::new(tokens, &Device::Cpu)?;
        let mut h = (self.tok_embd.index_select(&ids, 0)? * (c.n_embd as f64).sqrt())?;
        let local = rope_tables(n, hd, c.rope_freq_base_local)?;
        let global = rope_tables(n, hd, c.rope_freq_base)?;
        let (mask_local, mask_global) = (mask(n, Some(c.sliding_window))?, mask(n, None)?);
        let scale = 1.0 / (hd as f64).sqrt();
        for l in &self.layers {
            let ((cos, sin), mask) = if l.local {
                (&local, &mask_local)
            } else {
                (&global, &mask_global)
            };
            let x = rms_norm(&h, &l.attn_norm, eps)?;
            let heads = |w: &Tensor, k: usize| -> Result<Tensor, ReferenceError> {
                Ok(x.matmul(&w.t()?)?
                    .reshape((n, k, hd))?
                    .transpose(0, 1)?
                    .contiguous()?)
            };
            let q = rms_norm(&heads(&l.wq, nh)?, &l.q_norm, eps)?;
            let k = rms_norm(&heads(&l.wk, nkv)?, &l.k_norm, eps)?;
            let v = heads(&l.wv, nkv)?;
            let q = candle_nn::rotary_emb::rope(&q.unsqueeze(0)?, cos, sin)?.squeeze(0)?;
            let k = candle_nn::rotary_emb::rope(&k.unsqueeze(0)?, cos, sin)?.squeeze(0)?;
            let rep = nh / nkv;
            let k = Tensor::cat(&vec![&k; rep], 1)?.reshape((nh, n, hd))?;
            let v = Tensor::cat(&vec![&v; rep], 1)?.reshape((nh, n, hd))?;
            let att = (q.matmul(&k.t()?)? * scale)?.broadcast_add(mask)?;
            let o = softmax_last_dim(&att)?
                .matmul(&v)?
                .transpose(0, 1)?
                .reshape((n, nh * hd))?;
            let o = rms_norm(&o.matmul(&l.wo.t()?)?, &l.post_attn_norm, eps)?;
            h = (h + o)?;
            let x = rms_norm(&h, &l.ffn_norm, eps)?;
            let g = x.matmul(&l.gate.t()?)?.gelu()?;
            let u = x.matmul(&l.up.t()?)?;
            let d = rms_norm(&(g * u)?.matmul(&l.down.t()?)?, &l.post_ffn_norm, eps)?;
            h = (h + d)?;
        }
        let x = rms_norm(&h, &self.output_norm, eps)?;
        let logits = x.matmul(&self.output.t()?)?;
        Ok((0..n)
            .map(|i| logits.i(i).and_then(|r| r.to_vec1::<f32>()))
            .collect::<Result<_, _>>()?)
    }
}
