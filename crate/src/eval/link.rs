//! Eval links, format `e1` (docs/links.md, "Eval links"): a model, a task (name,
//! version, items sha256), the subset and the specs, and the expected outcome
//! (tallies, items hash, and per item its choice and a one-byte digest, so a
//! replay names the first item that differs).
//!
//! Same wire as run links (`crate::replay::wire`: LEB128 varints, length-prefixed
//! strings, base64url, raw DEFLATE, a 4-byte SHA-256 checksum), its own prefix
//! `e1.` and magic `VE`.

use super::fingerprint::{item_digest, items_hash};
use super::metrics::Tally;
use super::run::ItemResult;
use super::task::{OutputType, MAX_ITEMS};
use crate::replay::codec::{checksum, inflate};
use crate::replay::wire::{base64url_decode, base64url_encode, Reader, Writer};
use crate::replay::{LinkError, ModelRef};
use thiserror::Error;

const MAGIC: &[u8; 2] = b"VE";
/// Format version of eval links written by this code.
pub const EVAL_LINK_VERSION: u8 = 1;
/// Largest decompressed payload accepted.
pub const MAX_EVAL_PAYLOAD: usize = 1 << 20;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum EvalLinkError {
    #[error("this is not a Verbatim eval link (it should start with 'e1.')")]
    NotALink,
    #[error("this eval link uses format version {0}, which this version of Verbatim does not know; a newer Verbatim may open it")]
    UnknownVersion(String),
    #[error("the eval link has unexpected data at its end")]
    Trailing,
    #[error(transparent)]
    Wire(#[from] LinkError),
}

/// Which task a score is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskRef {
    pub name: String,
    pub version: u64,
    /// The task file's `items_sha256`.
    pub items_sha256: [u8; 32],
    pub output_type: OutputType,
}

/// One item's expectation: its choice (`pred`; for loglikelihood tasks 1 if the
/// continuation was greedy, else 0; 0 for rolling) and its digest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ItemMark {
    pub choice: u32,
    pub digest: u8,
}

/// What the evaluation produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvalExpect {
    pub correct: u64,
    pub correct_norm: u64,
    pub loglik_q16: i64,
    pub items_hash: [u8; 32],
    /// One per item, in order (items `0..n` of the task).
    pub items: Vec<ItemMark>,
}

/// An evaluation, as a link carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvalLink {
    /// The forward pass's spec (`exact-1`).
    pub spec: String,
    /// The scoring spec (`score-1`).
    pub score_spec: String,
    pub model: ModelRef,
    pub task: TaskRef,
    /// The first `limit` items (all when none).
    pub limit: Option<u64>,
    pub expect: Option<EvalExpect>,
}

/// The outcome of comparing a replayed evaluation with a link's expectation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EvalVerdict {
    Exact {
        items: usize,
    },
    /// Item `id` (its 0-based index in the task file) differs.
    ItemDiffers {
        id: u32,
        expected: ItemMark,
        got: ItemMark,
    },
    /// Every item's mark matches but the hash does not (a digest collision).
    HashDiffers,
}

/// Whether `text` (a URL, `#fragment` or payload) is an eval link.
pub fn is_eval_link(text: &str) -> bool {
    let t = text.trim();
    let frag = t.rfind('#').map_or(t, |i| &t[i + 1..]);
    frag.starts_with('e') && frag.contains('.')
}

/// The mark an item result leaves in a link.
pub fn mark(item: &ItemResult, ot: OutputType) -> ItemMark {
    let choice = match ot {
        OutputType::MultipleChoice => item.pred,
        OutputType::Loglikelihood => item.scores.iter().all(|s| s.greedy) as u32,
        OutputType::LoglikelihoodRolling => 0,
    };
    ItemMark {
        choice,
        digest: item_digest(item),
    }
}

/// The expectation of `items` (items `0..n` of the task, in order).
pub fn expectation(items: &[ItemResult], ot: OutputType) -> EvalExpect {
    let t = Tally::of(items, ot);
    EvalExpect {
        correct: t.correct,
        correct_norm: t.correct_norm,
        loglik_q16: t.loglik_q16,
        items_hash: items_hash(items),
        items: items.iter().map(|i| mark(i, ot)).collect(),
    }
}

/// Compares replayed items (in order, possibly fewer when the replay stopped
/// early) with the expectation.
pub fn compare(expect: &EvalExpect, got: &[ItemResult], ot: OutputType) -> EvalVerdict {
    for (i, (e, g)) in expect.items.iter().zip(got).enumerate() {
        let g = mark(g, ot);
        if *e != g {
            return EvalVerdict::ItemDiffers {
                id: i as u32,
                expected: *e,
                got: g,
            };
        }
    }
    if got.len() != expect.items.len() || items_hash(got) != expect.items_hash {
        return EvalVerdict::HashDiffers;
    }
    EvalVerdict::Exact { items: got.len() }
}

/// What a replay prints when it does not reproduce the link (none when exact):
/// "Item 17 differs: expected choice 2, got choice 1".
pub fn difference(v: &EvalVerdict, ot: OutputType) -> Option<String> {
    let what = |m: u32| match ot {
        OutputType::Loglikelihood if m == 1 => "the greedy continuation".to_string(),
        OutputType::Loglikelihood => "a non-greedy continuation".to_string(),
        _ => format!("choice {m}"),
    };
    match v {
        EvalVerdict::Exact { .. } => None,
        EvalVerdict::ItemDiffers { id, expected, got } if expected.choice != got.choice => {
            Some(format!(
                "Item {id} differs: expected {}, got {}",
                what(expected.choice),
                what(got.choice)
            ))
        }
        EvalVerdict::ItemDiffers { id, got, .. } => Some(format!(
            "Item {id} differs: same {}, but its log-likelihoods differ",
            what(got.choice)
        )),
        EvalVerdict::HashDiffers => Some(
            "The items hash differs (every item's choice matches): some log-likelihood differs"
                .into(),
        ),
    }
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

/// Raw DEFLATE of at most [`MAX_EVAL_PAYLOAD`] bytes that must use every input
/// byte (data after the final block is refused, not ignored).
fn inflate_exact(packed: &[u8]) -> Result<Vec<u8>, EvalLinkError> {
    inflate(packed, MAX_EVAL_PAYLOAD).map_err(|e| match e {
        LinkError::TrailingCompressed(_) => EvalLinkError::Trailing,
        other => other.into(),
    })
}

impl EvalLink {
    /// The fragment payload: `e1.<base64url>`.
    pub fn encode(&self) -> String {
        let mut w = Writer(Vec::new());
        w.bytes(MAGIC);
        w.0.push(EVAL_LINK_VERSION);
        w.str(&self.spec);
        w.str(&self.score_spec);
        w.str(&self.model.id);
        w.bytes(&self.model.sha256);
        w.str(self.model.url.as_deref().unwrap_or(""));
        w.str(&self.task.name);
        w.u64(self.task.version);
        w.bytes(&self.task.items_sha256);
        w.u64(self.task.output_type.code());
        w.u64(self.limit.unwrap_or(0));
        match &self.expect {
            None => w.u64(0),
            Some(e) => {
                w.u64(1);
                w.u64(e.items.len() as u64);
                w.u64(e.correct);
                w.u64(e.correct_norm);
                w.u64(zigzag(e.loglik_q16));
                w.bytes(&e.items_hash);
                for m in &e.items {
                    w.u64(m.choice as u64);
                }
                for m in &e.items {
                    w.0.push(m.digest);
                }
            }
        }
        let check = checksum(&w.0);
        w.bytes(&check);
        let packed = miniz_oxide::deflate::compress_to_vec(&w.0, 10);
        format!("e{EVAL_LINK_VERSION}.{}", base64url_encode(&packed))
    }

    /// Decodes a payload, a `#fragment`, or a whole URL containing one.
    pub fn decode(text: &str) -> Result<Self, EvalLinkError> {
        let text = text.trim();
        let frag = text.rfind('#').map_or(text, |i| &text[i + 1..]);
        let (version, body) = frag.split_once('.').ok_or(EvalLinkError::NotALink)?;
        let v = version.strip_prefix('e').ok_or(EvalLinkError::NotALink)?;
        if v != EVAL_LINK_VERSION.to_string() {
            return Err(EvalLinkError::UnknownVersion(v.chars().take(12).collect()));
        }
        let packed = base64url_decode(body)?;
        let raw = inflate_exact(&packed)?;
        if raw.len() < 4 {
            return Err(LinkError::Truncated("header").into());
        }
        let (raw, check) = raw.split_at(raw.len() - 4);
        if checksum(raw) != check {
            return Err(LinkError::Checksum.into());
        }
        let mut r = Reader::new(raw);
        if r.bytes(2, "header")? != MAGIC || r.u8("header")? != EVAL_LINK_VERSION {
            return Err(LinkError::Malformed("header").into());
        }
        let spec = r.str("spec version", 32)?;
        let score_spec = r.str("scoring spec version", 32)?;
        let id = r.str("model id", 200)?;
        let mut sha256 = [0u8; 32];
        sha256.copy_from_slice(r.bytes(32, "model hash")?);
        let url = r.str("model address", 2048)?;
        let name = r.str("task name", 64)?;
        let version = r.u64("task version")?;
        let mut items_sha256 = [0u8; 32];
        items_sha256.copy_from_slice(r.bytes(32, "task hash")?);
        let output_type = match r.u64("task type")? {
            0 => OutputType::MultipleChoice,
            1 => OutputType::Loglikelihood,
            2 => OutputType::LoglikelihoodRolling,
            _ => return Err(LinkError::Malformed("task type").into()),
        };
        let limit = r.bounded("item limit", MAX_ITEMS as u64)?;
        let expect = match r.u64("expectation")? {
            0 => None,
            1 => {
                let n = r.bounded("number of items", MAX_ITEMS as u64)? as usize;
                let correct = r.bounded("number correct", n as u64)?;
                let correct_norm = r.bounded("number correct (normalised)", n as u64)?;
                let loglik_q16 = unzigzag(r.u64("log-likelihood sum")?);
                let mut items_hash = [0u8; 32];
                items_hash.copy_from_slice(r.bytes(32, "items hash")?);
                let mut choices = Vec::with_capacity(n);
                for _ in 0..n {
                    choices.push(r.bounded("item choice", 31)? as u32);
                }
                let digests = r.bytes(n, "item digests")?;
                Some(EvalExpect {
                    correct,
                    correct_norm,
                    loglik_q16,
                    items_hash,
                    items: choices
                        .into_iter()
                        .zip(digests)
                        .map(|(choice, &digest)| ItemMark { choice, digest })
                        .collect(),
                })
            }
            _ => return Err(LinkError::Malformed("expectation").into()),
        };
        if r.remaining() != 0 {
            return Err(EvalLinkError::Trailing);
        }
        Ok(Self {
            spec,
            score_spec,
            model: ModelRef {
                id,
                sha256,
                url: (!url.is_empty()).then_some(url),
            },
            task: TaskRef {
                name,
                version,
                items_sha256,
                output_type,
            },
            limit: (limit > 0).then_some(limit),
            expect,
        })
    }
}

#[cfg(test)]
#[path = "link_tests.rs"]
mod tests;
