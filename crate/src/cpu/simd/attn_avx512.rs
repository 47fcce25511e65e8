//! AVX-512 twins of the attention kernels (x86_64 CPUs with AVX-512 F, BW and
//! VNNI, chosen at run time inside the AVX2 twin's arm: [`super::avx512`]): the
//! same integer steps as `attn_avx2.rs` and `avx2::dots_i16`, 32 values per
//! register, with `vpdpwssd` (VNNI: `pmaddwd` and the add in one instruction,
//! the same i32 wrapping-free sums since every bound of the AVX2 twins holds
//! lane by lane).

use super::attn::Pairs;
use super::avx2::reduce4;
use std::arch::x86_64::*;

/// Adds the limb sums of values `c..c + 32` to `acc` (module docs of `attn.rs`):
/// lanes of `unpacklo` hold, per 128-bit block `b`, values `8b..8b + 4`, of
/// `unpackhi` `8b + 4..8b + 8`; two permutations put them back in order, then
/// each 8 lanes are widened, combined as `(2^16 A + 2^8 B + C) << U` and added.
#[inline(always)]
unsafe fn flush(acc: *mut i64, lo: [__m512i; 3], hi: [__m512i; 3], count: __m128i) {
    let first = _mm512_setr_epi32(0, 1, 2, 3, 16, 17, 18, 19, 4, 5, 6, 7, 20, 21, 22, 23);
    let second = _mm512_setr_epi32(8, 9, 10, 11, 24, 25, 26, 27, 12, 13, 14, 15, 28, 29, 30, 31);
    for (half, idx) in [first, second].into_iter().enumerate() {
        let ordered: [__m512i; 3] = [0, 1, 2].map(|k| _mm512_permutex2var_epi32(lo[k], idx, hi[k]));
        for quarter in 0..2 {
            let [a, b, c] = ordered.map(|x| {
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
/// present, that `acc.len()` is a multiple of 32, that `rows` holds every row
/// (`stride` apart) of `acc.len()` values, that every weight is below 2^31 and
/// every shift below 64.
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
pub unsafe fn acc_rows(acc: &mut [i64], rows: &[i16], stride: usize, w: &[u32], up: &[u8]) {
    let n = acc.len();
    let mut b = Pairs::new();
    let mut t0 = 0;
    while t0 < w.len() {
        b.fill(rows, stride, w, up, t0);
        let (t1, u, pairs) = (b.end, b.shift, b.count);
        let (limbs, ptrs) = (&b.limbs, &b.rows);
        let mut c = 0;
        while c < n {
            let z = _mm512_setzero_si512();
            let (mut lo, mut hi) = ([z; 3], [z; 3]);
            for (p, l) in limbs[..pairs].iter().enumerate() {
                // SAFETY: c + 32 <= n and both rows hold n values.
                let x0 = _mm512_loadu_si512(ptrs[2 * p].add(c) as *const __m512i);
                let x1 = _mm512_loadu_si512(ptrs[2 * p + 1].add(c) as *const __m512i);
                let (xl, xh) = (_mm512_unpacklo_epi16(x0, x1), _mm512_unpackhi_epi16(x0, x1));
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
        t0 = t1;
    }
}

/// The sum of the two 256-bit halves of `x`.
#[inline(always)]
unsafe fn halves(x: __m512i) -> __m256i {
    _mm256_add_epi32(_mm512_castsi512_si256(x), _mm512_extracti64x4_epi64::<1>(x))
}

/// Dot products of `q` with rows `j * stride` of `rows` (see [`super::dots_i16`]),
/// four rows per step, `q` split into its high (signed) and low bytes as in the
/// AVX2 twin; the caller has checked that AVX-512 F, BW and VNNI are present, that
/// `q.len()` is a multiple of 32 up to 256 and that `rows` holds `out.len()` rows.
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
pub unsafe fn dots_i16(q: &[i16], rows: &[i16], stride: usize, out: &mut [i64]) {
    let chunks = q.len() / 32;
    let mut qh = [_mm512_setzero_si512(); 8];
    let mut ql = [_mm512_setzero_si512(); 8];
    for c in 0..chunks {
        let v = _mm512_loadu_si512(q.as_ptr().add(32 * c) as *const __m512i);
        qh[c] = _mm512_srai_epi16::<8>(v);
        ql[c] = _mm512_and_si512(v, _mm512_set1_epi16(255));
    }
    let n = out.len();
    let mut j = 0;
    while j < n {
        let m = (n - j).min(4);
        let mut h = [_mm256_setzero_si256(); 4];
        let mut l = [_mm256_setzero_si256(); 4];
        for r in 0..m {
            let k = rows.as_ptr().add((j + r) * stride);
            let (mut sh, mut sl) = (_mm512_setzero_si512(), _mm512_setzero_si512());
            for c in 0..chunks {
                let kv = _mm512_loadu_si512(k.add(32 * c) as *const __m512i);
                sh = _mm512_dpwssd_epi32(sh, kv, qh[c]);
                sl = _mm512_dpwssd_epi32(sl, kv, ql[c]);
            }
            (h[r], l[r]) = (halves(sh), halves(sl));
        }
        let (mut sh, mut sl) = ([0i32; 4], [0i32; 4]);
        _mm_storeu_si128(sh.as_mut_ptr() as *mut __m128i, reduce4(h));
        _mm_storeu_si128(sl.as_mut_ptr() as *mut __m128i, reduce4(l));
        for r in 0..m {
            out[j + r] = ((sh[r] as i64) << 8) + sl[r] as i64;
        }
        j += m;
    }
}
