//! GELU-gated product (docs/numerics.md section 15, GELU's tanh form through
//! section 6's sigmoid; `exact::gemma::gelu_mul`): `wgsl/gelu_mul.wgsl` with
//! `wgsl/exp.wgsl` (the exp2 table generated on the CPU and uploaded) and the
//! shared writer `wgsl/act_write.wgsl`.

use super::shader::Kernel;
use super::{GpuExecutor, GpuInput, GpuRows};

pub(super) const SOURCE: &str = include_str!("wgsl/gelu_mul.wgsl");

pub(super) fn encode(ex: &mut GpuExecutor, gate: &GpuRows, up: &GpuRows) -> GpuInput {
    super::silu_mul::encode_gated(ex, Kernel::GeluMul, gate, up)
}
