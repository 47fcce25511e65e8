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

/// The site config (`site.json`, docs/releasing.md): where the page is published.
const SITE_JSON: &str = include_str!("../../../site.json");
/// The page `make serve` serves: links open there until the page is published.
const LOCAL_PAGE: &str = "http://127.0.0.1:8080/";

/// The page a link opens: `--base` if given, else `page_url` in site.json, else [`LOCAL_PAGE`].
/// The run is in the link's fragment, so any copy of the page replays it.
pub fn page_base(arg: Option<&str>) -> String {
    arg.map(str::to_string)
        .or_else(|| site_page_url(SITE_JSON))
        .unwrap_or_else(|| LOCAL_PAGE.to_string())
}

/// `page_url` of a site config, when it is a string (null: not published yet).
fn site_page_url(json: &str) -> Option<String> {
    let value: serde_json::Value = serde_json::from_str(json).ok()?;
    value.get("page_url")?.as_str().map(str::to_string)
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

/// The model file a run link names: `model_file`, or the manifest's cached copy;
/// either way its sha256 must be the link's.
pub(crate) fn link_model_bytes(link: &RunLink, model_file: Option<&Path>) -> Result<Vec<u8>> {
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
    Ok(bytes)
}

/// Decodes a run link and checks that this build replays its numeric spec.
pub(crate) fn decode_run_link(text: &str) -> Result<RunLink> {
    let link = RunLink::decode(text)?;
    if link.spec != SPEC_EXACT_1 && link.spec != SPEC_EXACT_2 {
        bail!(
            "the link was made with numeric spec '{}'; this Verbatim replays '{SPEC_EXACT_1}' and '{SPEC_EXACT_2}'",
            link.spec
        );
    }
    Ok(link)
}

/// What a run link's replay produced.
pub(crate) struct Replayed {
    pub ids: Vec<u32>,
    pub text: String,
    /// The comparison with the link's expectation; None when the link records none.
    pub verdict: Option<Verdict>,
}

/// Replays `link` on a loaded model (whose sha256 the caller checked).
pub(crate) fn replay_on(session: &mut Session, link: &RunLink) -> Result<Replayed> {
    // exact-2 is a strict superset of exact-1: an exact-1 model replays under
    // either name; a model that needs exact-2 cannot be in an exact-1 link.
    if session.model.spec() == Some(SPEC_EXACT_2) && link.spec == SPEC_EXACT_1 {
        bail!(
            "the link names numeric spec '{SPEC_EXACT_1}', which does not define this model (it needs '{SPEC_EXACT_2}')"
        );
    }
    let (ids, text) = run(session, &link.request())?;
    let verdict = link.expect.as_ref().map(|e| compare(e, &ids));
    Ok(Replayed { ids, text, verdict })
}

/// A token as a replay verdict names it: its text quoted, or why it has none.
pub(crate) fn token_piece(session: &Session, t: Option<u32>) -> String {
    let tok = &session.model.tokenizer;
    match t {
        Some(t) if (t as usize) < tok.vocab_size() => format!("{:?}", tok.describe_token(t)),
        Some(t) => tok.describe_token(t),
        None => "(end)".into(),
    }
}

pub fn replay(text: &str, model_file: Option<&Path>, executor: ExecutorArg) -> Result<()> {
    let link = decode_run_link(text)?;
    let bytes = link_model_bytes(&link, model_file)?;
    let mut session = Session::new(load_exact(bytes, executor)?);
    let on = session.model.executor();
    let replayed = replay_on(&mut session, &link)?;
    let ids = &replayed.ids;
    println!("{}", replayed.text);
    let (Some(expect), Some(verdict)) = (&link.expect, replayed.verdict) else {
        println!(
            "No expectation in the link: generated {} tokens (sha256 {}).",
            ids.len(),
            tokens_hash(ids)
        );
        return Ok(());
    };
    match verdict {
        Verdict::Exact { tokens } => {
            println!(
                "Reproduced exactly: {tokens}/{} tokens (sha256 {}) on {on}",
                expect.token_ids.len(),
                &tokens_hash(ids)[..16]
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
                token_piece(&session, expected),
                token_piece(&session, got),
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

    #[test]
    fn links_open_the_published_page_else_the_local_one() {
        assert_eq!(
            page_base(Some("https://a.example/v/")),
            "https://a.example/v/"
        );
        assert_eq!(
            site_page_url(r#"{"page_url": "https://user.github.io/verbatim/"}"#).as_deref(),
            Some("https://user.github.io/verbatim/")
        );
        assert_eq!(site_page_url(r#"{"page_url": null}"#), None);
        // The checked-in config is valid JSON; unpublished, links open the local page.
        let config: serde_json::Value = serde_json::from_str(SITE_JSON).unwrap();
        match config["page_url"].as_str() {
            Some(url) => assert_eq!(page_base(None), url),
            None => assert_eq!(page_base(None), LOCAL_PAGE),
        }
    }
}
