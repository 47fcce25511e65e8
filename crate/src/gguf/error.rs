//! Errors raised while reading a GGUF file.

use super::limits::MAX_ALIGNMENT;
use thiserror::Error;

/// Everything that can be wrong with a model file, phrased for the person who chose it.
#[derive(Debug, Error)]
pub enum GgufError {
    #[error("this is not a GGUF model file (it does not start with the bytes 'GGUF')")]
    NotGguf,
    #[error("the GGUF file is malformed or truncated: {0}")]
    Malformed(String),
    #[error("this is GGUF version {0}; Verbatim reads GGUF versions 2 and 3")]
    UnsupportedVersion(u32),
    #[error("the GGUF file's {what} is {value}, more than the limit {limit} ({name})")]
    Limit {
        what: String,
        value: u64,
        limit: u64,
        name: &'static str,
    },
    #[error("the GGUF file's general.alignment is {0}; it must be a power of two from 1 to {MAX_ALIGNMENT}")]
    BadAlignment(u64),
    #[error("the GGUF file has two {what} named '{name}'")]
    Duplicate { what: &'static str, name: String },
    #[error("unsupported model architecture '{0}' (supported: llama, gemma3)")]
    UnknownArchitecture(String),
    #[error("the GGUF file lacks the metadata key '{0}'")]
    MissingMetadata(String),
    #[error("metadata key '{key}' has an invalid value: {reason}")]
    BadMetadata { key: String, reason: String },
    #[error("the GGUF file lacks the tensor '{0}'")]
    MissingTensor(String),
    #[error("tensor '{name}' has shape {found:?}, expected {expected:?}")]
    WrongShape {
        name: String,
        expected: Vec<usize>,
        found: Vec<usize>,
    },
    #[error("tensor '{name}' has unsupported type {dtype}")]
    UnsupportedType { name: String, dtype: String },
    #[error("tensor '{name}' ends at byte {end} but the file has only {file_size} bytes (truncated download?)")]
    TensorOutOfBounds {
        name: String,
        end: u64,
        file_size: u64,
    },
}

impl GgufError {
    pub(crate) fn malformed(msg: impl Into<String>) -> Self {
        Self::Malformed(msg.into())
    }
}
