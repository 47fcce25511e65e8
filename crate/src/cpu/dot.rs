//! SIMD twins of [`crate::exact::attention::dot_i16`], the exact attention score
//! dot product. Inputs are activations (|x| <= 32767, symmetric), so a pair sum
//! `a0*b0 + a1*b1` is at most 2 * 32767^2 < 2^31 and the i16 pair-multiply-add
//! instructions (`pmaddwd`, `i32x4.dot_i16x8_s`) are exact; each pair sum is then
//! widened to i64 before it is added, so the total is exact as well.

use crate::exact::attention;

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn dot_avx2(a: &[i16], b: &[i16]) -> i64 {
    use std::arch::x86_64::*;
    let n = a.len().min(b.len());
    let mut acc = _mm256_setzero_si256();
    let mut i = 0;
    while i + 16 <= n {
        // SAFETY: i + 16 <= n for both slices.
        let va = _mm256_loadu_si256(a.as_ptr().add(i) as *const __m256i);
        let vb = _mm256_loadu_si256(b.as_ptr().add(i) as *const __m256i);
        let p = _mm256_madd_epi16(va, vb);
        acc = _mm256_add_epi64(acc, _mm256_cvtepi32_epi64(_mm256_castsi256_si128(p)));
        acc = _mm256_add_epi64(acc, _mm256_cvtepi32_epi64(_mm256_extracti128_si256(p, 1)));
        i += 16;
    }
    let mut lanes = [0i64; 4];
    _mm256_storeu_si256(lanes.as_mut_ptr() as *mut __m256i, acc);
    let mut s = lanes.iter().fold(0i64, |x, &y| x.wrapping_add(y));
    for j in i..n {
        s = s.wrapping_add(a[j] as i64 * b[j] as i64);
    }
    s
}

#[cfg(target_arch = "wasm32")]
fn dot_simd128(a: &[i16], b: &[i16]) -> i64 {
    use std::arch::wasm32::*;
    let n = a.len().min(b.len());
    let mut acc = i64x2_splat(0);
    let mut i = 0;
    while i + 8 <= n {
        // SAFETY: i + 8 <= n for both slices.
        let (va, vb) = unsafe {
            (
                v128_load(a.as_ptr().add(i) as *const v128),
                v128_load(b.as_ptr().add(i) as *const v128),
            )
        };
        let p = i32x4_dot_i16x8(va, vb);
        acc = i64x2_add(acc, i64x2_extend_low_i32x4(p));
        acc = i64x2_add(acc, i64x2_extend_high_i32x4(p));
        i += 8;
    }
    let mut s = i64x2_extract_lane::<0>(acc).wrapping_add(i64x2_extract_lane::<1>(acc));
    for j in i..n {
        s = s.wrapping_add(a[j] as i64 * b[j] as i64);
    }
    s
}

/// `sum a_i * b_i` for activation vectors, on the fastest twin available.
#[inline]
pub fn dot_i16(a: &[i16], b: &[i16]) -> i64 {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: AVX2 is present.
            return unsafe { dot_avx2(a, b) };
        }
    }
    #[cfg(target_arch = "wasm32")]
    {
        return dot_simd128(a, b);
    }
    #[allow(unreachable_code)]
    attention::dot_i16(a, b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simd_dot_equals_scalar() {
        let mut s = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            s
        };
        for len in 0..300usize {
            for mode in 0..3 {
                let gen = |r: u64| -> i16 {
                    match mode {
                        0 => ((r % 65535) as i32 - 32767) as i16, // any value in [-32767, 32767]
                        1 => {
                            if r % 2 == 0 {
                                32767
                            } else {
                                -32767
                            }
                        }
                        _ => (r % 200) as i16 - 100,
                    }
                };
                let a: Vec<i16> = (0..len)
                    .map(|_| gen(next()))
                    .map(|v| v.max(-32767))
                    .collect();
                let b: Vec<i16> = (0..len)
                    .map(|_| gen(next()))
                    .map(|v| v.max(-32767))
                    .collect();
                assert_eq!(
                    dot_i16(&a, &b),
                    attention::dot_i16(&a, &b),
                    "len {len} mode {mode}"
                );
            }
        }
    }
}
