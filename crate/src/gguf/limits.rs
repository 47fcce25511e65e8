//! Named limits on everything a GGUF file declares (issue 16: bounded work).
//!
//! Every count, length, size and offset read from a file is checked against
//! these, with u64 checked arithmetic, before anything is allocated from it; an
//! error names the limit it broke. The limits are far above what the supported
//! models need (SmolLM2 135M: 30 layers, 272 tensors, 49,152 tokens, 147,205
//! metadata array elements, a 1.8 MB header; Gemma 3 270M: 18 layers, 236
//! tensors, 262,144 tokens, 786,436 array elements, a 6.5 MB header) and far
//! below what would exhaust a browser tab.

/// Most tensors in the tensor table.
pub const MAX_TENSORS: u64 = 1 << 16;
/// Most metadata key/value pairs.
pub const MAX_METADATA_KEYS: u64 = 1 << 16;
/// Most elements in one metadata array (the vocabulary's `tokens`, `scores`,
/// `token_type`, and `merges` are the largest).
pub const MAX_ARRAY_LEN: u64 = 1 << 21;
/// Most metadata values in all (array elements included): bounds the memory the
/// parsed metadata takes, whatever the nesting.
pub const MAX_METADATA_VALUES: u64 = 1 << 22;
/// Deepest nesting of metadata arrays (arrays of arrays).
pub const MAX_ARRAY_DEPTH: u32 = 4;
/// Longest metadata key or value string, or tensor name, in bytes (chat
/// templates are the longest strings in real files, a few KiB).
pub const MAX_STRING_LEN: u64 = 1 << 20;
/// Largest header (metadata and tensor table), in bytes.
pub const MAX_HEADER_BYTES: u64 = 256 << 20;
/// Most dimensions of one tensor (ggml's `GGML_MAX_DIMS`).
pub const MAX_TENSOR_DIMS: u32 = 4;
/// Largest size of one tensor dimension, and of any model dimension (embedding,
/// feed-forward, head count, head size, context length).
pub const MAX_DIM: u64 = 1 << 24;
/// Largest `general.alignment` (it must also be a power of two).
pub const MAX_ALIGNMENT: u64 = 1 << 16;
/// Most transformer layers (`<arch>.block_count`).
pub const MAX_LAYERS: u64 = 1024;
/// Largest vocabulary (`<arch>.vocab_size`, or the length of `tokenizer.ggml.tokens`).
pub const MAX_VOCAB: u64 = MAX_ARRAY_LEN;
