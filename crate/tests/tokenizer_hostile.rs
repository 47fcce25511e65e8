//! Hostile tokenizer metadata and chat templates (issue 16): refused with the limit
//! named, or built quickly; never hours of work.

use candle_core::quantized::gguf_file::{Content, Value, VersionedMagic};
use std::collections::HashMap;
use std::time::Instant;
use verbatim::tokenizer::{
    ChatMessage, ChatTemplateError, Tokenizer, TokenizerError, MAX_TOKEN_LEN,
};

fn spm(tokens: Vec<String>, template: Option<&str>) -> Result<Tokenizer, TokenizerError> {
    let n = tokens.len();
    let mut metadata: HashMap<String, Value> = [
        ("tokenizer.ggml.model", Value::String("llama".into())),
        (
            "tokenizer.ggml.tokens",
            Value::Array(tokens.into_iter().map(Value::String).collect()),
        ),
        (
            "tokenizer.ggml.scores",
            Value::Array((0..n).map(|i| Value::F32(-(i as f32))).collect()),
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    if let Some(t) = template {
        metadata.insert("tokenizer.chat_template".into(), Value::String(t.into()));
    }
    Tokenizer::from_gguf(&Content {
        magic: VersionedMagic::GgufV3,
        metadata,
        tensor_infos: HashMap::new(),
        tensor_data_offset: 0,
    })
}

fn base_tokens() -> Vec<String> {
    ["<unk>", "<s>", "</s>", "a", "b", "\u{2581}"]
        .iter()
        .map(|s| s.to_string())
        .collect()
}

#[test]
fn a_one_mib_token_is_refused_at_once() {
    let mut tokens = base_tokens();
    tokens.push("a".repeat(1 << 20));
    let t = Instant::now();
    let err = spm(tokens, None).unwrap_err();
    assert!(t.elapsed().as_millis() < 1000, "{:?}", t.elapsed());
    assert!(
        matches!(err, TokenizerError::Limit { name: "MAX_TOKEN_LEN", value, .. } if value == 1 << 20),
        "{err}"
    );
    assert!(err.to_string().contains("MAX_TOKEN_LEN"), "{err}");
}

#[test]
fn tokens_at_the_length_limit_build_quickly() {
    // 1000 distinct tokens of MAX_TOKEN_LEN bytes, each splittable everywhere into
    // tokens ("a"/"b" runs): the worst case of the SentencePiece merge search.
    let mut tokens = base_tokens();
    for i in 0..1000usize {
        let mut s = "a".repeat(MAX_TOKEN_LEN - 10);
        s.push_str(&format!("{i:b}").replace('0', "a").replace('1', "b"));
        s.push_str(&"b".repeat(MAX_TOKEN_LEN - s.len()));
        tokens.push(s);
    }
    tokens.sort();
    tokens.dedup();
    let t = Instant::now();
    let tok = spm(tokens, None).unwrap();
    assert!(t.elapsed().as_secs() < 20, "{:?}", t.elapsed());
    assert!(!tok.encode("ab", false).unwrap().is_empty());
}

#[test]
fn a_runaway_chat_template_from_a_file_is_stopped() {
    let src =
        "{% for i in range(100000) %}{% for j in range(100000) %}{{ '' }}{% endfor %}{% endfor %}";
    let tok = spm(base_tokens(), Some(src)).unwrap();
    let t = Instant::now();
    let err = tok
        .chat_template()
        .unwrap()
        .render(&[ChatMessage::new("user", "hi")], true)
        .unwrap_err();
    assert!(t.elapsed().as_secs() < 10, "{:?}", t.elapsed());
    assert!(
        matches!(
            err,
            TokenizerError::ChatTemplate(ChatTemplateError::OutOfFuel)
        ),
        "{err}"
    );
}

#[test]
fn an_out_of_vocabulary_id_is_described_not_an_error() {
    let tok = spm(base_tokens(), None).unwrap();
    assert_eq!(
        tok.describe_token(4_000_000_000),
        "(token id 4000000000, not in this model's vocabulary)"
    );
    assert_eq!(tok.describe_token(3), "a");
}
