//! gemma3's RMSNorm of the residual stream into a matmul input (docs/numerics.md
//! section 15, `rmsnorm_wide`; `exact::gemma::rms_norm_act`):
//! `wgsl/rms_norm_wide.wgsl` with `wgsl/rms_factor.wgsl`, `wgsl/int128.wgsl` and
//! the shared writer `wgsl/act_write.wgsl`.

use super::rms_norm::eps_params;
use super::shader::Kernel;
use super::{act_stride, GpuExecutor, GpuInput, GpuRows};
use crate::exact::gemma::RESIDUAL_SHIFT;

pub(super) const SOURCE: &str = include_str!("wgsl/rms_norm_wide.wgsl");

pub(super) fn encode(ex: &mut GpuExecutor, x: &GpuRows, gamma: &[i32], eps_bits: u32) -> GpuInput {
    let n = x.cols;
    assert!(n % 32 == 0 && n <= 1 << 16 && gamma.len() == n);
    let gamma = ex.constant_i32(gamma);
    let mut params = vec![n as u32, x.rows as u32, 0, 0];
    params.extend(eps_params(eps_bits, 2 * RESIDUAL_SHIFT));
    let scratch = ex.alloc(x.rows * n * 8);
    let out = ex.alloc(x.rows * act_stride(n) * 4);
    ex.dispatch(
        Kernel::RmsNormWide,
        &params,
        vec![
            x.buf.get().into(),
            (&gamma).into(),
            scratch.get().into(),
            out.get().into(),
        ],
        [x.rows as u32, 1, 1],
    );
    GpuInput {
        buf: out,
        rows: x.rows,
        cols: n,
    }
}
