//! Errors of the tokenizer module.

/// Why a tokenizer could not be built from GGUF metadata, or could not encode or decode.
#[derive(Debug, thiserror::Error)]
pub enum TokenizerError {
    /// A key the tokenizer needs is absent from the GGUF metadata.
    #[error("GGUF metadata has no `{0}`; the file does not describe a tokenizer")]
    MissingKey(&'static str),

    /// A key is present but holds a value of the wrong type.
    #[error("GGUF metadata `{key}` should be {expected}")]
    WrongType {
        key: &'static str,
        expected: &'static str,
    },

    /// `tokenizer.ggml.model` names a tokenizer this crate does not implement.
    #[error(
        "unsupported tokenizer model `{0}` in `tokenizer.ggml.model`; \
         supported: `gpt2` (byte-level BPE) and `llama` (SentencePiece)"
    )]
    UnsupportedModel(String),

    /// `tokenizer.ggml.pre` names a pre-tokenizer this crate does not implement.
    #[error(
        "unsupported pre-tokenizer `{0}` in `tokenizer.ggml.pre` for a gpt2 tokenizer; \
         supported: gpt-2, phi-2, mpt, olmo, jais, trillion, granite-docling, \
         starcoder, refact, command-r, smollm, codeshell, exaone, minerva-7b, mellum2"
    )]
    UnsupportedPreTokenizer(String),

    /// The metadata is self-contradictory (array lengths differ, duplicate tokens, ...).
    #[error("GGUF tokenizer metadata is inconsistent: {0}")]
    Inconsistent(String),

    /// The vocabulary breaks one of the limits on its size.
    #[error(
        "GGUF tokenizer metadata: the {what} is {value}, more than the limit {limit} ({name})"
    )]
    Limit {
        what: &'static str,
        value: u64,
        limit: u64,
        name: &'static str,
    },

    /// A token id outside the vocabulary was given to a decoder.
    #[error("token id {id} is out of range: the vocabulary has {size} tokens")]
    TokenOutOfRange { id: u32, size: usize },

    /// A chat template did not compile or render.
    #[error(transparent)]
    ChatTemplate(#[from] super::chat::ChatTemplateError),

    /// The underlying `tokenizers` library failed.
    #[error("tokenizers: {0}")]
    Backend(String),
}

impl TokenizerError {
    pub(crate) fn backend(err: impl std::fmt::Display) -> Self {
        Self::Backend(err.to_string())
    }
}
