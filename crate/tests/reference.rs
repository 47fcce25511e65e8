//! The batched float reference agrees with candle-transformers' `quantized_llama`.

mod common;

use verbatim::gguf::GgufModel;
use verbatim::reference::{FloatLlamaAll, FloatModel};

#[test]
fn batched_float_reference_matches_quantized_llama() {
    let bytes = common::model_bytes("smollm2-135m-instruct-q4_1");
    let gguf = GgufModel::parse(&bytes).unwrap();
    let tokens = [504u32, 2365, 6354, 16438, 253, 6355, 690, 260, 23790, 3012];
    let all = FloatLlamaAll::load(&gguf, &bytes)
        .unwrap()
        .forward_all(&tokens)
        .unwrap();
    let mut q = FloatModel::load(&gguf, &bytes).unwrap();
    for (i, row) in all.iter().enumerate() {
        let last = q.forward(&tokens[i..=i], i).unwrap();
        let argmax = |v: &[f32]| {
            v.iter()
                .enumerate()
                .fold(0, |b, (j, &x)| if x > v[b] { j } else { b })
        };
        // quantized_llama quantizes activations to 8 bits; the f32 model does not, so
        // the distributions differ slightly: compare them by KL divergence.
        let kl = kl_divergence(&last, row);
        eprintln!("position {i}: KL(quantized_llama || f32) = {kl:.5}");
        assert!(kl < 0.05, "position {i}: KL {kl}");
        assert_eq!(argmax(row), argmax(&last), "position {i}");
    }
}

/// KL(p || q) in nats between the softmax distributions of two logit vectors.
fn kl_divergence(p: &[f32], q: &[f32]) -> f64 {
    let log_softmax = |v: &[f32]| -> Vec<f64> {
        let m = v.iter().fold(f64::NEG_INFINITY, |a, &x| a.max(x as f64));
        let lse = m + v.iter().map(|&x| (x as f64 - m).exp()).sum::<f64>().ln();
        v.iter().map(|&x| x as f64 - lse).collect()
    };
    let (lp, lq) = (log_softmax(p), log_softmax(q));
    lp.iter().zip(&lq).map(|(a, b)| a.exp() * (a - b)).sum()
}
