//! Turning ids back into text, whole or token by token.
//!
//! Each token stands for a run of bytes (llama.cpp's `token_to_piece`); a token may end in the
//! middle of a UTF-8 character (byte-fallback `<0xXX>` tokens, byte-level BPE pieces), so text is
//! only released once its bytes form complete characters. Invalid byte sequences become U+FFFD
//! exactly as `String::from_utf8_lossy` would replace them in the whole output, so a stream and a
//! one-shot [`Tokenizer::decode`] of the same ids give the same text.

use super::error::TokenizerError;
use super::Tokenizer;

/// Incremental decoder for generated tokens: feed ids as they arrive, get new text back.
///
/// It holds no reference to the tokenizer, so it can live next to one (in a struct, or across the
/// wasm boundary).
#[derive(Clone, Debug, Default)]
pub struct StreamDecoder {
    /// Bytes received but not yet released (an incomplete UTF-8 character at most).
    pending: Vec<u8>,
    /// Whether the first byte of the output has been seen (for the leading-space strip).
    started: bool,
}

impl StreamDecoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one token; returns the text it completes (possibly empty).
    pub fn push(&mut self, tokenizer: &Tokenizer, id: u32) -> Result<String, TokenizerError> {
        let piece = tokenizer.piece(id)?;
        self.pending.extend_from_slice(&piece);
        if !self.started && !self.pending.is_empty() {
            self.started = true;
            if tokenizer.strips_leading_space() && self.pending.first() == Some(&b' ') {
                self.pending.remove(0);
            }
        }
        Ok(release(&mut self.pending))
    }

    /// Ends the stream: bytes of an unfinished character come out as U+FFFD.
    pub fn finish(&mut self) -> String {
        let rest = String::from_utf8_lossy(&self.pending).into_owned();
        self.pending.clear();
        rest
    }
}

/// Takes the complete characters off the front of `pending`, replacing invalid sequences.
fn release(pending: &mut Vec<u8>) -> String {
    let mut out = String::new();
    loop {
        match std::str::from_utf8(pending) {
            Ok(text) => {
                out.push_str(text);
                pending.clear();
                return out;
            }
            Err(err) => {
                let valid = err.valid_up_to();
                out.push_str(&String::from_utf8_lossy(&pending[..valid]));
                match err.error_len() {
                    Some(invalid) => {
                        out.push(char::REPLACEMENT_CHARACTER);
                        pending.drain(..valid + invalid);
                    }
                    None => {
                        pending.drain(..valid);
                        return out;
                    }
                }
            }
        }
    }
}

/// One-shot decoding with the same rules as the stream.
pub(crate) fn decode(tokenizer: &Tokenizer, ids: &[u32]) -> Result<String, TokenizerError> {
    let mut bytes = Vec::new();
    for &id in ids {
        bytes.extend_from_slice(&tokenizer.piece(id)?);
    }
    if tokenizer.strips_leading_space() && bytes.first() == Some(&b' ') {
        bytes.remove(0);
    }
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

#[cfg(test)]
mod tests {
    use super::release;

    #[test]
    fn releases_only_complete_characters() {
        let mut pending = vec![b'a', 0xE2, 0x82];
        assert_eq!(release(&mut pending), "a");
        assert_eq!(pending, [0xE2, 0x82]);
        pending.push(0xAC);
        assert_eq!(release(&mut pending), "€");
        assert!(pending.is_empty());
    }

    #[test]
    fn replaces_invalid_bytes_like_from_utf8_lossy() {
        let bytes = [b'x', 0xFF, 0xE2, 0x82, b'y', 0xF0, 0x9F];
        let mut pending = bytes.to_vec();
        let released = release(&mut pending);
        let rest = String::from_utf8_lossy(&pending).into_owned();
        assert_eq!(released + &rest, String::from_utf8_lossy(&bytes));
    }
}
