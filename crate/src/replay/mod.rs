//! Replay links, format v1 (docs/links.md): a run (model, input, settings, seed,
//! spec version) and its expected outcome, in a URL fragment.
//!
//! Payload: `v1.` + base64url(raw DEFLATE (RFC 1951) of the fields below, in
//! order, followed by a 4-byte SHA-256 checksum of them). Everything in a link is untrusted: decoding bounds every length and
//! value and fails with a [`LinkError`] a person can read.

mod view;
pub(crate) mod wire;

pub use view::{ExpectView, LinkView, ModelView};

use crate::sampler::SamplingParams;
use crate::session::{GenerateRequest, MAX_NEW_TOKENS, MAX_STOPS, MAX_STOP_LEN};
use crate::tokenizer::ChatMessage;
use thiserror::Error;
use wire::{base64url_decode, base64url_encode, Reader, Writer};

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

    /// The fragment payload: `v1.<base64url>`.
    pub fn encode(&self) -> String {
        let mut w = Writer(Vec::new());
        w.bytes(MAGIC);
        w.0.push(LINK_VERSION);
        w.str(&self.spec);
        w.str(&self.model.id);
        w.bytes(&self.model.sha256);
        w.str(self.model.url.as_deref().unwrap_or(""));
        match &self.input {
            Input::Raw(p) => {
                w.u64(0);
                w.str(p);
            }
            Input::Chat(msgs) => {
                w.u64(1);
                w.u64(msgs.len() as u64);
                for m in msgs {
                    w.str(&m.role);
                    w.str(&m.content);
                }
            }
        }
        let p = &self.params;
        for v in [
            self.max_tokens as u64,
            p.temperature_milli as u64,
            p.top_k as u64,
            p.top_p_micro as u64,
            p.min_p_micro as u64,
            p.repeat_penalty_milli as u64,
            p.repeat_last_n as u64,
            p.seed,
        ] {
            w.u64(v);
        }
        w.u64(self.stop.len() as u64);
        for s in &self.stop {
            w.str(s);
        }
        match &self.expect {
            None => w.u64(0),
            Some(e) => {
                w.u64(1);
                w.bytes(&e.tokens_hash);
                w.u64(e.token_ids.len() as u64);
                for &t in &e.token_ids {
                    w.u64(t as u64);
                }
            }
        }
        let check = checksum(&w.0);
        w.bytes(&check);
        let packed = miniz_oxide::deflate::compress_to_vec(&w.0, 10);
        format!("v{LINK_VERSION}.{}", base64url_encode(&packed))
    }

    /// Decodes a payload, a `#fragment`, or a whole URL containing one.
    pub fn decode(text: &str) -> Result<Self, LinkError> {
        let text = text.trim();
        let frag = match text.rfind('#') {
            Some(i) => &text[i + 1..],
            None => text,
        };
        let (version, body) = frag.split_once('.').ok_or(LinkError::NotALink)?;
        let v = version.strip_prefix('v').ok_or(LinkError::NotALink)?;
        if v != LINK_VERSION.to_string() {
            return Err(LinkError::UnknownVersion(v.chars().take(12).collect()));
        }
        let packed = base64url_decode(body)?;
        let raw = miniz_oxide::inflate::decompress_to_vec_with_limit(&packed, MAX_PAYLOAD)
            .map_err(|e| match e.status {
                miniz_oxide::inflate::TINFLStatus::HasMoreOutput => LinkError::TooLarge,
                _ => LinkError::Corrupt,
            })?;
        if raw.len() < 4 {
            return Err(LinkError::Truncated("header"));
        }
        let (raw, check) = raw.split_at(raw.len() - 4);
        if checksum(raw) != check {
            return Err(LinkError::Checksum);
        }
        let mut r = Reader::new(raw);
        if r.bytes(2, "header")? != MAGIC || r.u8("header")? != LINK_VERSION {
            return Err(LinkError::Malformed("header"));
        }
        let spec = r.str("spec version", 32)?;
        let id = r.str("model id", 200)?;
        let mut sha256 = [0u8; 32];
        sha256.copy_from_slice(r.bytes(32, "model hash")?);
        let url = r.str("model address", 2048)?;
        let input = match r.u64("input kind")? {
            0 => Input::Raw(r.str("prompt", MAX_TEXT)?),
            1 => {
                let n = r.bounded("number of chat messages", MAX_MESSAGES as u64)? as usize;
                let mut msgs = Vec::with_capacity(n);
                for _ in 0..n {
                    msgs.push(ChatMessage {
                        role: r.str("chat role", 64)?,
                        content: r.str("chat message", MAX_TEXT)?,
                    });
                }
                Input::Chat(msgs)
            }
            _ => return Err(LinkError::Malformed("input kind")),
        };
        let max_tokens = r.bounded("max tokens", MAX_NEW_TOKENS as u64)? as u32;
        let params = SamplingParams {
            temperature_milli: r.u32("temperature")?,
            top_k: r.u32("top-k")?,
            top_p_micro: r.u32("top-p")?,
            min_p_micro: r.u32("min-p")?,
            repeat_penalty_milli: r.u32("repetition penalty")?,
            repeat_last_n: r.u32("repetition window")?,
            seed: r.u64("seed")?,
        };
        params
            .validate()
            .map_err(|e| LinkError::InvalidSettings(e.to_string()))?;
        let n_stop = r.bounded("number of stop strings", MAX_STOPS as u64)? as usize;
        let mut stop = Vec::with_capacity(n_stop);
        for _ in 0..n_stop {
            let s = r.str("stop string", MAX_STOP_LEN)?;
            if s.is_empty() {
                return Err(LinkError::InvalidSettings("an empty stop string".into()));
            }
            stop.push(s);
        }
        let expect = match r.u64("expectation")? {
            0 => None,
            1 => {
                let mut tokens_hash = [0u8; 32];
                tokens_hash.copy_from_slice(r.bytes(32, "token hash")?);
                let n = r.bounded("number of expected tokens", max_tokens as u64)? as usize;
                let mut token_ids = Vec::with_capacity(n);
                for _ in 0..n {
                    token_ids.push(r.u32("expected token")?);
                }
                Some(Expectation {
                    token_ids,
                    tokens_hash,
                })
            }
            _ => return Err(LinkError::Malformed("expectation")),
        };
        if !r.done() {
            return Err(LinkError::Trailing(raw.len()));
        }
        if max_tokens == 0 {
            return Err(LinkError::InvalidSettings("max tokens is 0".into()));
        }
        Ok(Self {
            spec,
            model: ModelRef {
                id,
                sha256,
                url: (!url.is_empty()).then_some(url),
            },
            input,
            max_tokens,
            params,
            stop,
            expect,
        })
    }
}

/// The first 4 bytes of the SHA-256 of the payload: catches edited or damaged links.
fn checksum(payload: &[u8]) -> [u8; 4] {
    use sha2::{Digest, Sha256};
    let d = Sha256::digest(payload);
    [d[0], d[1], d[2], d[3]]
}

/// Compares replayed token ids with an expectation.
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
mod tests;
