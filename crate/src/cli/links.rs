//! `verbatim link` and `verbatim replay`: the CLI side of replay links (docs/links.md).

use crate::{load_exact, read_model, ExecutorArg, ModelArgs};
use anyhow::{bail, Context, Result};
use std::path::Path;
use verbatim::engine::tokens_hash;
use verbatim::exact::{SPEC_EXACT_1, SPEC_EXACT_2};
use verbatim::hash::sha256_hex;
use verbatim::manifest::Manifest;
use verbatim::replay::{
    compare, parse_sha256, Expectation, Input, ModelRef, RunLink, Verdict, MAX_MODEL_ID_LEN,
};
use verbatim::session::{GenerateRequest, Session};
use verbatim::tokenizer::ChatMessage;

/// Runs `req` on the exact engine; returns the generated ids and text.
fn run(session: &mut Session, req: &GenerateRequest) -> Result<(Vec<u32>, String)> {
    session.begin(req)?;
    let mut text = String::new();
    loop {
        let s = session.step()?;
        text.push_str(&s.text);
        if s.stop.is_some() {
            return Ok((session.generated().to_vec(), text));
        }
    }
}

pub fn make(
    model: &ModelArgs,
    req: GenerateRequest,
    base: &str,
    executor: ExecutorArg,
) -> Result<()> {
    req.validate()?;
    let bytes = read_model(model)?;
    let sha = sha256_hex(&bytes);
    let id = match &model.model_file {
        Some(p) => p
            .file_stem()
            .map(|s| link_id(&s.to_string_lossy()))
            .unwrap_or_else(|| "model".into()),
        None => model.model.clone(),
    };
    let mut session = Session::new(load_exact(bytes, executor)?);
    let (ids, text) = run(&mut session, &req)?;
    let input = if req.chat {
        Input::Chat(vec![ChatMessage {
            role: "user".into(),
            content: req.prompt.clone(),
        }])
    } else {
        Input::Raw(req.prompt.clone())
    };
    let link = RunLink {
        spec: session.model.spec().unwrap_or(SPEC_EXACT_1).into(),
        model: ModelRef {
            id,
            sha256: parse_sha256(&sha).context("model hash")?,
            url: None,
        },
        input,
        max_tokens: req.max_tokens,
        params: req.params.clone(),
        stop: req.stop.clone(),
        expect: Some(Expectation::of(ids.clone())),
    };
    eprintln!("{text}");
    eprintln!(
        "[{} tokens, sha256 {}]",
        ids.len(),
        &tokens_hash(&ids)[..16]
    );
    println!("{base}#{}", link.encode()?);
    Ok(())
}

/// A local file's name as a link's model id: its first [`MAX_MODEL_ID_LEN`] bytes
/// (cut at a character boundary); the id only names the file, its hash identifies it.
fn link_id(stem: &str) -> String {
    let mut end = stem.len().min(MAX_MODEL_ID_LEN);
    while !stem.is_char_boundary(end) {
        end -= 1;
    }
    stem[..end].to_string()
}

pub fn replay(text: &str, model_file: Option<&Path>, executor: ExecutorArg) -> Result<()> {
    let link = RunLink::decode(text)?;
    if link.spec != SPEC_EXACT_1 && link.spec != SPEC_EXACT_2 {
        bail!(
            "the link was made with numeric spec '{}'; this Verbatim replays '{SPEC_EXACT_1}' and '{SPEC_EXACT_2}'",
            link.spec
        );
    }
    let want = verbatim::hash::hex(&link.model.sha256);
    let bytes = match model_file {
        Some(p) => std::fs::read(p).with_context(|| format!("cannot read {}", p.display()))?,
        None => {
            let manifest = Manifest::builtin()?;
            let entry = manifest.get(&link.model.id).with_context(|| {
                format!("give the model file with --model-file (sha256 {want})")
            })?;
            if entry.sha256 != want {
                bail!(
                    "the link's model '{}' has sha256 {want}, but the manifest's file has {}",
                    entry.id,
                    entry.sha256
                );
            }
            read_model(&ModelArgs {
                model: entry.id.clone(),
                model_file: None,
            })?
        }
    };
    let got_sha = sha256_hex(&bytes);
    if got_sha != want {
        bail!("the model file has sha256 {got_sha}; the link needs {want}");
    }
    let mut session = Session::new(load_exact(bytes, executor)?);
    let model_spec = session.model.spec().unwrap_or(SPEC_EXACT_1);
    // exact-2 is a strict superset of exact-1: an exact-1 model replays under
    // either name; a model that needs exact-2 cannot be in an exact-1 link.
    if model_spec == SPEC_EXACT_2 && link.spec == SPEC_EXACT_1 {
        bail!(
            "the link names numeric spec '{SPEC_EXACT_1}', which does not define this model (it needs '{SPEC_EXACT_2}')"
        );
    }
    let on = session.model.executor();
    let (ids, text) = run(&mut session, &link.request())?;
    println!("{text}");
    let Some(expect) = &link.expect else {
        println!(
            "No expectation in the link: generated {} tokens (sha256 {}).",
            ids.len(),
            tokens_hash(&ids)
        );
        return Ok(());
    };
    let tok = &session.model.tokenizer;
    let piece = |t: Option<u32>| match t {
        Some(t) if (t as usize) < tok.vocab_size() => format!("{:?}", tok.describe_token(t)),
        Some(t) => tok.describe_token(t),
        None => "(end)".into(),
    };
    match compare(expect, &ids) {
        Verdict::Exact { tokens } => {
            println!(
                "Reproduced exactly: {tokens}/{} tokens (sha256 {}) on {on}",
                expect.token_ids.len(),
                &tokens_hash(&ids)[..16]
            );
            Ok(())
        }
        Verdict::Diverged {
            index,
            expected,
            got,
        } => {
            println!(
                "Diverged at token {}: expected {}, got {} (executor: {on}, spec {})",
                index + 1,
                piece(expected),
                piece(got),
                link.spec
            );
            std::process::exit(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_file_name_becomes_an_id_a_link_can_hold() {
        assert_eq!(link_id("model"), "model");
        let long = "é".repeat(150); // 300 bytes
        let id = link_id(&long);
        assert!(id.len() <= MAX_MODEL_ID_LEN && id.len() >= MAX_MODEL_ID_LEN - 1);
        assert!(long.starts_with(&id));
    }
}
