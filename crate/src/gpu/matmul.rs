//! Quantized matmul (docs/numerics.md section 3): `wgsl/matmul.wgsl` (tiled) or
//! `wgsl/matmul_rows.wgsl` (one invocation per row), one dispatch per row range
//! of the weight (see `GpuWeight`).
//!
//! A matmul of the same input recorded right after it joins its dispatch
//! (`matmul_join`); a matmul recorded right after the quantize of its input
//! takes that dispatch back and quantizes on load (`matmul_load`).
//!
//! A residual add of the output (section 8, saturating) that is recorded right
//! after the matmul folds into its dispatch: the kernel then writes the product
//! and adds it into the residual stream, element by element with the same
//! arithmetic as `wgsl/add.wgsl`, so the bits are those of two dispatches
//! (`gpu_kernels.rs` checks both paths against the CPU). The parameter that
//! switches it on is a row limit compared with the invocation's row, not a flag
//! (docs/gpu.md, "Why the first dispatch fusion was slow on lavapipe": a branch
//! decided by a uniform alone can make lavapipe recompile the shader).

use super::commands::{Binding, Command};
use super::matmul_join::{self, OpenMatmul};
use super::matmul_load::{self, Load};
use super::shader::Kernel;
use super::{GpuExecutor, GpuInput, GpuRows, GpuWeight};

pub(super) const SOURCE: &str = include_str!("wgsl/matmul.wgsl");
pub(super) const ROWS_SOURCE: &str = include_str!("wgsl/matmul_rows.wgsl");

/// Output rows per workgroup and tokens per workgroup (`ROWS`, `TT` in the shader).
const ROWS: usize = 8;
const TOKENS: usize = 8;

/// Binding slots (binding number - 1) of `wgsl/matmul_block.wgsl`.
const ACT: usize = 1;
const OUT: usize = 2;
const RES: usize = 3;
/// Parameter word of `Params.res_rows`.
const P_RES_ROWS: usize = 5;

pub(super) fn encode(ex: &mut GpuExecutor, w: &GpuWeight, x: &GpuInput) -> GpuRows {
    assert_eq!(w.cols, x.cols, "matmul of {} columns by {}", w.cols, x.cols);
    let n = x.rows;
    let token_groups = n.div_ceil(TOKENS);
    // Each workgroup row of tokens reads the whole weight once.
    ex.stats.weight_bytes += (w.bytes() * token_groups) as u64;
    let load = matmul_load::take(ex, w, x);
    // Not the buffer the input stage reads (its owner may have released it).
    let avoid: Vec<&wgpu::Buffer> = load.iter().map(|(_, values)| &values.buf).collect();
    let out = ex.alloc_avoiding(n * w.rows * 4, &avoid);
    if load.is_none() && matmul_join::join(ex, w, x, &out) {
        return GpuRows {
            buf: out,
            rows: n,
            cols: w.rows,
        };
    }
    let spare = ex.spare_buffer();
    let mut last = None;
    for part in w.parts.iter() {
        // `rows` stays word 0 and `cols` word 1 (docs/gpu.md on lavapipe).
        let params = [
            part.rows as u32,
            w.cols as u32,
            n as u32,
            part.row0 as u32,
            w.rows as u32,
            0,
        ];
        let mut bindings = vec![
            (&part.buf).into(),
            x.buf.get().into(),
            out.get().into(),
            (&spare).into(),
        ];
        let per_row = ex.matmul_per_row();
        let (mut kernel, per_group) = if per_row {
            (Kernel::MatmulRows(w.format), 64)
        } else {
            (Kernel::Matmul(w.format), ROWS)
        };
        if let Some((source, values)) = &load {
            kernel = Kernel::MatmulLoad(Load {
                format: w.format,
                per_row,
                source: *source,
            });
            bindings.push(values.clone());
        }
        let groups = [part.rows.div_ceil(per_group) as u32, token_groups as u32, 1];
        last = ex.dispatch(kernel, &params, bindings, groups);
    }
    if let (Some(command), 1) = (last, w.parts.len()) {
        let mut open = OpenMatmul::new(command, w, x);
        // Another matmul of the same input does not join a loading one (the
        // joined kernels read a quantized input); it reads the written input.
        open.joinable = load.is_none();
        ex.open_matmul = Some(open);
    }
    GpuRows {
        buf: out,
        rows: n,
        cols: w.rows,
    }
}

/// Folds `x = sat(x + y)` into the open matmul when `y` is its output: the
/// dispatch then also adds each product into `x`. False if it cannot.
pub(super) fn fold_residual(ex: &mut GpuExecutor, x: &GpuRows, y: &GpuRows) -> bool {
    let Some(open) = ex.open_matmul.take().filter(OpenMatmul::single) else {
        return false;
    };
    let (xb, yb) = (x.buf.get(), y.buf.get());
    let Some(Command::Dispatch {
        bindings, params, ..
    }) = ex.commands.get_mut(open.command)
    else {
        return false;
    };
    if (x.rows, x.cols) != (y.rows, y.cols)
        || bindings[OUT].buf != *yb
        || xb == yb
        || bindings[ACT].buf == *xb
        || bindings[RES + 1..].iter().any(|b| b.buf == *xb)
    {
        return false;
    }
    bindings[RES] = Binding::from(xb);
    let at = params.0 as usize + 4 * P_RES_ROWS;
    ex.params[at..at + 4].copy_from_slice(&(y.cols as u32).to_le_bytes());
    true
}
