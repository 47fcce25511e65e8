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
//! apart, one list per kv head.

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
}

impl Paged {
    fn new(heads: usize, head_dim: usize, layout: Layout) -> Self {
        Paged {
            heads,
            head_dim,
            layout,
            pages: Vec::new(),
            exp: vec![Vec::new(); heads],
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

    fn truncate(&mut self, len: usize) {
        self.pages.truncate(len.div_ceil(PAGE));
        for e in &mut self.exp {
            e.truncate(len);
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
