//! Quantize on load (docs/gpu.md, "Dispatches per layer"): a matmul recorded
//! right after the dispatch that quantized its input (a plain `quantize`, the
//! SiLU or GELU product) takes that dispatch back and quantizes the input in
//! its own input stage (`wgsl/matmul_load.wgsl`), every workgroup into its
//! workgroup memory. Decided while recording, like the joins and folds, so the
//! `Executor` trait and the models are unchanged.
//!
//! The input stage is section 2 of docs/numerics.md exactly as
//! `wgsl/act_write.wgsl` computes it (the row's max |v|, the shift, rounding
//! and clamping per value, block sums), from the values the taken-back kernel
//! would have staged (`wgsl/matmul_load_{quantize,silu,gelu}.wgsl`), and the
//! block terms are the matmul's own, so the bits are those of two dispatches.
//! The first workgroup also writes the quantized input to the input's buffer,
//! so anything else reading it later reads what the quantize would have
//! written. Only for inputs that fit the workgroup array (`LOAD_WORDS` words:
//! a decoded token, a few tokens of a narrow model); prompt batches keep the
//! separate dispatch.

use super::buffers::act_stride;
use super::commands::{Binding, Command};
use super::{GpuExecutor, GpuInput, GpuWeight};
use crate::exact::quant::WeightFormat;

const STAGE: &str = include_str!("wgsl/matmul_load.wgsl");
const QUANTIZE: &str = include_str!("wgsl/matmul_load_quantize.wgsl");
const SILU: &str = include_str!("wgsl/matmul_load_silu.wgsl");
const GELU: &str = include_str!("wgsl/matmul_load_gelu.wgsl");
const MARKER: &str = "    // @load\n";
/// `matmul_bind.wgsl`'s input binding, which these kernels replace by workgroup memory.
const ACT_BINDING: &str = "@group(0) @binding(2) var<storage, read> act: array<u32>;\n";
const ACT_OUT_BINDING: &str =
    "@group(0) @binding(2) var<storage, read_write> act_out: array<u32>;\n";

/// Words of workgroup memory for the quantized input (`LOAD_WORDS` in
/// `wgsl/matmul_load.wgsl`): with the tiled kernel's 4 KiB of partial sums
/// and the reduction's 512 bytes, within WebGPU's default 16 KiB.
pub const LOAD_WORDS: usize = 2944;

/// What the input stage computes its Q16 values from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LoadSource {
    /// The rows themselves (`Executor::quantize`).
    Quantize,
    /// SiLU(gate) · up (`Executor::silu_mul`).
    Silu,
    /// GELU(gate) · up (`Executor::gelu_mul`).
    Gelu,
}

/// A matmul kernel that quantizes on load: its weight format, work split and source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Load {
    pub format: WeightFormat,
    pub per_row: bool,
    pub source: LoadSource,
}

/// The quantize (or gated product) recorded last, while it is the last
/// recorded command.
pub(super) struct OpenLoad {
    pub(super) command: usize,
    pub(super) source: LoadSource,
    /// The quantized input it writes.
    pub(super) out: wgpu::Buffer,
    /// Its Q16 inputs (the rows; gate, up), bound from binding 5 on.
    pub(super) inputs: Vec<wgpu::Buffer>,
}

/// Whether the input stage needs the exp2 table (bound after the inputs).
pub(super) fn uses_exp2(source: LoadSource) -> bool {
    source != LoadSource::Quantize
}

/// The kernel's module after the shared library (`int64`, `f16`, `reduce`,
/// `exp` where it needs it, a `dot4` flavour), which `shader::source` writes first.
pub(super) fn source(load: Load, bind: &str, block: &str, s: &mut String) {
    assert!(bind.contains(ACT_BINDING), "matmul_bind.wgsl binds act");
    s.push_str(&bind.replace(ACT_BINDING, ACT_OUT_BINDING));
    s.push_str(block);
    s.push_str(STAGE);
    s.push_str(match load.source {
        LoadSource::Quantize => QUANTIZE,
        LoadSource::Silu => SILU,
        LoadSource::Gelu => GELU,
    });
    let (body, call) = if load.per_row {
        (
            super::matmul::ROWS_SOURCE,
            "    load_input(gid.x % WG, gid.x < WG && gid.y == 0u);\n",
        )
    } else {
        (
            super::matmul::SOURCE,
            "    load_input(lid, wg.x == 0u && wg.y == 0u);\n",
        )
    };
    assert!(
        body.contains(MARKER),
        "matmul kernels mark their input stage"
    );
    s.push_str(&body.replace(MARKER, call));
    s.push_str(super::formats::COMMON);
    s.push_str(super::formats::source(load.format));
}

/// Whether matmuls on this path take back a quantize from `source`: the
/// per-row kernel (lavapipe, SwiftShader) keeps the SiLU and GELU products'
/// dispatch, since each of its workgroups (64 rows) would recompute every
/// product twice (for the row's maximum, then to quantize), which measured
/// slower on lavapipe; the tiled kernel (real GPUs) takes every source.
pub(super) fn loads(source: LoadSource, per_row: bool) -> bool {
    !per_row || source == LoadSource::Quantize
}

/// Takes back the open quantize when it wrote `x` and the matmul of `w` by `x`
/// can load it (one binding, few enough tokens): removes its dispatch and
/// returns its source and inputs. None if it cannot.
pub(super) fn take(
    ex: &mut GpuExecutor,
    w: &GpuWeight,
    x: &GpuInput,
) -> Option<(LoadSource, Vec<Binding>)> {
    let open = ex.open_load.take()?;
    if open.command + 1 != ex.commands.len()
        || open.out != *x.buf.get()
        || w.parts.len() != 1
        || x.rows * act_stride(x.cols) > LOAD_WORDS
        || !loads(open.source, ex.matmul_per_row())
    {
        return None;
    }
    let Some(Command::Dispatch { params, .. }) = ex.commands.last() else {
        return None;
    };
    let at = params.0 as usize;
    ex.commands.pop();
    ex.params.truncate(at);
    ex.stats.dispatches -= 1;
    let mut inputs: Vec<Binding> = open.inputs.iter().map(Binding::from).collect();
    if uses_exp2(open.source) {
        inputs.push(Binding::from(&ex.exp2_table()));
    }
    Some((open.source, inputs))
}
