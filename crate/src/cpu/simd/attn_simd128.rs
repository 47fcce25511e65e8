//! The simd128 twins of the attention kernels. [`acc_rows`] (module docs of
//! `attn.rs`): eight values of two positions per step, two loads of the cache's
//! position pairs (the same value of both positions side by side), multiplied by
//! the three weight limbs with `i32x4.dot_i16x8_s` (each limb
//! splatted as it is loaded), into six i32 accumulators kept over a batch of rows.
//! [`dots_pairs`] (module docs of `simd/mod.rs`, "The attention dot products"):
//! keys stored in value pairs, four positions per register.

use super::attn::Pairs;
use super::KeyQuery;
use std::arch::wasm32::*;

/// `(2^16 A + 2^8 B + C) << u` of two i32 lanes (`high`: lanes 2, 3) in i64.
#[inline(always)]
fn combine(v: [v128; 3], high: bool, up: u32) -> v128 {
    let [a, b, c] = v.map(|x| {
        if high {
            i64x2_extend_high_i32x4(x)
        } else {
            i64x2_extend_low_i32x4(x)
        }
    });
    let t = i64x2_add(i64x2_add(i64x2_shl(a, 16), i64x2_shl(b, 8)), c);
    i64x2_shl(t, up)
}

/// See [`super::acc_rows`]. The caller has checked that `acc.len()` is a multiple
/// of 8 and at most `stride`, that `block` holds every pair of positions
/// `t0..t0 + w.len()`, that every weight is below 2^31 and that every shift is
/// below 64. `b` is this thread's [`Pairs`], its `shifts` set (`attn.rs`,
/// `acc_rows_on`). Each limb is splatted as it is loaded (`v128.load32_splat`: one
/// instruction), so no splatted copy is kept. Never inlined (nor is [`dots_pairs`]):
/// inlined into the attention's loops, V8 compiled both about half as fast.
#[inline(never)]
pub unsafe fn acc_rows(
    b: &mut Pairs,
    acc: &mut [i64],
    block: &[i16],
    stride: usize,
    t0: usize,
    w: &[u32],
    up: &[u8],
) {
    let n = acc.len();
    let mut b0 = 0;
    while b0 < w.len() {
        b.fill(block, stride, t0, w, up, b0);
        let (b1, u, pairs) = (b.end, b.shift, b.count);
        let (limbs, first) = (&b.limbs[..pairs], b.first);
        let mut c = 0;
        while c < n {
            let z = i32x4_splat(0);
            let (mut lo, mut hi) = ([z; 3], [z; 3]);
            for (p, l) in limbs.iter().enumerate() {
                // SAFETY: the pair holds 2 stride >= 2 n values and c + 8 <= n.
                let x = first.add(p * 2 * stride + 2 * c);
                let xl = v128_load(x as *const v128);
                let xh = v128_load(x.add(8) as *const v128);
                for k in 0..3 {
                    let wv = v128_load32_splat(&l[k] as *const i32 as *const u32);
                    lo[k] = i32x4_add(lo[k], i32x4_dot_i16x8(xl, wv));
                    hi[k] = i32x4_add(hi[k], i32x4_dot_i16x8(xh, wv));
                }
            }
            // SAFETY: c + 8 <= n = acc.len(); v128 loads and stores may be unaligned.
            let p = acc.as_mut_ptr().add(c);
            for (o, t) in [
                (0, combine(lo, false, u)),
                (2, combine(lo, true, u)),
                (4, combine(hi, false, u)),
                (6, combine(hi, true, u)),
            ] {
                let q = p.add(o) as *mut v128;
                v128_store(q, i64x2_add(v128_load(q), t));
            }
            c += 8;
        }
        b0 = b1;
    }
}

/// See [`super::dots_pairs`]: positions in aligned groups of 16 (four registers of
/// four i32 lanes); per value pair `k`, one load per register and one
/// `i32x4.dot_i16x8_s` each for the high and the low bytes of the query. The
/// caller has checked that the query's length is even and at most 256, that `page` is a
/// multiple of 16, that `t0 + out.len() <= page` and that `block` holds the page.
#[inline(never)]
pub unsafe fn dots_pairs(q: &KeyQuery, block: &[i16], page: usize, t0: usize, out: &mut [i64]) {
    let (qh, ql) = q.pairs();
    let end = t0 + out.len();
    let mut sums = [0i64; 16];
    let mut tb = t0 - t0 % 16;
    while tb < end {
        let z = i32x4_splat(0);
        let (mut h, mut l) = ([z; 4], [z; 4]);
        for (k, (a, b)) in qh.iter().zip(ql).enumerate() {
            let (wa, wb) = (
                v128_load32_splat(a as *const i32 as *const u32),
                v128_load32_splat(b as *const i32 as *const u32),
            );
            for r in 0..4 {
                let kv = v128_load(block.as_ptr().add((k * page + tb + 4 * r) * 2) as *const v128);
                h[r] = i32x4_add(h[r], i32x4_dot_i16x8(kv, wa));
                l[r] = i32x4_add(l[r], i32x4_dot_i16x8(kv, wb));
            }
        }
        for r in 0..4 {
            let lo = i64x2_add(
                i64x2_shl(i64x2_extend_low_i32x4(h[r]), 8),
                i64x2_extend_low_i32x4(l[r]),
            );
            let hi = i64x2_add(
                i64x2_shl(i64x2_extend_high_i32x4(h[r]), 8),
                i64x2_extend_high_i32x4(l[r]),
            );
            v128_store(sums.as_mut_ptr().add(4 * r) as *mut v128, lo);
            v128_store(sums.as_mut_ptr().add(4 * r + 2) as *mut v128, hi);
        }
        let (from, to) = (tb.max(t0), (tb + 16).min(end));
        out[from - t0..to - t0].copy_from_slice(&sums[from - tb..to - tb]);
        tb += 16;
    }
}
