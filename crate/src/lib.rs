//! Verbatim: language-model runs anyone can replay exactly, in a browser.
//!
//! The numeric spec is `docs/numerics.md` (version [`exact::SPEC_VERSION`]); the
//! CPU executor ([`cpu`]) is its reference implementation.

pub mod cpu;
pub mod engine;
pub mod error;
pub mod eval;
pub mod exact;
pub mod exec;
pub mod gguf;
pub mod golden;
pub mod gpu;
pub mod hash;
pub mod manifest;
pub mod model;
pub mod reference;
pub mod replay;
pub mod request;
pub mod sampler;
pub mod session;
pub mod tokenizer;
#[cfg(target_arch = "wasm32")]
pub mod web;
#[cfg(target_arch = "wasm32")]
pub mod web_eval;

pub use error::{Error, Result};
