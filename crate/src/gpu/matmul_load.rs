//! Quantize on load (docs/gpu.md, "Dispatches per layer"): a matmul recorded
//! right after the dispatch that quantized its input takes that dispatch back
//! and quantizes the input in its own input stage (`wgsl/matmul_load.wgsl`),
//! every workgroup into its workgroup memory. Decided while recording, like the
//! joins and folds, so the `Executor` trait and the models are unchanged.
//!
//! Two such inputs: a plain `quantize` of Q16 rows (the attention output before
//! the O projection), and a SiLU or GELU product of gate and up (before the
//! down projection) when gate and up were one joined dispatch: that dispatch
//! then also writes each product, as 64 bits, and the down projection
//! quantizes those (`matmul_join::gated`); each product is computed once, by
//! the invocation that computed its gate and up values.
//!
//! The input stage is section 2 of docs/numerics.md exactly as
//! `wgsl/act_write.wgsl` computes it (the row's max |v|, the shift, rounding
//! and clamping per value, block sums) from the values the taken-back kernel
//! would have staged, and the block terms are the matmul's own, so the bits are
//! those of separate dispatches. The first workgroup also writes the quantized
//! input to the input's buffer, so anything else reading it later reads what
//! the quantize would have written. Only for inputs that fit the workgroup
//! array (`LOAD_WORDS` words: a decoded token, a few tokens of a narrow model);
//! prompt batches keep the separate dispatches.

use super::buffers::act_stride;
use super::commands::{Binding, Command};
use super::matmul_join::{self, Product};
use super::{GpuExecutor, GpuInput, GpuWeight};
use crate::exact::quant::WeightFormat;

const STAGE: &str = include_str!("wgsl/matmul_load.wgsl");
const Q16: &str = include_str!("wgsl/matmul_load_quantize.wgsl");
const WIDE: &str = include_str!("wgsl/matmul_load_wide.wgsl");
const MARKER: &str = "    // @load\n";
/// `matmul_bind.wgsl`'s input binding, which these kernels replace by workgroup memory.
const ACT_BINDING: &str = "@group(0) @binding(2) var<storage, read> act: array<u32>;\n";
const ACT_OUT_BINDING: &str =
    "@group(0) @binding(2) var<storage, read_write> act_out: array<u32>;\n";

/// Words of workgroup memory for the quantized input (`LOAD_WORDS` in
/// `wgsl/matmul_load.wgsl`): with the tiled kernel's 4 KiB of partial sums
/// and the reduction's 512 bytes, within WebGPU's default 16 KiB.
pub const LOAD_WORDS: usize = 2944;

/// What the input stage reads its values from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LoadSource {
    /// Q16 rows (`Executor::quantize`).
    Q16,
    /// 64-bit gated products written by the joined gate·up dispatch
    /// (`Executor::silu_mul`, `Executor::gelu_mul`).
    Wide,
}

/// A matmul kernel that quantizes on load: its weight format, work split and source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Load {
    pub format: WeightFormat,
    pub per_row: bool,
    pub source: LoadSource,
}

impl Load {
    /// A Q4_1 weight (SmolLM2's), for the pre-compiled list.
    pub const fn q4_1(per_row: bool, source: LoadSource) -> Load {
        Load {
            format: WeightFormat::Q4_1,
            per_row,
            source,
        }
    }
}

/// The quantize (or gated product) recorded last, while it is the last
/// recorded command.
pub(super) struct OpenLoad {
    pub(super) command: usize,
    /// The quantized input it writes.
    pub(super) out: wgpu::Buffer,
    pub(super) from: LoadFrom,
}

/// Where an open quantize's values come from.
pub(super) enum LoadFrom {
    /// Q16 rows.
    Rows(wgpu::Buffer),
    /// The gated product of the joined gate·up dispatch `join`, recorded just
    /// before it, of `rows` gate rows (the product's width).
    Join {
        join: usize,
        product: Product,
        rows: usize,
    },
}

/// The kernel's module after the shared library (`int64`, `f16`, `reduce`, a
/// `dot4` flavour), which `shader::source` writes first.
pub(super) fn source(load: Load, bind: &str, block: &str, s: &mut String) {
    assert!(bind.contains(ACT_BINDING), "matmul_bind.wgsl binds act");
    s.push_str(&bind.replace(ACT_BINDING, ACT_OUT_BINDING));
    s.push_str(block);
    s.push_str(STAGE);
    s.push_str(match load.source {
        LoadSource::Q16 => Q16,
        LoadSource::Wide => WIDE,
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

/// Takes back the open quantize when it wrote `x` and the matmul of `w` by `x`
/// can load it (one binding, few enough tokens): removes its dispatch (for a
/// gated product, makes the gate·up dispatch write the products) and returns
/// the source and the binding of its values. None if it cannot.
pub(super) fn take(
    ex: &mut GpuExecutor,
    w: &GpuWeight,
    x: &GpuInput,
) -> Option<(LoadSource, Binding)> {
    let open = ex.open_load.take()?;
    if !ex.quantize_on_load
        || open.command + 1 != ex.commands.len()
        || open.out != *x.buf.get()
        || w.parts.len() != 1
        || x.rows * act_stride(x.cols) > LOAD_WORDS
    {
        return None;
    }
    if let LoadFrom::Join { join, .. } = open.from {
        if join + 2 != ex.commands.len() {
            return None;
        }
    }
    let Some(Command::Dispatch { params, .. }) = ex.commands.last() else {
        return None;
    };
    let at = params.0 as usize;
    ex.commands.pop();
    ex.params.truncate(at);
    ex.stats.dispatches -= 1;
    Some(match open.from {
        LoadFrom::Rows(rows) => (LoadSource::Q16, Binding::from(&rows)),
        LoadFrom::Join {
            join,
            product,
            rows,
        } => {
            // Not a buffer the gate·up dispatch binds (gate and up may have
            // been released by their owner).
            let Some(Command::Dispatch { bindings, .. }) = ex.commands.get(join) else {
                unreachable!("the joined gate·up dispatch is recorded");
            };
            let bound: Vec<wgpu::Buffer> = bindings.iter().map(|b| b.buf.clone()).collect();
            let hid = ex.alloc_avoiding(x.rows * rows * 8, &bound.iter().collect::<Vec<_>>());
            matmul_join::gated(ex, join, product, hid.get(), rows);
            (LoadSource::Wide, Binding::from(hid.get()))
        }
    })
}
