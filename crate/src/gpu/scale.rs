//! Scaling Q16 rows by a Q30 factor (docs/numerics.md section 15, gemma3's
//! embedding scale; `exact::gemma::scale_q16`): `wgsl/scale.wgsl` with
//! `wgsl/int128.wgsl`, in place.

use super::shader::Kernel;
use super::{GpuExecutor, GpuRows};

pub(super) const SOURCE: &str = include_str!("wgsl/scale.wgsl");

pub(super) fn encode(ex: &mut GpuExecutor, x: &mut GpuRows, m_q30: i64) {
    let len = x.rows * x.cols;
    let groups = len.div_ceil(64);
    let gx = groups.min(65535);
    let m = m_q30 as u64;
    ex.dispatch(
        Kernel::Scale,
        &[len as u32, m as u32, (m >> 32) as u32],
        vec![x.buf.get().into()],
        [gx as u32, groups.div_ceil(gx.max(1)) as u32, 1],
    );
}
