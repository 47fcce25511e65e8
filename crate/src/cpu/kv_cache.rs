//! The CPU executor's KV cache (docs/numerics.md, "Attention", step 1): each
//! layer's keys and values as the spec's 16-bit activations with one exponent per
//! position and kv head, laid out for [`super::attention`] over long contexts.
//!
//! Positions live in pages of [`PAGE`]; inside a page each kv head's values are
//! one contiguous block, so what one kv head attends over is read as one
//! sequential stream (8 KiB per page at 64 values a head), and a page allocated
//! once is never copied as the cache grows. Values are stored as rows
//! (`[kv head × position × head_dim]` i16), read a row per position by the value
//! accumulation. Keys are stored in value pairs (`[kv head × head_dim / 2 ×
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

/// Keys or values of one layer.
pub(super) struct Paged {
    heads: usize,
    head_dim: usize,
    /// Values stored in pairs of positions' values (keys), not as rows.
    pairs: bool,
    pages: Vec<Box<[Line]>>,
    /// Per kv head, one exponent per position.
    exp: Vec<Vec<i32>>,
}

impl Paged {
    fn new(heads: usize, head_dim: usize, pairs: bool) -> Self {
        Paged {
            heads,
            head_dim,
            pairs,
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
            if self.pairs {
                for (i, &v) in a.q.iter().enumerate() {
                    b[(i / 2 * PAGE + t) * 2 + i % 2] = v;
                }
            } else {
                b[t * hd..(t + 1) * hd].copy_from_slice(&a.q);
            }
            self.exp[h].push(a.exp);
        }
    }

    /// Values of one kv head in a page: `PAGE` rows, or `PAGE` positions of each
    /// value pair.
    fn block_len(&self) -> usize {
        if self.pairs {
            self.head_dim.div_ceil(2) * 2 * PAGE
        } else {
            self.head_dim * PAGE
        }
    }

    /// The rows of kv head `kvh` at the positions `pos..=last` that share `pos`'s
    /// page, `head_dim` apart: the slice and how many rows it holds (values).
    #[inline]
    pub(super) fn run(&self, kvh: usize, pos: usize, last: usize) -> (&[i16], usize) {
        debug_assert!(!self.pairs, "rows of a cache stored in pairs");
        let (block, count) = self.block(kvh, pos, last);
        let o = pos % PAGE * self.head_dim;
        (&block[o..o + count * self.head_dim], count)
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
            keys: Paged::new(shape.n_head_kv, shape.head_dim, true),
            values: Paged::new(shape.n_head_kv, shape.head_dim, false),
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
