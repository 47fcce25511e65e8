//! lm-eval's request tokenization (`_encode_pair`) on SmolLM2's tokenizer: the
//! context is tokenized once, trailing whitespace moves to the continuation, and an
//! empty context is the prefix token (docs/tasks.md, "Tokenization").

mod common;

use verbatim::eval::run::encode_pair;
use verbatim::gguf::GgufModel;
use verbatim::tokenizer::Tokenizer;

#[test]
fn encode_pair_follows_lm_eval() {
    let bytes = common::model_bytes("smollm2-135m-instruct-q4_1");
    let gguf = GgufModel::parse(&bytes).unwrap();
    let tok = Tokenizer::from_gguf(&gguf.content).unwrap();
    assert!(!tok.adds_bos(), "SmolLM2's GGUF says add_bos_token = false");

    let ctx = "Question: What color is the sky?\nAnswer:";
    let (c, k) = encode_pair(&tok, ctx, " blue", 0).unwrap();
    assert_eq!(c, tok.encode(ctx, true).unwrap());
    let whole = tok.encode(&format!("{ctx} blue"), true).unwrap();
    assert_eq!([c.clone(), k.clone()].concat(), whole);
    assert_eq!(tok.decode(&k).unwrap(), " blue");

    // Trailing whitespace of the context moves to the continuation.
    assert_eq!(
        encode_pair(&tok, "The sky is ", "blue", 0).unwrap(),
        encode_pair(&tok, "The sky is", " blue", 0).unwrap()
    );
    // An empty context is the BOS token, or EOS when the model has none.
    let (c, k) = encode_pair(&tok, "", "Hello", 0).unwrap();
    assert_eq!(c, vec![tok.bos_id().or(tok.eos_id()).unwrap()]);
    assert_eq!(k, tok.encode("Hello", false).unwrap());
}
