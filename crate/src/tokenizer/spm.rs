//! `tokenizer.ggml.model = llama`: SentencePiece (BPE-style) with byte fallback.
//!
//! llama.cpp (`llm_tokenizer_spm_session` in `src/llama-vocab.cpp`) replaces each space with
//! U+2581 `▁` (optionally prefixing one), splits the text into UTF-8 characters and repeatedly
//! merges the adjacent pair whose concatenation is the vocabulary entry with the highest score
//! (ties: leftmost pair); characters left without a token become `<0xXX>` byte tokens.
//!
//! Hugging Face `tokenizers` has no score-driven model, but a `BPE` model whose merge ranks follow
//! the scores of the merged tokens performs the same merges: every split `left + right` of a token
//! whose halves are tokens is a merge, ranked by the token's score (highest first). This is how HF
//! converts SentencePiece BPE models (`SentencePieceExtractor` in `convert_slow_tokenizer.py`).
//! The one divergence: llama.cpp breaks score ties by position, a rank order cannot; Gemma 3's
//! normal tokens all have distinct scores. Normalizer: `Replace(" ", "▁")` (+ `Prepend("▁")`);
//! decoder: `Replace("▁", " ")`, `ByteFallback`, `Fuse` (+ `Strip(' ', 1, 0)`), as HF's Llama and
//! Gemma tokenizers do.

use std::cmp::Ordering;
use std::collections::HashMap;

use tokenizers::decoders::byte_fallback::ByteFallback;
use tokenizers::decoders::fuse::Fuse;
use tokenizers::decoders::sequence::Sequence as DecoderSequence;
use tokenizers::decoders::strip::Strip;
use tokenizers::decoders::DecoderWrapper;
use tokenizers::models::bpe::{Vocab as BpeVocab, BPE};
use tokenizers::normalizers::{NormalizerWrapper, Prepend, Replace, Sequence};

use super::error::TokenizerError;
use super::vocab::{Attr, Vocab};

const SPACE: &str = "\u{2581}";

/// Builds the `tokenizers` pipeline (normalizer, model, decoder) for a SentencePiece vocabulary.
pub(crate) fn build(vocab: &Vocab) -> Result<tokenizers::Tokenizer, TokenizerError> {
    let ids = vocab.ids_by_text();
    let merges = merges_from_scores(&vocab.tokens, &vocab.scores, &ids);
    drop(ids); // freed before the BPE model's tables are built (the peak of a load)
    let bpe_vocab: BpeVocab = vocab.tokens.iter().cloned().zip(0u32..).collect();
    let mut builder = BPE::builder()
        .vocab_and_merges(bpe_vocab, merges)
        .byte_fallback(true);
    if let Some(unk) = vocab.unk.and_then(|id| vocab.tokens.get(id as usize)) {
        builder = builder.unk_token(unk.clone());
    }
    let bpe = builder.build().map_err(TokenizerError::backend)?;

    let mut normalizers = Vec::new();
    if vocab.add_space_prefix {
        normalizers.push(NormalizerWrapper::Prepend(Prepend::new(SPACE.to_string())));
    }
    let escape = Replace::new(" ", SPACE).map_err(TokenizerError::backend)?;
    normalizers.push(NormalizerWrapper::Replace(escape));

    let unescape = Replace::new(SPACE, " ").map_err(TokenizerError::backend)?;
    let mut decoders = vec![
        DecoderWrapper::Replace(unescape),
        DecoderWrapper::ByteFallback(ByteFallback::new()),
        DecoderWrapper::Fuse(Fuse::new()),
    ];
    if vocab.add_space_prefix {
        decoders.push(DecoderWrapper::Strip(Strip::new(' ', 1, 0)));
    }

    let mut tokenizer = tokenizers::Tokenizer::new(bpe);
    tokenizer
        .with_normalizer(Some(NormalizerWrapper::Sequence(Sequence::new(
            normalizers,
        ))))
        .with_decoder(Some(DecoderWrapper::Sequence(DecoderSequence::new(
            decoders,
        ))));
    Ok(tokenizer)
}

/// Every `(left, right)` split of every token into two tokens, ordered by the score of the token
/// they form (highest first; then lower token id, then shorter left part).
fn merges_from_scores(
    tokens: &[String],
    scores: &[f32],
    ids: &HashMap<&str, u32>,
) -> Vec<(String, String)> {
    let mut found: Vec<(f32, u32, usize)> = Vec::new();
    for (id, text) in (0u32..).zip(tokens) {
        for (split, _) in text.char_indices().skip(1) {
            let (left, right) = text.split_at(split);
            if ids.contains_key(left) && ids.contains_key(right) {
                let score = scores.get(id as usize).copied().unwrap_or(0.0);
                found.push((comparable(score), id, split));
            }
        }
    }
    found.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
    found
        .into_iter()
        .filter_map(|(_, id, split)| {
            let text = tokens.get(id as usize)?;
            let (left, right) = text.split_at(split);
            Some((left.to_string(), right.to_string()))
        })
        .collect()
}

/// Scores compared as llama.cpp's `<` does for ordinary values: -0.0 equals 0.0, and a NaN
/// (never produced by converters) sorts last instead of breaking the order.
fn comparable(score: f32) -> f32 {
    match score.partial_cmp(&0.0) {
        None => f32::NEG_INFINITY,
        Some(Ordering::Equal) => 0.0,
        Some(_) => score,
    }
}

/// The bytes a token stands for, as llama.cpp's `token_to_piece` renders them: `▁` becomes a
/// space in normal tokens, `<0xXX>` byte tokens are that byte, control, user-defined and unknown
/// tokens are their text.
pub(crate) fn piece(text: &str, attr: Attr) -> Vec<u8> {
    if attr.is_special() {
        text.as_bytes().to_vec()
    } else if attr.has(Attr::BYTE) {
        byte_token(text).map_or_else(|| text.as_bytes().to_vec(), |b| vec![b])
    } else if attr.has(Attr::NORMAL) {
        text.replace(SPACE, " ").into_bytes()
    } else {
        Vec::new()
    }
}

/// `<0xXX>` -> the byte.
fn byte_token(text: &str) -> Option<u8> {
    let hex = text.strip_prefix("<0x")?.strip_suffix('>')?;
    if hex.len() != 2 {
        return None;
    }
    u8::from_str_radix(hex, 16).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merges_follow_scores() {
        let tokens: Vec<String> = ["a", "b", "c", "ab", "bc", "abc"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let scores = [0.0, 0.0, 0.0, -2.0, -1.0, -3.0];
        let ids = tokens.iter().map(String::as_str).zip(0..).collect();
        let merges = merges_from_scores(&tokens, &scores, &ids);
        let merges: Vec<(&str, &str)> = merges
            .iter()
            .map(|(l, r)| (l.as_str(), r.as_str()))
            .collect();
        assert_eq!(merges, [("b", "c"), ("a", "b"), ("a", "bc"), ("ab", "c")]);
    }

    #[test]
    fn byte_tokens_parse() {
        assert_eq!(byte_token("<0x0A>"), Some(b'\n'));
        assert_eq!(byte_token("<0xff>"), Some(0xFF));
        assert_eq!(byte_token("<0x0A"), None);
        assert_eq!(byte_token("<0x0AB>"), None);
    }

    #[test]
    fn pieces_follow_token_attributes() {
        assert_eq!(piece("\u{2581}the", Attr::NORMAL), b" the");
        assert_eq!(piece("<0xE2>", Attr::BYTE), [0xE2]);
        assert_eq!(piece("<end_of_turn>", Attr::CONTROL), b"<end_of_turn>");
        assert_eq!(piece("  ", Attr::USER_DEFINED), b"  ");
        assert!(piece("x", Attr::UNUSED).is_empty());
    }
}
