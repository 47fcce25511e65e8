//! RMSNorm (docs/numerics.md section 4): `wgsl/rms_norm.wgsl` with steps 1-4 in
//! `wgsl/rms_factor.wgsl` and the shared writer `wgsl/act_write.wgsl`. Epsilon
//! is decoded on the CPU into fixed point for each of the ten possible pre-shifts
//! `k` (0..=9 for i32 inputs).

use super::shader::Kernel;
use super::{act_stride, GpuExecutor, GpuInput, GpuRows};
use crate::exact::fixed::f32_to_fixed;

pub(super) const SOURCE: &str = include_str!("wgsl/rms_norm.wgsl");

pub(super) fn encode(ex: &mut GpuExecutor, x: &GpuRows, gamma: &[i32], eps_bits: u32) -> GpuInput {
    encode_norm(ex, Kernel::RmsNorm, x, gamma, eps_bits, 0)
}

/// A norm of rows into a matmul input (`Kernel::RmsNorm`; exact-2's
/// `Kernel::RmsNormWide` with `eps_shift = 2R`): one workgroup per row.
pub(super) fn encode_norm(
    ex: &mut GpuExecutor,
    kernel: Kernel,
    x: &GpuRows,
    gamma: &[i32],
    eps_bits: u32,
    eps_shift: i32,
) -> GpuInput {
    let n = x.cols;
    assert!(n.is_multiple_of(32) && n <= 1 << 16 && gamma.len() == n);
    let gamma = ex.constant_i32(gamma);
    let mut params = vec![n as u32, x.rows as u32, 0, 0];
    params.extend(eps_params(eps_bits, eps_shift));
    let scratch = ex.alloc(x.rows * n * 8);
    let out = ex.alloc(x.rows * act_stride(n) * 4);
    ex.dispatch(
        kernel,
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

/// Epsilon in fixed point for each pre-shift `k = 0..=9`, as (low, high) words:
/// `max(0, f32_to_fixed(eps, 48 - 2k - eps_shift))` (section 4 step 3; exact-2's
/// residual-stream norms use `eps_shift = 2R`). The uniform's `eps` field of every
/// kernel that includes `wgsl/rms_factor.wgsl`.
pub(super) fn eps_params(eps_bits: u32, eps_shift: i32) -> Vec<u32> {
    (0..10)
        .flat_map(|k| {
            let eps = f32_to_fixed(eps_bits, 48 - 2 * k - eps_shift).max(0) as u64;
            [eps as u32, (eps >> 32) as u32]
        })
        .collect()
}
