//! The numeric spec `exact-1` in code: formats, rounding, tables and ops, with no
//! floating-point arithmetic (docs/numerics.md is the normative text).
//!
//! Everything on the path from token ids to the sampled token id is computed from
//! these functions. Float types appear only in tests (to compare with the float
//! math the spec approximates).
#![deny(clippy::float_arithmetic)]

pub mod act;
pub mod attention;
pub mod blocks;
pub mod ffn;
pub mod fixed;
pub mod gemma;
pub mod math;
pub mod norm;
pub mod quant;
pub mod rope;

/// The name of this numeric spec; links record it and replay with it forever.
pub const SPEC_VERSION: &str = "exact-1";
/// Spec `exact-1`: llama with Q4_1/Q8_0 weights (docs/numerics.md sections 1-11).
pub const SPEC_EXACT_1: &str = SPEC_VERSION;
/// Spec `exact-2`: a strict superset of `exact-1` adding the block formats of
/// [`blocks`] and the gemma3 architecture (docs/numerics.md sections 13-15).
pub const SPEC_EXACT_2: &str = "exact-2";
