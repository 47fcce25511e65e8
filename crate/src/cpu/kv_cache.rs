//! The CPU executor's KV cache (docs/numerics.md, "Attention", step 1): each
//! layer's keys and values as the spec's 16-bit activations with one exponent per
//! position and kv head, laid out for [`super::attention`] over long contexts.
//!
//! Positions live in pages of [`PAGE`]; inside a page each kv head's rows are
//! contiguous (`[kv head × position × head_dim]` i16), so the rows one kv head
//! attends over are read as one sequential stream (8 KiB per page at 64 values a
//! head), and a page allocated once is never copied as the cache grows. Pages are
//! allocated in cache lines ([`Line`]), so a row of a multiple of 32 values starts
//! a line and spans no more lines than it must. Exponents are kept apart, one
//! list per kv head.

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
    pages: Vec<Box<[Line]>>,
    /// Per kv head, one exponent per position.
    exp: Vec<Vec<i32>>,
}

impl Paged {
    fn new(heads: usize, head_dim: usize) -> Self {
        Paged {
            heads,
            head_dim,
            pages: Vec::new(),
            exp: vec![Vec::new(); heads],
        }
    }

    /// Appends one position at `len` (the current length): its heads quantized from
    /// the Q16 `row` of `heads × head_dim` values.
    fn push(&mut self, len: usize, row: &[i32]) {
        let hd = self.head_dim;
        if len / PAGE == self.pages.len() {
            let lines = (PAGE * self.heads * hd).div_ceil(32);
            self.pages
                .push(vec![Line([0; 32]); lines].into_boxed_slice());
        }
        let page: &mut [i16] = bytemuck::cast_slice_mut(&mut self.pages[len / PAGE]);
        for (h, x) in row.chunks_exact(hd).enumerate() {
            let a = Act::from_q16(x);
            let o = (h * PAGE + len % PAGE) * hd;
            page[o..o + hd].copy_from_slice(&a.q);
            self.exp[h].push(a.exp);
        }
    }

    /// The rows of kv head `kvh` at the positions `pos..=last` that share `pos`'s
    /// page, `head_dim` apart: the slice and how many rows it holds.
    #[inline]
    pub(super) fn run(&self, kvh: usize, pos: usize, last: usize) -> (&[i16], usize) {
        let page: &[i16] = bytemuck::cast_slice(&self.pages[pos / PAGE]);
        let count = (PAGE - pos % PAGE).min(last + 1 - pos);
        let o = (kvh * PAGE + pos % PAGE) * self.head_dim;
        (&page[o..o + count * self.head_dim], count)
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
            keys: Paged::new(shape.n_head_kv, shape.head_dim),
            values: Paged::new(shape.n_head_kv, shape.head_dim),
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
