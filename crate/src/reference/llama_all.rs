//! A float llama forward pass over candle ops that returns the logits of *every*
//! position in one batched call (candle-transformers' `quantized_llama` returns only
//! the last one, so teacher forcing with it costs one call per token).
//!
//! Weights are the GGUF blocks dequantized exactly to f32 and activations stay f32:
//! the "ideal float" model that both llama.cpp-style quantized arithmetic and the
//! exact engine approximate. The same ops and RoPE convention as `quantized_llama`
//! (candle-nn `rms_norm`, `rope_i`, `softmax_last_dim`); a test checks it agrees
//! with `quantized_llama` on the last position.

use crate::gguf::{GgufModel, LlamaConfig, ModelConfig};
use crate::reference::ReferenceError;
use candle_core::{DType, Device, IndexOp, Tensor};
use std::io::Cursor;

struct Layer {
    attn_norm: Tensor, // [n_embd]
    wq: Tensor,        // [n_head * head_dim, n_embd]
    wk: Tensor,        // [n_kv * head_dim, n_embd]
    wv: Tensor,        // [n_kv * head_dim, n_embd]
    wo: Tensor,        // [n_embd, n_head * head_dim]
    ffn_norm: Tensor,  // [n_embd]
    gate: Tensor,      // [n_ff, n_embd]
    up: Tensor,        // [n_ff, n_embd]
    down: Tensor,      // [n_embd, n_ff]
}

/// f32 llama weights.
pub struct FloatLlamaAll {
    c: LlamaConfig,
    tok_embd: Tensor,    // [n_vocab, n_embd]
    output: Tensor,      // [n_vocab, n_embd]
    output_norm: Tensor, // [n_embd]
    layers: Vec<Layer>,
}

fn msg(e: impl std::fmt::Display) -> ReferenceError {
    ReferenceError::Candle(candle_core::Error::Msg(e.to_string()))
}

impl FloatLlamaAll {
    pub fn load(gguf: &GgufModel, bytes: &[u8]) -> Result<Self, ReferenceError> {
        let ModelConfig::Llama(c) = &gguf.config else {
            return Err(msg("the batched float reference is for llama models"));
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
                wo: t(&n("attn_output"))?,
                ffn_norm: t(&n("ffn_norm"))?,
                gate: t(&n("ffn_gate"))?,
                up: t(&n("ffn_up"))?,
                down: t(&n("ffn_down"))?,
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
        let c = &self.c;
        let dev = Device::Cpu;
        let n = tokens.len();
        let (hd, nh, nkv) = (c.head_dim, c.n_head, c.n_head_kv);
        let eps = c.rms_eps;
        let ids = Tensor::new(tokens, &dev)?;
        let mut h = self.tok_embd.index_select(&ids, 0)?; // [T, E]
                                                          // RoPE tables as in quantized_llama's precomput_freqs_cis.
        let theta: Vec<f32> = (0..c.rope_dim)
            .step_by(2)
            .map(|i| 1f32 / c.rope_freq_base.powf(i as f32 / c.rope_dim as f32))
            .collect();
        let theta = Tensor::new(theta.as_slice(), &dev)?;
        let pos = Tensor::arange(0, n as u32, &dev)?
            .to_dtype(DType::F32)?
            .reshape((n, 1))?;
        let angles = pos.matmul(&theta.reshape((1, c.rope_dim / 2))?)?;
        let (cos, sin) = (angles.cos()?, angles.sin()?);
        let mask: Vec<f32> = (0..n)
            .flat_map(|i| (0..n).map(move |j| if j > i { f32::NEG_INFINITY } else { 0.0 }))
            .collect();
        let mask = Tensor::from_vec(mask, (n, n), &dev)?;
        let scale = 1.0 / (hd as f64).sqrt();
        for l in &self.layers {
            let x = candle_nn::ops::rms_norm(&h, &l.attn_norm, eps)?;
            let q = x
                .matmul(&l.wq.t()?)?
                .reshape((n, nh, hd))?
                .transpose(0, 1)?
                .contiguous()?;
            let k = x
                .matmul(&l.wk.t()?)?
                .reshape((n, nkv, hd))?
                .transpose(0, 1)?
                .contiguous()?;
            let v = x
                .matmul(&l.wv.t()?)?
                .reshape((n, nkv, hd))?
                .transpose(0, 1)?
                .contiguous()?;
            let q = candle_nn::rotary_emb::rope_i(&q.unsqueeze(0)?, &cos, &sin)?.squeeze(0)?;
            let k = candle_nn::rotary_emb::rope_i(&k.unsqueeze(0)?, &cos, &sin)?.squeeze(0)?;
            let rep = nh / nkv;
            let k = Tensor::cat(&vec![&k; rep], 1)?.reshape((nh, n, hd))?;
            let v = Tensor::cat(&vec![&v; rep], 1)?.reshape((nh, n, hd))?;
            let att = (q.matmul(&k.t()?)? * scale)?.broadcast_add(&mask)?;
            let att = candle_nn::ops::softmax_last_dim(&att)?;
            let o = att.matmul(&v)?.transpose(0, 1)?.reshape((n, nh * hd))?;
            h = (h + o.matmul(&l.wo.t()?)?)?;
            let x = candle_nn::ops::rms_norm(&h, &l.ffn_norm, eps)?;
            let g = candle_nn::ops::silu(&x.matmul(&l.gate.t()?)?)?;
            let u = x.matmul(&l.up.t()?)?;
            h = (h + (g * u)?.matmul(&l.down.t()?)?)?;
        }
        let x = candle_nn::ops::rms_norm(&h, &self.output_norm, eps)?;
        let logits = x.matmul(&self.output.t()?)?;
        Ok((0..n)
            .map(|i| logits.i(i).and_then(|r| r.to_vec1::<f32>()))
            .collect::<Result<_, _>>()?)
    }
}
