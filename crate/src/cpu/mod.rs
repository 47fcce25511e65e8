//! The CPU executor: the reference implementation of spec `exact-1`, natively and
//! as wasm. Each operation calls the scalar definitions in [`crate::exact`]; the
//! matmul splits output rows over threads natively (row results are independent,
//! so the thread count cannot change a bit).

use crate::exact::act::Act;
use crate::exact::attention::{attend_with, score_scale_q30, CachedVec};
use crate::exact::ffn::silu_mul;
use crate::exact::fixed::sat_i32;
use crate::exact::gemma;
use crate::exact::norm::rms_norm;
use crate::exact::quant::dequant_row_q16;
use crate::exact::rope::RopeTable;
use crate::exec::{AttnShape, ExecError, Executor, WeightView};
use simd::{rows_dot, Prepared};

pub mod simd;

/// Smallest matmul (multiply-accumulates) split over threads.
const PARALLEL_MIN_MACS: usize = 4 << 20;

/// Q16 rows `[T × cols]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rows {
    pub data: Vec<i32>,
    pub cols: usize,
}

impl Rows {
    pub fn n_rows(&self) -> usize {
        self.data.len() / self.cols
    }
    pub fn row(&self, t: usize) -> &[i32] {
        &self.data[t * self.cols..(t + 1) * self.cols]
    }
}

/// Keys and values per position, per kv head.
pub struct KvCache {
    shape: AttnShape,
    keys: Vec<Vec<CachedVec>>,
    values: Vec<Vec<CachedVec>>,
}

/// The CPU executor.
pub struct CpuExecutor {
    threads: usize,
}

impl Default for CpuExecutor {
    fn default() -> Self {
        Self::new()
    }
}

impl CpuExecutor {
    pub fn new() -> Self {
        #[cfg(not(target_arch = "wasm32"))]
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        #[cfg(target_arch = "wasm32")]
        let threads = 1;
        Self { threads }
    }

    /// An executor using at most `threads` threads (1 = no threads).
    pub fn with_threads(threads: usize) -> Self {
        Self {
            threads: threads.max(1),
        }
    }
}

/// Rows `row0..row0 + out.len() / x.len()` of `w` times each input; `out` is laid
/// out `[T × rows]`. Rows go in chunks small enough to stay in cache while every
/// input passes over them; each output element is still its own row's exact result.
fn matmul_rows(w: &WeightView, x: &[Act], out: &mut [i32], row0: usize) {
    const CHUNK_ROWS: usize = 64;
    let rb = w.row_bytes();
    let bytes = &w.bytes()[row0 * rb..];
    let n_rows = out.len() / x.len().max(1);
    let inputs: Vec<Prepared> = x.iter().map(Prepared::new).collect();
    for c0 in (0..n_rows).step_by(CHUNK_ROWS) {
        let c1 = (c0 + CHUNK_ROWS).min(n_rows);
        for (t, input) in inputs.iter().enumerate() {
            let o = &mut out[t * n_rows + c0..t * n_rows + c1];
            rows_dot(w.format, &bytes[c0 * rb..c1 * rb], rb, input, o);
        }
    }
}

impl Executor for CpuExecutor {
    type Weight = WeightView;
    type Rows = Rows;
    type Input = Vec<Act>;
    type KvCache = KvCache;

    fn weight(&mut self, view: WeightView) -> Result<WeightView, ExecError> {
        Ok(view)
    }

    fn new_cache(&mut self, shape: AttnShape) -> KvCache {
        KvCache {
            shape,
            keys: Vec::new(),
            values: Vec::new(),
        }
    }

    fn truncate_cache(&mut self, cache: &mut KvCache, len: usize) {
        cache.keys.truncate(len);
        cache.values.truncate(len);
    }

    fn embed(&mut self, table: &WeightView, tokens: &[u32]) -> Rows {
        let cols = table.cols;
        let rb = table.row_bytes();
        let mut data = vec![0i32; tokens.len() * cols];
        for (t, &tok) in tokens.iter().enumerate() {
            let r = (tok as usize).min(table.rows - 1);
            let row = &table.bytes()[r * rb..(r + 1) * rb];
            dequant_row_q16(table.format, row, &mut data[t * cols..(t + 1) * cols]);
        }
        Rows { data, cols }
    }

    fn rms_norm(&mut self, x: &Rows, gamma: &[i32], eps_bits: u32) -> Vec<Act> {
        (0..x.n_rows())
            .map(|t| rms_norm(x.row(t), gamma, eps_bits))
            .collect()
    }

    fn matmul(&mut self, w: &WeightView, x: &Vec<Act>) -> Rows {
        let t_len = x.len();
        let n = w.rows;
        // Threads only pay for themselves on big products (a spawn costs ~10 us).
        let work = t_len * n * w.cols;
        let threads = if work < PARALLEL_MIN_MACS {
            1
        } else {
            self.threads.min(n.div_ceil(64)).max(1)
        };
        let mut data = vec![0i32; t_len * n];
        if threads == 1 {
            matmul_rows(w, x, &mut data, 0);
            return Rows { data, cols: n };
        }
        let per = n.div_ceil(threads);
        let mut chunks: Vec<(usize, Vec<i32>)> = (0..threads)
            .map(|i| {
                let (r0, r1) = ((i * per).min(n), ((i + 1) * per).min(n));
                (r0, vec![0i32; t_len * (r1 - r0)])
            })
            .collect();
        std::thread::scope(|s| {
            for (r0, buf) in chunks.iter_mut() {
                let r0 = *r0;
                s.spawn(move || matmul_rows(w, x, buf, r0));
            }
        });
        for (r0, buf) in &chunks {
            let len = buf.len() / t_len.max(1);
            for t in 0..t_len {
                data[t * n + r0..t * n + r0 + len].copy_from_slice(&buf[t * len..(t + 1) * len]);
            }
        }
        Rows { data, cols: n }
    }

    fn rope(&mut self, x: &mut Rows, table: &mut RopeTable, head_dim: usize, pos0: usize) {
        let cols = x.cols;
        for (t, row) in x.data.chunks_exact_mut(cols).enumerate() {
            table.apply(row, head_dim, pos0 + t);
        }
    }

    fn attention(
        &mut self,
        cache: &mut KvCache,
        q: &Rows,
        k: &Rows,
        v: &Rows,
        pos0: usize,
    ) -> Rows {
        let sh = cache.shape;
        let hd = sh.head_dim;
        let group = sh.n_head / sh.n_head_kv;
        let scale = score_scale_q30(hd);
        self.truncate_cache(cache, pos0);
        let mut out = vec![0i32; q.n_rows() * sh.n_head * hd];
        for t in 0..q.n_rows() {
            let split = |r: &[i32]| -> Vec<CachedVec> {
                r.chunks_exact(hd)
                    .map(|h| Act::from_q16(h).into())
                    .collect()
            };
            cache.keys.push(split(k.row(t)));
            cache.values.push(split(v.row(t)));
            let pos = pos0 + t;
            let first = match sh.window {
                Some(w) => (pos + 1).saturating_sub(w),
                None => 0,
            };
            for h in 0..sh.n_head {
                let kvh = h / group;
                let qa = Act::from_q16(&q.row(t)[h * hd..(h + 1) * hd]);
                let keys: Vec<&CachedVec> =
                    cache.keys[first..=pos].iter().map(|p| &p[kvh]).collect();
                let vals: Vec<&CachedVec> =
                    cache.values[first..=pos].iter().map(|p| &p[kvh]).collect();
                let o = &mut out[(t * sh.n_head + h) * hd..(t * sh.n_head + h + 1) * hd];
                attend_with(&qa, &keys, &vals, scale, o, simd::dot_i16);
            }
        }
        Rows {
            data: out,
            cols: sh.n_head * hd,
        }
    }

    fn silu_mul(&mut self, gate: &Rows, up: &Rows) -> Vec<Act> {
        (0..gate.n_rows())
            .map(|t| silu_mul(gate.row(t), up.row(t)))
            .collect()
    }

    fn quantize(&mut self, x: &Rows) -> Vec<Act> {
        (0..x.n_rows()).map(|t| Act::from_q16(x.row(t))).collect()
    }

    fn add(&mut self, x: &mut Rows, y: &Rows) {
        for (a, &b) in x.data.iter_mut().zip(&y.data) {
            *a = sat_i32(*a as i64 + b as i64);
        }
    }

    fn last_row(&mut self, x: &Rows) -> Rows {
        let t = x.n_rows() - 1;
        Rows {
            data: x.row(t).to_vec(),
            cols: x.cols,
        }
    }

    fn read(&mut self, x: &Rows) -> Result<Vec<Vec<i32>>, ExecError> {
        Ok((0..x.n_rows()).map(|t| x.row(t).to_vec()).collect())
    }

    fn scale(&mut self, x: &mut Rows, m_q30: i64) -> Result<(), ExecError> {
        gemma::scale_q16(&mut x.data, m_q30);
        Ok(())
    }

    fn rms_norm_wide(
        &mut self,
        x: &Rows,
        gamma: &[i32],
        eps_bits: u32,
    ) -> Result<Vec<Act>, ExecError> {
        Ok((0..x.n_rows())
            .map(|t| gemma::rms_norm_act(x.row(t), gamma, eps_bits))
            .collect())
    }

    fn rms_norm_q16(
        &mut self,
        x: &mut Rows,
        gamma: &[i32],
        eps_bits: u32,
        out_shift: i32,
    ) -> Result<(), ExecError> {
        gemma::rms_norm_q16(&mut x.data, gamma, eps_bits, out_shift);
        Ok(())
    }

    fn gelu_mul(&mut self, gate: &Rows, up: &Rows) -> Result<Vec<Act>, ExecError> {
        Ok((0..gate.n_rows())
            .map(|t| gemma::gelu_mul(gate.row(t), up.row(t)))
            .collect())
    }
}
