//! GELU-gated product (docs/numerics.md section 15, GELU's tanh form through
//! section 6's sigmoid; `exact::gemma::gelu_mul`): `wgsl/gelu_mul.wgsl` with
//! `wgsl/exp.wgsl` (the exp2 table generated on the CPU and uploaded) and the
//! shared writer `wgsl/act_write.wgsl`.

use super::shader::Kernel;
use super::{act_stride, GpuExecutor, GpuInput, GpuRows};

pub(super) const SOURCE: &str = include_str!("wgsl/gelu_mul.wgsl");

pub(super) fn encode(ex: &mut GpuExecutor, gate: &GpuRows, up: &GpuRows) -> GpuInput {
    assert_eq!((gate.rows, gate.cols), (up.rows, up.cols));
    assert_eq!(
        gate.cols % 32,
        0,
        "matmul inputs have whole 32-element blocks"
    );
    let scratch = ex.alloc(gate.rows * gate.cols * 8);
    let out = ex.alloc(gate.rows * act_stride(gate.cols) * 4);
    let exp2 = ex.exp2_table();
    ex.dispatch(
        Kernel::GeluMul,
        &[gate.cols as u32, gate.rows as u32],
        vec![
            gate.buf.get().into(),
            up.buf.get().into(),
            scratch.get().into(),
            out.get().into(),
            (&exp2).into(),
        ],
        [gate.rows as u32, 1, 1],
    );
    GpuInput {
        buf: out,
        rows: gate.rows,
        cols: gate.cols,
    }
}
