//! GGUF model files: parsing, typed configuration and tensor validation.
//!
//! The container format is the GGUF spec (ggml `docs/gguf.md`); the header,
//! metadata and tensor table are read by this crate's bounded reader
//! (`reader.rs`, limits in [`limits`]) into candle-core's
//! [`candle_core::quantized::gguf_file::Content`], so candle only ever sees a
//! validated file. This module turns what it reads into a typed [`ModelConfig`]
//! and checks, before anything else touches the weights, that every tensor the
//! architecture needs is present, has the shape the configuration implies, and
//! lies wholly inside the file.

mod config;
mod error;
pub mod limits;
mod reader;
mod tensors;

pub use config::{Architecture, Gemma3Config, LlamaConfig, ModelConfig};
pub use error::GgufError;
pub use reader::read_with_address_limit;
pub use tensors::{expected_tensors, TensorSpec};

use candle_core::quantized::gguf_file::{Content, TensorInfo, Value};

/// A parsed, validated GGUF file held in memory.
pub struct GgufModel {
    /// Header, metadata and tensor table as read by candle.
    pub content: Content,
    /// Architecture and hyper-parameters.
    pub config: ModelConfig,
    /// Total size of the file in bytes.
    pub file_size: u64,
}

impl GgufModel {
    /// Parses the header of `bytes` (a whole GGUF file) and validates it.
    pub fn parse(bytes: &[u8]) -> Result<Self, GgufError> {
        let file_size = bytes.len() as u64;
        let content = read_content(bytes)?;
        let config = ModelConfig::from_metadata(&content.metadata, content_vocab_len(&content))?;
        tensors::validate(&content, &config, file_size)?;
        Ok(Self {
            content,
            config,
            file_size,
        })
    }

    /// The metadata value under `key`, if present.
    pub fn metadata(&self, key: &str) -> Option<&Value> {
        self.content.metadata.get(key)
    }

    /// The tensor table entry for `name`.
    pub fn tensor_info(&self, name: &str) -> Result<&TensorInfo, GgufError> {
        self.content
            .tensor_infos
            .get(name)
            .ok_or_else(|| GgufError::MissingTensor(name.to_string()))
    }

    /// The raw bytes of tensor `name` inside `bytes` (the same file this was parsed from).
    pub fn tensor_bytes<'a>(&self, bytes: &'a [u8], name: &str) -> Result<&'a [u8], GgufError> {
        let info = self.tensor_info(name)?;
        let (start, len) = tensors::byte_range(info, self.content.tensor_data_offset)
            .ok_or_else(|| GgufError::malformed(format!("tensor '{name}' size overflows")))?;
        let end = start.checked_add(len).filter(|&e| e <= bytes.len() as u64);
        match end {
            Some(end) => Ok(&bytes[start as usize..end as usize]),
            None => Err(GgufError::TensorOutOfBounds {
                name: name.to_string(),
                end: start.saturating_add(len),
                file_size: bytes.len() as u64,
            }),
        }
    }
}

/// Reads and checks the GGUF header, metadata and tensor table of a whole file:
/// every count and size within [`limits`], every tensor inside the file.
pub fn read_content(bytes: &[u8]) -> Result<Content, GgufError> {
    reader::read(bytes)
}

fn content_vocab_len(content: &Content) -> Option<u64> {
    match content.metadata.get("tokenizer.ggml.tokens") {
        Some(Value::Array(tokens)) => Some(tokens.len() as u64),
        _ => None,
    }
}
