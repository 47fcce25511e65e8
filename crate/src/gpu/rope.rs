//! RoPE (docs/numerics.md section 5): `wgsl/rope.wgsl`. The Q30 tables come from
//! the CPU's integer generators (`crate::exact::rope`) and stay on the device.
//!
//! The keys' RoPE joins the queries' dispatch when it is recorded right after it
//! with the same table, positions and head size (the dispatch then rotates `x`,
//! then `x2`); each pair is rotated by the same arithmetic either way. A joined
//! RoPE of the queries and keys recorded right before their attention then folds
//! into the attention's KV store dispatch (`fold_into_kv_store`).

use super::commands::{Binding, Command};
use super::shader::Kernel;
use super::{GpuExecutor, GpuRows};
use crate::exact::rope::{RopeStyle, RopeTable};

pub(super) const SOURCE: &str = include_str!("wgsl/rope.wgsl");

/// Binding slot (binding number - 1) of `x` and `x2`, and the parameter word of `cols2`.
const X: usize = 0;
const X2: usize = 2;
const P_COLS2: usize = 6;

/// The RoPE recorded last, while it is the last recorded command and rotates
/// one matrix.
pub(super) struct OpenRope {
    command: usize,
    params: [u32; 6],
    pairs_total: usize,
    /// Columns of the second matrix once one joined.
    cols2: Option<u32>,
}

/// A RoPE folded into the KV store: its table and parameters.
pub(super) struct FoldedRope {
    pub(super) table: wgpu::Buffer,
    pub(super) pairs: u32,
    pub(super) neox: u32,
}

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
    if join(ex, x, &buf, params, n) {
        return;
    }
    let spare = ex.spare_buffer();
    let command = ex.dispatch(
        Kernel::Rope,
        &[params.as_slice(), &[0]].concat(),
        vec![x.buf.get().into(), (&buf).into(), (&spare).into()],
        [n.div_ceil(64) as u32, x.rows as u32, 1],
    );
    if let Some(command) = command {
        ex.open_rope = Some(OpenRope {
            command,
            params,
            pairs_total: n,
            cols2: None,
        });
    }
}

/// Adds the rotation of `x` to the open RoPE dispatch as its second matrix, if
/// that dispatch uses the same table, parameters but `cols`, and another buffer.
fn join(
    ex: &mut GpuExecutor,
    x: &GpuRows,
    table: &wgpu::Buffer,
    params: [u32; 6],
    n: usize,
) -> bool {
    let Some(mut open) = ex.open_rope.take() else {
        return false;
    };
    if open.cols2.is_some() {
        return false;
    }
    let Some(Command::Dispatch {
        bindings,
        params: (at, _),
        groups,
        ..
    }) = ex.commands.get_mut(open.command)
    else {
        return false;
    };
    if open.params[1..] != params[1..]
        || bindings[1].buf != *table
        || bindings[X].buf == *x.buf.get()
    {
        return false;
    }
    bindings[X2] = Binding::from(x.buf.get());
    groups[0] = (open.pairs_total + n).div_ceil(64) as u32;
    let at = *at as usize + 4 * P_COLS2;
    ex.params[at..at + 4].copy_from_slice(&(x.cols as u32).to_le_bytes());
    open.cols2 = Some(x.cols as u32);
    ex.open_rope = Some(open);
    true
}

/// Takes back the open RoPE dispatch when it rotated `q` and then `k` (rows
/// `pos0..pos0 + rows`, heads of `head_dim`) and is the last recorded command:
/// the KV store about to be recorded does the rotations instead (same
/// arithmetic, docs/gpu.md "Dispatches per layer"). None if it cannot.
pub(super) fn fold_into_kv_store(
    ex: &mut GpuExecutor,
    q: &GpuRows,
    k: &GpuRows,
    head_dim: usize,
    pos0: usize,
) -> Option<FoldedRope> {
    let open = ex.open_rope.take()?;
    let [cols, hd, pairs, neox, p0, rows] = open.params;
    if open.command + 1 != ex.commands.len()
        || open.cols2 != Some(k.cols as u32)
        || (cols, hd, p0, rows) != (q.cols as u32, head_dim as u32, pos0 as u32, q.rows as u32)
        || k.rows != q.rows
    {
        return None;
    }
    let Some(Command::Dispatch {
        bindings, params, ..
    }) = ex.commands.last()
    else {
        return None;
    };
    if bindings[X].buf != *q.buf.get() || bindings[X2].buf != *k.buf.get() {
        return None;
    }
    let table = bindings[1].buf.clone();
    let at = params.0 as usize;
    ex.commands.pop();
    ex.params.truncate(at);
    ex.stats.dispatches -= 1;
    Some(FoldedRope { table, pairs, neox })
}
