//! AVX-512 twins of the attention kernels (x86_64 CPUs with AVX-512 F, BW and
//! VNNI, chosen at run time inside the AVX2 twin's arm: [`super::avx512`]): the
//! same integer steps as `attn_avx2.rs`, 16 i32 lanes per register, with
//! `vpdpwssd` (VNNI: `pmaddwd` and the add in one instruction, the same i32 sums
//! with no wrapping, since every bound of the AVX2 twins holds lane by lane).

use super::attn::Pairs;
use super::KeyQuery;
use std::arch::x86_64::*;

/// Adds the limb sums of the 32 values at `acc` (`lo`: values 0..16, `hi`:
/// 16..32, in order; module docs of `attn.rs`) to them: each 8 lanes widened,
/// combined as `(2^16 A + 2^8 B + C) << U` and added.
#[inline(always)]
unsafe fn flush(acc: *mut i64, lo: [__m512i; 3], hi: [__m512i; 3], count: __m128i) {
    for (half, v) in [lo, hi].into_iter().enumerate() {
        for quarter in 0..2 {
            let [a, b, c] = v.map(|x| {
                let h = if quarter == 0 {
                    _mm512_castsi512_si256(x)
                } else {
                    _mm512_extracti64x4_epi64::<1>(x)
                };
                _mm512_cvtepi32_epi64(h)
            });
            let t = _mm512_add_epi64(
                _mm512_add_epi64(_mm512_slli_epi64::<16>(a), _mm512_slli_epi64::<8>(b)),
                c,
            );
            let p = acc.add(16 * half + 8 * quarter) as *mut __m512i;
            _mm512_storeu_si512(
                p,
                _mm512_add_epi64(_mm512_loadu_si512(p), _mm512_sll_epi64(t, count)),
            );
        }
    }
}

/// See [`super::acc_rows`]. The caller has checked that AVX-512 F, BW and VNNI are
/// present, that `acc.len()` is a multiple of 32 and at most `stride`, that
/// `block` holds every pair of positions `t0..t0 + w.len()`, that every weight is
/// below 2^31 and every shift below 64. `b` is this thread's [`Pairs`], its `shifts`
/// set (`attn.rs`, `acc_rows_on`).
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
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
            let z = _mm512_setzero_si512();
            let (mut lo, mut hi) = ([z; 3], [z; 3]);
            for (p, l) in limbs[..pairs].iter().enumerate() {
                // SAFETY: the pair holds 2 stride >= 2 n values and c + 32 <= n.
                let x = first.add(p * 2 * stride + 2 * c);
                let xl = _mm512_loadu_si512(x as *const __m512i);
                let xh = _mm512_loadu_si512(x.add(32) as *const __m512i);
                for k in 0..3 {
                    let wv = _mm512_set1_epi32(l[k]);
                    lo[k] = _mm512_dpwssd_epi32(lo[k], xl, wv);
                    hi[k] = _mm512_dpwssd_epi32(hi[k], xh, wv);
                }
            }
            // SAFETY: c + 32 <= n = acc.len().
            flush(acc.as_mut_ptr().add(c), lo, hi, _mm_cvtsi32_si128(u as i32));
            c += 32;
        }
        b0 = b1;
    }
}

/// `G` groups of 16 positions from `tb` of [`dots_pairs`]: per value pair `k`, one
/// load of 16 positions' pairs per group and one `vpdpwssd` each for the high and
/// the low bytes of the query, so that `2 G` sums are independent.
#[inline(always)]
unsafe fn key_groups<const G: usize>(
    qh: &[i32],
    ql: &[i32],
    block: *const i16,
    page: usize,
    tb: usize,
    sums: &mut [i64; 64],
) {
    let z = _mm512_setzero_si512();
    let (mut h, mut l) = ([z; G], [z; G]);
    for (k, (&a, &b)) in qh.iter().zip(ql).enumerate() {
        let (wa, wb) = (_mm512_set1_epi32(a), _mm512_set1_epi32(b));
        for g in 0..G {
            let kv = _mm512_loadu_si512(block.add((k * page + tb + 16 * g) * 2) as *const __m512i);
            h[g] = _mm512_dpwssd_epi32(h[g], kv, wa);
            l[g] = _mm512_dpwssd_epi32(l[g], kv, wb);
        }
    }
    for g in 0..G {
        for half in 0..2 {
            let widen = |x: __m512i| {
                _mm512_cvtepi32_epi64(if half == 0 {
                    _mm512_castsi512_si256(x)
                } else {
                    _mm512_extracti64x4_epi64::<1>(x)
                })
            };
            let d = _mm512_add_epi64(_mm512_slli_epi64::<8>(widen(h[g])), widen(l[g]));
            _mm512_storeu_si512(sums.as_mut_ptr().add(16 * g + 8 * half) as *mut __m512i, d);
        }
    }
}

/// See [`super::dots_pairs`]: positions in aligned groups of 16 (i32 lanes), up
/// to four groups at a time. The caller has checked that AVX-512 F, BW and VNNI
/// are present, that the query's length is even and at most 256, that `page` is a multiple
/// of 16, that `t0 + out.len() <= page` and that `block` holds the page.
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
pub unsafe fn dots_pairs(q: &KeyQuery, block: &[i16], page: usize, t0: usize, out: &mut [i64]) {
    let (qh, ql) = q.pairs();
    let end = t0 + out.len();
    let mut sums = [0i64; 64];
    let mut tb = t0 - t0 % 16;
    while tb < end {
        let g = (end - tb).div_ceil(16).min(4);
        let b = block.as_ptr();
        match g {
            1 => key_groups::<1>(qh, ql, b, page, tb, &mut sums),
            2 => key_groups::<2>(qh, ql, b, page, tb, &mut sums),
            3 => key_groups::<3>(qh, ql, b, page, tb, &mut sums),
            _ => key_groups::<4>(qh, ql, b, page, tb, &mut sums),
        }
        let (from, to) = (tb.max(t0), (tb + 16 * g).min(end));
        out[from - t0..to - t0].copy_from_slice(&sums[from - tb..to - tb]);
        tb += 16 * g;
    }
}
