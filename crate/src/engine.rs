//! The exact engine: a model of spec `exact-1` or `exact-2` on an executor, producing integer
//! logits, one position at a time or batched over a prompt.

use crate::cpu::CpuExecutor;
use crate::exec::Executor;
use crate::gguf::{Architecture, GgufModel};
use crate::model::gemma3::{Gemma3State, Gemma3Weights};
use crate::model::llama::{LlamaState, LlamaWeights};
use crate::model::ModelError;
use std::sync::Arc;

/// Which engine computes the logits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EngineKind {
    /// Integer spec `exact-1`: identical bits everywhere.
    Exact,
    /// candle's float reference: the quality oracle, not reproducible across machines.
    Float,
}

impl EngineKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Exact => "exact",
            Self::Float => "float",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "exact" => Some(Self::Exact),
            "float" => Some(Self::Float),
            _ => None,
        }
    }
}

/// Most prompt tokens run as one batch when only the last logits are wanted: on
/// wasm a 1024-token batch's activations would add tens of MiB to the peak memory.
#[cfg(target_arch = "wasm32")]
const PROMPT_BATCH: usize = 128;
#[cfg(not(target_arch = "wasm32"))]
const PROMPT_BATCH: usize = usize::MAX;

/// An architecture's weights with their run state.
enum Arch<E: Executor> {
    Llama(LlamaWeights<E>, LlamaState<E>),
    Gemma3(Gemma3Weights<E>, Gemma3State<E>),
}

/// An exact model with its run state on executor `E`.
pub struct ExactModel<E: Executor = CpuExecutor> {
    pub executor: E,
    arch: Arch<E>,
    spec: &'static str,
}

impl ExactModel<CpuExecutor> {
    pub fn load_cpu(gguf: &GgufModel, file: &Arc<Vec<u8>>) -> Result<Self, ModelError> {
        Self::load(CpuExecutor::new(), gguf, file)
    }
}

impl<E: Executor> ExactModel<E> {
    pub fn load(
        mut executor: E,
        gguf: &GgufModel,
        file: &Arc<Vec<u8>>,
    ) -> Result<Self, ModelError> {
        let arch = match gguf.config.architecture() {
            Architecture::Llama => {
                let w = LlamaWeights::load(&mut executor, gguf, file)?;
                let s = w.new_state(&mut executor);
                Arch::Llama(w, s)
            }
            Architecture::Gemma3 => {
                let w = Gemma3Weights::load(&mut executor, gguf, file)?;
                let s = w.new_state(&mut executor);
                Arch::Gemma3(w, s)
            }
        };
        Ok(Self {
            executor,
            arch,
            spec: crate::model::spec_of(gguf),
        })
    }

    /// The numeric spec this model runs under: `exact-1` for llama in Q4_1/Q8_0,
    /// `exact-2` for anything that needs exact-2's formats or architectures.
    pub fn spec(&self) -> &'static str {
        self.spec
    }

    /// Forgets all positions.
    pub fn reset(&mut self) {
        let ex = &mut self.executor;
        match &mut self.arch {
            Arch::Llama(w, s) => *s = w.new_state(ex),
            Arch::Gemma3(w, s) => *s = w.new_state(ex),
        }
    }

    fn pos_mut(&mut self) -> &mut usize {
        match &mut self.arch {
            Arch::Llama(_, s) => &mut s.pos,
            Arch::Gemma3(_, s) => &mut s.pos,
        }
    }

    /// Forgets the positions from `pos` on (keeps the first `pos`): the next
    /// forward continues at `pos`, and the KV cache is cut there. Evaluation runs a
    /// context once and scores every choice after it.
    pub fn rewind(&mut self, pos: usize) {
        let p = self.pos_mut();
        *p = (*p).min(pos);
    }

    /// Positions processed so far.
    pub fn pos(&self) -> usize {
        match &self.arch {
            Arch::Llama(_, s) => s.pos,
            Arch::Gemma3(_, s) => s.pos,
        }
    }

    fn rows(&mut self, tokens: &[u32], all: bool) -> Result<E::Rows, ModelError> {
        if all {
            self.rows_once(tokens, true)
        } else {
            self.rows_batched(tokens, PROMPT_BATCH)
        }
    }

    /// The last position's logits after `tokens` fed in batches of at most `batch`:
    /// the same per-row operations (docs/numerics.md, section 8), so the same bits,
    /// with the batch's buffers bounded (wasm memory never shrinks after a peak).
    fn rows_batched(&mut self, tokens: &[u32], batch: usize) -> Result<E::Rows, ModelError> {
        let batch = batch.max(1);
        let split = tokens.len().saturating_sub(1) / batch * batch;
        for chunk in tokens[..split].chunks(batch) {
            self.rows_once(chunk, false)?;
        }
        self.rows_once(&tokens[split..], false)
    }

    /// [`ExactModel::forward`] with the tokens fed in batches of at most `batch`
    /// (the same logits; wasm feeds long prompts this way).
    pub fn forward_batched(
        &mut self,
        tokens: &[u32],
        batch: usize,
    ) -> Result<Vec<i32>, ModelError> {
        let rows = self.rows_batched(tokens, batch)?;
        Ok(self.executor.read(&rows)?.pop().unwrap_or_default())
    }

    fn rows_once(&mut self, tokens: &[u32], all: bool) -> Result<E::Rows, ModelError> {
        let ex = &mut self.executor;
        match &mut self.arch {
            Arch::Llama(w, s) => w.forward_rows(ex, s, tokens, all),
            Arch::Gemma3(w, s) => w.forward_rows(ex, s, tokens, all),
        }
    }

    /// Feeds `tokens` and returns the Q16 logits after the last one.
    pub fn forward(&mut self, tokens: &[u32]) -> Result<Vec<i32>, ModelError> {
        let rows = self.rows(tokens, false)?;
        Ok(self.executor.read(&rows)?.pop().unwrap_or_default())
    }

    /// Feeds `tokens` and leaves the logits after the last one on the executor's
    /// device (read them with the executor).
    pub fn forward_rows(&mut self, tokens: &[u32]) -> Result<E::Rows, ModelError> {
        self.rows(tokens, false)
    }

    /// Feeds `tokens` and leaves the logits after each of them on the executor's
    /// device (evaluation on WebGPU reads them asynchronously).
    pub fn forward_rows_all(&mut self, tokens: &[u32]) -> Result<E::Rows, ModelError> {
        self.rows(tokens, true)
    }

    /// Feeds `tokens` and returns the logits after each of them (teacher forcing).
    pub fn forward_all(&mut self, tokens: &[u32]) -> Result<Vec<Vec<i32>>, ModelError> {
        let rows = self.rows(tokens, true)?;
        Ok(self.executor.read(&rows)?)
    }
}

/// FNV-1a 64 of the little-endian bytes of `logits`: the per-step fingerprint
/// the golden corpus pins.
pub fn logits_hash(logits: &[i32]) -> u64 {
    let bytes: Vec<u8> = logits.iter().flat_map(|v| v.to_le_bytes()).collect();
    fnv1a64(&bytes)
}

/// FNV-1a 64 of `bytes`.
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h = (h ^ b as u64).wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// SHA-256 of the token ids as little-endian u32s, in hex: a run's fingerprint.
pub fn tokens_hash(ids: &[u32]) -> String {
    let bytes: Vec<u8> = ids.iter().flat_map(|t| t.to_le_bytes()).collect();
    crate::hash::sha256_hex(&bytes)
}
