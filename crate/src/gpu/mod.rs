//! The GPU executor: specs `exact-1` and `exact-2` (docs/numerics.md) in WGSL compute shaders
//! driven by `wgpu`, on WebGPU in the browser and on Vulkan natively.
//!
//! Every kernel is integer-only: 64-bit values are emulated with `vec2<u32>`
//! (`wgsl/int64.wgsl`), reductions are max or wrapping sums (order-independent),
//! so neither the workgroup size nor the device can change a bit; the CPU
//! executor (`crate::cpu`) is the reference each kernel is tested against.
//! One `.rs` + `.wgsl` pair per kernel. Work is recorded and submitted in one
//! command buffer when a result is read back, so a decoded token costs one
//! CPU-GPU synchronisation (the logits read-back); weights and the KV cache stay
//! on the device.

// wgpu's WebGPU types are not Send; `Arc` keeps one code path for native
// (where they are) and the browser (single-threaded).
#![cfg_attr(target_arch = "wasm32", allow(clippy::arc_with_non_send_sync))]

mod add;
mod attention;
mod buffers;
mod commands;
mod context;
mod embed;
mod gelu_mul;
mod matmul;
mod matmul_join;
mod matmul_load;
mod quantize;
mod readback;
mod rms_norm;
mod rms_norm_q16;
mod rms_norm_wide;
mod rope;
mod scale;

pub mod selftest;
mod shader;
mod silu_mul;
mod weights;

// Weight block formats: device layouts and their WGSL (read by embed and matmul).
mod formats;

pub use buffers::{GpuInput, GpuKvCache, GpuRows, PooledBuffer};
pub use context::{AdapterSummary, GpuOptions, MatmulKernel};
pub use weights::GpuWeight;

use buffers::{act_stride, Pool, RopeGpu};
use commands::Command;
use weights::WeightEntry;

use crate::exact::quant::WeightFormat;
use crate::exact::rope::RopeTable;
use crate::exec::{AttnShape, ExecError, Executor, WeightView};
use shader::Pipelines;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Counters of the work the executor did, for the benchmark.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GpuStats {
    /// Compute dispatches.
    pub dispatches: u64,
    /// Buffer copies recorded on the device.
    pub copies: u64,
    /// Bytes of weights the dispatches read (each weight matrix once per matmul).
    pub weight_bytes: u64,
    /// Bytes copied back to the host.
    pub readback_bytes: u64,
    /// Bytes written from the host (tokens, parameters, RoPE rows).
    pub upload_bytes: u64,
    /// Command-buffer submissions.
    pub submits: u64,
    /// Times the host waited for the device.
    pub syncs: u64,
}

/// The wgpu executor.
pub struct GpuExecutor {
    device: wgpu::Device,
    queue: wgpu::Queue,
    summary: AdapterSummary,
    pipelines: Pipelines,
    pool: Arc<Mutex<Pool>>,
    commands: Vec<Command>,
    params: Vec<u8>,
    params_buf: Option<wgpu::Buffer>,
    uniform_align: u64,
    max_binding: u64,
    ropes: HashMap<(usize, crate::exact::rope::RopeStyle, u32), RopeGpu>,
    /// Uploaded weights by (file, offset); holding the file keeps its address
    /// from being reused by another file while the entry exists.
    weights: HashMap<(usize, usize), WeightEntry>,
    constants: HashMap<(u64, usize), wgpu::Buffer>,
    /// The exp2 table, uploaded once (silu and attention bind it on every token).
    exp2: Option<wgpu::Buffer>,
    /// Set by the device-lost callback.
    lost: Arc<Mutex<Option<String>>>,
    /// Set by the uncaptured-error handler and by operations that cannot go on.
    failed: Arc<Mutex<Option<String>>>,
    /// The last recorded command while it is a matmul that another matmul of
    /// the same input can join (`matmul_join`) or a residual add can still
    /// fold into (`matmul::fold_residual`).
    open_matmul: Option<matmul_join::OpenMatmul>,
    /// The last recorded command while it is a RoPE the keys' RoPE can join.
    open_rope: Option<rope::OpenRope>,
    /// The last recorded command while it is a quantize (or gated product) the
    /// next matmul can take back and do on load (`matmul_load`).
    open_load: Option<matmul_load::OpenLoad>,
    /// Whether matmuls quantize on load (`GpuOptions::quantize_on_load`).
    quantize_on_load: bool,
    /// A small buffer bound to writable slots a dispatch leaves unused.
    spare: Option<wgpu::Buffer>,
    pub stats: GpuStats,
}

impl GpuExecutor {
    /// Adapter, driver and the capabilities the executor uses.
    pub fn summary(&self) -> &AdapterSummary {
        &self.summary
    }

    /// Whether kernels use the `packed_4x8_integer_dot_product` builtins.
    pub fn uses_dot4(&self) -> bool {
        self.pipelines.dot4()
    }

    /// The WGSL module the matmul kernel in use is compiled from (tests assert
    /// which `dot4` flavour it contains).
    pub fn matmul_source(&self, format: WeightFormat) -> String {
        let kernel = if self.summary.matmul_per_row {
            shader::Kernel::MatmulRows(format)
        } else {
            shader::Kernel::Matmul(format)
        };
        shader::source(kernel, self.pipelines.dot4())
    }

    /// Destroys the device, as a driver reset or an unplugged GPU would: every
    /// later read-back reports the loss (tests of the failure path use this).
    pub fn lose_device(&mut self) {
        self.device.destroy();
    }

    /// Forgets which files were uploaded (they are on the device now), so that the
    /// host copy of a model file can be freed once its weights are loaded.
    pub fn release_host_files(&mut self) {
        self.weights.clear();
    }

    /// Compiles every kernel's pipeline now (otherwise each compiles on first use);
    /// joined and loading matmuls only for the matmul path in use.
    pub fn precompile(&mut self) {
        let per_row = self.summary.matmul_per_row;
        for kernel in shader::Kernel::ALL {
            let (kernel_per_row, loads) = match kernel {
                shader::Kernel::MatmulJoin(join) => (Some(join.per_row), join.product.is_some()),
                shader::Kernel::MatmulLoad(load) => (Some(load.per_row), true),
                _ => (None, false),
            };
            if kernel_per_row.is_some_and(|p| p != per_row) || (loads && !self.quantize_on_load) {
                continue;
            }
            self.pipelines.get(&self.device, kernel);
        }
    }

    /// Whether matmuls use the per-row kernel.
    pub fn matmul_per_row(&self) -> bool {
        self.summary.matmul_per_row
    }

    /// Whether matmuls quantize their inputs on load (`matmul_load`).
    pub fn quantizes_on_load(&self) -> bool {
        self.quantize_on_load
    }

    /// Largest storage binding the executor uses (weights above it are split).
    pub fn max_binding(&self) -> u64 {
        self.max_binding
    }
}

impl Executor for GpuExecutor {
    type Weight = GpuWeight;
    type Rows = GpuRows;
    type Input = GpuInput;
    type KvCache = GpuKvCache;

    fn weight(&mut self, view: WeightView) -> Result<GpuWeight, ExecError> {
        self.weight_cached(view)
    }

    fn new_cache(&mut self, shape: AttnShape) -> GpuKvCache {
        GpuKvCache {
            shape,
            len: 0,
            cap: 0,
            k: None,
            v: None,
            k_exp: None,
            v_exp: None,
        }
    }

    fn truncate_cache(&mut self, cache: &mut GpuKvCache, len: usize) {
        cache.len = cache.len.min(len);
    }

    fn embed(&mut self, table: &GpuWeight, tokens: &[u32]) -> GpuRows {
        embed::encode(self, table, tokens)
    }

    fn rms_norm(&mut self, x: &GpuRows, gamma: &[i32], eps_bits: u32) -> GpuInput {
        rms_norm::encode(self, x, gamma, eps_bits)
    }

    fn matmul(&mut self, w: &GpuWeight, x: &GpuInput) -> GpuRows {
        matmul::encode(self, w, x)
    }

    fn rope(&mut self, x: &mut GpuRows, table: &mut RopeTable, head_dim: usize, pos0: usize) {
        rope::encode(self, x, table, head_dim, pos0)
    }

    fn attention(
        &mut self,
        cache: &mut GpuKvCache,
        q: &GpuRows,
        k: &GpuRows,
        v: &GpuRows,
        pos0: usize,
    ) -> GpuRows {
        attention::encode(self, cache, q, k, v, pos0)
    }

    fn silu_mul(&mut self, gate: &GpuRows, up: &GpuRows) -> GpuInput {
        silu_mul::encode(self, gate, up)
    }

    fn quantize(&mut self, x: &GpuRows) -> GpuInput {
        quantize::encode(self, x)
    }

    fn add(&mut self, x: &mut GpuRows, y: &GpuRows) {
        add::encode(self, x, y)
    }

    fn last_row(&mut self, x: &GpuRows) -> GpuRows {
        let bytes = x.cols * 4;
        let out = self.alloc(bytes);
        let src = x.buf.get().clone();
        self.copy(
            &src,
            ((x.rows - 1) * bytes) as u64,
            out.get(),
            0,
            bytes as u64,
        );
        GpuRows {
            buf: out,
            rows: 1,
            cols: x.cols,
        }
    }

    #[cfg(not(target_arch = "wasm32"))]
    fn read(&mut self, x: &GpuRows) -> Result<Vec<Vec<i32>>, ExecError> {
        self.read_rows(x)
    }

    #[cfg(target_arch = "wasm32")]
    fn read(&mut self, _x: &GpuRows) -> Result<Vec<Vec<i32>>, ExecError> {
        Err(ExecError::Device(
            "WebGPU results can only be read asynchronously".into(),
        ))
    }

    fn scale(&mut self, x: &mut GpuRows, m_q30: i64) -> Result<(), ExecError> {
        scale::encode(self, x, m_q30);
        Ok(())
    }

    fn rms_norm_wide(
        &mut self,
        x: &GpuRows,
        gamma: &[i32],
        eps_bits: u32,
    ) -> Result<GpuInput, ExecError> {
        Ok(rms_norm_wide::encode(self, x, gamma, eps_bits))
    }

    fn rms_norm_q16(
        &mut self,
        x: &mut GpuRows,
        gamma: &[i32],
        eps_bits: u32,
        out_shift: i32,
    ) -> Result<(), ExecError> {
        rms_norm_q16::encode(self, x, gamma, eps_bits, out_shift)
    }

    fn gelu_mul(&mut self, gate: &GpuRows, up: &GpuRows) -> Result<GpuInput, ExecError> {
        Ok(gelu_mul::encode(self, gate, up))
    }
}
