//! SIMD twins of the exact row accumulator [`quant::row_dot_acc`], of the
//! attention score dot product [`attention::dot_i16`] (one key, or many at once:
//! [`dots_pairs`]) and of the attention's value accumulation ([`acc_rows`], a page
//! of rows at once: `attn.rs`): AVX2 on x86_64 (chosen at run time, `avx2.rs`;
//! the row accumulator in `batch_avx2.rs`, the attention kernels in
//! `attn_avx2.rs`, and on CPUs with AVX-512 F, BW and VNNI their `attn_avx512.rs`
//! twins, taken inside the AVX2 arm: [`avx512`]), simd128 on wasm32
//! (`simd128.rs`, `attn_simd128.rs`), the scalar definition elsewhere ([`Twin`]
//! names them; `shift.rs` holds what the two SIMD twins share). Every twin returns the scalar bits for every input;
//! `tests.rs` compares each twin with the definition, natively and on wasm32. The
//! block formats spec `exact-2` adds have their own twins (`exact2.rs`, tested in
//! `exact2_tests.rs`).
//!
//! # The attention dot product
//!
//! [`dot_i16`] (one key; the executor uses [`dots_pairs`] below). Its inputs are
//! activations (`|x| <= 32767`, symmetric), so a pair sum
//! `a0*b0 + a1*b1` is at most `2 * 32767^2 < 2^31` and the i16 pair-multiply-add
//! instructions (`pmaddwd`, `i32x4.dot_i16x8_s`) are exact; each pair sum is widened
//! to i64 before it is added, and i64 sums wrap like the definition's, so the total
//! is the definition's in any order.
//!
//! # One shift per row
//!
//! The spec (docs/numerics.md, section 3) rounds each term on its own:
//! `T = round_shift(dm * S, s)` with `s = -(de + e + 32)`, where `dm * 2^de` is the
//! block's f16 scale, `e` the activation exponent and `S` the block's exact integer
//! sum (`S1`, or `S0` for the Q4_1 minimum). The shift depends on the block, so the
//! plain code runs a serial chain per block: horizontal sum, multiply, a left or
//! right shift by a variable amount, add. The twins rewrite the term:
//!
//! * `k = de + 24` is in `0..=29` for every finite f16, so `F = dm * 2^k` (the scale
//!   times 2^24) is an exact integer, and `s = U - k` with `U = -(e + 8)`, which
//!   depends on the activation only: one shift for the whole row.
//! * For `U >= 1`: if `s > 0`, `round_shift(dm*S, s) = floor((dm*S + 2^(s-1)) /
//!   2^s)`; multiplying numerator and denominator by `2^k` gives
//!   `floor((F*S + 2^(U-1)) / 2^U) = round_shift(F*S, U)`. If `s <= 0`, the spec's
//!   value is `dm*S * 2^-s`, and `F*S = dm*S * 2^-s * 2^U` is an exact multiple of
//!   `2^U`, so `round_shift(F*S, U)` is again that value. Either way
//!   `T = round_shift(F*S, U)` exactly, as long as `F*S` is exact.
//! * For `-63 <= U <= 0` every `s = U - k` is `<= 0`: the spec's value is
//!   `dm*S << -s` modulo 2^64 (0 for `-s >= 64`), and `F*S << -U` is
//!   `dm*S * 2^(k-U)` modulo 2^64: the same number.
//!
//! The fast paths decode `F` only where `|F| < 2^31` (exponent fields up to 21 on
//! AVX2, 18 on wasm, which has no per-lane shifts), so `F*S` is one signed
//! 32×32→64 multiply; `|S| < 2^27` (section 9 bounds: `|a| <= 32767`) gives
//! `|F*S| < 2^58`. A row with a scale outside that range, or an activation exponent
//! outside `-65..=55` (`U` outside `-63..=57`), is computed by the scalar code
//! instead, so the twins never guess.
//!
//! # Rounding without 64-bit arithmetic shifts
//!
//! For `U >= 1`, `x = F*S + 2^(U-1)` and `x & -2^U` is `2^U * floor(x / 2^U)
//! = 2^U * T`: the term, still multiplied by `2^U`. Accumulator lanes add these
//! (exactly: below 2^59 each for `U <= 57`, and a lane is flushed at least every 16
//! terms, so a lane's sum stays below 2^63); a flush shifts each lane right by `U`,
//! which is exact because the lane holds a multiple of `2^U`. (AVX2 has no 64-bit
//! arithmetic shift and wasm's `i64x2.shr_s` is emulated on x86 hosts; this needs
//! neither in the loop.) For `U <= 0` the lanes add `F*S` (wrapping) and a flush
//! shifts left by `-U`: a left shift distributes over wrapping sums. The row sum
//! adds the flushed lane sums wrapping, like the spec's accumulator, so the order of
//! terms cannot matter.
//!
//! # Shapes
//!
//! AVX2 handles one row, four blocks per step: four independent dot products, one
//! horizontal reduction for all four, one vector scale step. wasm handles two rows
//! and two blocks per tile, two tiles per loop step: the rows share the activation
//! loads, and the four (row, block) sums of a tile share one reduction and one scale
//! decode. wasm also reads the activation in a per-block permuted order
//! ([`Prepared`], made once per matmul input), which lets 16-bit shifts pick the
//! nibbles or bytes of a weight register in place of byte → 16-bit widening.
//!
//! # Legacy blocks
//!
//! exact-2's 32-element Q4_0, Q5_0 and Q5_1 blocks have exact-1's terms: a scale
//! `d` times the block's `S1` and, for Q5_1 as for Q4_1, a minimum `m` times the
//! activation's block sum, each `round_shift(dm * S, -(de + e + 32))`
//! (docs/numerics.md, section 14). Their weights are nibbles plus a fifth bit minus
//! an offset (`|q| <= 16`), so `|S| < 2^27` as above, and the AVX2 one-shift
//! kernels take them with the same arithmetic, unpacking each layout's weights;
//! rows or activations off the fast path go to exact-2's definition. The
//! K-quants keep their own twins (`exact2.rs`).
//!
//! # Batches
//!
//! A prompt multiplies each weight matrix by many activations (one per token).
//! [`rows_dot_batch`] hands them to the twin together: AVX2 (`batch_avx2.rs`) takes
//! one weight row against four activations at a time, loading and widening each
//! block's weights and decoding each group's scales once for the four. Each
//! activation keeps its own lanes and its own shift and gets exactly its own terms,
//! so the sums are the same bits as one activation at a time (a decode step is a
//! batch of one). The other twins take the activations one after another.
//!
//! # The attention dot products
//!
//! [`dots_pairs`] takes one query against the keys of many positions, stored in
//! value pairs (`super::kv_cache`: one load holds values `2k` and `2k + 1` of
//! consecutive positions), so each i32 lane sums one position's products and no
//! sum across lanes is needed. The query is split into bytes, `q = 256 qh + ql`
//! with `qh = q >> 8` in `-128..=127` and `ql = q & 255` in `0..=255`, paired
//! the same way ([`KeyQuery`]) and multiplied with the pair-multiply-add
//! (`pmaddwd`, `vpdpwssd`, `i32x4.dot_i16x8_s`): a product is at most
//! `2^15 * 255 < 2^23` in magnitude, so up to 256 of them (a head of at most 256
//! values) sum to at most `256 * 255 * 2^15 < 2^31` in a lane with no widening;
//! the dot product is `256 Sh + Sl` in i64, exactly.

use crate::exact::act::{Act, BLOCK};
use crate::exact::attention;
use crate::exact::fixed::{round_shift, sat_i32};
use crate::exact::quant::{self, WeightFormat, ACC_FRAC, OUT_FRAC};

mod attn;
#[cfg(target_arch = "x86_64")]
mod attn_avx2;
#[cfg(target_arch = "x86_64")]
mod attn_avx512;
#[cfg(target_arch = "wasm32")]
mod attn_simd128;
#[cfg(test)]
mod attn_tests;
#[cfg(target_arch = "x86_64")]
mod avx2;
#[cfg(target_arch = "x86_64")]
mod batch_avx2;
#[cfg(test)]
mod batch_tests;
mod exact2;
#[cfg(target_arch = "x86_64")]
mod exact2_avx2;
#[cfg(target_arch = "wasm32")]
mod exact2_simd128;
#[cfg(test)]
mod exact2_tests;
#[cfg(any(target_arch = "x86_64", target_arch = "wasm32"))]
mod shift;
#[cfg(target_arch = "wasm32")]
mod simd128;
pub mod softmax;
#[cfg(target_arch = "x86_64")]
mod softmax_avx2;
#[cfg(test)]
mod tests;

pub use attn::{acc_rows, acc_rows_on};
pub use softmax::{exps, exps_on, scores, scores_on, weights, weights_on};

/// The implementations of the kernels of this module. Each twin returns the scalar
/// definition's bits; [`Twin::detected`] is the one the executor uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Twin {
    /// The definition itself: [`quant::row_dot_acc`] row by row, [`attention::dot_i16`].
    Scalar,
    /// x86_64 with AVX2 (detected at run time).
    #[cfg(target_arch = "x86_64")]
    Avx2,
    /// wasm32 built with `+simd128` (`.cargo/config.toml`).
    #[cfg(target_arch = "wasm32")]
    Simd128,
}

impl Twin {
    /// The fastest twin this machine has: AVX2 on an x86_64 CPU that has it, simd128
    /// on wasm32, otherwise the scalar definition.
    pub fn detected() -> Twin {
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx2") {
                Twin::Avx2
            } else {
                Twin::Scalar
            }
        }
        #[cfg(target_arch = "wasm32")]
        {
            Twin::Simd128
        }
        #[cfg(not(any(target_arch = "x86_64", target_arch = "wasm32")))]
        {
            Twin::Scalar
        }
    }
}

#[cfg(target_arch = "x86_64")]
thread_local! {
    static NO_AVX512: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Whether the attention kernels with an AVX-512 twin (`attn_avx512.rs`: the key
/// dot products and the value accumulation) take it inside the AVX2 arm: the CPU
/// has AVX-512 F, BW and VNNI and [`without_avx512`] is not in force.
#[cfg(target_arch = "x86_64")]
#[inline]
pub(super) fn avx512() -> bool {
    std::arch::is_x86_feature_detected!("avx512f")
        && std::arch::is_x86_feature_detected!("avx512bw")
        && std::arch::is_x86_feature_detected!("avx512vnni")
        && !NO_AVX512.get()
}

/// Runs `f` with the AVX-512 twins off on this thread, so that tests on a CPU
/// that has AVX-512 also check the AVX2 twins (the same bits either way). The
/// setting before is restored when `f` returns or panics.
#[cfg(target_arch = "x86_64")]
pub fn without_avx512<R>(f: impl FnOnce() -> R) -> R {
    struct Restore(bool);
    impl Drop for Restore {
        fn drop(&mut self) {
            NO_AVX512.set(self.0);
        }
    }
    let _restore = Restore(NO_AVX512.replace(true));
    f()
}

/// A matmul input made ready for the SIMD kernels, once per matmul: on wasm a copy
/// of the activation with each block's elements in the order
/// `0, 2, .., 14, 1, 3, .., 15, 16, 18, .., 30, 17, 19, .., 31`, the order in which
/// 16-bit lanes of a weight register hold the nibbles (Q4_1) or bytes (Q8_0).
pub struct Prepared<'a> {
    act: &'a Act,
    #[cfg(target_arch = "wasm32")]
    perm: Vec<i16>,
}

impl<'a> Prepared<'a> {
    /// `act` must be what [`Act::quantize`] builds (`|q| <= 32767`, `block_sums` the
    /// sums of the blocks of `q`): the kernels' overflow bounds rest on it.
    pub fn new(act: &'a Act) -> Self {
        debug_assert!(well_formed(act), "malformed activation");
        Prepared {
            act,
            #[cfg(target_arch = "wasm32")]
            perm: simd128::permute(&act.q),
        }
    }
}

/// Whether `act` keeps [`Act::quantize`]'s invariants.
fn well_formed(act: &Act) -> bool {
    let sums = act
        .q
        .chunks(BLOCK)
        .map(|b| b.iter().map(|&a| a as i32).sum::<i32>());
    act.q.iter().all(|&a| a != i16::MIN) && sums.zip(&act.block_sums).all(|(s, &t)| s == t)
}

/// Q32 accumulators of rows `0..n_rows` of `rows` (`row_bytes` bytes each) times the
/// activation of `x`, on `twin`: `emit(r, acc)` for each.
fn rows_acc(
    twin: Twin,
    format: WeightFormat,
    rows: &[u8],
    row_bytes: usize,
    n_rows: usize,
    x: &Prepared,
    emit: &mut impl FnMut(usize, i64),
) {
    assert!(rows.len() >= n_rows * row_bytes, "weight rows out of range");
    // exact-2's block formats have their own twins (`exact2.rs`), but for AVX2's
    // one-shift kernels, which take the legacy 32-element ones too.
    #[cfg(target_arch = "x86_64")]
    let own = twin == Twin::Avx2 && avx2::layout(format).is_some();
    #[cfg(not(target_arch = "x86_64"))]
    let own = false;
    if exact2::covers(format) && !own {
        return exact2::rows_acc(twin, format, rows, row_bytes, n_rows, x, emit);
    }
    match twin {
        Twin::Scalar => {
            for r in 0..n_rows {
                let w = &rows[r * row_bytes..(r + 1) * row_bytes];
                emit(r, quant::row_dot_acc(format, w, x.act));
            }
        }
        #[cfg(target_arch = "x86_64")]
        Twin::Avx2 => {
            assert!(
                std::arch::is_x86_feature_detected!("avx2"),
                "no AVX2 on this CPU"
            );
            // SAFETY: AVX2 is present; `rows` holds `n_rows` rows (checked above).
            unsafe {
                batch_avx2::rows_acc(
                    format,
                    rows,
                    row_bytes,
                    n_rows,
                    std::slice::from_ref(x),
                    &mut |_, r, acc| emit(r, acc),
                )
            };
        }
        #[cfg(target_arch = "wasm32")]
        Twin::Simd128 => simd128::rows_acc(format, rows, row_bytes, n_rows, x, emit),
    }
}

/// Q16 outputs of consecutive weight rows: `out[r]` is row `r` of `rows` (each
/// `row_bytes` bytes; `out.len()` rows) times `x`, as [`quant::row_dot`] computes it.
pub fn rows_dot(
    format: WeightFormat,
    rows: &[u8],
    row_bytes: usize,
    x: &Prepared,
    out: &mut [i32],
) {
    rows_dot_on(Twin::detected(), format, rows, row_bytes, x, out);
}

/// [`rows_dot`] on a given twin.
pub fn rows_dot_on(
    twin: Twin,
    format: WeightFormat,
    rows: &[u8],
    row_bytes: usize,
    x: &Prepared,
    out: &mut [i32],
) {
    let n_rows = out.len();
    rows_acc(twin, format, rows, row_bytes, n_rows, x, &mut |r, acc| {
        out[r] = to_q16(acc)
    });
}

/// Q16 outputs of rows `0..n_rows` of `rows` (`row_bytes` bytes each) times each
/// activation of `xs`: `emit(t, r, out)` with `out` what [`rows_dot`] gives for row
/// `r` and `xs[t]` (module docs, "Batches"). Each activation's rows come in order.
pub fn rows_dot_batch(
    format: WeightFormat,
    rows: &[u8],
    row_bytes: usize,
    n_rows: usize,
    xs: &[Prepared],
    emit: &mut impl FnMut(usize, usize, i32),
) {
    rows_dot_batch_on(Twin::detected(), format, rows, row_bytes, n_rows, xs, emit);
}

/// [`rows_dot_batch`] on a given twin.
pub fn rows_dot_batch_on(
    twin: Twin,
    format: WeightFormat,
    rows: &[u8],
    row_bytes: usize,
    n_rows: usize,
    xs: &[Prepared],
    emit: &mut impl FnMut(usize, usize, i32),
) {
    assert!(rows.len() >= n_rows * row_bytes, "weight rows out of range");
    match twin {
        #[cfg(target_arch = "x86_64")]
        Twin::Avx2 if xs.len() > 1 && avx2::layout(format).is_some() => {
            assert!(
                std::arch::is_x86_feature_detected!("avx2"),
                "no AVX2 on this CPU"
            );
            // SAFETY: AVX2 is present; `rows` holds `n_rows` rows (checked above).
            unsafe {
                batch_avx2::rows_acc(format, rows, row_bytes, n_rows, xs, &mut |t, r, acc| {
                    emit(t, r, to_q16(acc))
                })
            };
        }
        _ => {
            for (t, x) in xs.iter().enumerate() {
                rows_acc(twin, format, rows, row_bytes, n_rows, x, &mut |r, acc| {
                    emit(t, r, to_q16(acc))
                });
            }
        }
    }
}

/// Q32 accumulators of consecutive weight rows (see [`rows_dot`]).
pub fn rows_dot_acc(
    format: WeightFormat,
    rows: &[u8],
    row_bytes: usize,
    x: &Prepared,
    out: &mut [i64],
) {
    rows_dot_acc_on(Twin::detected(), format, rows, row_bytes, x, out);
}

/// [`rows_dot_acc`] on a given twin.
pub fn rows_dot_acc_on(
    twin: Twin,
    format: WeightFormat,
    rows: &[u8],
    row_bytes: usize,
    x: &Prepared,
    out: &mut [i64],
) {
    let n_rows = out.len();
    rows_acc(twin, format, rows, row_bytes, n_rows, x, &mut |r, acc| {
        out[r] = acc
    });
}

/// Q32 accumulator of `row` times `act` (see [`quant::row_dot_acc`]). Prepares `act`
/// on every call: matmuls go through [`rows_dot`] with one [`Prepared`] per input.
pub fn row_dot_acc(format: WeightFormat, row: &[u8], act: &Act) -> i64 {
    let mut out = [0];
    rows_dot_acc(format, row, row.len(), &Prepared::new(act), &mut out);
    out[0]
}

/// One Q16 output element (see [`quant::row_dot`]).
pub fn row_dot(format: WeightFormat, row: &[u8], act: &Act) -> i32 {
    to_q16(row_dot_acc(format, row, act))
}

#[inline(always)]
fn to_q16(acc: i64) -> i32 {
    sat_i32(round_shift(acc, ACC_FRAC - OUT_FRAC))
}

/// `sum a_i * b_i` for activation vectors ([`attention::dot_i16`]), on the fastest
/// twin this machine has.
#[inline]
pub fn dot_i16(a: &[i16], b: &[i16]) -> i64 {
    dot_i16_on(Twin::detected(), a, b)
}

/// [`dot_i16`] on a given twin.
#[inline]
pub fn dot_i16_on(twin: Twin, a: &[i16], b: &[i16]) -> i64 {
    match twin {
        Twin::Scalar => attention::dot_i16(a, b),
        #[cfg(target_arch = "x86_64")]
        Twin::Avx2 => {
            assert!(
                std::arch::is_x86_feature_detected!("avx2"),
                "no AVX2 on this CPU"
            );
            // SAFETY: AVX2 is present.
            unsafe { avx2::dot_i16(a, b) }
        }
        #[cfg(target_arch = "wasm32")]
        Twin::Simd128 => simd128::dot_i16(a, b),
    }
}

/// A query made ready for [`dots_pairs`], once per head: split into bytes (module
/// docs, "The attention dot products") and paired as the keys are, entry `k`
/// holding `qh` (or `ql`) of values `2k` (low 16 bits) and `2k + 1` (high 16 bits)
/// for the pair-multiply-add.
#[cfg_attr(
    not(any(target_arch = "x86_64", target_arch = "wasm32")),
    allow(dead_code)
)]
pub struct KeyQuery<'a> {
    q: &'a [i16],
    pub(super) h: [i32; MAX_DOT_LEN / 2],
    pub(super) l: [i32; MAX_DOT_LEN / 2],
}

impl<'a> KeyQuery<'a> {
    pub fn new(q: &'a [i16]) -> Self {
        let (mut h, mut l) = ([0i32; MAX_DOT_LEN / 2], [0i32; MAX_DOT_LEN / 2]);
        if q.len() <= MAX_DOT_LEN {
            for (k, two) in q.chunks_exact(2).enumerate() {
                let pair = |a: i16, b: i16| (a as u16 as u32 | (b as u16 as u32) << 16) as i32;
                h[k] = pair(two[0] >> 8, two[1] >> 8);
                l[k] = pair(two[0] & 255, two[1] & 255);
            }
        }
        KeyQuery { q, h, l }
    }

    /// The high-byte and low-byte pairs of the query's values.
    #[cfg(any(target_arch = "x86_64", target_arch = "wasm32"))]
    pub(super) fn pairs(&self) -> (&[i32], &[i32]) {
        let k = self.q.len() / 2;
        (&self.h[..k], &self.l[..k])
    }
}

/// Exact dot products of the query `q` with the keys of one kv head in a page
/// block laid out in value pairs (`super::kv_cache`): value `i` of position `t` at
/// `(i / 2 * page + t) * 2 + i % 2`. `out[j]` is [`attention::dot_i16`] of the
/// query and the keys at position `t0 + j`, on the fastest twin this machine has.
pub fn dots_pairs(q: &KeyQuery, block: &[i16], page: usize, t0: usize, out: &mut [i64]) {
    dots_pairs_on(Twin::detected(), q, block, page, t0, out)
}

/// Positions the SIMD twins of [`dots_pairs`] take at a time: 16 i32 lanes.
const KEY_LANES: usize = 16;

/// [`dots_pairs`] on a given twin. The SIMD twins compute positions in aligned
/// groups of [`KEY_LANES`] (a page of a multiple of them, an even head size up to
/// [`MAX_DOT_LEN`]) and keep those asked for; other shapes take the scalar loop.
pub fn dots_pairs_on(
    twin: Twin,
    q: &KeyQuery,
    block: &[i16],
    page: usize,
    t0: usize,
    out: &mut [i64],
) {
    let (n, len) = (out.len(), q.q.len());
    assert!(
        t0 + n <= page && block.len() >= len.div_ceil(2) * page * 2,
        "dots_pairs: positions out of the block"
    );
    if n == 0 {
        return;
    }
    let simd =
        len > 0 && len <= MAX_DOT_LEN && len.is_multiple_of(2) && page.is_multiple_of(KEY_LANES);
    match twin {
        #[cfg(target_arch = "x86_64")]
        Twin::Avx2 if simd => {
            assert!(
                std::arch::is_x86_feature_detected!("avx2"),
                "no AVX2 on this CPU"
            );
            // SAFETY: AVX2 (and for the other twin AVX-512) is present; the shapes
            // and the block are checked above.
            unsafe {
                if avx512() {
                    attn_avx512::dots_pairs(q, block, page, t0, out)
                } else {
                    attn_avx2::dots_pairs(q, block, page, t0, out)
                }
            }
        }
        #[cfg(target_arch = "wasm32")]
        Twin::Simd128 if simd => {
            // SAFETY: as above.
            unsafe { attn_simd128::dots_pairs(q, block, page, t0, out) }
        }
        _ => {
            for (j, o) in out.iter_mut().enumerate() {
                let t = t0 + j;
                *o =
                    q.q.iter()
                        .enumerate()
                        .map(|(i, &x)| x as i64 * block[(i / 2 * page + t) * 2 + i % 2] as i64)
                        .sum();
            }
        }
    }
}

/// Largest vector length of the SIMD [`dots_pairs`]: its split sums (module docs,
/// "The attention dot products") stay below 2^31 up to 256 products.
const MAX_DOT_LEN: usize = 256;
