//! RoPE (docs/numerics.md section 5): `wgsl/rope.wgsl`. The Q30 tables come from
//! the CPU's integer generators (`crate::exact::rope`) and stay on the device.
//!
//! Fusion, decided while recording: when the last recorded command is a RoPE at
//! the same positions with the same table (the queries), the next one (the
//! keys) joins its dispatch; each pair is rotated by the same arithmetic. When
//! attention then follows at once, it takes that dispatch over ([`take_fused`]):
//! `kv_store` rotates the keys and queries itself.

use super::commands::{Binding, Command};
use super::shader::Kernel;
use super::{GpuExecutor, GpuRows};
use crate::exact::rope::{RopeStyle, RopeTable};

pub(super) const SOURCE: &str = include_str!("wgsl/rope.wgsl");

/// Binding slot (binding number - 1) of the second rotated buffer; parameter
/// word of its width.
const X2: usize = 2;
const P_COLS2: usize = 6;

/// The RoPE dispatch recorded last, while it is the last command and alone.
pub(super) struct OpenRope {
    command: usize,
    params: usize,
    table: wgpu::Buffer,
    x: wgpu::Buffer,
    /// (head_dim, pairs, neox, pos0, rows)
    shape: [usize; 5],
    pairs_total: usize,
    /// The second rotated buffer, once one joined.
    x2: Option<wgpu::Buffer>,
}

/// What `kv_store` needs to do a RoPE itself.
pub(super) struct FusedRope {
    pub table: wgpu::Buffer,
    pub pairs: u32,
    pub neox: u32,
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
    let shape = [head_dim, pairs, neox as usize, pos0, x.rows];
    let n = x.cols / head_dim * pairs;
    if join(ex, x, &buf, shape, n) {
        return;
    }
    let params = [
        x.cols as u32,
        head_dim as u32,
        pairs as u32,
        neox,
        pos0 as u32,
        x.rows as u32,
        0,
    ];
    let [spare, _, _] = ex.spare_outputs();
    let pending = ex.dispatch(
        Kernel::Rope,
        &params,
        vec![x.buf.get().into(), (&buf).into(), (&spare).into()],
        [n.div_ceil(64) as u32, x.rows as u32, 1],
    );
    if let Some((command, params)) = pending {
        ex.open_rope = Some(OpenRope {
            command,
            params,
            table: buf,
            x: x.buf.get().clone(),
            shape,
            pairs_total: n,
            x2: None,
        });
    }
}

/// Adds the rotation of `x` to the open RoPE dispatch if it has the same table,
/// positions and head layout and `x` is another buffer.
fn join(
    ex: &mut GpuExecutor,
    x: &GpuRows,
    table: &wgpu::Buffer,
    shape: [usize; 5],
    n: usize,
) -> bool {
    let Some(open) = ex.open_rope.as_mut() else {
        return false;
    };
    if open.x2.is_some() || open.table != *table || open.shape != shape || open.x == *x.buf.get() {
        return false;
    }
    let Some(Command::Dispatch {
        bindings, groups, ..
    }) = ex.commands.get_mut(open.command)
    else {
        return false;
    };
    bindings[X2] = Binding::from(x.buf.get());
    groups[0] = (open.pairs_total + n).div_ceil(64) as u32;
    open.x2 = Some(x.buf.get().clone());
    let at = open.params + 4 * P_COLS2;
    ex.params[at..at + 4].copy_from_slice(&(x.cols as u32).to_le_bytes());
    true
}

/// Removes the last recorded command if it is the RoPE of exactly `q` and then
/// `k` at positions `pos0..pos0 + q.rows` with heads of `head_dim`, returning
/// what `kv_store` needs to do it instead.
pub(super) fn take_fused(
    ex: &mut GpuExecutor,
    q: &GpuRows,
    k: &GpuRows,
    pos0: usize,
    head_dim: usize,
) -> Option<FusedRope> {
    let open = ex.open_rope.as_ref()?;
    let [hd, pairs, neox, p0, rows] = open.shape;
    let fits = open.x == *q.buf.get()
        && open.x2.as_ref() == Some(k.buf.get())
        && (hd, p0, rows) == (head_dim, pos0, q.rows)
        && k.rows == q.rows
        && open.command + 1 == ex.commands.len();
    if !fits {
        return None;
    }
    let table = open.table.clone();
    ex.open_rope = None;
    ex.commands.pop();
    ex.stats.dispatches -= 1;
    Some(FusedRope {
        table,
        pairs: pairs as u32,
        neox: neox as u32,
    })
}
