//! Replay links, format v1 (docs/links.md): a run (model, input, settings, seed,
//! spec version) and its expected outcome, in a URL fragment.
//!
//! Payload: `v1.` + base64url(raw DEFLATE (RFC 1951) of the fields below, in
//! order, followed by a 4-byte SHA-256 checksum of them). Everything in a link is untrusted: decoding bounds every length and
//! value and fails with a [`LinkError`] a person can read.

pub(crate) mod codec;
mod view;
pub(crate) mod wire;

pub use codec::pack_payload;
pub use view::{ExpectView, LinkView, ModelView};

use crate::sampler::SamplingParams;
use crate::session::GenerateRequest;
use crate::tokenizer::ChatMessage;
use thiserror::Error;

/// Magic bytes at the start of every decoded payload.
const MAGIC: &[u8; 2] = b"VB";
/// Format version written by this code.
pub const LINK_VERSION: u8 = 1;
/// Largest decompressed payload accepted (a zip-bomb guard).
pub const MAX_PAYLOAD: usize = 512 * 1024;
/// Largest prompt or message text, in bytes.
pub const MAX_TEXT: usize = 256 * 1024;
/// Most chat messages.
pub const MAX_MESSAGES: usize = 256;
/// Longest numeric spec version, in bytes.
pub const MAX_SPEC_LEN: usize = 32;
/// Longest model id, in bytes.
pub const MAX_MODEL_ID_LEN: usize = 200;
/// Longest model address, in bytes.
pub const MAX_URL_LEN: usize = 2048;
/// Longest chat role, in bytes.
pub const MAX_ROLE_LEN: usize = 64;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum LinkError {
    #[error("this is not a Verbatim run link (it should start with 'v1.')")]
    NotALink,
    #[error("this link uses format version {0}, which this version of Verbatim does not know; a newer Verbatim may open it")]
    UnknownVersion(String),
    #[error("the link contains a character that cannot be in a link (position {position}); it may have been cut or changed when it was copied")]
    BadCharacter { position: usize },
    #[error("the link is damaged: it cannot be decompressed (was it cut short or edited?)")]
    Corrupt,
    #[error("the link is too large (more than {MAX_PAYLOAD} bytes once decompressed)")]
    TooLarge,
    #[error("the link is cut short (it ends inside the {0})")]
    Truncated(&'static str),
    #[error("the link is damaged (bad {0})")]
    Malformed(&'static str),
    #[error("the {0} in the link is not valid UTF-8 text")]
    NotUtf8(&'static str),
    #[error("the link's {what} is {value}, more than the allowed {max}")]
    OutOfRange {
        what: &'static str,
        value: u64,
        max: u64,
    },
    #[error("the link's settings are invalid: {0}")]
    InvalidSettings(String),
    #[error("the link has {0} bytes of unexpected data at its end")]
    Trailing(usize),
    #[error("the link has {0} bytes of unexpected data after its compressed data")]
    TrailingCompressed(usize),
    #[error("the link is damaged (the {0} is written with more bytes than it needs)")]
    Overlong(&'static str),
    #[error(
        "the link's expected tokens do not match their hash (the link was edited or is damaged)"
    )]
    ExpectationHash,
    #[error("this run cannot be put in a link: {0}")]
    Unencodable(String),
    #[error("the link is damaged: its checksum does not match (a character was changed or lost)")]
    Checksum,
}

/// Which model file a run used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelRef {
    /// Manifest id (or a name for a model outside the manifest).
    pub id: String,
    pub sha256: [u8; 32],
    /// Where to fetch a model that is not in the manifest (asks before fetching).
    pub url: Option<String>,
}

/// What the model was given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    Raw(String),
    /// Rendered with the model's chat template, generation prompt appended.
    Chat(Vec<ChatMessage>),
}

/// What the run produced, so a replay can be checked token by token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expectation {
    pub token_ids: Vec<u32>,
    /// SHA-256 of the token ids as little-endian u32s.
    pub tokens_hash: [u8; 32],
}

/// One run, as a link carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunLink {
    pub spec: String,
    pub model: ModelRef,
    pub input: Input,
    pub max_tokens: u32,
    pub params: SamplingParams,
    pub stop: Vec<String>,
    pub expect: Option<Expectation>,
}

/// The outcome of comparing a replay with a link's expectation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Exact {
        tokens: usize,
    },
    Diverged {
        /// 0-based index of the first differing generated token.
        index: usize,
        expected: Option<u32>,
        got: Option<u32>,
    },
}

impl RunLink {
    /// The request this link describes.
    pub fn request(&self) -> GenerateRequest {
        let (prompt, chat, messages) = match &self.input {
            Input::Raw(p) => (p.clone(), false, None),
            Input::Chat(m) => (String::new(), true, Some(m.clone())),
        };
        GenerateRequest {
            prompt,
            chat,
            messages,
            max_tokens: self.max_tokens,
            params: self.params.clone(),
            stop: self.stop.clone(),
        }
    }
}

impl Expectation {
    /// The expectation of `token_ids`, with their hash.
    pub fn of(token_ids: Vec<u32>) -> Self {
        Self {
            tokens_hash: tokens_sha256(&token_ids),
            token_ids,
        }
    }
}

/// SHA-256 of token ids written as little-endian u32s (the expectation's hash).
pub fn tokens_sha256(ids: &[u32]) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for t in ids {
        h.update(t.to_le_bytes());
    }
    h.finalize().into()
}

/// Compares replayed token ids with an expectation. Never fails: an expected id
/// outside the model's vocabulary simply differs from what the model generated.
pub fn compare(expect: &Expectation, got: &[u32]) -> Verdict {
    let n = expect.token_ids.len().max(got.len());
    for i in 0..n {
        let (e, g) = (expect.token_ids.get(i), got.get(i));
        if e != g {
            return Verdict::Diverged {
                index: i,
                expected: e.copied(),
                got: g.copied(),
            };
        }
    }
    Verdict::Exact { tokens: got.len() }
}

/// 32 bytes from 64 hex digits.
pub fn parse_sha256(hex: &str) -> Option<[u8; 32]> {
    if hex.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod rules;
#[cfg(test)]
mod tests;
