//! The CPU executor: the reference implementation of spec `exact-1`, natively and
//! as wasm. Each operation calls the scalar definitions in [`crate::exact`] or
//! their SIMD twins ([`simd`]); matmul rows and attention heads are split over a
//! persistent thread pool ([`pool`]) natively. Every output element is computed by
//! the same code whichever thread runs it, so the thread count cannot change a bit.

use crate::exact::act::Act;
use crate::exact::ffn::silu_mul;
use crate::exact::fixed::sat_i32;
use crate::exact::gemma;
use crate::exact::norm::rms_norm;
use crate::exact::quant::dequant_row_q16;
use crate::exact::rope::RopeTable;
use crate::exec::{AttnShape, ExecError, Executor, WeightView};
use pool::{Disjoint, Pool};
use simd::{rows_dot_batch, Prepared};

pub use kv_cache::KvCache;

pub mod attention;
pub mod kv_cache;
pub mod pool;
pub mod simd;

/// Weight rows per matmul task on one thread: a chunk small enough to stay in cache
/// while every input of a prompt batch passes over it.
const CHUNK_ROWS: usize = 64;
/// Fewest weight rows per matmul task when the rows are split over threads.
const MIN_TASK_ROWS: usize = 16;

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

/// The CPU executor.
pub struct CpuExecutor {
    pool: Pool,
}

impl Default for CpuExecutor {
    fn default() -> Self {
        Self::new()
    }
}

impl CpuExecutor {
    /// An executor using every core natively; on wasm, the threads of the Web
    /// Workers pool when one is installed (`pool::web`), else one.
    pub fn new() -> Self {
        #[cfg(not(target_arch = "wasm32"))]
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        #[cfg(target_arch = "wasm32")]
        let threads = pool::web::threads();
        Self::with_threads(threads)
    }

    /// An executor using at most `threads` threads (1 = no threads).
    pub fn with_threads(threads: usize) -> Self {
        Self {
            pool: Pool::new(threads.max(1)),
        }
    }

    /// Threads this executor computes on.
    pub fn threads(&self) -> usize {
        self.pool.threads()
    }
}

/// Weight rows per task for a matmul of `n` rows on `threads` threads: whole
/// cache-sized chunks on one thread; on more, about four tasks per thread (so a
/// thread slowed by other work does not hold the rest up), in multiples of 8 rows.
fn task_rows(n: usize, threads: usize) -> usize {
    if threads <= 1 {
        return CHUNK_ROWS;
    }
    (n.div_ceil(threads * 4).div_ceil(8) * 8).clamp(MIN_TASK_ROWS, CHUNK_ROWS)
}

/// `f(t)` for each row `t` in `0..n`, rows split over the pool (a prompt batch's
/// per-row operations: norm, SiLU product, quantization).
fn map_rows<T: Default + Send>(pool: &Pool, n: usize, f: impl Fn(usize) -> T + Sync) -> Vec<T> {
    let mut out: Vec<T> = (0..n).map(|_| T::default()).collect();
    let per = n.div_ceil(pool.threads() * 4).max(1);
    let dst = Disjoint::new(&mut out);
    pool.run(n.div_ceil(per), |i| {
        let (t0, t1) = (i * per, ((i + 1) * per).min(n));
        // SAFETY: task i alone writes rows t0..t1.
        let o = unsafe { dst.slice(t0, t1 - t0) };
        for (t, slot) in (t0..t1).zip(o) {
            *slot = f(t);
        }
    });
    out
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
        KvCache::new(shape)
    }

    fn truncate_cache(&mut self, cache: &mut KvCache, len: usize) {
        cache.truncate(len);
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
        map_rows(&self.pool, x.n_rows(), |t| {
            rms_norm(x.row(t), gamma, eps_bits)
        })
    }

    fn matmul(&mut self, w: &WeightView, x: &Vec<Act>) -> Rows {
        let n = w.rows;
        let rb = w.row_bytes();
        let bytes = w.bytes();
        let inputs: Vec<Prepared> = x.iter().map(Prepared::new).collect();
        let mut data = vec![0i32; x.len() * n];
        let chunk = task_rows(n, self.pool.threads());
        let dst = Disjoint::new(&mut data);
        self.pool.run(n.div_ceil(chunk), |i| {
            let (r0, r1) = (i * chunk, ((i + 1) * chunk).min(n));
            // SAFETY: task i alone writes rows r0..r1 of every output row.
            let mut outs: Vec<&mut [i32]> = (0..inputs.len())
                .map(|t| unsafe { dst.slice(t * n + r0, r1 - r0) })
                .collect();
            let rows = &bytes[r0 * rb..r1 * rb];
            rows_dot_batch(w.format, rows, rb, r1 - r0, &inputs, &mut |t, r, v| {
                outs[t][r] = v
            });
        });
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
        let cols = q.cols;
        let data = attention::attention(&self.pool, cache, &q.data, &k.data, &v.data, pos0);
        Rows { data, cols }
    }

    fn silu_mul(&mut self, gate: &Rows, up: &Rows) -> Vec<Act> {
        map_rows(&self.pool, gate.n_rows(), |t| {
            silu_mul(gate.row(t), up.row(t))
        })
    }

    fn quantize(&mut self, x: &Rows) -> Vec<Act> {
        map_rows(&self.pool, x.n_rows(), |t| Act::from_q16(x.row(t)))
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
