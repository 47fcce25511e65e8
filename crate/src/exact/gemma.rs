//! The operations spec `exact-2` adds for the gemma3 architecture
//! (docs/numerics.md, section 15; llama.cpp `src/models/gemma3.cpp`, Gemma Team 2025):
//! the embedding scale `sqrt(n_embd)`, RMSNorm with Gemma's wide weights (the GGUF
//! stores `1 + w`, up to ~1650 in Gemma-3-270M) into an activation or back into
//! Q16, and the GELU-gated feed-forward product (tanh form, Hendrycks & Gimpel 2016).
//!
//! Gemma's residual stream exceeds Q16's range (|h| reaches ~48,000 in
//! Gemma-3-270M), so gemma3 keeps it as Q16 of `h * 2^-RESIDUAL_SHIFT`: the embedding
//! scale and the post-norms put it there, and the norms that read it scale epsilon
//! by `2^(-2 RESIDUAL_SHIFT)` (RMSNorm is otherwise scale-invariant).

use super::act::Act;
use super::fixed::{f32_to_fixed, isqrt_u128, round_shift, round_shift_i128, sat_i32};
use super::math::sigmoid_q30;
use super::norm::rms_factor;

/// gemma3's residual stream is Q16 of `h * 2^-RESIDUAL_SHIFT` (|h| < 2^20).
pub const RESIDUAL_SHIFT: i32 = 5;
/// Largest magnitude of a Gemma norm weight in Q16 (|gamma| < 32768).
pub const WIDE_GAMMA_MAX: i64 = (1 << 31) - 1;
/// `round(0.044715 * 2^30)`: the cubic coefficient of GELU's tanh form.
pub const GELU_C3_Q30: i64 = 48_012_366;
/// `round(2 * sqrt(2 / pi) * 2^30)`: `tanh(y) = 2 sigmoid(2y) - 1` folds the 2 in.
pub const GELU_K_Q30: i64 = 1_713_444_047;
/// GELU's input is clamped to +-16.0 (Q16) where it enters the cubic; beyond it the
/// sigmoid is exactly 0 or 1 in Q30.
pub const GELU_CLAMP: i64 = 1 << 20;

/// Norm weights decoded from f32 for gemma3: `round(gamma * 2^16)`, clamped to
/// +-[`WIDE_GAMMA_MAX`].
pub fn gamma_q16_wide(f32_bits: &[u32]) -> Vec<i32> {
    f32_bits
        .iter()
        .map(|&b| f32_to_fixed(b, 16).clamp(-WIDE_GAMMA_MAX, WIDE_GAMMA_MAX) as i32)
        .collect()
}

/// `floor(sqrt(n) * 2^(30 - RESIDUAL_SHIFT))`: the embedding scale in Q30, times
/// the residual stream's `2^-RESIDUAL_SHIFT`.
pub fn embed_scale_q30(n_embd: usize) -> i64 {
    isqrt_u128((n_embd as u128) << (60 - 2 * RESIDUAL_SHIFT)) as i64
}

/// `sat_i32(round_shift(x * m, 30))` for each Q16 `x` (the product in i128).
pub fn scale_q16(x: &mut [i32], m_q30: i64) {
    for v in x {
        *v = sat_i32(
            round_shift_i128(*v as i128 * m_q30 as i128, 30)
                .clamp(i64::MIN as i128, i64::MAX as i128) as i64,
        );
    }
}

/// RMSNorm before the final rounding, with products in i128: `(P, e)`, value
/// `P_i * 2^e`. Identical to exact-1's `rms_norm_wide` for `|gamma| <= 2^23 - 1`.
fn rms_norm_i128(x: &[i32], gamma: &[i32], eps_bits: u32, eps_shift: i32) -> (Vec<i128>, i32) {
    let (xs, m, s) = rms_factor(x, eps_bits, eps_shift);
    let p = xs
        .iter()
        .zip(gamma)
        .map(|(&xv, &g)| xv as i128 * g as i128 * m as i128)
        .collect();
    (p, s - 70)
}

/// RMSNorm of the residual stream `x` (Q16 of `h * 2^-RESIDUAL_SHIFT`) into a
/// matmul input: as exact-1 (section 4) with epsilon times `2^(-2 RESIDUAL_SHIFT)`,
/// except that `P_i` is exact in i128 and, when some `|P_i| >= 2^62`, first rounded
/// by `t = bit_len(max |P|) - 62` bits before the activation quantization.
pub fn rms_norm_act(x: &[i32], gamma: &[i32], eps_bits: u32) -> Act {
    let (p, e) = rms_norm_i128(x, gamma, eps_bits, 2 * RESIDUAL_SHIFT);
    let max = p.iter().map(|v| v.unsigned_abs()).max().unwrap_or(0);
    let t = (128 - max.leading_zeros() as i32 - 62).max(0);
    let wide: Vec<i64> = p.iter().map(|&v| round_shift_i128(v, t) as i64).collect();
    Act::quantize(&wide, e + t)
}

/// RMSNorm of each `gamma.len()`-element segment of the Q16 `x` back into Q16 of
/// `y * 2^-out_shift`: `y_i = sat_i32(round_shift(P_i, -(e + 16) + out_shift))`
/// (QK-norm per head with `out_shift = 0`; the post-norms, whose output joins the
/// residual stream, with [`RESIDUAL_SHIFT`]).
pub fn rms_norm_q16(x: &mut [i32], gamma: &[i32], eps_bits: u32, out_shift: i32) {
    for seg in x.chunks_exact_mut(gamma.len()) {
        let (p, e) = rms_norm_i128(seg, gamma, eps_bits, 0);
        for (y, p) in seg.iter_mut().zip(p) {
            let v = round_shift_i128(p, -(e + 16) + out_shift);
            *y = v.clamp(i32::MIN as i128, i32::MAX as i128) as i32;
        }
    }
}

/// `gelu(g)` for a Q16 `g`, in Q16 (i64): `g * sigmoid(K * (x + C3 * x^3))` with `x`
/// the clamped input, every product rounded once.
pub fn gelu_q16(g: i64) -> i64 {
    let x = g.clamp(-GELU_CLAMP, GELU_CLAMP);
    let x2 = round_shift(x * x, 16);
    let x3 = round_shift(x2 * x, 16);
    let inner = x + round_shift(x3 * GELU_C3_Q30, 30);
    let u = round_shift(inner * GELU_K_Q30, 30);
    round_shift(g * sigmoid_q30(u), 30)
}

/// `gelu(g_i) * u_i` for Q16 inputs, quantized as the down projection's input.
pub fn gelu_mul(g: &[i32], u: &[i32]) -> Act {
    let h: Vec<i64> = g
        .iter()
        .zip(u)
        .map(|(&g, &u)| round_shift(gelu_q16(g as i64).wrapping_mul(u as i64), 16))
        .collect();
    Act::quantize(&h, -16)
}

#[cfg(test)]
#[allow(clippy::float_arithmetic)]
mod tests {
    use super::*;
    use crate::exact::norm::{gamma_q16, rms_norm};

    #[test]
    fn gelu_matches_the_tanh_form() {
        for i in -2000i64..2000 {
            let g = i * 613; // -18.7 .. 18.7
            let x = g as f64 / 65536.0;
            let want = 0.5
                * x
                * (1.0 + ((2.0 / std::f64::consts::PI).sqrt() * (x + 0.044715 * x * x * x)).tanh());
            let got = gelu_q16(g) as f64 / 65536.0;
            assert!(
                (got - want).abs() < 4e-5 * x.abs().max(1.0),
                "{x}: {got} vs {want}"
            );
        }
        assert_eq!(gelu_q16(20 << 16), 20 << 16);
        assert_eq!(gelu_q16(-(20 << 16)), 0);
    }

    #[test]
    fn constants_are_their_definitions() {
        assert_eq!(GELU_C3_Q30, (0.044715f64 * 2f64.powi(30)).round() as i64);
        let k = 2.0 * (2.0 / std::f64::consts::PI).sqrt() * 2f64.powi(30);
        assert_eq!(GELU_K_Q30, k.round() as i64);
        let s = embed_scale_q30(640) as f64 / 2f64.powi(30 - RESIDUAL_SHIFT);
        assert!((s - 640f64.sqrt()).abs() < 2f64.powi(RESIDUAL_SHIFT - 30));
    }

    #[test]
    fn the_wide_norm_is_exact_1_for_llama_sized_weights() {
        let x: Vec<i32> = (0..576).map(|i| (i * 7919 % 1013 - 506) * 977).collect();
        let g: Vec<f32> = (0..576).map(|i| 0.5 + (i % 13) as f32 * 0.3).collect();
        let bits: Vec<u32> = g.iter().map(|v| v.to_bits()).collect();
        let (a, b) = (gamma_q16(&bits), gamma_q16_wide(&bits));
        assert_eq!(a, b);
        assert_eq!(
            rms_norm(&x, &a, 1e-6f32.to_bits()),
            rms_norm_act(&x, &b, 1e-6f32.to_bits())
        );
    }

    #[test]
    fn wide_weights_do_not_overflow() {
        let x: Vec<i32> = (0..640).map(|i| (i * 31 % 97 - 48) << 20).collect();
        let g = gamma_q16_wide(&vec![1649f32.to_bits(); 640]);
        let a = rms_norm_act(&x, &g, 1e-6f32.to_bits());
        let mut y = x.clone();
        rms_norm_q16(&mut y, &g, 1e-6f32.to_bits(), 0);
        let ms = x.iter().map(|&v| (v as f64 / 65536.0).powi(2)).sum::<f64>() / 640.0;
        for i in 0..640 {
            let want = x[i] as f64 / 65536.0 / ms.sqrt() * 1649.0;
            let got_a = a.q[i] as f64 * 2f64.powi(a.exp);
            let got_y = y[i] as f64 / 65536.0;
            assert!(
                (got_a - want).abs() <= 1649.0 * 1e-3,
                "{i}: {got_a} vs {want}"
            );
            assert!(
                (got_y - want).abs() <= 1649.0 * 1e-4,
                "{i}: {got_y} vs {want}"
            );
        }
    }
}
