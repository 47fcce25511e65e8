//! Saturating residual add (docs/numerics.md section 8): `wgsl/add.wgsl`, or
//! folded into the matmul that produced `y` when that matmul is the last
//! recorded command (`matmul::fold_residual`).

use super::shader::Kernel;
use super::{matmul, GpuExecutor, GpuRows};

pub(super) const SOURCE: &str = include_str!("wgsl/add.wgsl");

pub(super) fn encode(ex: &mut GpuExecutor, x: &mut GpuRows, y: &GpuRows) {
    assert_eq!((x.rows, x.cols), (y.rows, y.cols));
    if matmul::fold_residual(ex, x, y) {
        return;
    }
    let len = x.rows * x.cols;
    let groups = len.div_ceil(64);
    let gx = groups.min(65535);
    ex.dispatch(
        Kernel::Add,
        &[len as u32],
        vec![x.buf.get().into(), y.buf.get().into()],
        [gx as u32, groups.div_ceil(gx.max(1)) as u32, 1],
    );
}
