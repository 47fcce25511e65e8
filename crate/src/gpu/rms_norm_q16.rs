//! gemma3's RMSNorm of Q16 segments back into Q16 (docs/numerics.md section 15,
//! `rmsnorm_q16`; `exact::gemma::rms_norm_q16`): QK-norm per head and the
//! post-attention and post-FFN norms. `wgsl/rms_norm_q16.wgsl` with
//! `wgsl/rms_factor.wgsl` and `wgsl/int128.wgsl`, in place.

use super::rms_norm::eps_params;
use super::shader::Kernel;
use super::{GpuExecutor, GpuRows};
use crate::exec::ExecError;

pub(super) const SOURCE: &str = include_str!("wgsl/rms_norm_q16.wgsl");

/// Output shifts the kernel takes (its rounding shift `54 - s + o` stays in
/// `7..=118`, inside one 128-bit round_shift).
const MAX_OUT_SHIFT: i32 = 64;

pub(super) fn encode(
    ex: &mut GpuExecutor,
    x: &mut GpuRows,
    gamma: &[i32],
    eps_bits: u32,
    out_shift: i32,
) -> Result<(), ExecError> {
    let seg = gamma.len();
    if seg == 0
        || seg > 1 << 16
        || !x.cols.is_multiple_of(seg)
        || !(0..=MAX_OUT_SHIFT).contains(&out_shift)
    {
        return Err(ExecError::Device(format!(
            "RMSNorm of {}-element rows in segments of {seg} with output shift {out_shift} \
             is not supported on the GPU",
            x.cols
        )));
    }
    let segs = x.rows * (x.cols / seg);
    let gamma = ex.constant_i32(gamma);
    let mut params = vec![seg as u32, segs as u32, (54 + out_shift) as u32, 0];
    params.extend(eps_params(eps_bits, 0));
    let gx = segs.min(65535);
    ex.dispatch(
        Kernel::RmsNormQ16,
        &params,
        vec![x.buf.get().into(), (&gamma).into()],
        [gx as u32, segs.div_ceil(gx.max(1)) as u32, 1],
    );
    Ok(())
}
