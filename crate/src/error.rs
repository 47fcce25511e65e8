//! The crate's error type: every failure a user can cause, in words they understand.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum Error {
    #[error(transparent)]
    Gguf(#[from] crate::gguf::GgufError),
    #[error(transparent)]
    Tokenizer(#[from] crate::tokenizer::TokenizerError),
    #[error(transparent)]
    Reference(#[from] crate::reference::ReferenceError),
    #[error(transparent)]
    Manifest(#[from] crate::manifest::ManifestError),
    #[error(transparent)]
    Model(#[from] crate::model::ModelError),
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    #[error("no generation is running: call begin() first")]
    NotStarted,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
