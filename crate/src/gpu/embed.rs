//! Embedding lookup (docs/numerics.md section 3, "Embedding lookup"): `wgsl/embed.wgsl`.

use super::shader::Kernel;
use super::{GpuExecutor, GpuRows, GpuWeight};

pub(super) const SOURCE: &str = include_str!("wgsl/embed.wgsl");

pub(super) fn encode(ex: &mut GpuExecutor, table: &GpuWeight, tokens: &[u32]) -> GpuRows {
    let (cols, n) = (table.cols, tokens.len());
    let out = ex.alloc(n * cols * 4);
    let ids: Vec<u8> = tokens.iter().flat_map(|t| t.to_le_bytes()).collect();
    let ids = ex.upload(&ids);
    for part in table.parts.iter() {
        let params = [
            cols as u32,
            n as u32,
            part.row0 as u32,
            part.rows as u32,
            table.rows as u32,
        ];
        ex.dispatch(
            Kernel::Embed(table.format),
            &params,
            vec![(&part.buf).into(), (&ids).into(), out.get().into()],
            [cols.div_ceil(64) as u32, n as u32, 1],
        );
    }
    ex.stats.weight_bytes += (n * table.row_bytes()) as u64;
    GpuRows {
        buf: out,
        rows: n,
        cols,
    }
}
