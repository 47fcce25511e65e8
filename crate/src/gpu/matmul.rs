//! Quantized matmul (docs/numerics.md section 3): `wgsl/matmul.wgsl` (tiled) or
//! `wgsl/matmul_rows.wgsl` (one invocation per row), one dispatch per row range
//! of the weight (see `GpuWeight`).
//!
//! Fusion, decided while recording (the spec fixes each output element's
//! arithmetic, not how elements are grouped into dispatches): while a matmul is
//! the last recorded command, a matmul of the same input by another weight of
//! the same format joins its dispatch as a further segment (Q, K and V; gate
//! and up), up to [`MATMUL_SEGMENTS`]; and a residual add of its output
//! (section 8, saturating) is folded into it, the kernel writing both the
//! product and the sum. Results are bit for bit those of separate dispatches
//! (`gpu_kernels.rs` checks both paths against the CPU).

use super::commands::{Binding, Command};
use super::shader::{Kernel, MATMUL_SEGMENTS};
use super::{GpuExecutor, GpuInput, GpuRows, GpuWeight};
use crate::exact::quant::WeightFormat;

pub(super) const SOURCE: &str = include_str!("wgsl/matmul.wgsl");
pub(super) const ROWS_SOURCE: &str = include_str!("wgsl/matmul_rows.wgsl");

/// Output rows per workgroup and tokens per workgroup (`ROWS`, `TT` in the shader).
const ROWS: usize = 8;
const TOKENS: usize = 8;
/// Output rows per workgroup of the per-row kernel.
const ROWS_PER_ROW_GROUP: usize = 64;

/// Binding slots (binding number - 1) of `wgsl/matmul_block.wgsl`.
const ACT: usize = 3;
const OUT0: usize = 4;
const RES: usize = 7;
/// Parameter words of `wgsl/matmul_block.wgsl`'s `Params`.
const P_RESIDUAL: usize = 3;
const P_ROWS: usize = 4;
const P_TOTAL: usize = 7;
const P_STRIDE: usize = 8;

/// The matmul dispatch recorded last, while it is the last command (recording
/// anything else, or submitting, closes it).
pub(super) struct OpenMatmul {
    /// Its index in the recorded commands.
    command: usize,
    /// Byte offset of its parameters.
    params: usize,
    act: wgpu::Buffer,
    format: WeightFormat,
    cols: usize,
    segments: usize,
    total_rows: usize,
    residual: bool,
}

pub(super) fn encode(ex: &mut GpuExecutor, w: &GpuWeight, x: &GpuInput) -> GpuRows {
    assert_eq!(w.cols, x.cols, "matmul of {} columns by {}", w.cols, x.cols);
    let n = x.rows;
    let out = ex.alloc(n * w.rows * 4);
    let token_groups = n.div_ceil(TOKENS);
    // Each workgroup row of tokens reads the whole weight once.
    ex.stats.weight_bytes += (w.bytes() * token_groups) as u64;
    let result = |buf| GpuRows {
        buf,
        rows: n,
        cols: w.rows,
    };
    if w.parts.len() == 1 && join(ex, w, x, out.get()) {
        return result(out);
    }
    let [spare1, spare2, spare3] = ex.spare_outputs();
    let kernel = if ex.matmul_per_row() {
        Kernel::MatmulRows(w.format)
    } else {
        Kernel::Matmul(w.format)
    };
    for part in w.parts.iter() {
        let params = [
            w.cols as u32,
            n as u32,
            part.row0 as u32,
            0,
            part.rows as u32,
            0,
            0,
            part.rows as u32,
            w.rows as u32,
            0,
            0,
            0,
        ];
        // Unused weight slots repeat the weight (read-only aliasing is allowed);
        // unused outputs get buffers of their own (writable bindings may not alias).
        let bindings = vec![
            (&part.buf).into(),
            (&part.buf).into(),
            (&part.buf).into(),
            x.buf.get().into(),
            out.get().into(),
            (&spare1).into(),
            (&spare2).into(),
            (&spare3).into(),
        ];
        let groups = [row_groups(ex, part.rows), token_groups as u32, 1];
        let pending = ex.dispatch(kernel, &params, bindings, groups);
        if let (Some((command, params)), 1) = (pending, w.parts.len()) {
            ex.open_matmul = Some(OpenMatmul {
                command,
                params,
                act: x.buf.get().clone(),
                format: w.format,
                cols: w.cols,
                segments: 1,
                total_rows: w.rows,
                residual: false,
            });
        }
    }
    result(out)
}

fn row_groups(ex: &GpuExecutor, rows: usize) -> u32 {
    let per_group = if ex.matmul_per_row() {
        ROWS_PER_ROW_GROUP
    } else {
        ROWS
    };
    rows.div_ceil(per_group) as u32
}

fn set_param(ex: &mut GpuExecutor, at: usize, word: usize, value: u32) {
    ex.params[at + 4 * word..at + 4 * word + 4].copy_from_slice(&value.to_le_bytes());
}

/// Adds `w · x` to the open matmul as a further segment writing `out`, if that
/// matmul has the same input and format and room for it.
fn join(ex: &mut GpuExecutor, w: &GpuWeight, x: &GpuInput, out: &wgpu::Buffer) -> bool {
    let per_row = ex.matmul_per_row();
    let Some(open) = ex.open_matmul.as_mut() else {
        return false;
    };
    if open.segments >= MATMUL_SEGMENTS
        || open.residual
        || open.act != *x.buf.get()
        || open.format != w.format
        || open.cols != w.cols
    {
        return false;
    }
    let Some(Command::Dispatch {
        bindings, groups, ..
    }) = ex.commands.get_mut(open.command)
    else {
        return false;
    };
    let seg = open.segments;
    bindings[seg] = (&w.parts[0].buf).into();
    bindings[OUT0 + seg] = Binding::from(out);
    open.segments += 1;
    open.total_rows += w.rows;
    let per_group = if per_row { ROWS_PER_ROW_GROUP } else { ROWS };
    groups[0] = open.total_rows.div_ceil(per_group) as u32;
    let (at, total) = (open.params, open.total_rows as u32);
    set_param(ex, at, P_ROWS + seg, w.rows as u32);
    set_param(ex, at, P_TOTAL, total);
    set_param(ex, at, P_STRIDE + seg, w.rows as u32);
    true
}

/// Folds `x = sat(x + y)` into the open matmul when `y` is its only output:
/// the dispatch then also adds its product into `x`. False if it cannot.
pub(super) fn fold_residual(ex: &mut GpuExecutor, x: &GpuRows, y: &GpuRows) -> bool {
    let Some(open) = ex.open_matmul.as_mut() else {
        return false;
    };
    if open.segments != 1 || open.residual || (x.rows, x.cols) != (y.rows, y.cols) {
        return false;
    }
    let Some(Command::Dispatch { bindings, .. }) = ex.commands.get_mut(open.command) else {
        return false;
    };
    let (xb, yb) = (x.buf.get(), y.buf.get());
    if bindings[OUT0].buf != *yb || xb == yb || bindings[ACT].buf == *xb {
        return false;
    }
    bindings[RES] = Binding::from(xb);
    open.residual = true;
    let at = open.params;
    set_param(ex, at, P_RESIDUAL, 1);
    true
}
