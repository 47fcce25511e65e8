//! The CPU executor's KV cache (docs/numerics.md, "Attention", step 1): each
//! layer's keys and values as the spec's 16-bit activations with one exponent per
//! position and kv head, laid out for [`super::attention`] over long contexts.
//!
//! Positions live in pages of [`PAGE`]; inside a page each kv head's values are
//! one contiguous block, so what one kv head attends over is read as one
//! sequential stream (8 KiB per page at 64 values a head), and a page allocated
//! once is never copied as the cache grows. Values are stored in position pairs
//! (`[kv head × position / 2 × head_dim × 2]`: value `i` of position `t` at
//! `(t / 2 · head_dim + i) · 2 + t % 2` in its head's block), so that one load
//! holds the same values of two consecutive positions side by side, as the
//! value accumulation's pair-multiply-add takes them ([`super::simd::acc_rows`]).
//! Keys are stored in value pairs (`[kv head × head_dim / 2 ×
//! position × 2]`: value `i` of position `t` at `(i / 2 · PAGE + t) · 2 + i % 2`
//! in its head's block, an odd head size padded with a zero), so that one load
//! holds the same pair of values of consecutive positions and the dot products of
//! many positions are made side by side with no sum across lanes
//! ([`super::simd::dots_pairs`]). Pages are allocated in cache lines ([`Line`]), so
//! a row or block of a multiple of 32 values starts a line. Exponents are kept
//! apart, one list per kv head; for values, also each position's left shift
//! (the attention's `V = x << up`, [`Paged::ups`]) and the positions stored
//! otherwise ([`Paged::others`]), found once as a position is stored rather than
//! on every decoded token.

use crate::exact::act::Act;
use crate::exec::AttnShape;

/// Positions per page of the cache.
pub const PAGE: usize = 64;

/// One cache line of values: the unit pages are allocated in (64-byte aligned).
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
#[repr(C, align(64))]
struct Line([i16; 32]);

/// How a page block holds its positions' values (module docs).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Layout {
    /// Keys: value `i` of position `t` at `(i / 2 · PAGE + t) · 2 + i % 2`.
    ValuePairs,
    /// Values: value `i` of position `t` at `(t / 2 · head_dim + i) · 2 + t % 2`.
    PositionPairs,
}

/// Keys or values of one layer.
pub(super) struct Paged {
    heads: usize,
    head_dim: usize,
    layout: Layout,
    pages: Vec<Box<[Line]>>,
    /// Per kv head, one exponent per position.
    exp: Vec<Vec<i32>>,
    /// Values only, per kv head: each position's left shift `up = exp + 16` when
    /// it is in `0..=63`, else 0 ([`Paged::ups`]).
    up: Vec<Vec<u8>>,
    /// Values only, per kv head: the positions (ascending) whose shift is not in
    /// `0..=63` ([`Paged::others`]).
    other: Vec<Vec<usize>>,
}

impl Paged {
    fn new(heads: usize, head_dim: usize, layout: Layout) -> Self {
        Paged {
            heads,
            head_dim,
            layout,
            pages: Vec::new(),
            exp: vec![Vec::new(); heads],
            up: vec![Vec::new(); heads],
            other: vec![Vec::new(); heads],
        }
    }

    /// Appends one position at `len` (the current length): its heads quantized from
    /// the Q16 `row` of `heads × head_dim` values.
    fn push(&mut self, len: usize, row: &[i32]) {
        let (hd, block) = (self.head_dim, self.block_len());
        if len / PAGE == self.pages.len() {
            let lines = (self.heads * block).div_ceil(32);
            self.pages
                .push(vec![Line([0; 32]); lines].into_boxed_slice());
        }
        let page: &mut [i16] = bytemuck::cast_slice_mut(&mut self.pages[len / PAGE]);
        let t = len % PAGE;
        for (h, x) in row.chunks_exact(hd).enumerate() {
            let a = Act::from_q16(x);
            let b = &mut page[h * block..(h + 1) * block];
            match self.layout {
                Layout::ValuePairs => {
                    for (i, &v) in a.q.iter().enumerate() {
                        b[(i / 2 * PAGE + t) * 2 + i % 2] = v;
                    }
                }
                Layout::PositionPairs => {
                    let pair = &mut b[t / 2 * 2 * hd..(t / 2 + 1) * 2 * hd];
                    for (x, &v) in pair[t % 2..].iter_mut().step_by(2).zip(&a.q) {
                        *x = v;
                    }
                }
            }
            if self.layout == Layout::PositionPairs {
                let up = a.exp + 16;
                if (0..=63).contains(&up) {
                    self.up[h].push(up as u8);
                } else {
                    self.up[h].push(0);
                    self.other[h].push(len);
                }
            }
            self.exp[h].push(a.exp);
        }
    }

    /// Values of one kv head in a page: `PAGE` positions of each value pair, or
    /// `PAGE / 2` pairs of positions of `head_dim` values each.
    fn block_len(&self) -> usize {
        match self.layout {
            Layout::ValuePairs => self.head_dim.div_ceil(2) * 2 * PAGE,
            Layout::PositionPairs => self.head_dim * PAGE,
        }
    }

    /// The part of kv head `kvh`'s block in `pos`'s page that holds positions
    /// `pos..=last` (those of them in the page): the position pairs they are in
    /// (values), for prefetching.
    #[inline]
    pub(super) fn span(&self, kvh: usize, pos: usize, last: usize) -> &[i16] {
        debug_assert_eq!(self.layout, Layout::PositionPairs);
        let (block, count) = self.block(kvh, pos, last);
        let (t, pair) = (pos % PAGE, 2 * self.head_dim);
        &block[t / 2 * pair..(t + count - 1) / 2 * pair + pair]
    }

    /// Writes the values of kv head `kvh` at position `pos` into `row`
    /// (`head_dim` values; position pairs).
    pub(super) fn row(&self, kvh: usize, pos: usize, row: &mut [i16]) {
        debug_assert_eq!(self.layout, Layout::PositionPairs);
        let (block, _) = self.block(kvh, pos, pos);
        let (t, pair) = (pos % PAGE, 2 * self.head_dim);
        let at = &block[t / 2 * pair + t % 2..(t / 2 + 1) * pair];
        for (x, &v) in row.iter_mut().zip(at.iter().step_by(2)) {
            *x = v;
        }
    }

    /// The block of kv head `kvh` in `pos`'s page and how many of the positions
    /// `pos..=last` it holds.
    #[inline]
    pub(super) fn block(&self, kvh: usize, pos: usize, last: usize) -> (&[i16], usize) {
        let page: &[i16] = bytemuck::cast_slice(&self.pages[pos / PAGE]);
        let count = (PAGE - pos % PAGE).min(last + 1 - pos);
        let b = self.block_len();
        (&page[kvh * b..(kvh + 1) * b], count)
    }

    /// The exponents of kv head `kvh` at positions `first..=last`.
    #[inline]
    pub(super) fn exps(&self, kvh: usize, first: usize, last: usize) -> &[i32] {
        &self.exp[kvh][first..=last]
    }

    /// The left shifts of kv head `kvh`'s value rows at positions `first..=last`:
    /// `V = x << up` for a row stored with a shift in `0..=63`, 0 for the others
    /// ([`Paged::others`]). Values only.
    #[inline]
    pub(super) fn ups(&self, kvh: usize, first: usize, last: usize) -> &[u8] {
        debug_assert_eq!(self.layout, Layout::PositionPairs);
        &self.up[kvh][first..=last]
    }

    /// The positions in `first..=last` (ascending) of kv head `kvh`'s value rows
    /// not stored with a left shift in `0..=63`. Values only.
    #[inline]
    pub(super) fn others(&self, kvh: usize, first: usize, last: usize) -> &[usize] {
        debug_assert_eq!(self.layout, Layout::PositionPairs);
        let o = &self.other[kvh];
        &o[o.partition_point(|&t| t < first)..o.partition_point(|&t| t <= last)]
    }

    fn truncate(&mut self, len: usize) {
        self.pages.truncate(len.div_ceil(PAGE));
        for e in &mut self.exp {
            e.truncate(len);
        }
        for u in &mut self.up {
            u.truncate(len);
        }
        for o in &mut self.other {
            o.truncate(o.partition_point(|&t| t < len));
        }
    }
}

/// Keys and values of one layer.
pub struct KvCache {
    pub(super) shape: AttnShape,
    len: usize,
    pub(super) keys: Paged,
    pub(super) values: Paged,
}

impl KvCache {
    pub fn new(shape: AttnShape) -> Self {
        KvCache {
            shape,
            len: 0,
            keys: Paged::new(shape.n_head_kv, shape.head_dim, Layout::ValuePairs),
            values: Paged::new(shape.n_head_kv, shape.head_dim, Layout::PositionPairs),
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
            self.keys.truncate(len);
            self.values.truncate(len);
        }
    }

    /// Appends one position's keys and values (Q16 rows of `n_head_kv × head_dim`).
    pub fn push(&mut self, k: &[i32], v: &[i32]) {
        self.keys.push(self.len, k);
        self.values.push(self.len, v);
        self.len += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(target_arch = "wasm32")]
    use wasm_bindgen_test::wasm_bindgen_test as test;

    /// The value shifts kept per position are the exponents' (`up = exp + 16`),
    /// across pages, after a truncation and for every kv head; keys keep none.
    #[test]
    fn value_shifts_follow_the_exponents_through_truncation() {
        let shape = AttnShape {
            n_head: 4,
            n_head_kv: 2,
            head_dim: 8,
            window: None,
        };
        let mut cache = KvCache::new(shape);
        // Magnitudes from 2^3 to 2^30: exponents -16 (exact) up to 0.
        let row = |t: usize| -> Vec<i32> {
            (0..16)
                .map(|i| {
                    let bits = 3 + ((t * 7 + i / 8 * 11) % 28) as u32;
                    let m = 1i32 << bits;
                    if i % 2 == 0 {
                        m - 1 - i as i32
                    } else {
                        -m + t as i32
                    }
                })
                .collect()
        };
        let check = |cache: &KvCache, len: usize| {
            for kvh in 0..2 {
                let exps = cache.values.exps(kvh, 0, len - 1);
                let ups = cache.values.ups(kvh, 0, len - 1);
                let want: Vec<u8> = exps.iter().map(|&e| (e + 16) as u8).collect();
                assert_eq!(ups, &want[..], "kv head {kvh}, {len} positions");
                assert!(exps.iter().any(|&e| e > -16) && exps.contains(&-16));
                assert!(cache.values.others(kvh, 0, len - 1).is_empty());
                assert_eq!(cache.values.ups(kvh, 5, len - 1), &want[5..]);
            }
            assert!(cache.keys.up.iter().all(Vec::is_empty));
        };
        for t in 0..150 {
            cache.push(&row(t), &row(t + 1000));
        }
        check(&cache, 150);
        cache.truncate(70);
        check(&cache, 70);
        for t in 70..130 {
            cache.push(&row(t + 7), &row(t + 2000));
        }
        check(&cache, 130);
    }
}
