//! RoPE (docs/numerics.md section 5): `wgsl/rope.wgsl`. The Q30 tables come from
//! the CPU's integer generators (`crate::exact::rope`) and stay on the device.

use super::shader::Kernel;
use super::{GpuExecutor, GpuRows};
use crate::exact::rope::{RopeStyle, RopeTable};

pub(super) const SOURCE: &str = include_str!("wgsl/rope.wgsl");

pub(super) fn encode(
    ex: &mut GpuExecutor,
    x: &mut GpuRows,
    table: &mut RopeTable,
    head_dim: usize,
    pos0: usize,
) {
    let pairs = table.dim() / 2;
    let buf = ex.rope_table(table, pos0 + x.rows);
    let neox = u32::from(table.style() == RopeStyle::Neox);
    let params = [
        x.cols as u32,
        head_dim as u32,
        pairs as u32,
        neox,
        pos0 as u32,
        x.rows as u32,
    ];
    let n = x.cols / head_dim * pairs;
    ex.dispatch(
        Kernel::Rope,
        &params,
        vec![x.buf.get().into(), (&buf).into()],
        [n.div_ceil(64) as u32, x.rows as u32, 1],
    );
}
