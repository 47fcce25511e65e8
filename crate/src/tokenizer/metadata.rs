//! Reading the tokenizer keys of a GGUF file.
//!
//! Key names and types follow the GGUF specification, section "Tokenizer"
//! (<https://github.com/ggml-org/ggml/blob/master/docs/gguf.md#tokenizer>), and what llama.cpp
//! reads in `llama_vocab::impl::load` (`src/llama-vocab.cpp`). Integer keys are accepted in any
//! integer width, as GGUF writers differ; everything else must have the type the spec names.

use std::collections::HashMap;

use candle_core::quantized::gguf_file::{Content, Value};

use super::error::TokenizerError;
use crate::gguf::limits::MAX_VOCAB;

/// Longest token text, in bytes (SmolLM2's longest is 162, Gemma 3's 48). Building a
/// SentencePiece tokenizer looks up both halves of every split of every token, so its work is
/// at most `MAX_TOKEN_LEN` times the vocabulary's bytes: linear in the file.
pub const MAX_TOKEN_LEN: usize = 1024;

pub(crate) const MODEL: &str = "tokenizer.ggml.model";
pub(crate) const PRE: &str = "tokenizer.ggml.pre";
pub(crate) const TOKENS: &str = "tokenizer.ggml.tokens";
pub(crate) const SCORES: &str = "tokenizer.ggml.scores";
pub(crate) const TOKEN_TYPE: &str = "tokenizer.ggml.token_type";
pub(crate) const MERGES: &str = "tokenizer.ggml.merges";
/// The keys holding one entry per token (or per merge): the bulk of a vocabulary's metadata.
pub(crate) const VOCAB_ARRAYS: [&str; 4] = [TOKENS, SCORES, TOKEN_TYPE, MERGES];
pub(crate) const ADD_BOS: &str = "tokenizer.ggml.add_bos_token";
pub(crate) const ADD_EOS: &str = "tokenizer.ggml.add_eos_token";
pub(crate) const ADD_SPACE_PREFIX: &str = "tokenizer.ggml.add_space_prefix";
pub(crate) const CHAT_TEMPLATE: &str = "tokenizer.chat_template";

/// Special token id keys, as llama.cpp reads them (the last three are deprecated spellings).
pub(crate) const BOS_ID: &str = "tokenizer.ggml.bos_token_id";
pub(crate) const EOS_ID: &str = "tokenizer.ggml.eos_token_id";
pub(crate) const EOT_ID: &str = "tokenizer.ggml.eot_token_id";
pub(crate) const EOM_ID: &str = "tokenizer.ggml.eom_token_id";
pub(crate) const UNK_ID: &str = "tokenizer.ggml.unknown_token_id";
pub(crate) const FIM_PAD_ID: &str = "tokenizer.ggml.fim_pad_token_id";
pub(crate) const FIM_REP_ID: &str = "tokenizer.ggml.fim_rep_token_id";
pub(crate) const FIM_SEP_ID: &str = "tokenizer.ggml.fim_sep_token_id";

/// The tokenizer-related GGUF metadata, typed but not yet interpreted.
#[derive(Debug)]
pub(crate) struct Metadata {
    pub model: String,
    pub pre: Option<String>,
    pub tokens: Vec<String>,
    pub scores: Option<Vec<f32>>,
    pub token_types: Option<Vec<i32>>,
    pub merges: Option<Vec<String>>,
    pub add_bos: Option<bool>,
    pub add_eos: Option<bool>,
    pub add_space_prefix: Option<bool>,
    pub chat_template: Option<String>,
    /// Special token ids present in the metadata, by key.
    pub ids: HashMap<&'static str, u32>,
}

impl Metadata {
    pub(crate) fn read(content: &Content) -> Result<Self, TokenizerError> {
        let meta = &content.metadata;
        let model = string(meta, MODEL)?.ok_or(TokenizerError::MissingKey(MODEL))?;
        let tokens = string_array(meta, TOKENS)?.ok_or(TokenizerError::MissingKey(TOKENS))?;
        let n = tokens.len();
        if n as u64 > MAX_VOCAB {
            return Err(TokenizerError::Limit {
                what: "number of tokens",
                value: n as u64,
                limit: MAX_VOCAB,
                name: "MAX_VOCAB",
            });
        }
        if let Some(long) = tokens.iter().find(|t| t.len() > MAX_TOKEN_LEN) {
            return Err(TokenizerError::Limit {
                what: "length in bytes of a token",
                value: long.len() as u64,
                limit: MAX_TOKEN_LEN as u64,
                name: "MAX_TOKEN_LEN",
            });
        }
        let scores = float_array(meta, SCORES)?;
        let token_types = int_array(meta, TOKEN_TYPE)?;
        // llama.cpp refuses score and type arrays shorter than the token list
        if let Some(len) = scores.as_ref().map(Vec::len).filter(|&len| len < n) {
            return Err(TokenizerError::Inconsistent(format!(
                "{SCORES} has {len} entries for {n} tokens"
            )));
        }
        if let Some(len) = token_types.as_ref().map(Vec::len).filter(|&len| len < n) {
            return Err(TokenizerError::Inconsistent(format!(
                "{TOKEN_TYPE} has {len} entries for {n} tokens"
            )));
        }
        let mut ids = HashMap::new();
        for key in [
            BOS_ID, EOS_ID, EOT_ID, EOM_ID, UNK_ID, FIM_PAD_ID, FIM_REP_ID, FIM_SEP_ID,
        ] {
            if let Some(id) = unsigned(meta, key)? {
                ids.insert(key, id);
            }
        }
        Ok(Self {
            model,
            pre: string(meta, PRE)?,
            tokens,
            scores,
            token_types,
            merges: string_array(meta, MERGES)?,
            add_bos: boolean(meta, ADD_BOS)?,
            add_eos: boolean(meta, ADD_EOS)?,
            add_space_prefix: boolean(meta, ADD_SPACE_PREFIX)?,
            chat_template: string(meta, CHAT_TEMPLATE)?,
            ids,
        })
    }
}

type Meta = HashMap<String, Value>;

fn string(meta: &Meta, key: &'static str) -> Result<Option<String>, TokenizerError> {
    match meta.get(key) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(TokenizerError::WrongType {
            key,
            expected: "a string",
        }),
    }
}

fn boolean(meta: &Meta, key: &'static str) -> Result<Option<bool>, TokenizerError> {
    match meta.get(key) {
        None => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(TokenizerError::WrongType {
            key,
            expected: "a bool",
        }),
    }
}

fn unsigned(meta: &Meta, key: &'static str) -> Result<Option<u32>, TokenizerError> {
    let wrong = TokenizerError::WrongType {
        key,
        expected: "an integer in 0..2^32",
    };
    let Some(value) = meta.get(key) else {
        return Ok(None);
    };
    let wide: i128 = match value {
        Value::U8(v) => (*v).into(),
        Value::I8(v) => (*v).into(),
        Value::U16(v) => (*v).into(),
        Value::I16(v) => (*v).into(),
        Value::U32(v) => (*v).into(),
        Value::I32(v) => (*v).into(),
        Value::U64(v) => (*v).into(),
        Value::I64(v) => (*v).into(),
        _ => return Err(wrong),
    };
    u32::try_from(wide).map(Some).map_err(|_| wrong)
}

fn array<'a>(
    meta: &'a Meta,
    key: &'static str,
    expected: &'static str,
) -> Result<Option<&'a [Value]>, TokenizerError> {
    match meta.get(key) {
        None => Ok(None),
        Some(Value::Array(items)) => Ok(Some(items)),
        Some(_) => Err(TokenizerError::WrongType { key, expected }),
    }
}

fn string_array(meta: &Meta, key: &'static str) -> Result<Option<Vec<String>>, TokenizerError> {
    const EXPECTED: &str = "an array of strings";
    let Some(items) = array(meta, key, EXPECTED)? else {
        return Ok(None);
    };
    items
        .iter()
        .map(|item| match item {
            Value::String(s) => Ok(s.clone()),
            _ => Err(TokenizerError::WrongType {
                key,
                expected: EXPECTED,
            }),
        })
        .collect::<Result<_, _>>()
        .map(Some)
}

fn float_array(meta: &Meta, key: &'static str) -> Result<Option<Vec<f32>>, TokenizerError> {
    const EXPECTED: &str = "an array of f32 or i32";
    let Some(items) = array(meta, key, EXPECTED)? else {
        return Ok(None);
    };
    items
        .iter()
        .map(|item| match item {
            Value::F32(v) => Ok(*v),
            // llama.cpp also accepts integer scores
            Value::I32(v) => Ok(*v as f32),
            _ => Err(TokenizerError::WrongType {
                key,
                expected: EXPECTED,
            }),
        })
        .collect::<Result<_, _>>()
        .map(Some)
}

fn int_array(meta: &Meta, key: &'static str) -> Result<Option<Vec<i32>>, TokenizerError> {
    const EXPECTED: &str = "an array of i32";
    let Some(items) = array(meta, key, EXPECTED)? else {
        return Ok(None);
    };
    items
        .iter()
        .map(|item| match item {
            Value::I32(v) => Ok(*v),
            _ => Err(TokenizerError::WrongType {
                key,
                expected: EXPECTED,
            }),
        })
        .collect::<Result<_, _>>()
        .map(Some)
}
