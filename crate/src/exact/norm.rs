//! RMSNorm in integers (docs/numerics.md, "RMSNorm"); Zhang & Sennrich 2019,
//! `y_i = x_i * g_i / sqrt(mean(x^2) + eps)`.

use super::act::Act;
use super::fixed::{bit_len, f32_to_fixed, isqrt_u128, round_shift};

/// Largest magnitude of a norm weight in Q16 (|gamma| < 128).
pub const GAMMA_MAX: i64 = (1 << 23) - 1;

/// A norm weight vector decoded from f32: `round(gamma * 2^16)`, clamped.
pub fn gamma_q16(f32_bits: &[u32]) -> Vec<i32> {
    f32_bits
        .iter()
        .map(|&b| f32_to_fixed(b, 16).clamp(-GAMMA_MAX, GAMMA_MAX) as i32)
        .collect()
}

/// RMSNorm of a Q16 vector `x` with Q16 weights `gamma` and epsilon given by its
/// f32 bit pattern; the result is a matmul input.
pub fn rms_norm(x: &[i32], gamma: &[i32], eps_bits: u32) -> Act {
    let wide = rms_norm_wide(x, gamma, eps_bits);
    Act::quantize(&wide.0, wide.1)
}

/// RMSNorm before the final activation rounding: `(P, e)` with value_i = P_i * 2^e.
pub fn rms_norm_wide(x: &[i32], gamma: &[i32], eps_bits: u32) -> (Vec<i64>, i32) {
    assert!(gamma.len() == x.len());
    let (xs, mr, s) = rms_factor(x, eps_bits, 0);
    let p: Vec<i64> = xs
        .iter()
        .zip(gamma)
        .map(|(&xv, &g)| xv * g as i64 * mr)
        .collect();
    // real(P_i) = x'_i 2^(k-16) * g_i 2^-16 * mr 2^(s-38-k) = P_i 2^(s-70)
    (p, s - 70)
}

/// Steps 1-4 of section 4: the pre-shifted `x'`, `M` and `s`, so that
/// `x'_i * M` stands for `x_i / sqrt(mean + eps * 2^-eps_shift)` times `2^(s - 54)`
/// (exact-1 uses `eps_shift = 0`; exact-2's gemma3 residual stream, stored as
/// `h * 2^-5`, uses 10).
pub fn rms_factor(x: &[i32], eps_bits: u32, eps_shift: i32) -> (Vec<i64>, i64, i32) {
    let n = x.len();
    assert!(n > 0 && n <= 1 << 16);
    let max = x.iter().map(|v| v.unsigned_abs() as u64).max().unwrap_or(0);
    // Pre-shift so that |x'| <= 2^23 (only vectors with an element >= 128.0 lose bits).
    let k = (bit_len(max) - 23).max(0);
    let xs: Vec<i64> = x.iter().map(|&v| round_shift(v as i64, k)).collect();
    let ss: u64 = xs.iter().map(|&v| (v * v) as u64).sum();
    // mean square: real = V * 2^(2k - 48)
    let big_v = ((ss as u128) << 16) / n as u128;
    let eps = f32_to_fixed(eps_bits, 48 - 2 * k - eps_shift).max(0) as u128;
    let v = (big_v + eps).max(1);
    // R = floor(sqrt(floor(2^124 / v))) ~ 2^62 / sqrt(v); real r = R * 2^(-38 - k).
    let r = isqrt_u128((1u128 << 124) / v) as u64;
    let s = (bit_len(r) - 16).max(0);
    let mr = round_shift(r as i64, s);
    (xs, mr, s)
}

#[cfg(test)]
#[allow(clippy::float_arithmetic, clippy::excessive_precision)]
mod tests {
    use super::*;

    #[test]
    fn matches_float_rmsnorm() {
        for scale in [0.01f64, 1.0, 37.0, 3000.0] {
            let x: Vec<f64> = (0..576)
                .map(|i| ((i * 7919 % 113) as f64 - 56.0) / 30.0 * scale)
                .collect();
            let g: Vec<f32> = (0..576).map(|i| 0.5 + (i % 13) as f32 * 0.3).collect();
            let xq: Vec<i32> = x.iter().map(|v| (v * 65536.0).round() as i32).collect();
            let gq = gamma_q16(&g.iter().map(|v| v.to_bits()).collect::<Vec<_>>());
            let eps = 1e-5f32;
            let act = rms_norm(&xq, &gq, eps.to_bits());
            let x: Vec<f64> = xq.iter().map(|&v| v as f64 / 65536.0).collect();
            let g: Vec<f64> = gq.iter().map(|&v| v as f64 / 65536.0).collect();
            let ms: f64 = x.iter().map(|v| v * v).sum::<f64>() / 576.0;
            let r = 1.0 / (ms + eps as f64).sqrt();
            let maxv = x
                .iter()
                .zip(&g)
                .map(|(a, b)| (a * b * r).abs())
                .fold(0.0, f64::max);
            for i in 0..576 {
                let want = x[i] * g[i] * r;
                let got = act.q[i] as f64 * 2f64.powi(act.exp);
                assert!(
                    (got - want).abs() <= maxv * 1e-4,
                    "scale {scale} i {i}: {got} vs {want}"
                );
            }
        }
    }
}
