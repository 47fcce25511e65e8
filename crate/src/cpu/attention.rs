//! The CPU executor's attention: the definition of [`crate::exact::attention`]
//! (docs/numerics.md, "Attention") over a KV cache laid out for long contexts, with
//! query heads (and, in a prompt, positions) split across the thread pool.
//!
//! The cache keeps each layer's keys and values in pages of [`PAGE`] positions,
//! every position's kv heads side by side (`[position × kv head × head_dim]` i16),
//! and their exponents apart: no allocation per position or per head, memory close
//! to the 16-bit payload, and nothing copied as it grows. [`attend_head`] computes
//! exactly what [`attention::attend`] computes (the tests compare them on random
//! caches), with the key dot products a page at a time on [`simd::dots_i16`] and
//! the value accumulation a page of positions at a time on [`simd::acc_rows`]
//! (weights in 16-bit limbs, one shift per batch of rows: `simd/attn.rs`), with
//! scores, weights and row lists in buffers a task reuses ([`Scratch`]).

use super::pool::{Disjoint, Pool};
use super::simd;
use crate::exact::act::Act;
use crate::exact::attention;
use crate::exact::fixed::{round_shift, sat_i32, wadd};
#[cfg(test)]
use crate::exact::math::exp_neg_q16;
use crate::exact::math::{exp2_table, LOG2E_Q30};
use crate::exec::AttnShape;

/// Positions per page of the cache.
pub const PAGE: usize = 64;

/// Keys or values of one layer: pages of [`PAGE`] positions of `stride` i16 each,
/// plus one exponent per position and kv head.
struct Paged {
    stride: usize,
    pages: Vec<Box<[i16]>>,
    exp: Vec<i32>,
}

impl Paged {
    fn new(stride: usize) -> Self {
        Paged {
            stride,
            pages: Vec::new(),
            exp: Vec::new(),
        }
    }

    /// Appends one position at `len` (the current length): its heads quantized from
    /// the Q16 `row`, `head_dim` values each.
    fn push(&mut self, len: usize, row: &[i32], head_dim: usize) {
        if len / PAGE == self.pages.len() {
            self.pages
                .push(vec![0i16; PAGE * self.stride].into_boxed_slice());
        }
        let o = (len % PAGE) * self.stride;
        let dst = &mut self.pages[len / PAGE][o..o + self.stride];
        for (d, h) in dst
            .chunks_exact_mut(head_dim)
            .zip(row.chunks_exact(head_dim))
        {
            let a = Act::from_q16(h);
            d.copy_from_slice(&a.q);
            self.exp.push(a.exp);
        }
    }

    /// The positions `pos..=last` that share `pos`'s page, from value `offset` of
    /// `pos` on: the slice and how many positions it starts.
    #[inline]
    fn run(&self, pos: usize, last: usize, offset: usize) -> (&[i16], usize) {
        let o = (pos % PAGE) * self.stride + offset;
        let count = (PAGE - pos % PAGE).min(last + 1 - pos);
        (&self.pages[pos / PAGE][o..], count)
    }

    fn truncate(&mut self, len: usize, heads: usize) {
        self.pages.truncate(len.div_ceil(PAGE));
        self.exp.truncate(len * heads);
    }
}

/// Keys and values of one layer.
pub struct KvCache {
    shape: AttnShape,
    len: usize,
    keys: Paged,
    values: Paged,
}

impl KvCache {
    pub fn new(shape: AttnShape) -> Self {
        let stride = shape.n_head_kv * shape.head_dim;
        KvCache {
            shape,
            len: 0,
            keys: Paged::new(stride),
            values: Paged::new(stride),
        }
    }

    /// Cached positions.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Forgets positions `>= len`.
    pub fn truncate(&mut self, len: usize) {
        if len < self.len {
            self.len = len;
            self.keys.truncate(len, self.shape.n_head_kv);
            self.values.truncate(len, self.shape.n_head_kv);
        }
    }

    /// Appends one position's keys and values (Q16 rows of `n_head_kv × head_dim`).
    pub fn push(&mut self, k: &[i32], v: &[i32]) {
        let hd = self.shape.head_dim;
        self.keys.push(self.len, k, hd);
        self.values.push(self.len, v, hd);
        self.len += 1;
    }
}

/// `floor(a / d)` for a fixed `d >= 1` and `a < 2^62`, by a multiplication: with
/// `m = floor(2^64 / d)`, `(a * m) >> 64` is `floor(a / d)` or one less (the error
/// `a * (2^64 / d - m) / 2^64` is below `a / 2^64 < 1`), and one comparison fixes
/// it. The softmax weights divide every position's `p_t 2^30` by the same sum.
struct Divider {
    d: u64,
    m: u128,
}

impl Divider {
    fn new(d: u64) -> Self {
        assert!(d >= 1, "division by zero");
        Divider {
            d,
            m: (1u128 << 64) / d as u128,
        }
    }

    #[inline]
    fn div(&self, a: u64) -> u64 {
        debug_assert!(a < 1 << 62);
        let q = ((a as u128 * self.m) >> 64) as u64;
        if (q + 1) * self.d <= a {
            q + 1
        } else {
            q
        }
    }
}

/// [`attention::score`] of `dot` for the exponent sum `e = q_exp + k_exp`, with
/// no branch on the sign of the shift: for `s = -(e + 16)` in `1..=62`,
/// `round_shift(dot, s) = (dot + 2^(s-1)) >> s` (no overflow: `|dot| < 2^62`, the
/// attention's dot products being below `head_dim * 2^30`), and for `s` in
/// `-63..=0` it is `dot << -s`; other shifts take the definition.
#[inline(always)]
fn score_of(dot: i64, e: i32, scale_q30: i64) -> i64 {
    let s = -(e + 16);
    if !(-63..=62).contains(&s) || dot.unsigned_abs() >= 1 << 62 {
        return attention::score(dot, e, 0, scale_q30);
    }
    let (l, r) = ((-s).max(0) as u32, s.max(0) as u32);
    let s16 = (dot.wrapping_shl(l) + ((1i64 << r) >> 1)) >> r;
    round_shift(s16.wrapping_mul(scale_q30), 30)
}

/// [`exp_neg_q16`] of `d` (in the table `t`, [`exp2_table`]) with no branch on the
/// final shift `n`: for `n` in `0..=30`, `round_shift(v, n) = (v + (2^n >> 1)) >> n`
/// (`0 <= v <= 2^30`).
#[inline(always)]
fn exp_of(t: &[u32; 257], d: i64) -> i64 {
    let neg = (-d).clamp(0, 1 << 32);
    let y = round_shift(neg * LOG2E_Q30, 22);
    let n = y >> 24;
    let f = y & 0xff_ffff;
    let (j, r) = ((f >> 16) as usize, f & 0xffff);
    let (a, b) = (t[j] as i64, t[j + 1] as i64);
    let v = a - round_shift((a - b) * r, 16);
    let k = n.min(31) as u32;
    let e = (v + ((1i64 << k) >> 1)) >> k;
    if d >= 0 {
        1 << 30
    } else if n >= 31 {
        0
    } else {
        e
    }
}

/// The buffers of [`attend_head`], kept by the caller so that calls on the same
/// thread allocate nothing new: scores and weights per position, and the weights
/// and shifts of a page of value rows handed to [`simd::acc_rows`].
#[derive(Default)]
pub struct Scratch {
    /// Dot products, then scores, then the unnormalised weights `p_t`.
    p: Vec<i64>,
    /// The weights and shifts of one page of value rows (weight 0 for a row
    /// stored with a right shift, which is added apart).
    ws: Vec<u32>,
    ups: Vec<u8>,
}

/// Attention output (Q16, `head_dim` values into `out`) of the Q16 query `q` of one
/// head over kv head `kvh` at positions `first..=last`: [`attention::attend`]'s bits.
/// The dot products run a page of keys at a time on [`simd::dots_i16`]; the values
/// stored with a left shift (all, for activations quantized from Q16) are added a
/// page at a time on [`simd::acc_rows`] (the wrapping sum does not depend on the
/// order of its terms).
#[allow(clippy::too_many_arguments)]
pub fn attend_head(
    cache: &KvCache,
    q: &[i32],
    kvh: usize,
    first: usize,
    last: usize,
    scale_q30: i64,
    out: &mut [i32],
    scratch: &mut Scratch,
) {
    let qa = Act::from_q16(q);
    let hd = cache.shape.head_dim;
    let n_kv = cache.shape.n_head_kv;
    let n = last + 1 - first;
    let p = &mut scratch.p;
    p.clear();
    p.resize(n, 0);
    let mut pos = first;
    while pos <= last {
        let (rows, count) = cache.keys.run(pos, last, kvh * hd);
        let at = pos - first;
        simd::dots_i16(&qa.q, rows, cache.keys.stride, &mut p[at..at + count]);
        pos += count;
    }
    // Scores, then p_t = exp(score_t - max) (attention::exp_weights), in place.
    let key_exp = &cache.keys.exp[first * n_kv..(last + 1) * n_kv];
    let mut max = i64::MIN;
    for (d, e) in p.iter_mut().zip(key_exp.iter().skip(kvh).step_by(n_kv)) {
        *d = score_of(*d, qa.exp + *e, scale_q30);
        max = max.max(*d);
    }
    let table = exp2_table();
    let mut sum = 0u64;
    for d in p.iter_mut() {
        *d = exp_of(table, *d - max);
        sum += *d as u64;
    }
    let sum = Divider::new(sum);
    // The weights, and the value rows of the positions with a left shift (in
    // position order, their shifts apart); the others are added here.
    let mut acc = vec![0i64; out.len()];
    let value_exp = &cache.values.exp[first * n_kv..(last + 1) * n_kv];
    let mut value_exp = value_exp.iter().skip(kvh).step_by(n_kv);
    let (ws, ups) = (&mut scratch.ws, &mut scratch.ups);
    let mut pos = first;
    while pos <= last {
        let (run, count) = cache.values.run(pos, last, kvh * hd);
        let stride = cache.values.stride;
        ws.clear();
        ups.clear();
        for (j, &pt) in p[pos - first..pos - first + count].iter().enumerate() {
            let w = sum.div((pt as u64) << 30) as u32;
            let ve = *value_exp.next().expect("one exponent per position");
            let sh = -(ve + 16);
            let left = (-63..=0).contains(&sh);
            if w != 0 && !left {
                let v = &run[j * stride..j * stride + hd];
                for (a, &x) in acc.iter_mut().zip(v) {
                    *a = wadd(*a, w as i64 * round_shift(x as i64, sh));
                }
            }
            // The others go to acc_rows with weight 0.
            ws.push(if left { w } else { 0 });
            ups.push((-sh & 63) as u8);
        }
        // w * (x << up) = (w * x) << up modulo 2^64, summed in any order.
        simd::acc_rows(&mut acc, run, stride, ws, ups);
        pos += count;
    }
    for (o, a) in out.iter_mut().zip(acc) {
        *o = sat_i32(round_shift(a, 30));
    }
}

/// Appends the rows of `k` and `v` to `cache` at `pos0..` and attends every query
/// row `t` (at position `pos0 + t`) over the positions it may see; `q`, `k`, `v`
/// and the result are row-major Q16 (`n_head × head_dim`, `n_head_kv × head_dim`).
/// Tasks are (query row, head) pairs: each writes its own `head_dim` outputs.
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
    let mut out = vec![0i32; rows * n_head * hd];
    let dst = Disjoint::new(&mut out);
    let cache = &*cache;
    pool.run(rows * n_head, |task| {
        let (t, h) = (task / n_head, task % n_head);
        let pos = pos0 + t;
        let first = match sh.window {
            Some(w) => (pos + 1).saturating_sub(w),
            None => 0,
        };
        let qh = &q[(t * n_head + h) * hd..(t * n_head + h + 1) * hd];
        // SAFETY: task (t, h) alone writes this head's outputs of row t.
        let o = unsafe { dst.slice((t * n_head + h) * hd, hd) };
        let mut scratch = Scratch::default();
        attend_head(cache, qh, h / group, first, pos, scale, o, &mut scratch);
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exact::attention::{attend, CachedVec};

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
            for threads in [1, 2, 4] {
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
            }
        }
    }

    #[test]
    fn branch_free_score_and_exp_equal_the_definitions() {
        let mut rng = Rng(0xe4);
        let scale = attention::score_scale_q30(64);
        // Scores: dot products up to 64 * 2^30, every exponent sum the cache can hold
        // and beyond (the definition's path), shifts of both signs.
        for e in -40..=80 {
            for _ in 0..300 {
                let dot = (rng.next() % (1 << 37)) as i64 - (1 << 36);
                for d in [dot, 0, 1, -1, 1 << 36, -(1 << 36)] {
                    // Debug builds check the spec's bounds in the definition (a left
                    // shift may not overflow); release builds wrap, and so does score_of.
                    let up = e + 16;
                    let in_bounds =
                        up <= 0 || d == 0 || (up < 64 && d.wrapping_shl(up as u32) >> up == d);
                    if cfg!(debug_assertions) && !in_bounds {
                        continue;
                    }
                    let want = attention::score(d, e, 0, scale);
                    assert_eq!(score_of(d, e, scale), want, "dot {d} e {e}");
                }
            }
        }
        // exp: every d from -2^22 to 0 (n up to 22), then samples down to the
        // saturation at -2^32 and beyond, and positive d.
        let t = exp2_table();
        for d in -(1i64 << 22)..=0 {
            assert_eq!(exp_of(t, d), exp_neg_q16(d) as i64, "d {d}");
        }
        for _ in 0..100_000 {
            let d = -((rng.next() % (1 << 34)) as i64);
            assert_eq!(exp_of(t, d), exp_neg_q16(d) as i64, "d {d}");
        }
        for d in [
            1,
            1 << 40,
            -(1 << 32),
            -(1 << 32) - 1,
            -(1 << 50),
            i64::MIN / 2,
        ] {
            assert_eq!(exp_of(t, d), exp_neg_q16(d) as i64, "d {d}");
        }
    }

    #[test]
    fn divider_divides_exactly() {
        let mut rng = Rng(99);
        let ds = [
            1u64,
            2,
            3,
            7,
            1 << 30,
            (1 << 30) + 1,
            3 << 40,
            (1 << 41) - 1,
        ];
        let random: Vec<u64> = (0..200).map(|_| 1 + rng.next() % (1 << 41)).collect();
        for d in ds.into_iter().chain(random) {
            let div = Divider::new(d);
            let edges = [0, 1, d - 1, d, d + 1, (1 << 60) - 1, 1 << 60, (1 << 62) - 1];
            let random: Vec<u64> = (0..200).map(|_| rng.next() >> 2).collect();
            for a in edges.into_iter().chain(random) {
                assert_eq!(div.div(a), a / d, "{a} / {d}");
            }
            // Multiples of d and their neighbours, where an estimate one too low shows.
            let ks: Vec<u64> = (0..100).map(|_| rng.next() % ((1 << 62) / d - 1)).collect();
            for k in ks {
                for a in [k * d, (k * d).saturating_sub(1), k * d + d - 1] {
                    assert_eq!(div.div(a), a / d, "{a} / {d}");
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
        let pool = Pool::new(2);
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
