//! Encoding and decoding of link format v1 (docs/links.md, "Payload" and "Rules").
//!
//! One set of rules for both directions: [`RunLink::check`] states every limit a
//! run must meet to be a link, [`RunLink::encode`] refuses what it refuses, and
//! [`RunLink::decode`] applies the same check after reading with the same bounds
//! (read before allocating). Decoding also insists on the one encoding a run
//! has: minimal varints, nothing after the final DEFLATE block, nothing after the
//! fields, and an expectation whose hash matches its ids.

use super::wire::{base64url_decode, base64url_encode, Reader, Writer};
use super::{
    tokens_sha256, ChatMessage, Expectation, Input, LinkError, ModelRef, RunLink, LINK_VERSION,
    MAGIC, MAX_MESSAGES, MAX_MODEL_ID_LEN, MAX_PAYLOAD, MAX_ROLE_LEN, MAX_SPEC_LEN, MAX_TEXT,
    MAX_URL_LEN,
};
use crate::sampler::SamplingParams;
use crate::session::{MAX_NEW_TOKENS, MAX_STOPS, MAX_STOP_LEN};

/// Size of the checksum that ends the decompressed payload.
const CHECKSUM_LEN: usize = 4;

fn too_long(what: &str, len: usize, max: usize) -> Result<(), LinkError> {
    if len > max {
        return Err(LinkError::Unencodable(format!(
            "the {what} is {len} bytes, more than the {max} a link can hold"
        )));
    }
    Ok(())
}

impl RunLink {
    /// Every rule a run must meet to be a link (the decoder's limits, docs/links.md).
    pub fn check(&self) -> Result<(), LinkError> {
        too_long("spec version", self.spec.len(), MAX_SPEC_LEN)?;
        too_long("model id", self.model.id.len(), MAX_MODEL_ID_LEN)?;
        if let Some(url) = &self.model.url {
            if url.is_empty() {
                return Err(LinkError::Unencodable("the model address is empty".into()));
            }
            too_long("model address", url.len(), MAX_URL_LEN)?;
        }
        match &self.input {
            Input::Raw(p) => too_long("prompt", p.len(), MAX_TEXT)?,
            Input::Chat(msgs) => {
                if msgs.len() > MAX_MESSAGES {
                    return Err(LinkError::Unencodable(format!(
                        "it has {} chat messages, more than the {MAX_MESSAGES} a link can hold",
                        msgs.len()
                    )));
                }
                for m in msgs {
                    too_long("chat role", m.role.len(), MAX_ROLE_LEN)?;
                    too_long("chat message", m.content.len(), MAX_TEXT)?;
                }
            }
        }
        if self.max_tokens == 0 || self.max_tokens > MAX_NEW_TOKENS {
            return Err(LinkError::InvalidSettings(format!(
                "max tokens must be between 1 and {MAX_NEW_TOKENS}, not {}",
                self.max_tokens
            )));
        }
        self.params
            .validate()
            .map_err(|e| LinkError::InvalidSettings(e.to_string()))?;
        if self.stop.len() > MAX_STOPS {
            return Err(LinkError::InvalidSettings(format!(
                "{} stop strings, more than {MAX_STOPS}",
                self.stop.len()
            )));
        }
        for s in &self.stop {
            if s.is_empty() {
                return Err(LinkError::InvalidSettings("an empty stop string".into()));
            }
            too_long("stop string", s.len(), MAX_STOP_LEN)?;
        }
        if let Some(e) = &self.expect {
            if e.token_ids.len() > self.max_tokens as usize {
                return Err(LinkError::InvalidSettings(format!(
                    "{} expected tokens, more than max tokens ({})",
                    e.token_ids.len(),
                    self.max_tokens
                )));
            }
            if tokens_sha256(&e.token_ids) != e.tokens_hash {
                return Err(LinkError::ExpectationHash);
            }
        }
        Ok(())
    }

    /// The fragment payload `v1.<base64url>`; refuses (with the rule broken) any
    /// run [`RunLink::decode`] would refuse, so every link printed can be opened.
    pub fn encode(&self) -> Result<String, LinkError> {
        self.check()?;
        let fields = self.unchecked_fields();
        if fields.len() + CHECKSUM_LEN > MAX_PAYLOAD {
            return Err(LinkError::Unencodable(format!(
                "it takes {} bytes, more than the {MAX_PAYLOAD} a link can hold",
                fields.len() + CHECKSUM_LEN
            )));
        }
        Ok(pack_payload(&fields))
    }

    /// The payload fields in order, without the checksum, whether or not the run
    /// meets [`RunLink::check`] (with [`pack_payload`], tests build hostile links).
    pub fn unchecked_fields(&self) -> Vec<u8> {
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
        w.0
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
        let raw = inflate(&base64url_decode(body)?, MAX_PAYLOAD)?;
        if raw.len() < CHECKSUM_LEN {
            return Err(LinkError::Truncated("header"));
        }
        let (raw, check) = raw.split_at(raw.len() - CHECKSUM_LEN);
        if checksum(raw) != check {
            return Err(LinkError::Checksum);
        }
        let link = read_fields(raw)?;
        link.check()?;
        Ok(link)
    }
}

/// Reads the fields, bounding every length and count before allocating.
fn read_fields(raw: &[u8]) -> Result<RunLink, LinkError> {
    let mut r = Reader::new(raw);
    if r.bytes(2, "header")? != MAGIC || r.u8("header")? != LINK_VERSION {
        return Err(LinkError::Malformed("header"));
    }
    let spec = r.str("spec version", MAX_SPEC_LEN)?;
    let id = r.str("model id", MAX_MODEL_ID_LEN)?;
    let mut sha256 = [0u8; 32];
    sha256.copy_from_slice(r.bytes(32, "model hash")?);
    let url = r.str("model address", MAX_URL_LEN)?;
    let input = match r.u64("input kind")? {
        0 => Input::Raw(r.str("prompt", MAX_TEXT)?),
        1 => {
            let n = r.bounded("number of chat messages", MAX_MESSAGES as u64)? as usize;
            let mut msgs = Vec::with_capacity(n);
            for _ in 0..n {
                msgs.push(ChatMessage {
                    role: r.str("chat role", MAX_ROLE_LEN)?,
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
    let n_stop = r.bounded("number of stop strings", MAX_STOPS as u64)? as usize;
    let mut stop = Vec::with_capacity(n_stop);
    for _ in 0..n_stop {
        stop.push(r.str("stop string", MAX_STOP_LEN)?);
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
    if r.remaining() != 0 {
        return Err(LinkError::Trailing(r.remaining()));
    }
    Ok(RunLink {
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

/// Wraps payload fields as link text: appends their checksum, compresses (raw
/// DEFLATE, level 10), encodes as base64url and prefixes `v1.`. No limits are
/// checked: [`RunLink::encode`] does that; tests and fuzzers use this to build
/// hostile links whose checksum is right.
pub fn pack_payload(fields: &[u8]) -> String {
    let mut raw = Vec::with_capacity(fields.len() + CHECKSUM_LEN);
    raw.extend_from_slice(fields);
    raw.extend_from_slice(&checksum(fields));
    let packed = miniz_oxide::deflate::compress_to_vec(&raw, 10);
    format!("v{LINK_VERSION}.{}", base64url_encode(&packed))
}

/// Raw DEFLATE (RFC 1951) decompression of at most `max` bytes that refuses
/// anything after the final block (run links and eval links).
pub(crate) fn inflate(packed: &[u8], max: usize) -> Result<Vec<u8>, LinkError> {
    use miniz_oxide::inflate::core::{decompress, inflate_flags, DecompressorOxide};
    use miniz_oxide::inflate::TINFLStatus;
    let flags = inflate_flags::TINFL_FLAG_USING_NON_WRAPPING_OUTPUT_BUF;
    let mut d = DecompressorOxide::new();
    // One byte more than the limit, so that a payload of exactly the limit ends
    // with `Done` and anything longer is seen.
    let cap = max + 1;
    let mut out = vec![0u8; packed.len().saturating_mul(4).clamp(64, cap)];
    let (mut in_pos, mut out_pos) = (0, 0);
    loop {
        let (status, n_in, n_out) = decompress(&mut d, &packed[in_pos..], &mut out, out_pos, flags);
        in_pos += n_in;
        out_pos += n_out;
        match status {
            TINFLStatus::Done if out_pos > max => return Err(LinkError::TooLarge),
            TINFLStatus::Done => {
                if in_pos != packed.len() {
                    return Err(LinkError::TrailingCompressed(packed.len() - in_pos));
                }
                out.truncate(out_pos);
                return Ok(out);
            }
            TINFLStatus::HasMoreOutput if out.len() < cap => {
                let n = out.len().saturating_mul(2).min(cap);
                out.resize(n, 0);
            }
            TINFLStatus::HasMoreOutput => return Err(LinkError::TooLarge),
            _ => return Err(LinkError::Corrupt),
        }
    }
}

/// The first 4 bytes of the SHA-256 of the payload: catches edited or damaged links.
pub(crate) fn checksum(payload: &[u8]) -> [u8; CHECKSUM_LEN] {
    use sha2::{Digest, Sha256};
    let d = Sha256::digest(payload);
    [d[0], d[1], d[2], d[3]]
}
