//! Q16 rows to matmul inputs (docs/numerics.md section 2): `wgsl/quantize.wgsl`
//! with the shared writer `wgsl/act_write.wgsl`. The matmul recorded next may
//! take the dispatch back and quantize on load (`matmul_load`).

use super::matmul_load::{LoadFrom, OpenLoad};
use super::shader::Kernel;
use super::{act_stride, GpuExecutor, GpuInput, GpuRows};

pub(super) const SOURCE: &str = include_str!("wgsl/quantize.wgsl");

pub(super) fn encode(ex: &mut GpuExecutor, x: &GpuRows) -> GpuInput {
    assert_eq!(x.cols % 32, 0, "matmul inputs have whole 32-element blocks");
    let scratch = ex.alloc(x.rows * x.cols * 8);
    let out = ex.alloc(x.rows * act_stride(x.cols) * 4);
    let command = ex.dispatch(
        Kernel::Quantize,
        &[x.cols as u32, x.rows as u32],
        vec![x.buf.get().into(), scratch.get().into(), out.get().into()],
        [x.rows as u32, 1, 1],
    );
    if let Some(command) = command {
        ex.open_load = Some(OpenLoad {
            command,
            out: out.get().clone(),
            from: LoadFrom::Rows(x.buf.get().clone()),
        });
    }
    GpuInput {
        buf: out,
        rows: x.rows,
        cols: x.cols,
    }
}
