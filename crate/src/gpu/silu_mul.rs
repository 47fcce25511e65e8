//! SiLU-gated product (docs/numerics.md sections 6 and 8): `wgsl/silu_mul.wgsl`
//! with `wgsl/exp.wgsl` and the shared writer `wgsl/act_write.wgsl`. The
//! matmul recorded next (the down projection) may take the dispatch back when
//! gate and up were one joined dispatch, which then writes the products, and
//! quantize them on load (`matmul_load`).

use super::matmul_join::{self, Product};
use super::matmul_load::{LoadFrom, OpenLoad};
use super::shader::Kernel;
use super::{act_stride, GpuExecutor, GpuInput, GpuRows};

pub(super) const SOURCE: &str = include_str!("wgsl/silu_mul.wgsl");

pub(super) fn encode(ex: &mut GpuExecutor, gate: &GpuRows, up: &GpuRows) -> GpuInput {
    encode_gated(ex, Kernel::SiluMul, gate, up)
}

/// A gated product kernel (`Kernel::SiluMul`, `Kernel::GeluMul`): both read gate
/// and up rows and the exp2 table and write a matmul input, one workgroup per row.
pub(super) fn encode_gated(
    ex: &mut GpuExecutor,
    kernel: Kernel,
    gate: &GpuRows,
    up: &GpuRows,
) -> GpuInput {
    assert_eq!((gate.rows, gate.cols), (up.rows, up.cols));
    assert_eq!(
        gate.cols % 32,
        0,
        "matmul inputs have whole 32-element blocks"
    );
    let join = matmul_join::gate_up_join(ex, gate, up);
    let scratch = ex.alloc(gate.rows * gate.cols * 8);
    let out = ex.alloc(gate.rows * act_stride(gate.cols) * 4);
    let exp2 = ex.exp2_table();
    let command = ex.dispatch(
        kernel,
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
    let product = match kernel {
        Kernel::GeluMul => Product::Gelu,
        _ => Product::Silu,
    };
    if let (Some(command), Some(join)) = (command, join) {
        ex.open_load = Some(OpenLoad {
            command,
            out: out.get().clone(),
            from: LoadFrom::Join {
                join,
                product,
                rows: gate.cols,
            },
        });
    }
    GpuInput {
        buf: out,
        rows: gate.rows,
        cols: gate.cols,
    }
}
