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
        // quantized_llama quantizes activations to 8 bits; the f32 model does not.
        let max_diff = row
            .iter()
            .zip(&last)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        assert!(max_diff < 1.5, "position {i}: logits differ by {max_diff}");
        assert_eq!(argmax(row), argmax(&last), "position {i}");
    }
}
