//! The CPU executor's attention: the definition of [`crate::exact::attention`]
//! (docs/numerics.md, "Attention") over the paged cache of [`super::kv_cache`],
//! split across the thread pool.
//!
//! A task attends one query row's heads that share a kv head ([`attend_group`]):
//! the key dot products a page of keys at a time on [`simd::dots_pairs`], every head
//! of the group against the page while it is in the first-level cache; scores,
//! softmax weights and divisions in tight loops without branches
//! ([`simd::scores`], [`simd::exps`], [`simd::weights`]); the value accumulation a page of
//! positions at a time on [`simd::acc_rows`] (weights in 16-bit limbs, one shift
//! per batch of rows: `simd/attn.rs`; values stored in position pairs:
//! [`super::kv_cache`]), every head of the group per page. Where the
//! next page is prefetched (x86-64; wasm32 reads a value of each line), a page's work goes in steps of [`STEP`]
//! positions with a few lines of the next page's keys or values asked for between
//! steps ([`Ahead`]). The value shifts are the cache's (`Paged::ups`). Buffers are
//! a task's [`Scratch`], kept per thread. With more than one thread and fewer rows × kv heads than twice the
//! threads (one decoded token), a task takes one head, so that every thread has
//! work.

use super::kv_cache::{KvCache, PAGE};
use super::pool::{Disjoint, Pool};
use super::simd;
use crate::exact::act::Act;
use crate::exact::attention;
use crate::exact::fixed::{round_shift, sat_i32, wadd};

/// The buffers of [`attend_group`], kept per thread so that calls allocate
/// nothing once they have grown.
#[derive(Default)]
pub struct Scratch {
    /// Per head of the group and position: dot products, then scores, then the
    /// unnormalised weights `p_t`.
    p: Vec<i64>,
    /// Per head and position: the weight of a value row stored with a left shift
    /// (0 for the others, which are added apart).
    w: Vec<u32>,
    /// Per head: the wrapping sum `sum_t w_t V_t`.
    acc: Vec<i64>,
    /// One position's values, read out of their position pairs.
    row: Vec<i16>,
}

/// Lengthens `v` to at least `n` (zeros at the end); what it held stays, to be
/// overwritten: a buffer that has grown is not cleared again on each call.
fn grow<T: Copy + Default>(v: &mut Vec<T>, n: usize) {
    if v.len() < n {
        v.resize(n, T::default());
    }
}

thread_local! {
    static SCRATCH: std::cell::RefCell<Scratch> = std::cell::RefCell::default();
}

/// Attention outputs (Q16, `head_dim` values per head into `out`) of the Q16
/// queries `q` of consecutive heads (`head_dim` values each) that all read kv head
/// `kvh`, at positions `first..=last`: [`attention::attend`]'s bits for each head.
/// The values stored with a left shift (all, for activations quantized from Q16)
/// are added on [`simd::acc_rows`] (the wrapping sum does not depend on the order
/// of its terms), the others one by one.
#[allow(clippy::too_many_arguments)]
pub fn attend_group(
    cache: &KvCache,
    q: &[i32],
    kvh: usize,
    first: usize,
    last: usize,
    scale_q30: i64,
    out: &mut [i32],
    s: &mut Scratch,
) {
    let hd = cache.shape.head_dim;
    let (keys, values) = (&cache.keys, &cache.values);
    let qa: Vec<Act> = q.chunks_exact(hd).map(Act::from_q16).collect();
    let (g, n) = (qa.len(), last + 1 - first);
    // Every entry of p and w below g n is written before it is read.
    grow(&mut s.p, g * n);
    // Dot products: each page of keys against every head of the group.
    let kq: Vec<simd::KeyQuery> = qa.iter().map(|a| simd::KeyQuery::new(&a.q)).collect();
    let mut pos = first;
    while pos <= last {
        let (block, count) = keys.block(kvh, pos, last);
        let next = if pos + count <= last {
            keys.block(kvh, pos + count, last).0
        } else {
            values.span(kvh, first, last)
        };
        let (at, t0) = (pos - first, pos % PAGE);
        let mut ahead = Ahead::new(next, kq.len() * count);
        for (h, kq) in kq.iter().enumerate() {
            let o = h * n + at;
            ahead.steps(h * count, count, |r, e| {
                simd::dots_pairs(kq, block, PAGE, t0 + r, &mut s.p[o + r..o + e])
            });
        }
        pos += count;
    }
    // The value rows' shifts, shared by the group (kept by the cache).
    let key_exp = keys.exps(kvh, first, last);
    let (value_exp, up) = (values.exps(kvh, first, last), values.ups(kvh, first, last));
    // Scores, p_t = exp(score_t - max) (attention::exp_weights), the weights.
    grow(&mut s.w, g * n);
    for (h, a) in qa.iter().enumerate() {
        let p = &mut s.p[h * n..(h + 1) * n];
        let max = simd::scores(p, key_exp, a.exp, scale_q30);
        let sum = simd::exps(p, max);
        simd::weights(p, sum, &mut s.w[h * n..(h + 1) * n]);
    }
    s.acc.clear();
    s.acc.resize(g * hd, 0);
    // Rows not stored with a left shift: added here, their weights then zeroed.
    for &t in values.others(kvh, first, last) {
        let t = t - first;
        let sh = -(value_exp[t] + 16);
        grow(&mut s.row, hd);
        values.row(kvh, first + t, &mut s.row[..hd]);
        for h in 0..g {
            let w = std::mem::take(&mut s.w[h * n + t]) as i64;
            if w != 0 {
                for (a, &x) in s.acc[h * hd..(h + 1) * hd].iter_mut().zip(&s.row) {
                    *a = wadd(*a, w * round_shift(x as i64, sh));
                }
            }
        }
    }
    // w * (x << up) = (w * x) << up modulo 2^64, a page of rows at a time.
    let mut pos = first;
    while pos <= last {
        let (block, count) = values.block(kvh, pos, last);
        let next = if pos + count <= last {
            values.span(kvh, pos + count, last)
        } else {
            &[]
        };
        let (at, t0) = (pos - first, pos % PAGE);
        let mut ahead = Ahead::new(next, g * count);
        for h in 0..g {
            let o = h * n + at;
            let acc = &mut s.acc[h * hd..(h + 1) * hd];
            ahead.steps(h * count, count, |r, e| {
                simd::acc_rows(
                    acc,
                    block,
                    hd,
                    t0 + r,
                    &s.w[o + r..o + e],
                    &up[at + r..at + e],
                )
            });
        }
        pos += count;
    }
    for (o, &a) in out.iter_mut().zip(&s.acc) {
        *o = sat_i32(round_shift(a, 30));
    }
}

/// Positions of a page (key dot products or value rows) that go in between two
/// prefetches of the next page's keys or values (a few lines each), so that the
/// prefetches are spread over the work rather than issued at once, when they
/// stall waiting for free line-fill buffers. Without prefetches (neither x86-64
/// nor wasm32), a page goes in at once.
const STEP: usize = if cfg!(any(target_arch = "x86_64", target_arch = "wasm32")) {
    32
} else {
    PAGE
};

/// Prefetches the lines of the next page's keys or values (a kv head's block, or
/// its value rows) a part at a time, spread over the work on the page before it.
struct Ahead<'a> {
    rows: &'a [i16],
    /// Positions of work on the page before it: all heads' together.
    whole: usize,
    done: usize,
}

impl<'a> Ahead<'a> {
    fn new(rows: &'a [i16], whole: usize) -> Self {
        Ahead {
            rows,
            whole,
            done: 0,
        }
    }

    /// Runs `work(r, e)` over positions `0..count` of one head's part of the page
    /// (the part starts after `before` positions of the whole) in steps of
    /// [`STEP`], prefetching after each step as much of the next page as the work
    /// done so far is of the whole.
    #[inline]
    fn steps(&mut self, before: usize, count: usize, mut work: impl FnMut(usize, usize)) {
        let mut r = 0;
        while r < count {
            let e = (r + STEP).min(count);
            work(r, e);
            let end = (self.rows.len() * (before + e) / self.whole)
                .next_multiple_of(32)
                .min(self.rows.len());
            if end > self.done {
                prefetch(&self.rows[self.done..end]);
                self.done = end;
            }
            r = e;
        }
    }
}

/// Asks for `rows` to be brought into the cache ahead of their use (a hint: no
/// effect on any result): a prefetch instruction per line on x86-64; on wasm32,
/// which has none, a volatile read of each line's first value.
#[inline]
fn prefetch(rows: &[i16]) {
    #[cfg(target_arch = "x86_64")]
    for line in rows.chunks(32) {
        // SAFETY: a prefetch of a valid address reads nothing and writes nothing.
        unsafe {
            std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(
                line.as_ptr() as *const i8
            )
        };
    }
    #[cfg(target_arch = "wasm32")]
    for line in rows.chunks(32) {
        // SAFETY: `line` is a valid, aligned, initialised value.
        unsafe { std::ptr::read_volatile(line.as_ptr()) };
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "wasm32")))]
    let _ = rows;
}

/// Appends the rows of `k` and `v` to `cache` at `pos0..` and attends every query
/// row `t` (at position `pos0 + t`) over the positions it may see; `q`, `k`, `v`
/// and the result are row-major Q16 (`n_head × head_dim`, `n_head_kv × head_dim`).
/// A task is a query row's heads that share a kv head (one head of them when
/// there are fewer such groups than twice the threads, on two or more); each
/// writes its own heads' outputs.
pub fn attention(
    pool: &Pool,
    cache: &mut KvCache,
    q: &[i32],
    k: &[i32],
    v: &[i32],
    pos0: usize,
) -> Vec<i32> {
    let sh = cache.shape;
    let (hd, n_head) = (sh.head_dim, sh.n_head);
    let group = n_head / sh.n_head_kv;
    let kv_cols = sh.n_head_kv * hd;
    let rows = q.len() / (n_head * hd);
    cache.truncate(pos0);
    for t in 0..rows {
        cache.push(
            &k[t * kv_cols..(t + 1) * kv_cols],
            &v[t * kv_cols..(t + 1) * kv_cols],
        );
    }
    let scale = attention::score_scale_q30(hd);
    // Heads per task: the group, or one head when groups are too few to share.
    let threads = pool.threads();
    let per_task = if threads == 1 || rows * sh.n_head_kv >= 2 * threads {
        group
    } else {
        1
    };
    let tasks_per_row = n_head / per_task;
    let mut out = vec![0i32; rows * n_head * hd];
    let dst = Disjoint::new(&mut out);
    let cache = &*cache;
    pool.run(rows * tasks_per_row, |task| {
        let (t, h0) = (task / tasks_per_row, task % tasks_per_row * per_task);
        let pos = pos0 + t;
        let first = match sh.window {
            Some(w) => (pos + 1).saturating_sub(w),
            None => 0,
        };
        let at = (t * n_head + h0) * hd;
        let qh = &q[at..at + per_task * hd];
        // SAFETY: task (t, h0) alone writes heads h0..h0 + per_task of row t.
        let o = unsafe { dst.slice(at, per_task * hd) };
        SCRATCH.with_borrow_mut(|s| attend_group(cache, qh, h0 / group, first, pos, scale, o, s));
    });
    out
}

#[cfg(test)]
mod tests {
    use super::super::kv_cache::PAGE;
    use super::*;
    use crate::exact::attention::{attend, CachedVec};
    use crate::exec::AttnShape;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    /// Thread counts the tests run on: wasm32 tests have no worker threads.
    const THREADS: &[usize] = if cfg!(target_arch = "wasm32") {
        &[1]
    } else {
        &[1, 2, 4]
    };

    /// A small deterministic generator (xorshift64*).
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }
        /// A Q16 value of magnitude below `2^bits`.
        fn q16(&mut self, bits: u32) -> i32 {
            let m = 1i64 << bits;
            ((self.next() % (2 * m as u64)) as i64 - m) as i32
        }
    }

    /// The definition over the same positions, from `CachedVec`s.
    /// Keys, values (rows of all kv heads) and one head's width.
    struct Positions<'a> {
        keys: &'a [Vec<i32>],
        values: &'a [Vec<i32>],
        hd: usize,
    }

    fn reference(q: &[i32], c: &Positions, kvh: usize, first: usize, last: usize, out: &mut [i32]) {
        let (keys, values, hd) = (c.keys, c.values, c.hd);
        let cv = |r: &Vec<i32>| -> CachedVec { Act::from_q16(&r[kvh * hd..(kvh + 1) * hd]).into() };
        let ks: Vec<CachedVec> = keys[first..=last].iter().map(cv).collect();
        let vs: Vec<CachedVec> = values[first..=last].iter().map(cv).collect();
        let kr: Vec<&CachedVec> = ks.iter().collect();
        let vr: Vec<&CachedVec> = vs.iter().collect();
        attend(
            &Act::from_q16(q),
            &kr,
            &vr,
            attention::score_scale_q30(hd),
            out,
        );
    }

    #[test]
    fn matches_the_definition_on_random_caches_and_thread_counts() {
        let mut rng = Rng(0x5eed);
        for (n_head, n_kv, hd, window, len, bits) in [
            (4, 2, 64, None, 1, 18),
            (4, 2, 64, None, 150, 20),
            (3, 1, 32, Some(40), 130, 17),
            (2, 2, 16, None, 70, 26),
            (9, 3, 64, None, 200, 12),
            // Magnitudes drawn per row (bits 0): value shifts that differ by position.
            (9, 3, 64, None, 200, 0),
            (4, 2, 48, Some(50), 130, 0),
            // Head sizes off the SIMD steps: even (keys on the SIMD twins, values
            // not) and odd (a padded value pair, the scalar loops).
            (4, 2, 30, Some(70), 140, 0),
            (2, 1, 7, None, 90, 15),
        ] {
            let shape = AttnShape {
                n_head,
                n_head_kv: n_kv,
                head_dim: hd,
                window,
            };
            let row = |rng: &mut Rng, n: usize| -> Vec<i32> {
                let b = if bits == 0 {
                    8 + (rng.next() % 19) as u32
                } else {
                    bits
                };
                (0..n).map(|_| rng.q16(b)).collect()
            };
            let keys: Vec<Vec<i32>> = (0..len).map(|_| row(&mut rng, n_kv * hd)).collect();
            let values: Vec<Vec<i32>> = (0..len).map(|_| row(&mut rng, n_kv * hd)).collect();
            let qs: Vec<Vec<i32>> = (0..len).map(|_| row(&mut rng, n_head * hd)).collect();
            let mut want = vec![0i32; len * n_head * hd];
            for t in 0..len {
                let first = window.map_or(0, |w: usize| (t + 1).saturating_sub(w));
                for h in 0..n_head {
                    let o = &mut want[(t * n_head + h) * hd..(t * n_head + h + 1) * hd];
                    reference(
                        &qs[t][h * hd..(h + 1) * hd],
                        &Positions {
                            keys: &keys,
                            values: &values,
                            hd,
                        },
                        h / (n_head / n_kv),
                        first,
                        t,
                        o,
                    );
                }
            }
            for &threads in THREADS {
                let pool = Pool::new(threads);
                let mut cache = KvCache::new(shape);
                // The prompt in two batches, then the rest one position at a time.
                let mut bounds = vec![0, len / 3, len * 2 / 3];
                bounds.extend(len * 2 / 3 + 1..=len);
                bounds.dedup();
                let mut got = Vec::new();
                for b in bounds.windows(2) {
                    let cat = |v: &[Vec<i32>]| v[b[0]..b[1]].concat();
                    got.extend(attention(
                        &pool,
                        &mut cache,
                        &cat(&qs),
                        &cat(&keys),
                        &cat(&values),
                        b[0],
                    ));
                }
                assert_eq!(
                    got, want,
                    "heads {n_head}/{n_kv} dim {hd} len {len} threads {threads}"
                );
                assert_eq!(cache.len(), len);
                // On a CPU with AVX-512, the AVX2 twins over the same cache too.
                #[cfg(target_arch = "x86_64")]
                if threads == 1 {
                    let again = simd::without_avx512(|| {
                        cache.truncate(0);
                        attention(
                            &pool,
                            &mut cache,
                            &qs.concat(),
                            &keys.concat(),
                            &values.concat(),
                            0,
                        )
                    });
                    assert_eq!(
                        again, want,
                        "AVX2 twins: heads {n_head}/{n_kv} dim {hd} len {len}"
                    );
                }
            }
        }
    }

    #[test]
    fn truncating_replays_the_same_bits() {
        let mut rng = Rng(7);
        let shape = AttnShape {
            n_head: 2,
            n_head_kv: 1,
            head_dim: 32,
            window: None,
        };
        let pool = Pool::new(*THREADS.last().expect("a thread count"));
        let mut cache = KvCache::new(shape);
        let len = PAGE * 2 + 5;
        let k: Vec<i32> = (0..len * 32).map(|_| rng.q16(19)).collect();
        let v: Vec<i32> = (0..len * 32).map(|_| rng.q16(19)).collect();
        let q: Vec<i32> = (0..len * 64).map(|_| rng.q16(19)).collect();
        let first = attention(&pool, &mut cache, &q, &k, &v, 0);
        // Cut back into the first page, then attend the rest again.
        let cut = PAGE - 3;
        let again = attention(
            &pool,
            &mut cache,
            &q[cut * 64..],
            &k[cut * 32..],
            &v[cut * 32..],
            cut,
        );
        assert_eq!(&first[cut * 64..], &again[..]);
        assert_eq!(cache.len(), len);
        cache.truncate(0);
        assert!(cache.is_empty());
    }
}
