//! `verbatim replay --file links.txt`: replays every link in a file (run links
//! `#v1.…` and eval links `#e1.…`, docs/links.md), one summary line per link and a
//! final count; the exit status is 1 if any link diverged or could not be replayed.
//! This is what a paper's CI runs (docs/ci.md).
//!
//! The file: one link per line, as a whole address, its `#fragment` or the bare
//! payload; blank lines are skipped, and so is a comment: a line whose first
//! non-blank character is `#` and which is not a link fragment (`#v<digits>.` or
//! `#e<digits>.`). Each link is named by an id, the first 12 hex digits of the
//! SHA-256 of its payload (the text after the last `#`), so the same link has the
//! same id in every form. A model is loaded once and kept for every run link that
//! names its hash.

use crate::eval::{replay_link_outcome, EvalReplay};
use crate::links::{decode_run_link, link_model_bytes, replay_on, token_piece};
use crate::{load_exact, ExecutorArg};
use anyhow::{Context, Result};
use std::collections::HashMap;
use std::path::Path;
use verbatim::engine::tokens_hash;
use verbatim::eval::link::{is_eval_link, EvalLink};
use verbatim::hash::sha256_hex;
use verbatim::replay::Verdict;
use verbatim::session::Session;

/// A line of the file that holds a link.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Entry {
    /// 1-based line number.
    pub line: usize,
    /// The line without surrounding blanks.
    pub text: String,
}

/// The links in a links file: every line that is neither blank nor a comment.
pub(crate) fn links_in(file: &str) -> Vec<Entry> {
    file.lines()
        .enumerate()
        .filter_map(|(i, raw)| {
            let text = raw.trim();
            if text.is_empty() || is_comment(text) {
                return None;
            }
            Some(Entry {
                line: i + 1,
                text: text.to_string(),
            })
        })
        .collect()
}

/// A comment starts with `#`, unless what follows is a link payload (`v1.…`, `e1.…`).
fn is_comment(text: &str) -> bool {
    let Some(rest) = text.strip_prefix('#') else {
        return false;
    };
    let mut chars = rest.chars();
    let kind = chars.next();
    let digits: String = chars.by_ref().take_while(char::is_ascii_digit).collect();
    let is_payload = matches!(kind, Some('v' | 'e'))
        && !digits.is_empty()
        && rest[1 + digits.len()..].starts_with('.');
    !is_payload
}

/// The id a summary line names a link by: 12 hex digits of its payload's SHA-256.
pub(crate) fn link_id(text: &str) -> String {
    let payload = text.rfind('#').map_or(text, |i| &text[i + 1..]);
    sha256_hex(payload.as_bytes())[..12].to_string()
}

/// What replaying one link found.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    Reproduced { model: String, what: String },
    Diverged { model: String, what: String },
    Failed(String),
}

/// The summary line of one link.
pub(crate) fn summary_line(entry: &Entry, outcome: &Outcome) -> String {
    let id = link_id(&entry.text);
    match outcome {
        Outcome::Reproduced { model, what } => format!("ok        {id}  {model}  {what}"),
        Outcome::Diverged { model, what } => {
            format!("DIVERGED  {id}  {model}  line {}: {what}", entry.line)
        }
        Outcome::Failed(reason) => format!("ERROR     line {}: {reason}", entry.line),
    }
}

/// The options `verbatim replay` was given, which apply to every link in the file.
pub struct FileOptions<'a> {
    pub model_file: Option<&'a Path>,
    pub executor: ExecutorArg,
    pub task_file: Option<&'a Path>,
}

/// Replays every link in `path`; exits with status 1 if any diverged or failed.
pub fn replay_file(path: &Path, options: &FileOptions) -> Result<()> {
    let file = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the links file {}", path.display()))?;
    let entries = links_in(&file);
    if entries.is_empty() {
        anyhow::bail!(
            "{} holds no links (one link per line; blank lines and # comments are skipped)",
            path.display()
        );
    }
    let mut sessions: HashMap<[u8; 32], Session> = HashMap::new();
    let (mut exact, mut diverged, mut failed) = (0usize, 0usize, 0usize);
    for entry in &entries {
        let outcome = match replay_one(&entry.text, options, &mut sessions) {
            Ok(outcome) => outcome,
            Err(error) => Outcome::Failed(format!("{error:#}")),
        };
        match outcome {
            Outcome::Reproduced { .. } => exact += 1,
            Outcome::Diverged { .. } => diverged += 1,
            Outcome::Failed(_) => failed += 1,
        }
        println!("{}", summary_line(entry, &outcome));
    }
    let n = entries.len();
    println!(
        "{n} link{}: {exact} reproduced exactly, {diverged} diverged, {failed} could not be replayed",
        if n == 1 { "" } else { "s" }
    );
    if diverged + failed > 0 {
        std::process::exit(1);
    }
    Ok(())
}

fn replay_one(
    text: &str,
    options: &FileOptions,
    sessions: &mut HashMap<[u8; 32], Session>,
) -> Result<Outcome> {
    if is_eval_link(text) {
        let model = EvalLink::decode(text)?.model.id;
        return Ok(
            match replay_link_outcome(
                text,
                options.model_file,
                options.executor,
                options.task_file,
                None,
            )? {
                EvalReplay::Exact(what) => Outcome::Reproduced { model, what },
                EvalReplay::Differs(what) => Outcome::Diverged { model, what },
            },
        );
    }
    let link = decode_run_link(text)?;
    let model = link.model.id.clone();
    let session = match sessions.entry(link.model.sha256) {
        std::collections::hash_map::Entry::Occupied(slot) => slot.into_mut(),
        std::collections::hash_map::Entry::Vacant(slot) => {
            let bytes = link_model_bytes(&link, options.model_file)?;
            slot.insert(Session::new(load_exact(bytes, options.executor)?))
        }
    };
    let replayed = replay_on(session, &link)?;
    let Some(verdict) = replayed.verdict else {
        anyhow::bail!(
            "the link records no output to compare with (it generated {} tokens, sha256 {})",
            replayed.ids.len(),
            &tokens_hash(&replayed.ids)[..16]
        );
    };
    Ok(match verdict {
        Verdict::Exact { tokens } => Outcome::Reproduced {
            model,
            what: format!(
                "Reproduced exactly: {tokens}/{tokens} tokens (sha256 {})",
                &tokens_hash(&replayed.ids)[..16]
            ),
        },
        Verdict::Diverged {
            index,
            expected,
            got,
        } => Outcome::Diverged {
            model,
            what: format!(
                "first divergence at token {}: expected {}, got {} (executor: {})",
                index + 1,
                token_piece(session, expected),
                token_piece(session, got),
                session.model.executor()
            ),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blank_lines_and_comments_are_skipped_but_fragments_are_links() {
        let file = "# links of the paper\n\n  https://x.test/#v1.AAA  \n#v1.BBB\n#e1.CCC\n#v.x\n# v1.DDD\n#\n\tv1.EEE\n";
        let got = links_in(file);
        let want = [
            (3, "https://x.test/#v1.AAA"),
            (4, "#v1.BBB"),
            (5, "#e1.CCC"),
            (9, "v1.EEE"),
        ];
        assert_eq!(
            got,
            want.map(|(line, text)| Entry {
                line,
                text: text.into()
            })
        );
    }

    #[test]
    fn a_link_has_one_id_in_every_form() {
        let id = link_id("v1.ABC");
        assert_eq!(id.len(), 12);
        assert_eq!(link_id("#v1.ABC"), id);
        assert_eq!(link_id("https://example.org/verbatim/#v1.ABC"), id);
        assert_ne!(link_id("v1.ABD"), id);
    }

    #[test]
    fn summary_lines_name_the_link_and_the_line() {
        let entry = Entry {
            line: 7,
            text: "v1.ABC".into(),
        };
        let id = link_id("v1.ABC");
        let ok = Outcome::Reproduced {
            model: "m".into(),
            what: "Reproduced exactly: 3/3 tokens".into(),
        };
        assert_eq!(
            summary_line(&entry, &ok),
            format!("ok        {id}  m  Reproduced exactly: 3/3 tokens")
        );
        let bad = Outcome::Diverged {
            model: "m".into(),
            what: "first divergence at token 2".into(),
        };
        assert_eq!(
            summary_line(&entry, &bad),
            format!("DIVERGED  {id}  m  line 7: first divergence at token 2")
        );
        assert_eq!(
            summary_line(&entry, &Outcome::Failed("bad".into())),
            "ERROR     line 7: bad"
        );
    }
}
