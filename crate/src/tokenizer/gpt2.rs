//! `tokenizer.ggml.model = gpt2`: byte-level BPE.
//!
//! The text is split by the pre-tokenizer regexes llama.cpp uses for the model's
//! `tokenizer.ggml.pre` (`llm_tokenizer_bpe` in `src/llama-vocab.cpp`), each piece is mapped to the
//! GPT-2 byte alphabet, and BPE merges apply by rank (`tokenizer.ggml.merges`, one `"left right"`
//! string per merge, rank = position). In Hugging Face `tokenizers` terms this is `BPE` with a
//! `ByteLevel` pre-tokenizer (regex on) preceded, for the starcoder/smollm family, by
//! `Digits(individual_digits = true)`, and a `ByteLevel` decoder; see HF's
//! `tokenizers/src/pre_tokenizers/byte_level.rs` for the byte alphabet (`bytes_char`).

use std::collections::{HashMap, HashSet};
use std::sync::OnceLock;

use tokenizers::decoders::DecoderWrapper;
use tokenizers::models::bpe::{Vocab as BpeVocab, BPE};
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::digits::Digits;
use tokenizers::pre_tokenizers::sequence::Sequence;
use tokenizers::pre_tokenizers::PreTokenizerWrapper;

use super::error::TokenizerError;
use super::vocab::{Attr, Gpt2Pre, Vocab};

/// Builds the `tokenizers` pipeline (model, pre-tokenizer, decoder) for a gpt2 vocabulary.
pub(crate) fn build(vocab: &Vocab, pre: Gpt2Pre) -> Result<tokenizers::Tokenizer, TokenizerError> {
    let ids = vocab.ids_by_text();
    let merges = merges(&vocab.merges, &ids);
    let bpe_vocab: BpeVocab = vocab.tokens.iter().cloned().zip(0u32..).collect();
    let bpe = BPE::builder()
        .vocab_and_merges(bpe_vocab, merges)
        .build()
        .map_err(TokenizerError::backend)?;

    let byte_level = ByteLevel::new(false, true, true);
    let pre_tokenizer = match pre {
        Gpt2Pre::Gpt2 => PreTokenizerWrapper::ByteLevel(byte_level),
        Gpt2Pre::DigitsThenGpt2 => PreTokenizerWrapper::Sequence(Sequence::new(vec![
            PreTokenizerWrapper::Digits(Digits::new(true)),
            PreTokenizerWrapper::ByteLevel(byte_level),
        ])),
    };
    let mut tokenizer = tokenizers::Tokenizer::new(bpe);
    tokenizer
        .with_pre_tokenizer(Some(pre_tokenizer))
        .with_decoder(Some(DecoderWrapper::ByteLevel(byte_level)));
    Ok(tokenizer)
}

/// Parses `"left right"` merges the way llama.cpp does (split at the first space after the first
/// byte; the first occurrence of a pair keeps its rank). Merges whose parts or result are not
/// tokens are dropped: `tokenizers` cannot represent them, and a merge that produces no token
/// never changes llama.cpp's output for pieces that end in tokens.
fn merges(lines: &[String], ids: &HashMap<&str, u32>) -> Vec<(String, String)> {
    let mut seen = HashSet::new();
    let mut out = Vec::with_capacity(lines.len());
    for line in lines {
        let Some(space) = line.bytes().skip(1).position(|b| b == b' ').map(|p| p + 1) else {
            continue;
        };
        let (left, right) = (&line[..space], &line[space + 1..]);
        let merged = format!("{left}{right}");
        if !ids.contains_key(left) || !ids.contains_key(right) || !ids.contains_key(merged.as_str())
        {
            continue;
        }
        if seen.insert((left, right)) {
            out.push((left.to_string(), right.to_string()));
        }
    }
    out
}

/// The bytes a token stands for, as llama.cpp's `token_to_piece` renders them: normal tokens are
/// mapped back from the byte alphabet; control, user-defined and unknown tokens are their text.
pub(crate) fn piece(text: &str, attr: Attr) -> Vec<u8> {
    if attr.is_special() {
        text.as_bytes().to_vec()
    } else if attr.has(Attr::NORMAL) {
        unmap_bytes(text).unwrap_or_else(|| text.as_bytes().to_vec())
    } else {
        Vec::new()
    }
}

/// GPT-2 byte alphabet reversed: `None` if a char is outside it (HF's decoder then keeps the text).
fn unmap_bytes(text: &str) -> Option<Vec<u8>> {
    let table = char_to_byte();
    text.chars().map(|c| table.get(&c).copied()).collect()
}

/// GPT-2 `bytes_to_unicode`: printable Latin-1 bytes map to themselves, the other 68 bytes to
/// U+0100 onwards, in byte order.
fn char_to_byte() -> &'static HashMap<char, u8> {
    static TABLE: OnceLock<HashMap<char, u8>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut table = HashMap::with_capacity(256);
        let mut next = 0x100u32;
        for byte in 0..=255u8 {
            let printable = matches!(byte, b'!'..=b'~' | 0xA1..=0xAC | 0xAE..=0xFF);
            let c = if printable {
                char::from(byte)
            } else {
                let c = char::from_u32(next).unwrap_or(char::REPLACEMENT_CHARACTER);
                next += 1;
                c
            };
            table.insert(c, byte);
        }
        table
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_alphabet_round_trips_every_byte() {
        let table = char_to_byte();
        assert_eq!(table.len(), 256);
        assert_eq!(table.get(&'Ġ'), Some(&b' '));
        assert_eq!(table.get(&'Ċ'), Some(&b'\n'));
        assert_eq!(table.get(&'A'), Some(&b'A'));
    }

    #[test]
    fn pieces_follow_token_attributes() {
        assert_eq!(piece("Ġhello", Attr::NORMAL), b" hello");
        assert_eq!(piece("<|im_end|>", Attr::CONTROL), b"<|im_end|>");
        assert_eq!(piece("ÃŃ", Attr::NORMAL), [0xC3, 0xAD]);
        assert!(piece("x", Attr::UNUSED).is_empty());
    }

    #[test]
    fn merges_parse_like_llama_cpp() {
        let tokens = ["a", "b", "ab", " ", " a"];
        let ids: HashMap<&str, u32> = tokens.iter().copied().zip(0..).collect();
        let lines: Vec<String> = ["a b", "a b", "  a", "ab", "a c"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        // duplicate dropped, "  a" splits after the first byte, "ab" has no space, "c" unknown
        assert_eq!(
            merges(&lines, &ids),
            [("a".into(), "b".into()), (" ".into(), "a".into())]
        );
    }
}
