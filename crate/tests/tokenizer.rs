//! The tokenizer against llama.cpp: every case in `tests/golden/tokenizer/<model>.json` (llama.cpp's
//! own ids and detokenized text, from `tests/browser/tokenizer-golden.mjs`) must come out the same
//! from the real GGUF files. Malformed metadata must give typed errors.

use std::collections::HashMap;
use std::fs::File;
use std::path::PathBuf;

use candle_core::quantized::gguf_file::{Content, Value, VersionedMagic};
use serde::Deserialize;
use verbatim::tokenizer::{ChatMessage, ChatTemplateError, Tokenizer, TokenizerError};

const SMOLLM2: &str = "smollm2-135m-instruct-q4_1";
const GEMMA3: &str = "gemma-3-270m-q4_k_m";

#[derive(Debug, Deserialize)]
struct Golden {
    generator: String,
    n_vocab: usize,
    bos: u32,
    eos: u32,
    eog: Vec<u32>,
    add_bos: bool,
    cases: Vec<Case>,
}

#[derive(Debug, Deserialize)]
struct Case {
    text: String,
    ids: Vec<u32>,
    /// llama.cpp's `token_to_piece` of each id, concatenated.
    decoded: String,
}

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn load(model: &str) -> (Tokenizer, Golden) {
    let dir = std::env::var_os("VERBATIM_MODELS_DIR")
        .map_or_else(|| workspace().join("models").join("cache"), PathBuf::from);
    let path = dir.join(format!("{model}.gguf"));
    let mut file = File::open(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}. The tokenizer tests need the real model files: run `make models` \
             (or set VERBATIM_MODELS_DIR)",
            path.display()
        )
    });
    let content = Content::read(&mut file).expect("GGUF header");
    let tokenizer = Tokenizer::from_gguf(&content).expect("tokenizer from GGUF");
    let golden_path = workspace()
        .join("tests/golden/tokenizer")
        .join(format!("{model}.json"));
    let golden = std::fs::read_to_string(&golden_path)
        .unwrap_or_else(|e| panic!("{}: {e}", golden_path.display()));
    (
        tokenizer,
        serde_json::from_str(&golden).expect("golden JSON"),
    )
}

/// Every golden case: same ids as llama.cpp, same text back as llama.cpp (whole and streamed; that
/// is the input itself unless the input held `▁`), and the `tokenizers` decoder agrees.
fn check_against_llama_cpp(model: &str) {
    let (tok, golden) = load(model);
    assert!(golden.cases.len() >= 40, "{}", golden.generator);
    let round_trips = golden.cases.iter().filter(|c| c.decoded == c.text).count();
    assert!(
        round_trips + 1 >= golden.cases.len(),
        "llama.cpp round-trips all but `▁`"
    );
    let mut failures = Vec::new();
    for case in &golden.cases {
        let ids = tok.encode(&case.text, false).expect("encode");
        if ids != case.ids {
            let show = |ids: &[u32]| -> Vec<String> {
                ids.iter()
                    .map(|&id| format!("{id}:{:?}", tok.token_text(id).unwrap_or("?")))
                    .collect()
            };
            failures.push(format!(
                "{:?}\n  llama.cpp: {:?}\n  ours:      {:?}",
                case.text,
                show(&case.ids),
                show(&ids)
            ));
            continue;
        }
        let decoded = tok.decode(&ids).expect("decode");
        if decoded != case.decoded {
            failures.push(format!(
                "{:?} decodes to {decoded:?}, llama.cpp to {:?}",
                case.text, case.decoded
            ));
        }
        let mut stream = tok.stream_decoder();
        let mut streamed = String::new();
        for &id in &ids {
            streamed.push_str(&stream.push(&tok, id).expect("stream"));
        }
        streamed.push_str(&stream.finish());
        if streamed != decoded {
            failures.push(format!("{:?} streams to {streamed:?}", case.text));
        }
        let hf = tok.inner().decode(&ids, false).expect("tokenizers decode");
        if hf != decoded {
            failures.push(format!("{:?}: tokenizers decodes to {hf:?}", case.text));
        }
    }
    assert!(
        failures.is_empty(),
        "{model}: {} of {} cases differ from {}:\n{}",
        failures.len(),
        golden.cases.len(),
        golden.generator,
        failures.join("\n")
    );

    assert_eq!(tok.vocab_size(), golden.n_vocab);
    assert_eq!(tok.bos_id(), Some(golden.bos));
    assert_eq!(tok.eos_id(), Some(golden.eos));
    assert_eq!(
        tok.eos_ids(),
        golden.eog.as_slice(),
        "end-of-generation ids"
    );
    assert_eq!(tok.adds_bos(), golden.add_bos);
    let with_special = tok.encode("Hello", true).expect("encode");
    let plain = tok.encode("Hello", false).expect("encode");
    if golden.add_bos {
        assert_eq!(with_special[0], golden.bos);
        assert_eq!(&with_special[1..], plain.as_slice());
    } else {
        assert_eq!(with_special, plain);
    }
}

#[test]
fn smollm2_matches_llama_cpp() {
    check_against_llama_cpp(SMOLLM2);
}

#[test]
fn gemma3_matches_llama_cpp() {
    check_against_llama_cpp(GEMMA3);
}

#[test]
fn smollm2_chat_template_renders_chatml() {
    let (tok, _) = load(SMOLLM2);
    let template = tok.chat_template().expect("SmolLM2 ships a chat template");
    let text = template
        .render(&[ChatMessage::new("user", "hi")], true)
        .expect("render");
    assert_eq!(
        text,
        "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging \
         Face<|im_end|>\n<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"
    );
    let ids = tok.encode(&text, false).expect("encode");
    let im_start = tok.token_id("<|im_start|>").expect("<|im_start|>");
    assert_eq!(ids.iter().filter(|&&id| id == im_start).count(), 3);
    assert!(tok.is_eog(tok.token_id("<|im_end|>").expect("<|im_end|>")));
}

#[test]
fn gemma3_has_no_chat_template() {
    let (tok, _) = load(GEMMA3);
    assert!(tok.chat_template().is_none());
    assert!(tok.is_eog(tok.token_id("<end_of_turn>").expect("<end_of_turn>")));
}

#[test]
fn stream_holds_back_split_characters() {
    let (tok, _) = load(GEMMA3);
    // 🦀 spelled as its four byte-fallback tokens, as a model may generate it
    let bytes: Vec<u32> = "🦀"
        .bytes()
        .map(|b| tok.token_id(&format!("<0x{b:02X}>")).expect("byte token"))
        .collect();
    let mut stream = tok.stream_decoder();
    let mut out = Vec::new();
    for &id in &bytes {
        out.push(stream.push(&tok, id).expect("push"));
    }
    assert_eq!(out, ["", "", "", "🦀"]);
    assert_eq!(stream.finish(), "");
    // a character cut short comes out as U+FFFD at the end, as in a one-shot decode
    let mut stream = tok.stream_decoder();
    assert_eq!(stream.push(&tok, bytes[0]).expect("push"), "");
    assert_eq!(stream.finish(), "\u{FFFD}");
    assert_eq!(tok.decode(&bytes[..1]).expect("decode"), "\u{FFFD}");
    assert!(matches!(
        tok.decode(&[u32::MAX]),
        Err(TokenizerError::TokenOutOfRange { .. })
    ));
}

// ---------------------------------------------------------------------------------------------
// malformed metadata, built in memory

fn content(metadata: Vec<(&str, Value)>) -> Content {
    Content {
        magic: VersionedMagic::GgufV3,
        metadata: metadata
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect::<HashMap<_, _>>(),
        tensor_infos: HashMap::new(),
        tensor_data_offset: 0,
    }
}

fn strings(items: &[&str]) -> Value {
    Value::Array(items.iter().map(|s| Value::String(s.to_string())).collect())
}

fn build(metadata: Vec<(&str, Value)>) -> Result<Tokenizer, TokenizerError> {
    Tokenizer::from_gguf(&content(metadata))
}

fn model(name: &str) -> (&'static str, Value) {
    ("tokenizer.ggml.model", Value::String(name.to_string()))
}

#[test]
fn gpt2_without_merges_is_an_error() {
    let err = build(vec![
        model("gpt2"),
        ("tokenizer.ggml.pre", Value::String("smollm".into())),
        ("tokenizer.ggml.tokens", strings(&["a", "b", "ab"])),
    ])
    .unwrap_err();
    assert!(
        matches!(err, TokenizerError::MissingKey("tokenizer.ggml.merges")),
        "{err}"
    );
}

#[test]
fn unknown_tokenizer_models_are_errors() {
    for name in ["bert", "t5", "rwkv", ""] {
        let err = build(vec![
            model(name),
            ("tokenizer.ggml.tokens", strings(&["a"])),
        ])
        .unwrap_err();
        assert!(matches!(err, TokenizerError::UnsupportedModel(_)), "{err}");
        assert!(err.to_string().contains("tokenizer.ggml.model"), "{err}");
    }
}

#[test]
fn unknown_pre_tokenizers_are_errors() {
    let err = build(vec![
        model("gpt2"),
        ("tokenizer.ggml.pre", Value::String("llama-bpe".into())),
        ("tokenizer.ggml.tokens", strings(&["a"])),
        ("tokenizer.ggml.merges", strings(&[])),
    ])
    .unwrap_err();
    assert!(
        matches!(&err, TokenizerError::UnsupportedPreTokenizer(p) if p == "llama-bpe"),
        "{err}"
    );
}

#[test]
fn missing_and_mistyped_keys_are_errors() {
    let err = build(vec![]).unwrap_err();
    assert!(matches!(
        err,
        TokenizerError::MissingKey("tokenizer.ggml.model")
    ));
    let err = build(vec![model("llama")]).unwrap_err();
    assert!(matches!(
        err,
        TokenizerError::MissingKey("tokenizer.ggml.tokens")
    ));
    let err = build(vec![
        model("llama"),
        ("tokenizer.ggml.tokens", Value::U32(3)),
    ])
    .unwrap_err();
    assert!(matches!(
        err,
        TokenizerError::WrongType {
            key: "tokenizer.ggml.tokens",
            ..
        }
    ));
    let err = build(vec![
        model("llama"),
        ("tokenizer.ggml.tokens", Value::Array(vec![Value::U8(1)])),
    ])
    .unwrap_err();
    assert!(matches!(err, TokenizerError::WrongType { .. }), "{err}");
    let err = build(vec![
        model("llama"),
        ("tokenizer.ggml.tokens", strings(&["a"])),
        ("tokenizer.ggml.bos_token_id", Value::I32(-1)),
    ])
    .unwrap_err();
    assert!(matches!(err, TokenizerError::WrongType { .. }), "{err}");
    let err = build(vec![model(""), ("tokenizer.ggml.model", Value::Bool(true))]).unwrap_err();
    assert!(matches!(err, TokenizerError::WrongType { .. }), "{err}");
}

#[test]
fn inconsistent_arrays_are_errors() {
    let err = build(vec![
        model("llama"),
        ("tokenizer.ggml.tokens", strings(&["a", "b"])),
        (
            "tokenizer.ggml.token_type",
            Value::Array(vec![Value::I32(1)]),
        ),
    ])
    .unwrap_err();
    assert!(matches!(err, TokenizerError::Inconsistent(_)), "{err}");
    let err = build(vec![
        model("llama"),
        ("tokenizer.ggml.tokens", strings(&["a", "b"])),
        ("tokenizer.ggml.scores", Value::Array(vec![Value::F32(0.0)])),
    ])
    .unwrap_err();
    assert!(matches!(err, TokenizerError::Inconsistent(_)), "{err}");
    let err = build(vec![
        model("llama"),
        ("tokenizer.ggml.tokens", strings(&["a", "a"])),
    ])
    .unwrap_err();
    assert!(matches!(err, TokenizerError::Inconsistent(_)), "{err}");
    let err = build(vec![
        model("llama"),
        ("tokenizer.ggml.tokens", strings(&[])),
    ])
    .unwrap_err();
    assert!(matches!(err, TokenizerError::Inconsistent(_)), "{err}");
}

/// A tiny SentencePiece vocabulary: encode, byte fallback, out-of-range special ids.
#[test]
fn tiny_spm_vocabulary_works() {
    let mut tokens = vec![
        "<unk>",
        "<s>",
        "</s>",
        "\u{2581}",
        "a",
        "b",
        "\u{2581}a",
        "ab",
        "<t>",
    ];
    let bytes: Vec<String> = (0..=255u8).map(|b| format!("<0x{b:02X}>")).collect();
    tokens.extend(bytes.iter().map(String::as_str));
    let n = tokens.len();
    let mut types = vec![Value::I32(1); n];
    types[0] = Value::I32(2);
    types[1] = Value::I32(3);
    types[2] = Value::I32(3);
    types[8] = Value::I32(4);
    for t in types.iter_mut().skip(9) {
        *t = Value::I32(6);
    }
    let mut scores = vec![Value::F32(0.0); n];
    scores[6] = Value::F32(-1.0);
    scores[7] = Value::F32(-2.0);
    let tok = build(vec![
        model("llama"),
        ("tokenizer.ggml.tokens", strings(&tokens)),
        ("tokenizer.ggml.token_type", Value::Array(types)),
        ("tokenizer.ggml.scores", Value::Array(scores)),
        ("tokenizer.ggml.eos_token_id", Value::U32(999_999)),
        ("tokenizer.chat_template", Value::String("{% for %}".into())),
    ])
    .expect("tiny vocabulary");
    // add_space_prefix defaults to true for SentencePiece
    assert_eq!(tok.encode("ab a", false).unwrap(), [6, 5, 6]);
    assert_eq!(tok.encode("ab a", true).unwrap(), [1, 6, 5, 6]);
    assert_eq!(tok.encode("b<t>ab", false).unwrap(), [3, 5, 8, 6, 5]);
    // "é" is not a token: its two UTF-8 bytes
    assert_eq!(tok.encode("é", false).unwrap(), [3, 9 + 0xC3, 9 + 0xA9]);
    assert_eq!(tok.decode(&[6, 5, 6]).unwrap(), "ab a");
    // an out-of-range EOS id falls back to the default (2)
    assert_eq!(tok.eos_id(), Some(2));
    assert_eq!(tok.eos_ids(), [2]);
    // a broken template does not break the tokenizer
    let template = tok.chat_template().expect("template present");
    assert!(matches!(
        template.check(),
        Err(ChatTemplateError::Syntax(_))
    ));
}

#[test]
fn gpt2_merges_that_name_unknown_tokens_are_skipped() {
    let tok = build(vec![
        model("gpt2"),
        ("tokenizer.ggml.pre", Value::String("gpt-2".into())),
        ("tokenizer.ggml.tokens", strings(&["a", "b", "ab", "Ġ"])),
        (
            "tokenizer.ggml.merges",
            strings(&["a b", "x y", "nospace", ""]),
        ),
    ])
    .expect("gpt2 vocabulary");
    assert_eq!(tok.encode("ab", false).unwrap(), [2]);
    assert_eq!(tok.encode("ba", false).unwrap(), [1, 0]);
    assert_eq!(tok.decode(&[2, 3, 0]).unwrap(), "ab a");
}
