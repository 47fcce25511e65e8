//! The AVX2 twins of the attention kernels. [`acc_rows`] (module docs of
//! `attn.rs`): sixteen values of two positions per step, two loads of the cache's
//! position pairs (the same value of both positions side by side), multiplied by
//! the three weight limbs with `pmaddwd`, into six i32 accumulators
//! that stay in registers over a batch of rows. [`dots_pairs`] (module docs of
//! `simd/mod.rs`, "The attention dot products"): keys stored in value pairs, eight
//! positions per register.

use super::attn::Pairs;
use super::KeyQuery;
use std::arch::x86_64::*;

/// Adds the limb sums of the 16 values at `acc` (`lo`: values 0..8, `hi`:
/// 8..16, in order) to them, combined and shifted by `count`:
/// `(2^16 A + 2^8 B + C) << U`.
#[inline(always)]
unsafe fn flush(acc: *mut i64, lo: [__m256i; 3], hi: [__m256i; 3], count: __m128i) {
    let part = |v: [__m256i; 3], upper: bool| -> __m256i {
        let [a, b, c] = v.map(|x| {
            let h = if upper {
                _mm256_extracti128_si256::<1>(x)
            } else {
                _mm256_castsi256_si128(x)
            };
            _mm256_cvtepi32_epi64(h)
        });
        let t = _mm256_add_epi64(
            _mm256_add_epi64(_mm256_slli_epi64::<16>(a), _mm256_slli_epi64::<8>(b)),
            c,
        );
        _mm256_sll_epi64(t, count)
    };
    for (off, t) in [
        (0, part(lo, false)),
        (4, part(lo, true)),
        (8, part(hi, false)),
        (12, part(hi, true)),
    ] {
        let p = acc.add(off) as *mut __m256i;
        _mm256_storeu_si256(p, _mm256_add_epi64(_mm256_loadu_si256(p), t));
    }
}

/// See [`super::acc_rows`]. The caller has checked that AVX2 is present, that
/// `acc.len()` is a multiple of 16 and at most `stride`, that `block` holds every
/// pair of positions `t0..t0 + w.len()`, that every weight is below 2^31 and every
/// shift below 64. `b` is this thread's [`Pairs`], its `shifts` set (`attn.rs`,
/// `acc_rows_on`).
#[target_feature(enable = "avx2")]
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
        let (limbs, first) = (&b.limbs, b.first);
        let mut c = 0;
        while c < n {
            let z = _mm256_setzero_si256();
            let (mut lo, mut hi) = ([z; 3], [z; 3]);
            for (p, l) in limbs[..pairs].iter().enumerate() {
                // SAFETY: the pair holds 2 stride >= 2 n values and c + 16 <= n.
                let x = first.add(p * 2 * stride + 2 * c);
                let xl = _mm256_loadu_si256(x as *const __m256i);
                let xh = _mm256_loadu_si256(x.add(16) as *const __m256i);
                for k in 0..3 {
                    let wv = _mm256_set1_epi32(l[k]);
                    lo[k] = _mm256_add_epi32(lo[k], _mm256_madd_epi16(xl, wv));
                    hi[k] = _mm256_add_epi32(hi[k], _mm256_madd_epi16(xh, wv));
                }
            }
            // SAFETY: c + 16 <= n = acc.len().
            flush(acc.as_mut_ptr().add(c), lo, hi, _mm_cvtsi32_si128(u as i32));
            c += 16;
        }
        b0 = b1;
    }
}

/// `G` groups of 16 positions (two registers of eight i32 lanes each) from `tb`
/// of [`super::dots_pairs`]: per value pair `k`, one load per register and one
/// pair-multiply-add each for the high and the low bytes of the query.
#[inline(always)]
unsafe fn key_groups<const G: usize>(
    qh: &[i32],
    ql: &[i32],
    block: *const i16,
    page: usize,
    tb: usize,
    sums: &mut [i64; 32],
) {
    let z = _mm256_setzero_si256();
    let (mut h, mut l) = ([[z; 2]; G], [[z; 2]; G]);
    for (k, (&a, &b)) in qh.iter().zip(ql).enumerate() {
        let (wa, wb) = (_mm256_set1_epi32(a), _mm256_set1_epi32(b));
        for g in 0..G {
            for r in 0..2 {
                let at = (k * page + tb + 16 * g + 8 * r) * 2;
                let kv = _mm256_loadu_si256(block.add(at) as *const __m256i);
                h[g][r] = _mm256_add_epi32(h[g][r], _mm256_madd_epi16(kv, wa));
                l[g][r] = _mm256_add_epi32(l[g][r], _mm256_madd_epi16(kv, wb));
            }
        }
    }
    for g in 0..G {
        for r in 0..2 {
            for half in 0..2 {
                let widen = |x: __m256i| {
                    _mm256_cvtepi32_epi64(if half == 0 {
                        _mm256_castsi256_si128(x)
                    } else {
                        _mm256_extracti128_si256::<1>(x)
                    })
                };
                let d = _mm256_add_epi64(_mm256_slli_epi64::<8>(widen(h[g][r])), widen(l[g][r]));
                let at = 16 * g + 8 * r + 4 * half;
                _mm256_storeu_si256(sums.as_mut_ptr().add(at) as *mut __m256i, d);
            }
        }
    }
}

/// See [`super::dots_pairs`]: positions in aligned groups of 16, up to two groups
/// at a time. The caller has checked that AVX2 is present, that `q.len()` is even
/// and at most 256, that `page` is a multiple of 16, that `t0 + out.len() <= page`
/// and that `block` holds the page.
#[target_feature(enable = "avx2")]
pub unsafe fn dots_pairs(q: &KeyQuery, block: &[i16], page: usize, t0: usize, out: &mut [i64]) {
    let (qh, ql) = q.pairs();
    let end = t0 + out.len();
    let mut sums = [0i64; 32];
    let mut tb = t0 - t0 % 16;
    while tb < end {
        let g = (end - tb).div_ceil(16).min(2);
        let b = block.as_ptr();
        match g {
            1 => key_groups::<1>(qh, ql, b, page, tb, &mut sums),
            _ => key_groups::<2>(qh, ql, b, page, tb, &mut sums),
        }
        let (from, to) = (tb.max(t0), (tb + 16 * g).min(end));
        out[from - t0..to - t0].copy_from_slice(&sums[from - tb..to - tb]);
        tb += 16 * g;
    }
}
