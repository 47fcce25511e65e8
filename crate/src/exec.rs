//! The executor trait: the operations a forward pass of spec `exact-1` is made of.
//!
//! Each architecture's forward pass is written once over this trait
//! (`model::llama`); the CPU executor (`cpu`) is the reference implementation and
//! a GPU executor must produce the same bits for every operation.

use crate::exact::quant::WeightFormat;
use crate::exact::rope::RopeTable;
use std::sync::Arc;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum ExecError {
    #[error("weight tensor '{name}' has type {dtype}, which the exact engine does not define (specs exact-1 and exact-2 define Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q4_K, Q5_K and Q6_K)")]
    UnsupportedWeight { name: String, dtype: String },
    #[error("the executor failed: {0}")]
    Device(String),
    #[error(
        "this executor does not run the exact-2 operation '{0}' (gemma3) yet; use the CPU executor"
    )]
    MissingOp(&'static str),
}

/// A quantized weight matrix inside the model file: `rows` rows of `cols`
/// elements in `format` blocks, at `offset` in `file`.
#[derive(Clone)]
pub struct WeightView {
    pub name: String,
    pub format: WeightFormat,
    pub rows: usize,
    pub cols: usize,
    pub file: Arc<Vec<u8>>,
    pub offset: usize,
}

impl WeightView {
    pub fn row_bytes(&self) -> usize {
        self.cols / self.format.block_elems() * self.format.block_bytes()
    }
    pub fn bytes(&self) -> &[u8] {
        &self.file[self.offset..self.offset + self.rows * self.row_bytes()]
    }
}

/// Attention geometry of one layer.
#[derive(Debug, Clone, Copy)]
pub struct AttnShape {
    pub n_head: usize,
    pub n_head_kv: usize,
    pub head_dim: usize,
    /// Keys older than this many positions are not attended to (sliding window).
    pub window: Option<usize>,
}

/// Operations of a forward pass. `Rows` are Q16 `[T × n]` matrices, `Input`s are
/// quantized activation rows ready for a matmul; both live on the executor's device.
pub trait Executor {
    type Weight;
    type Rows;
    type Input;
    type KvCache;

    fn weight(&mut self, view: WeightView) -> Result<Self::Weight, ExecError>;
    fn new_cache(&mut self, shape: AttnShape) -> Self::KvCache;
    /// Forgets cached positions `>= len`.
    fn truncate_cache(&mut self, cache: &mut Self::KvCache, len: usize);

    /// Rows of an embedding table for `tokens`, in Q16.
    fn embed(&mut self, table: &Self::Weight, tokens: &[u32]) -> Self::Rows;
    fn rms_norm(&mut self, x: &Self::Rows, gamma: &[i32], eps_bits: u32) -> Self::Input;
    fn matmul(&mut self, w: &Self::Weight, x: &Self::Input) -> Self::Rows;
    /// RoPE on each head of each row; row `t` is at position `pos0 + t`.
    fn rope(&mut self, x: &mut Self::Rows, table: &mut RopeTable, head_dim: usize, pos0: usize);
    /// Appends k, v (one row per new position) to `cache` and attends each q row
    /// over positions `0..=pos0 + t`.
    fn attention(
        &mut self,
        cache: &mut Self::KvCache,
        q: &Self::Rows,
        k: &Self::Rows,
        v: &Self::Rows,
        pos0: usize,
    ) -> Self::Rows;
    fn silu_mul(&mut self, gate: &Self::Rows, up: &Self::Rows) -> Self::Input;
    fn quantize(&mut self, x: &Self::Rows) -> Self::Input;
    /// `x += y`, saturating per element.
    fn add(&mut self, x: &mut Self::Rows, y: &Self::Rows);
    /// Keeps only the last row.
    fn last_row(&mut self, x: &Self::Rows) -> Self::Rows;
    /// Copies rows back to the host.
    fn read(&mut self, x: &Self::Rows) -> Result<Vec<Vec<i32>>, ExecError>;

    // Spec exact-2's operations (gemma3; `exact::gemma`). An executor without them
    // refuses gemma3 models with [`ExecError::MissingOp`].

    /// `x = sat_i32(round_shift(x * m, 30))` per element (`m` in Q30).
    fn scale(&mut self, x: &mut Self::Rows, m_q30: i64) -> Result<(), ExecError> {
        let _ = (x, m_q30);
        Err(ExecError::MissingOp("scale"))
    }
    /// RMSNorm of gemma3's residual stream (wide weights) into a matmul input.
    fn rms_norm_wide(
        &mut self,
        x: &Self::Rows,
        gamma: &[i32],
        eps_bits: u32,
    ) -> Result<Self::Input, ExecError> {
        let _ = (x, gamma, eps_bits);
        Err(ExecError::MissingOp("rms_norm_wide"))
    }
    /// RMSNorm of every `gamma.len()`-element segment of each row, back into Q16
    /// of the result times `2^-out_shift`.
    fn rms_norm_q16(
        &mut self,
        x: &mut Self::Rows,
        gamma: &[i32],
        eps_bits: u32,
        out_shift: i32,
    ) -> Result<(), ExecError> {
        let _ = (x, gamma, eps_bits, out_shift);
        Err(ExecError::MissingOp("rms_norm_q16"))
    }
    /// `gelu(gate) * up`, quantized for the down projection.
    fn gelu_mul(&mut self, gate: &Self::Rows, up: &Self::Rows) -> Result<Self::Input, ExecError> {
        let _ = (gate, up);
        Err(ExecError::MissingOp("gelu_mul"))
    }
}
