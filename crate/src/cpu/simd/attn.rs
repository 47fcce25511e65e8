//! The attention's value accumulation over many cached rows at once
//! ([`acc_rows`]): `acc[i] += sum_t (w_t * x_ti) << up_t`, modulo 2^64, the
//! definition's `sum_t aw_t * V_ti` (docs/numerics.md, section 7) for the positions
//! whose values are stored with a left shift `up_t` (`V_ti = x_ti << up_t`). AVX2
//! twin in `attn_avx2.rs` (and AVX-512 in `attn_avx512.rs`, where the CPU has it),
//! simd128 twin in `attn_simd128.rs`; `attn_tests.rs` compares them with the scalar
//! loop.
//!
//! # One shift per batch
//!
//! A left shift distributes over wrapping sums (`(a + b) << u = (a << u) + (b << u)`
//! modulo 2^64), and `(w x) << up = (w 2^(up - U) x) << U` for `U <= up`. So a
//! batch of rows whose smallest shift is `U` may sum `w'_t x_ti` exactly, with
//! `w'_t = w_t 2^(up_t - U)`, and shift the sum once by `U`; the order of the
//! wrapping additions cannot change the result. A batch takes rows while
//! `S = sum w'_t < 2^31` ([`batch`]); a single row is always allowed (`w < 2^31`).
//! In attention the weights sum to at most `2^30` (`floor(p_t 2^30 / S)`), so rows
//! whose shifts differ by at most one never close a batch early.
//!
//! # Weights in 16-bit limbs
//!
//! The SIMD twins multiply with the i16 pair-multiply-add (`pmaddwd`, `vpdpwssd`,
//! `i32x4.dot_i16x8_s`), two rows (positions) per instruction: each `w' < 2^31` is
//! split into `a = w' >> 16` (`< 2^15`), `b = (w' >> 8) & 255` and `c = w' & 255`,
//! each limb with its own i32 lanes, so that
//! `sum_t w'_t x_ti = 2^16 A_i + 2^8 B_i + C_i`. No lane can wrap: the `a` of a
//! batch sum to at most `S / 2^16 < 2^15`, so `|A| < 2^30`, and a batch has at most
//! [`BATCH`] rows, so `|B|, |C| < 128 * 255 * 2^15 < 2^30`. Each batch is then
//! widened to i64, combined, shifted by `U` and added to `acc`.

use super::Twin;

/// Most rows in one batch of the SIMD twins.
pub(super) const BATCH: usize = 128;

/// The batch of rows that starts at `t0` (module docs): its end and its shift
/// `U`, the smallest `up` of its rows of nonzero weight. It takes rows while
/// `sum_t w_t 2^(up_t - U)` stays below 2^31, at most [`BATCH`], and at least one
/// (`w[t0] < 2^31`).
#[inline]
pub(super) fn batch(w: &[u32], up: &[u8], t0: usize) -> (usize, u32) {
    let (mut u, mut sum) = (up[t0] as u32, w[t0] as u64);
    let mut t = t0 + 1;
    while t < w.len() && t - t0 < BATCH {
        let (wt, ut) = (w[t] as u64, up[t] as u32);
        // A row of weight 0 adds nothing at any shift; after only such rows, the
        // first other row sets the shift.
        if wt == 0 || sum == 0 {
            if wt != 0 {
                (u, sum) = (ut, wt);
            }
            t += 1;
            continue;
        }
        // Shifts of 32 or more would leave u64 for sums near 2^31.
        let next = if ut >= u {
            (ut - u < 32).then(|| (u, sum + (wt << (ut - u))))
        } else {
            (u - ut < 32).then(|| (ut, (sum << (u - ut)) + wt))
        };
        match next {
            Some((nu, ns)) if ns < 1 << 31 => (u, sum) = (nu, ns),
            _ => break,
        }
        t += 1;
    }
    (t, u)
}

/// `acc[i] += sum_t (w[t] * x_ti) << up[t]` modulo 2^64 for `i < acc.len()`, where
/// `x_t` holds the values of position `t0 + t` of `block`, a page block stored in
/// position pairs of `stride` values each (value `i` of position `s` at
/// `(s / 2 * stride + i) * 2 + s % 2`: `kv_cache.rs`), on the fastest twin this
/// machine has. `block` must hold every pair of the positions; every shift must be
/// below 64.
pub fn acc_rows(acc: &mut [i64], block: &[i16], stride: usize, t0: usize, w: &[u32], up: &[u8]) {
    acc_rows_on(Twin::detected(), acc, block, stride, t0, w, up)
}

/// [`acc_rows`] on a given twin. Weights of `2^31` and more, and vector lengths off
/// the SIMD step, go to the scalar loop.
pub fn acc_rows_on(
    twin: Twin,
    acc: &mut [i64],
    block: &[i16],
    stride: usize,
    t0: usize,
    w: &[u32],
    up: &[u8],
) {
    assert_eq!(
        w.len(),
        up.len(),
        "acc_rows: one weight and one shift per row"
    );
    let n = acc.len();
    if w.is_empty() || n == 0 {
        return;
    }
    // One pass each, without early exits (they vectorize): the smallest and largest
    // shift, and whether every weight is below 2^31.
    let shifts = up
        .iter()
        .fold((u8::MAX, 0), |(lo, hi), &u| (lo.min(u), hi.max(u)));
    assert!(shifts.1 < 64, "acc_rows: shift out of range");
    let shifts = (shifts.0 as u32, shifts.1 as u32);
    assert!(
        n <= stride && block.len() >= (t0 + w.len() - 1) / 2 * 2 * stride + 2 * stride,
        "acc_rows: rows out of range"
    );
    let narrow = w.iter().fold(0, |a, &w| a | w) < 1 << 31;
    match twin {
        #[cfg(target_arch = "x86_64")]
        Twin::Avx2 if narrow && n.is_multiple_of(16) => {
            assert!(
                std::arch::is_x86_feature_detected!("avx2"),
                "no AVX2 on this CPU"
            );
            // SAFETY: AVX2 (and for the other twin AVX-512) is present; `block` holds
            // every pair, `n <= stride`, `n % 16 == 0` (32 for AVX-512), every weight
            // is below 2^31 and every shift below 64 (checked above).
            Pairs::with(shifts, |b| unsafe {
                if n.is_multiple_of(32) && super::avx512() {
                    super::attn_avx512::acc_rows(b, acc, block, stride, t0, w, up)
                } else {
                    super::attn_avx2::acc_rows(b, acc, block, stride, t0, w, up)
                }
            })
        }
        #[cfg(target_arch = "wasm32")]
        Twin::Simd128 if narrow && n.is_multiple_of(8) => {
            // SAFETY: as above, with `n % 8 == 0`.
            Pairs::with(shifts, |b| unsafe {
                super::attn_simd128::acc_rows(b, acc, block, stride, t0, w, up)
            })
        }
        _ => {
            for (t, (&w, &u)) in w.iter().zip(up).enumerate() {
                let s = t0 + t;
                let x = &block[s / 2 * 2 * stride + s % 2..];
                for (a, &v) in acc.iter_mut().zip(x.iter().step_by(2)) {
                    *a = a.wrapping_add((w as i64 * v as i64).wrapping_shl(u as u32));
                }
            }
        }
    }
}

/// One batch made ready for a SIMD twin: the rows from `b0` that [`batch`] takes,
/// as the position pairs of the block they are in, and each pair's weight limbs
/// ([`limb_pairs`]); a pair's row outside the batch (the other row of a pair at
/// either end) has weight 0.
pub(super) struct Pairs {
    /// The smallest and the largest shift of all the rows of the call
    /// ([`acc_rows_on`] finds them).
    shifts: (u32, u32),
    /// The batch's end and shift.
    pub end: usize,
    pub shift: u32,
    /// Pairs filled in `limbs`.
    pub count: usize,
    /// The first pair's values; the next pairs follow, `2 * stride` values apart.
    pub first: *const i16,
    pub limbs: [[i32; 3]; BATCH / 2 + 1],
    /// The rows' scaled weights in pair order ([`Pairs::fill_whole`]): a leading
    /// 0 when the first row is a pair's second, a trailing 0 after the last.
    scaled: [u32; BATCH + 2],
}

thread_local! {
    static PAIRS: std::cell::RefCell<Pairs> = const {
        std::cell::RefCell::new(Pairs {
            shifts: (0, 0),
            end: 0,
            shift: 0,
            count: 0,
            first: std::ptr::null(),
            limbs: [[0; 3]; BATCH / 2 + 1],
            scaled: [0; BATCH + 2],
        })
    };
}

impl Pairs {
    /// Calls `f` with this thread's `Pairs`, given the smallest and largest shift
    /// of the call's rows: kept from call to call, so that a call does not clear
    /// its few KiB (every entry a twin reads is filled in first).
    pub(super) fn with<R>(shifts: (u32, u32), f: impl FnOnce(&mut Pairs) -> R) -> R {
        PAIRS.with_borrow_mut(|b| {
            b.shifts = shifts;
            f(b)
        })
    }

    /// Fills in the batch that starts at row `b0` of the rows `w` (positions
    /// `t0..` of `block`, [`acc_rows`]).
    ///
    /// # Safety
    /// `block` must hold every pair of positions `t0..t0 + w.len()`, `2 * stride`
    /// values each.
    #[inline(always)]
    pub(super) unsafe fn fill(
        &mut self,
        block: &[i16],
        stride: usize,
        t0: usize,
        w: &[u32],
        up: &[u8],
        b0: usize,
    ) {
        let (b1, u) = if b0 == 0 && self.fill_whole(t0, w, up) {
            (w.len(), self.shifts.0)
        } else {
            let (b1, u) = batch(w, up, b0);
            self.limbs_of(t0, w, up, u, b0, b1);
            (b1, u)
        };
        self.first = block.as_ptr().add((t0 + b0) / 2 * 2 * stride);
        (self.end, self.shift) = (b1, u);
    }

    /// The common case, in one pass over the rows: when all of them (at most
    /// [`BATCH`]) make one batch with the smallest shift `U` of them all, that is
    /// when `sum_t w_t 2^(up_t - U) < 2^31`, fills in their limbs and returns true
    /// (a batch's rows and split are [`batch`]'s otherwise; any split gives the
    /// same sums, module docs).
    #[inline(always)]
    fn fill_whole(&mut self, t0: usize, w: &[u32], up: &[u8]) -> bool {
        let (n, (u, top)) = (w.len(), self.shifts);
        if n > BATCH || top - u >= 32 {
            return false;
        }
        let lead = t0 % 2;
        let scaled = &mut self.scaled[..lead + n + 1];
        scaled[0] = 0;
        // Each term is below 2^63 (w < 2^32, a shift below 32). While all are
        // below 2^31 (their or), their sum (at most 128 of them) is exact.
        let (mut any, mut sum) = (0u64, 0u64);
        for (s, (&w, &t)) in scaled[lead..lead + n].iter_mut().zip(w.iter().zip(up)) {
            let v = (w as u64) << (t as u32 - u);
            any |= v;
            sum = sum.wrapping_add(v);
            *s = v as u32;
        }
        if (any | sum) >= 1 << 31 {
            return false;
        }
        scaled[lead + n] = 0;
        let count = (lead + n).div_ceil(2);
        for (l, p) in self.limbs[..count].iter_mut().zip(scaled.chunks_exact(2)) {
            *l = limb_pairs(p[0], p[1]);
        }
        self.count = count;
        true
    }

    /// The limbs of the pairs of positions `t0 + b0..t0 + b1` (rows `b0..b1`, one
    /// batch with shift `u`).
    #[inline(always)]
    fn limbs_of(&mut self, t0: usize, w: &[u32], up: &[u8], u: u32, b0: usize, b1: usize) {
        // Row `r` of the batch (a pair's row outside it, or of weight 0, adds 0).
        let scaled = |r: usize| -> u32 {
            if !(b0..b1).contains(&r) || w[r] == 0 {
                0
            } else {
                w[r] << (up[r] as u32 - u)
            }
        };
        let (p0, p1) = ((t0 + b0) / 2, (t0 + b1 - 1) / 2);
        for p in p0..=p1 {
            // Row of the pair's even position (wrapping below 0: outside the batch).
            let r = (2 * p).wrapping_sub(t0);
            self.limbs[p - p0] = limb_pairs(scaled(r), scaled(r.wrapping_add(1)));
        }
        self.count = p1 + 1 - p0;
    }
}

/// The weights `w0` and `w1` (scaled to their batch's shift, below 2^31) of a
/// pair's two rows in limbs (module docs): each limb as one i32 whose low 16 bits
/// multiply the pair's first row and high 16 bits its second (the
/// pair-multiply-add's order).
#[inline(always)]
pub(super) fn limb_pairs(w0: u32, w1: u32) -> [i32; 3] {
    let pair = |l0: u32, l1: u32| (l0 | (l1 << 16)) as i32;
    [
        pair(w0 >> 16, w1 >> 16),
        pair((w0 >> 8) & 255, (w1 >> 8) & 255),
        pair(w0 & 255, w1 & 255),
    ]
}
