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

/// lm-eval's left truncation on the real model with a 12-position context: the
/// item scores exactly as if its context had been cut to its last tokens by hand,
/// and a continuation longer than the context alone is a clear error.
#[test]
fn long_items_are_cut_from_the_left_with_a_small_context() {
    use verbatim::engine::ExactModel;
    use verbatim::eval::run::{score_item, ExactScorer, ScoringModel};
    use verbatim::eval::score::ContinuationScore;
    use verbatim::eval::task::{write_task_file, OutputType, Task, TaskHeaderSpec};

    let bytes = std::sync::Arc::new(common::model_bytes("smollm2-135m-instruct-q4_1"));
    let gguf = GgufModel::parse(&bytes).unwrap();
    let tok = Tokenizer::from_gguf(&gguf.content).unwrap();
    let spec = TaskHeaderSpec {
        name: "cut".into(),
        version: 1,
        output_type: OutputType::MultipleChoice,
        package: "tests".into(),
        licence: "CC0-1.0".into(),
    };
    let lines = vec![
        r#"{"context":"Question: Which of these animals lives in the sea and has eight long arms?\nAnswer:","choices":["an octopus","a horse"],"gold":0}"#.to_string(),
        r#"{"context":"Hi","choices":["one two three four five six seven eight nine ten eleven twelve thirteen","no"],"gold":0}"#.to_string(),
    ];
    let task = Task::parse(&write_task_file(&spec, &lines)).unwrap();
    const MAX: usize = 12;
    let mut small = ExactScorer::new(ExactModel::load_cpu(&gguf, &bytes).unwrap(), MAX);
    let got = score_item(&mut small, &tok, &task, 0).unwrap();

    let ctx = "Question: Which of these animals lives in the sea and has eight long arms?\nAnswer:";
    let mut full = ExactModel::load_cpu(&gguf, &bytes).unwrap();
    for (j, choice) in ["an octopus", "a horse"].iter().enumerate() {
        let (c, k) = encode_pair(&tok, ctx, &format!(" {choice}"), 0).unwrap();
        assert!(c.len() + k.len() - 1 > MAX, "the item must not fit");
        let kept = &c[c.len() - (MAX + 1 - k.len())..];
        full.reset();
        let mut rows = vec![full.forward(kept).unwrap()];
        rows.extend(full.forward_all(&k[..k.len() - 1]).unwrap());
        assert_eq!(kept.len() + k.len() - 1, MAX);
        assert_eq!(got.scores[j], ContinuationScore::from_rows(&rows, &k));
    }
    assert_eq!(small.context_length(), MAX);

    let err = score_item(&mut small, &tok, &task, 1).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("item 1: its continuation alone is ")
            && err
                .to_string()
                .ends_with("tokens; this model's context holds 12"),
        "{err}"
    );
}
