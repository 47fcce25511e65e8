//! The golden corpus of spec exact-1 (`tests/golden/exact-1`): cases (a model
//! and run options) and their pinned outcomes (token ids, per-step logits
//! hashes, text). One implementation of loading, running and comparing serves
//! the golden test (`crate/tests/golden_exact.rs`), `verbatim conformance` and
//! the browser; both files are embedded ([`Corpus::builtin`],
//! [`Expected::builtin`]) so a lone binary or wasm module can check a device.

use crate::engine::tokens_hash;
use crate::request::RunOptions;
use crate::session::{Session, Step};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use thiserror::Error;

/// `tests/golden/exact-1/cases.json`, as built into this binary.
pub const CASES_JSON: &str = include_str!("../../tests/golden/exact-1/cases.json");
/// `tests/golden/exact-1/expected.json`, as built into this binary.
pub const EXPECTED_JSON: &str = include_str!("../../tests/golden/exact-1/expected.json");

/// `tests/golden/exact-2/cases.json` (Gemma 3), as built into this binary.
pub const EXACT2_CASES_JSON: &str = include_str!("../../tests/golden/exact-2/cases.json");
/// `tests/golden/exact-2/expected.json`, as built into this binary.
pub const EXACT2_EXPECTED_JSON: &str = include_str!("../../tests/golden/exact-2/expected.json");

/// The representative quick subset (chat, raw, sampled with top-k and with
/// top-p, repetition penalty, stop string), in corpus order: 122 generated
/// tokens after short prompts, so a software GPU finishes it in a few minutes.
pub const QUICK: [&str; 6] = [
    "chat-capital",
    "raw-one-token",
    "sample-topk5",
    "sample-topp05",
    "sample-penalty",
    "stop-string",
];

/// A problem with the corpus files or a selection of cases.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum GoldenError {
    #[error("the golden {what} file is not valid: {detail}")]
    Json { what: &'static str, detail: String },
    #[error("the golden {what} file is for spec '{found}', this build implements {want}")]
    Spec {
        what: &'static str,
        found: String,
        want: &'static str,
    },
    #[error("there is no golden case '{0}'")]
    UnknownCase(String),
}

/// One case: a model from the manifest and what to run on it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Case {
    pub id: String,
    pub model: String,
    pub options: RunOptions,
}

/// `cases.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Corpus {
    pub spec: String,
    pub cases: Vec<Case>,
}

/// What a case produced (the pinned form in `expected.json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcome {
    pub prompt_tokens: usize,
    pub token_ids: Vec<u32>,
    pub logits_hashes: Vec<String>,
    pub tokens_hash: String,
    pub stop_reason: String,
    pub text: String,
}

/// `expected.json`: outcomes by case id.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Expected {
    pub spec: String,
    pub cases: BTreeMap<String, Outcome>,
}

fn check_spec(what: &'static str, found: &str) -> Result<(), GoldenError> {
    use crate::exact::{SPEC_EXACT_1, SPEC_EXACT_2};
    let want = "exact-1 and exact-2";
    if found == SPEC_EXACT_1 || found == SPEC_EXACT_2 {
        Ok(())
    } else {
        Err(GoldenError::Spec {
            what,
            found: found.to_string(),
            want,
        })
    }
}

impl Corpus {
    /// Parses `cases.json` text; the spec must be this build's.
    pub fn parse(json: &str) -> Result<Self, GoldenError> {
        let c: Corpus = serde_json::from_str(json).map_err(|e| GoldenError::Json {
            what: "cases",
            detail: e.to_string(),
        })?;
        check_spec("cases", &c.spec)?;
        Ok(c)
    }

    /// The corpus built into this binary.
    pub fn builtin() -> Self {
        Self::parse(CASES_JSON).expect("the embedded corpus is checked by its tests")
    }

    /// The cases named by `ids` in corpus order (every case when `None`); an
    /// unknown id is an error.
    pub fn select(&self, ids: Option<&[String]>) -> Result<Vec<&Case>, GoldenError> {
        let Some(ids) = ids else {
            return Ok(self.cases.iter().collect());
        };
        if let Some(bad) = ids
            .iter()
            .find(|id| !self.cases.iter().any(|c| &c.id == *id))
        {
            return Err(GoldenError::UnknownCase(bad.clone()));
        }
        Ok(self.cases.iter().filter(|c| ids.contains(&c.id)).collect())
    }

    /// The exact-2 corpus (Gemma 3) built into this binary.
    pub fn builtin_exact2() -> Self {
        Self::parse(EXACT2_CASES_JSON).expect("the embedded corpus is checked by its tests")
    }

    /// The [`QUICK`] subset.
    pub fn quick(&self) -> Result<Vec<&Case>, GoldenError> {
        let ids: Vec<String> = QUICK.iter().map(|s| s.to_string()).collect();
        self.select(Some(&ids))
    }
}

impl Expected {
    /// Parses `expected.json` text; the spec must be this build's.
    pub fn parse(json: &str) -> Result<Self, GoldenError> {
        let e: Expected = serde_json::from_str(json).map_err(|e| GoldenError::Json {
            what: "expected outcomes",
            detail: e.to_string(),
        })?;
        check_spec("expected outcomes", &e.spec)?;
        Ok(e)
    }

    /// The expected outcomes built into this binary.
    pub fn builtin() -> Self {
        Self::parse(EXPECTED_JSON).expect("the embedded outcomes are checked by their tests")
    }

    /// The exact-2 corpus' expected outcomes built into this binary.
    pub fn builtin_exact2() -> Self {
        Self::parse(EXACT2_EXPECTED_JSON).expect("the embedded outcomes are checked by their tests")
    }
}

/// Collects a run's steps into an [`Outcome`] (works with the synchronous
/// [`Session::step`] and with the browser's `resolve` + `step`).
#[derive(Debug, Default)]
pub struct Recorder {
    prompt_tokens: usize,
    text: String,
    hashes: Vec<String>,
    stop: Option<String>,
}

impl Recorder {
    pub fn new(prompt_tokens: usize) -> Self {
        Self {
            prompt_tokens,
            ..Default::default()
        }
    }

    /// Records one step; returns true when it was the last.
    pub fn push(&mut self, step: &Step) -> bool {
        self.text.push_str(&step.text);
        if let Some(h) = step.logits_hash {
            self.hashes.push(format!("{h:016x}"));
        }
        if let Some(r) = step.stop {
            self.stop = Some(r.as_str().to_string());
        }
        self.stop.is_some()
    }

    /// The outcome, with the session's generated ids.
    pub fn finish(self, session: &Session) -> Outcome {
        let ids = session.generated().to_vec();
        Outcome {
            prompt_tokens: self.prompt_tokens,
            tokens_hash: tokens_hash(&ids),
            token_ids: ids,
            logits_hashes: self.hashes,
            stop_reason: self.stop.unwrap_or_default(),
            text: self.text,
        }
    }
}

/// Runs `opts` to the end on `session` (native executors, or the CPU in wasm).
pub fn run(session: &mut Session, opts: &RunOptions) -> crate::Result<Outcome> {
    let req = opts.to_request()?;
    let mut rec = Recorder::new(session.begin(&req)?);
    while !rec.push(&session.step()?) {}
    Ok(rec.finish(session))
}

/// How a case's outcome compares with the pinned one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum Verdict {
    Pass,
    /// The outcome differs; `first_step` is the first generated step (from 0)
    /// whose logits hash or token differs, `None` when every step agrees but
    /// the prompt length, stop reason or text does not.
    Diverged {
        first_step: Option<usize>,
        detail: String,
    },
    /// No pinned outcome for this case.
    Missing,
}

impl Verdict {
    pub fn passed(&self) -> bool {
        *self == Verdict::Pass
    }
}

/// Compares `got` with the pinned outcome `want`.
pub fn compare(want: Option<&Outcome>, got: &Outcome) -> Verdict {
    let Some(want) = want else {
        return Verdict::Missing;
    };
    if want == got {
        return Verdict::Pass;
    }
    let steps = want.token_ids.len().max(got.token_ids.len());
    let first_step = (0..steps).find(|&i| {
        want.logits_hashes.get(i) != got.logits_hashes.get(i)
            || want.token_ids.get(i) != got.token_ids.get(i)
    });
    let detail = if let Some(i) = first_step {
        let show = |o: &Outcome| {
            format!(
                "token {} (logits hash {})",
                o.token_ids
                    .get(i)
                    .map_or("none".to_string(), u32::to_string),
                o.logits_hashes.get(i).map_or("none", String::as_str)
            )
        };
        format!("step {i}: expected {}, got {}", show(want), show(got))
    } else if want.prompt_tokens != got.prompt_tokens {
        format!(
            "prompt has {} tokens, expected {}",
            got.prompt_tokens, want.prompt_tokens
        )
    } else if want.stop_reason != got.stop_reason {
        format!(
            "stopped by {}, expected {}",
            got.stop_reason, want.stop_reason
        )
    } else {
        "same tokens, different text".to_string()
    };
    Verdict::Diverged { first_step, detail }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome() -> Outcome {
        Outcome {
            prompt_tokens: 3,
            token_ids: vec![5, 6, 7],
            logits_hashes: vec!["a".into(), "b".into(), "c".into()],
            tokens_hash: "h".into(),
            stop_reason: "max_tokens".into(),
            text: "xyz".into(),
        }
    }

    #[test]
    fn embedded_corpus_parses_and_every_case_is_pinned() {
        let corpus = Corpus::builtin();
        let expected = Expected::builtin();
        assert!(corpus.cases.len() >= 20);
        for case in &corpus.cases {
            assert!(
                expected.cases.contains_key(&case.id),
                "{} unpinned",
                case.id
            );
        }
        let quick: Vec<&str> = corpus
            .quick()
            .unwrap()
            .iter()
            .map(|c| c.id.as_str())
            .collect();
        assert_eq!(quick, QUICK, "QUICK lists corpus cases in corpus order");
    }

    #[test]
    fn embedded_exact_2_corpus_parses_and_every_case_is_pinned() {
        let corpus = Corpus::builtin_exact2();
        let expected = Expected::builtin_exact2();
        assert_eq!(
            (corpus.spec.as_str(), expected.spec.as_str()),
            ("exact-2", "exact-2")
        );
        assert!(corpus.cases.len() >= 6);
        for case in &corpus.cases {
            assert!(
                expected.cases.contains_key(&case.id),
                "{} unpinned",
                case.id
            );
        }
        let again = serde_json::to_string_pretty(&expected).unwrap() + "\n";
        assert!(
            again == EXACT2_EXPECTED_JSON,
            "exact-2 expected.json would change when blessed"
        );
    }

    #[test]
    fn blessing_rewrites_expected_json_byte_for_byte() {
        // VERBATIM_BLESS writes `Expected` back pretty-printed: existing entries must come
        // out exactly as they are in the file (field order, formatting).
        let again = serde_json::to_string_pretty(&Expected::builtin()).unwrap() + "\n";
        assert!(
            again == EXPECTED_JSON,
            "expected.json would change when blessed"
        );
    }

    #[test]
    fn selection_keeps_corpus_order_and_names_unknown_ids() {
        let corpus = Corpus::builtin();
        let ids = vec!["stop-string".to_string(), "chat-capital".to_string()];
        let got: Vec<&str> = corpus
            .select(Some(&ids))
            .unwrap()
            .iter()
            .map(|c| c.id.as_str())
            .collect();
        assert_eq!(got, ["chat-capital", "stop-string"]);
        assert_eq!(
            corpus.select(Some(&["nope".to_string()])).unwrap_err(),
            GoldenError::UnknownCase("nope".into())
        );
        assert_eq!(corpus.select(None).unwrap().len(), corpus.cases.len());
    }

    #[test]
    fn bad_files_are_typed_errors() {
        assert!(matches!(
            Corpus::parse("{"),
            Err(GoldenError::Json { what: "cases", .. })
        ));
        let err = Expected::parse(r#"{"spec": "exact-0", "cases": {}}"#).unwrap_err();
        assert!(err.to_string().contains("'exact-0'"), "{err}");
    }

    #[test]
    fn verdict_names_the_first_divergent_step() {
        let want = outcome();
        assert_eq!(compare(Some(&want), &want), Verdict::Pass);
        assert_eq!(compare(None, &want), Verdict::Missing);
        let mut got = want.clone();
        got.logits_hashes[1] = "x".into();
        got.token_ids[2] = 9;
        match compare(Some(&want), &got) {
            Verdict::Diverged { first_step, detail } => {
                assert_eq!(first_step, Some(1));
                assert!(detail.starts_with("step 1: expected token 6"), "{detail}");
            }
            v => panic!("{v:?}"),
        }
        // A run that stops early diverges where it has no step.
        let mut short = want.clone();
        short.token_ids.truncate(2);
        short.logits_hashes.truncate(2);
        let v = compare(Some(&want), &short);
        assert!(
            matches!(
                v,
                Verdict::Diverged {
                    first_step: Some(2),
                    ..
                }
            ),
            "{v:?}"
        );
        let mut text = want.clone();
        text.stop_reason = "eos".into();
        let v = compare(Some(&want), &text);
        assert!(
            matches!(
                v,
                Verdict::Diverged {
                    first_step: None,
                    ..
                }
            ),
            "{v:?}"
        );
    }
}
