//! What each fuzz target checks, shared by the cargo-fuzz targets (nightly) and by
//! `crate/tests/fuzz_regressions.rs`, which replays the committed corpus and every
//! input that once failed on the stable toolchain.

use std::sync::Arc;
use verbatim::engine::ExactModel;
use verbatim::gguf::{read_content, GgufModel};
use verbatim::replay::{pack_payload, RunLink};
use verbatim::tokenizer::{ChatMessage, ChatTemplate, Tokenizer};

/// Replay links (docs/links.md): decoding never panics, and whatever decodes
/// re-encodes (the encoder accepts it) and decodes back to the same run. The
/// input is used twice: as link text, and as the decompressed payload (wrapped
/// with a valid checksum, DEFLATE and base64url) so the field parser is reached
/// without the fuzzer having to forge checksums.
pub fn link_decode(data: &[u8]) {
    fn check(text: &str) {
        if let Ok(link) = RunLink::decode(text) {
            let again = link.encode().expect("a decoded link must re-encode");
            assert_eq!(
                RunLink::decode(&again).expect("re-encoded link decodes"),
                link
            );
        }
    }
    if let Ok(text) = std::str::from_utf8(data) {
        check(text);
    }
    check(&pack_payload(data));
}

/// GGUF model files: parsing, validation, the tokenizer and loading into the
/// exact engine never panic, and a model that loads runs one token.
///
/// One exception, by the numeric spec (docs/numerics.md, section 9 "Bounds"):
/// weights far outside any real model's range may break the bounds the spec
/// proves for the supported models; debug builds (these fuzz builds, `make
/// test`) check those bounds with `debug_assert!` ("exact-1 bound violated",
/// "exact-1 accumulator overflow"), release builds compute the defined wrapping
/// result. Those panics, and only those, are tolerated in the forward pass.
pub fn gguf_load(data: &[u8]) {
    let Ok(g) = GgufModel::parse(data) else {
        return;
    };
    let _ = Tokenizer::from_gguf(&g.content);
    if let Ok(mut m) = ExactModel::load_cpu(&g, &Arc::new(data.to_vec())) {
        tolerating_spec_bound_checks(|| {
            let _ = m.forward(&[0]);
        });
    }
}

/// Runs `f`; a panic other than the spec's debug bound check panics again, with
/// the original message and location.
fn tolerating_spec_bound_checks(f: impl FnOnce()) {
    use std::sync::{Arc as Shared, Mutex};
    let seen = Shared::new(Mutex::new(String::new()));
    let hook = std::panic::take_hook();
    let record = seen.clone();
    std::panic::set_hook(Box::new(move |info| {
        *record.lock().unwrap() = info.to_string();
    }));
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    std::panic::set_hook(hook);
    if outcome.is_err() {
        let what = seen.lock().unwrap().clone();
        let spec_bound = ["exact-1 bound violated", "exact-1 accumulator overflow"];
        if !spec_bound.iter().any(|b| what.contains(b)) {
            panic!("{what}");
        }
    }
}

/// The tokenizer built from a GGUF file's metadata: construction never panics,
/// and a tokenizer that builds encodes, decodes and renders its chat template
/// without panicking.
pub fn tokenizer_gguf(data: &[u8]) {
    let Ok(content) = read_content(data) else {
        return;
    };
    let Ok(tok) = Tokenizer::from_gguf(&content) else {
        return;
    };
    if let Ok(ids) = tok.encode("Hello <|im_start|>wörld 🦀 \n\n  x", true) {
        let _ = tok.decode(&ids);
    }
    let _ = tok.decode(&[0, 1, 2, u32::MAX]);
    if let Some(t) = tok.chat_template() {
        let _ = t.render(&[ChatMessage::new("user", "hi")], true);
    }
}

/// Chat templates: any source renders or fails with an error, within the fuel
/// and output limits. Input: template source, a NUL byte, then the user message.
pub fn chat_template(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (source, message) = text.split_once('\0').unwrap_or((text, "hello"));
    let t = ChatTemplate::new(source, "<s>", "</s>");
    let msgs = [
        ChatMessage::new("system", "be brief"),
        ChatMessage::new("user", message),
    ];
    let _ = t.render(&msgs, true);
}

/// Task files (docs/tasks.md) and eval links: parsing never panics. The input is
/// used twice: as a whole task file, and as item lines under a valid header of
/// each output type (with the items' sha256 filled in), so the item parser is
/// reached without the fuzzer having to forge hashes. An eval link that decodes
/// re-encodes to a link that decodes to the same value.
pub fn task_file(data: &[u8]) {
    use verbatim::eval::link::EvalLink;
    use verbatim::eval::task::{write_task_file, OutputType, Task, TaskHeaderSpec};
    let _ = Task::parse(data);
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let lines: Vec<String> = text.lines().map(str::to_string).collect();
    for output_type in [
        OutputType::MultipleChoice,
        OutputType::Loglikelihood,
        OutputType::LoglikelihoodRolling,
    ] {
        let header = TaskHeaderSpec {
            name: "fuzz".into(),
            version: 1,
            output_type,
            package: "fuzz".into(),
            licence: "CC0-1.0".into(),
        };
        let _ = Task::parse(&write_task_file(&header, &lines));
    }
    if let Ok(link) = EvalLink::decode(text) {
        let again = link.encode();
        assert_eq!(
            EvalLink::decode(&again).expect("a re-encoded eval link decodes"),
            link
        );
    }
}
