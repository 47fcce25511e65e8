//! Attention (docs/numerics.md section 7): `wgsl/kv_store.wgsl` appends the new
//! keys and values to the quantized cache, `wgsl/attention.wgsl` attends each
//! query head (with `wgsl/exp.wgsl` for the integer softmax). The queries' and
//! keys' RoPE, when recorded right before, is done by the KV store dispatch
//! (`rope::fold_into_kv_store`).

use super::rope;
use super::shader::Kernel;
use super::{GpuExecutor, GpuKvCache, GpuRows};
use crate::exact::attention::score_scale_q30;

pub(super) const SOURCE: &str = include_str!("wgsl/attention.wgsl");
pub(super) const KV_STORE_SOURCE: &str = include_str!("wgsl/kv_store.wgsl");

/// Largest head the attention kernel holds in workgroup memory.
pub const MAX_HEAD_DIM: usize = 256;

pub(super) fn encode(
    ex: &mut GpuExecutor,
    cache: &mut GpuKvCache,
    q: &GpuRows,
    k: &GpuRows,
    v: &GpuRows,
    pos0: usize,
) -> GpuRows {
    let sh = cache.shape;
    let (hd, n) = (sh.head_dim, q.rows);
    let out = ex.alloc(n * sh.n_head * hd * 4);
    let result = GpuRows {
        buf: out,
        rows: n,
        cols: sh.n_head * hd,
    };
    if hd > MAX_HEAD_DIM || hd % 2 != 0 || !sh.n_head.is_multiple_of(sh.n_head_kv) {
        ex.fail(format!(
            "attention with head size {hd} and {}/{} heads is not supported on the GPU",
            sh.n_head, sh.n_head_kv
        ));
        return result;
    }
    // Taken back before the cache may grow: its copies would close the RoPE's
    // window, and they touch only the cache, the rotations only `q` and `k`.
    let shapes_fit = q.cols == sh.n_head * hd && k.cols == sh.n_head_kv * hd;
    let folded = if shapes_fit {
        rope::fold_into_kv_store(ex, q, k, hd, pos0)
    } else {
        None
    };
    cache.len = cache.len.min(pos0);
    if let Err(e) = ex.ensure_cache(cache, pos0 + n) {
        ex.fail(e.to_string());
        return result;
    }
    let (kc, vc, ke, ve) = match (&cache.k, &cache.v, &cache.k_exp, &cache.v_exp) {
        (Some(a), Some(b), Some(c), Some(d)) => (a.clone(), b.clone(), c.clone(), d.clone()),
        _ => unreachable!("ensure_cache allocates all four buffers"),
    };
    // Without a RoPE, the rotation's bindings get buffers it never touches.
    let (q_slot, table, pairs, neox, heads, z) = match folded {
        Some(r) => {
            let heads = sh.n_head.max(sh.n_head_kv);
            (q.buf.get().clone(), r.table, r.pairs, r.neox, heads, 3)
        }
        None => (
            ex.spare_buffer(),
            v.buf.get().clone(),
            0,
            0,
            sh.n_head_kv,
            2,
        ),
    };
    ex.dispatch(
        Kernel::KvStore,
        &[
            sh.n_head_kv as u32,
            hd as u32,
            n as u32,
            pos0 as u32,
            sh.n_head as u32,
            pairs,
            neox,
        ],
        vec![
            k.buf.get().into(),
            v.buf.get().into(),
            (&kc).into(),
            (&vc).into(),
            (&ke).into(),
            (&ve).into(),
            (&q_slot).into(),
            (&table).into(),
        ],
        [heads as u32, n as u32, z],
    );
    cache.len = pos0 + n;

    let span = match sh.window {
        Some(w) => w.min(pos0 + n),
        None => pos0 + n,
    };
    let scale = score_scale_q30(hd) as u64;
    // Scratch holds one 64-bit slot per (row, head, visible position); split the
    // rows so that it stays within one binding.
    let per_row = (sh.n_head * span * 8) as u64;
    let chunk = ((ex.max_binding() / per_row).max(1) as usize).min(n);
    let scratch = ex.alloc(chunk * per_row as usize);
    let exp2 = ex.exp2_table();
    for t0 in (0..n).step_by(chunk) {
        let rows = chunk.min(n - t0);
        let params = [
            sh.n_head as u32,
            sh.n_head_kv as u32,
            hd as u32,
            n as u32,
            pos0 as u32,
            sh.window.unwrap_or(0) as u32,
            span as u32,
            scale as u32,
            (scale >> 32) as u32,
            t0 as u32,
        ];
        ex.dispatch(
            Kernel::Attention,
            &params,
            vec![
                q.buf.get().into(),
                (&kc).into(),
                (&vc).into(),
                (&ke).into(),
                (&ve).into(),
                scratch.get().into(),
                result.buf.get().into(),
                (&exp2).into(),
            ],
            [sh.n_head as u32, rows as u32, 1],
        );
    }
    result
}
