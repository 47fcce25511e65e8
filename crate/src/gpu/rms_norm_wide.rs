//! gemma3's RMSNorm of the residual stream into a matmul input (docs/numerics.md
//! section 15, `rmsnorm_wide`; `exact::gemma::rms_norm_act`):
//! `wgsl/rms_norm_wide.wgsl` with `wgsl/rms_factor.wgsl`, `wgsl/int128.wgsl` and
//! the shared writer `wgsl/act_write.wgsl`.

use super::shader::Kernel;
use super::{GpuExecutor, GpuInput, GpuRows};
use crate::exact::gemma::RESIDUAL_SHIFT;

pub(super) const SOURCE: &str = include_str!("wgsl/rms_norm_wide.wgsl");

pub(super) fn encode(ex: &mut GpuExecutor, x: &GpuRows, gamma: &[i32], eps_bits: u32) -> GpuInput {
    let shift = 2 * RESIDUAL_SHIFT;
    super::rms_norm::encode_norm(ex, Kernel::RmsNormWide, x, gamma, eps_bits, shift)
}
