//! Quantized matmul (docs/numerics.md section 3): `wgsl/matmul.wgsl`, one
//! dispatch per row range of the weight (see `GpuWeight`).

use super::shader::Kernel;
use super::{GpuExecutor, GpuInput, GpuRows, GpuWeight};

pub(super) const SOURCE: &str = include_str!("wgsl/matmul.wgsl");
pub(super) const ROWS_SOURCE: &str = include_str!("wgsl/matmul_rows.wgsl");

/// Output rows per workgroup and tokens per workgroup (`ROWS`, `TT` in the shader).
const ROWS: usize = 8;
const TOKENS: usize = 8;

pub(super) fn encode(ex: &mut GpuExecutor, w: &GpuWeight, x: &GpuInput) -> GpuRows {
    assert_eq!(w.cols, x.cols, "matmul of {} columns by {}", w.cols, x.cols);
    let n = x.rows;
    let out = ex.alloc(n * w.rows * 4);
    let token_groups = n.div_ceil(TOKENS);
    for part in w.parts.iter() {
        let params = [
            part.rows as u32,
            w.cols as u32,
            n as u32,
            part.row0 as u32,
            w.rows as u32,
        ];
        if ex.matmul_per_row() {
            ex.dispatch(
                Kernel::MatmulRows(w.format),
                &params,
                vec![(&part.buf).into(), x.buf.get().into(), out.get().into()],
                [part.rows.div_ceil(64) as u32, token_groups as u32, 1],
            );
        } else {
            ex.dispatch(
                Kernel::Matmul(w.format),
                &params,
                vec![(&part.buf).into(), x.buf.get().into(), out.get().into()],
                [part.rows.div_ceil(ROWS) as u32, token_groups as u32, 1],
            );
        }
    }
    // Each workgroup row of tokens reads the whole weight once.
    ex.stats.weight_bytes += (w.bytes() * token_groups) as u64;
    GpuRows {
        buf: out,
        rows: n,
        cols: w.rows,
    }
}
