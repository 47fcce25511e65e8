//! A prompt fed in batches gives the logits of one batch (docs/numerics.md,
//! section 8: batched prompt processing computes the same per-row operations). The
//! wasm build feeds long prompts in batches of 128 to bound its memory; here a short
//! prompt in batches that leave remainders of every kind.

mod common;

use std::sync::Arc;
use verbatim::engine::ExactModel;
use verbatim::gguf::GgufModel;

#[test]
fn batched_prompts_give_the_same_logits() {
    let bytes = common::model_bytes("smollm2-135m-instruct-q4_1");
    let gguf = GgufModel::parse(&bytes).unwrap();
    let file = Arc::new(bytes.clone());
    let mut m = ExactModel::load_cpu(&gguf, &file).unwrap();
    let tokens: Vec<u32> = (0..24u32).map(|i| (i * 7919 + 13) % 49152).collect();
    let whole = m.forward(&tokens).unwrap();
    let next = verbatim::sampler::argmax(&whole);
    let after = m.forward(&[next]).unwrap();
    for batch in [5usize, 23] {
        m.reset();
        assert_eq!(
            m.forward_batched(&tokens, batch).unwrap(),
            whole,
            "batch {batch}"
        );
        assert_eq!(
            m.forward(&[next]).unwrap(),
            after,
            "batch {batch}, next token"
        );
    }
}
