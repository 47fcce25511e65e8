//! The vocabulary as llama.cpp interprets it: token attributes, default and auto-detected special
//! tokens, and the end-of-generation set.
//!
//! Source: `llama_vocab::impl::load` in llama.cpp `src/llama-vocab.cpp` (the version wllama 3.8.1
//! ships, b11364, and current master agree on everything here). Where llama.cpp's choice depends on
//! `std::unordered_map` iteration order (two tokens with texts from the same detection list), this
//! module picks the lowest id.

use std::collections::{BTreeSet, HashMap};

use super::error::TokenizerError;
use super::metadata::{self, Metadata};

/// Token attributes, the bit flags of llama.cpp's `llama_token_attr`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Attr(u8);

impl Attr {
    pub const UNDEFINED: Self = Self(0);
    pub const UNKNOWN: Self = Self(1 << 0);
    pub const UNUSED: Self = Self(1 << 1);
    pub const NORMAL: Self = Self(1 << 2);
    pub const CONTROL: Self = Self(1 << 3);
    pub const USER_DEFINED: Self = Self(1 << 4);
    pub const BYTE: Self = Self(1 << 5);

    /// From `tokenizer.ggml.token_type` (GGUF spec: 1 normal, 2 unknown, 3 control,
    /// 4 user defined, 5 unused, 6 byte).
    fn from_gguf(token_type: i32) -> Self {
        match token_type {
            1 => Self::NORMAL,
            2 => Self::UNKNOWN,
            3 => Self::CONTROL,
            4 => Self::USER_DEFINED,
            5 => Self::UNUSED,
            6 => Self::BYTE,
            _ => Self::UNDEFINED,
        }
    }

    pub fn has(self, other: Self) -> bool {
        self.0 & other.0 != 0
    }

    fn with(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }

    /// Tokens that llama.cpp splits out of the text before running the tokenizer model
    /// (`cache_special_tokens`): control, user defined and unknown tokens.
    pub fn is_special(self) -> bool {
        self.has(Self(
            Self::CONTROL.0 | Self::USER_DEFINED.0 | Self::UNKNOWN.0,
        ))
    }
}

/// The two tokenizer models this crate implements.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// `tokenizer.ggml.model = gpt2`: byte-level BPE with merges.
    Gpt2(Gpt2Pre),
    /// `tokenizer.ggml.model = llama`: SentencePiece, merges derived from scores.
    Spm,
}

/// gpt2 pre-tokenizer families, by the regexes llama.cpp uses (`llm_tokenizer_bpe`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Gpt2Pre {
    /// The GPT-2 regex alone (`LLAMA_VOCAB_PRE_TYPE_GPT2`, `MPT`, `OLMO`, ...).
    Gpt2,
    /// `\p{N}` (each digit apart), then the GPT-2 regex (`STARCODER`, `SMOLLM`, ...).
    DigitsThenGpt2,
}

impl Gpt2Pre {
    fn from_name(name: &str) -> Option<Self> {
        match name {
            "gpt-2" | "phi-2" | "mpt" | "olmo" | "jais" | "trillion" | "granite-docling" => {
                Some(Self::Gpt2)
            }
            "starcoder" | "refact" | "command-r" | "smollm" | "codeshell" | "exaone"
            | "minerva-7b" | "mellum2" => Some(Self::DigitsThenGpt2),
            _ => None,
        }
    }
}

/// Token texts llama.cpp treats as end of generation (`special_eog_ids`).
const EOG_TEXTS: &[&str] = &[
    "<|eot_id|>",
    "<|im_end|>",
    "<|end|>",
    "<|return|>",
    "<|call|>",
    "<|flush|>",
    "<|calls|>",
    "<end_of_turn>",
    "<|endoftext|>",
    "</s>",
    "<|eom_id|>",
    "<EOT>",
    "_<EOT>",
    "[EOT]",
    "[EOS]",
    "<|end_of_text|>",
    "<end_of_utterance>",
    "<eos>",
    "<turn|>",
    "<|tool_response>",
    "<｜end▁of▁sentence｜>",
    "[e~[",
];

/// Auto-detected when the metadata does not name them (only their EOG role matters here).
const EOT_TEXTS: &[&str] = &[
    "<|eot_id|>",
    "<|im_end|>",
    "<|end|>",
    "<end_of_turn>",
    "<|endoftext|>",
    "<|end_of_text|>",
    "<EOT>",
    "_<EOT>",
    "[EOT]",
    "<｜end▁of▁sentence｜>",
    "<end_of_utterance>",
];
const EOM_TEXTS: &[&str] = &["<|eom_id|>"];
const FIM_PAD_TEXTS: &[&str] = &["<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]"];
const FIM_REP_TEXTS: &[&str] = &[
    "<|fim_repo|>",
    "<|repo_name|>",
    "<fim-repo>",
    "<REPO>",
    "<reponame>",
];
const FIM_SEP_TEXTS: &[&str] = &["<|file_sep|>"];

/// Everything the tokenizer needs, interpreted as llama.cpp does.
#[derive(Debug)]
pub(crate) struct Vocab {
    pub kind: Kind,
    pub tokens: Vec<String>,
    pub attrs: Vec<Attr>,
    /// Scores (SentencePiece only; zero when absent).
    pub scores: Vec<f32>,
    pub merges: Vec<String>,
    pub bos: Option<u32>,
    pub eos: Option<u32>,
    pub unk: Option<u32>,
    /// End-of-generation ids, ascending.
    pub eog: Vec<u32>,
    pub add_bos: bool,
    pub add_eos: bool,
    pub add_space_prefix: bool,
    pub chat_template: Option<String>,
}

impl Vocab {
    pub(crate) fn from_metadata(meta: Metadata) -> Result<Self, TokenizerError> {
        let Metadata {
            model,
            pre,
            mut tokens,
            scores,
            token_types,
            merges,
            add_bos,
            add_eos,
            add_space_prefix,
            chat_template,
            ids,
        } = meta;

        // defaults of llama.cpp per tokenizer model: (kind, bos, eos, unk, add_bos, add_space_prefix)
        let (kind, default_bos, default_eos, default_unk, default_add_bos, default_prefix) =
            match model.as_str() {
                "gpt2" => {
                    let name = pre.unwrap_or_else(|| "default".to_string());
                    let pre = Gpt2Pre::from_name(&name)
                        .ok_or(TokenizerError::UnsupportedPreTokenizer(name))?;
                    (Kind::Gpt2(pre), Some(11), Some(11), None, false, false)
                }
                "llama" => (Kind::Spm, Some(1), Some(2), Some(0), true, true),
                _ => return Err(TokenizerError::UnsupportedModel(model)),
            };
        let merges = match (kind, merges) {
            (Kind::Gpt2(_), None) => return Err(TokenizerError::MissingKey(metadata::MERGES)),
            (_, merges) => merges.unwrap_or_default(),
        };
        if tokens.is_empty() {
            return Err(TokenizerError::Inconsistent(format!(
                "{} is empty",
                metadata::TOKENS
            )));
        }

        // as llama.cpp: empty texts get a placeholder, duplicate texts are an error
        let mut by_text: HashMap<&str, u32> = HashMap::with_capacity(tokens.len());
        for (i, text) in tokens.iter_mut().enumerate() {
            if text.is_empty() {
                *text = format!("[EMPTY_{i}]");
            }
        }
        for (i, text) in tokens.iter().enumerate() {
            let id = u32::try_from(i)
                .map_err(|_| TokenizerError::Inconsistent("more than 2^32 tokens".to_string()))?;
            if let Some(first) = by_text.insert(text, id) {
                return Err(TokenizerError::Inconsistent(format!(
                    "duplicate token {text:?} has ids {first} and {id}"
                )));
            }
        }

        let n = tokens.len();
        let in_range = |id: u32| usize::try_from(id).is_ok_and(|i| i < n);
        let id_of = |key: &str, default: Option<u32>| {
            let default = default.filter(|&id| in_range(id));
            ids.get(key).copied().filter(|&id| in_range(id)).or(default)
        };
        let bos = id_of(metadata::BOS_ID, default_bos);
        let eos = id_of(metadata::EOS_ID, default_eos);
        let unk = id_of(metadata::UNK_ID, default_unk);

        let mut attrs: Vec<Attr> = match &token_types {
            Some(types) => types.iter().take(n).map(|&t| Attr::from_gguf(t)).collect(),
            None => vec![Attr::NORMAL; n],
        };
        let eog = end_of_generation(&by_text, &id_of, eos, &mut attrs);

        let scores = match scores {
            Some(mut s) => {
                s.truncate(n);
                s
            }
            None => vec![0.0; n],
        };
        Ok(Self {
            kind,
            tokens,
            attrs,
            scores,
            merges,
            bos,
            eos,
            unk,
            eog,
            add_bos: add_bos.unwrap_or(default_add_bos),
            add_eos: add_eos.unwrap_or(false),
            add_space_prefix: add_space_prefix.unwrap_or(default_prefix),
            chat_template,
        })
    }

    /// Token ids by text.
    pub(crate) fn ids_by_text(&self) -> HashMap<&str, u32> {
        self.tokens
            .iter()
            .zip(0u32..)
            .map(|(text, id)| (text.as_str(), id))
            .collect()
    }
}

/// llama.cpp's `special_eog_ids`: EOS, EOT, EOM and the FIM pad/repo/separator tokens (named by the
/// metadata or found by their text), plus every token whose text is in [`EOG_TEXTS`]. Tokens found
/// by their text become control tokens, as in llama.cpp.
fn end_of_generation(
    by_text: &HashMap<&str, u32>,
    id_of: &dyn Fn(&str, Option<u32>) -> Option<u32>,
    eos: Option<u32>,
    attrs: &mut [Attr],
) -> Vec<u32> {
    let mut detected = |key: &str, texts: &[&str]| {
        let found = id_of(key, None);
        if found.is_some() {
            return found;
        }
        let found = texts.iter().filter_map(|t| by_text.get(t)).min().copied();
        if let Some(id) = found {
            mark_control(attrs, id);
        }
        found
    };
    let eot = detected(metadata::EOT_ID, EOT_TEXTS);
    let eom = detected(metadata::EOM_ID, EOM_TEXTS);
    let fim_pad = detected(metadata::FIM_PAD_ID, FIM_PAD_TEXTS);
    let fim_rep = detected(metadata::FIM_REP_ID, FIM_REP_TEXTS);
    let fim_sep = detected(metadata::FIM_SEP_ID, FIM_SEP_TEXTS);

    let mut eog: BTreeSet<u32> = [fim_pad, fim_rep, fim_sep].into_iter().flatten().collect();
    for text in EOG_TEXTS {
        if let Some(&id) = by_text.get(text) {
            eog.insert(id);
            mark_control(attrs, id);
        }
    }
    // gpt-oss: these are rendered like user-defined tokens
    for text in ["<|channel|>", "<|message|>", "<|start|>", "<|constrain|>"] {
        if let Some(&id) = by_text.get(text) {
            set_attr(attrs, id, Attr::USER_DEFINED);
        }
    }
    eog.extend([eos, eot, eom].into_iter().flatten());

    let has =
        |eog: &BTreeSet<u32>, text: &str| by_text.get(text).is_some_and(|id| eog.contains(id));
    // o200k_harmony and solar-open: "<|end|>" is not end of generation there
    if let Some(&end) = by_text.get("<|end|>") {
        if (has(&eog, "<|return|>") && has(&eog, "<|call|>"))
            || (has(&eog, "<|calls|>") && has(&eog, "<|flush|>"))
        {
            eog.remove(&end);
            set_attr(attrs, end, Attr::USER_DEFINED);
        }
    }
    // gemma4 and paddleocr: "</s>" is not end of generation there
    if let Some(&s) = by_text.get("</s>") {
        if has(&eog, "<|tool_response>") {
            eog.remove(&s);
            set_attr(attrs, s, Attr::NORMAL);
        }
    }
    eog.into_iter().collect()
}

fn mark_control(attrs: &mut [Attr], id: u32) {
    if let Some(a) = attrs.get_mut(id as usize) {
        *a = a.with(Attr::CONTROL);
    }
}

fn set_attr(attrs: &mut [Attr], id: u32, attr: Attr) {
    if let Some(a) = attrs.get_mut(id as usize) {
        *a = attr;
    }
}
