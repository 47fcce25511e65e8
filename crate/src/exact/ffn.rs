//! The SiLU-gated feed-forward product (Shazeer 2020, "GLU Variants"):
//! `h = silu(g) * u` with `silu(g) = g * sigmoid(g)`, in Q16 (docs/numerics.md, "FFN").

use super::act::Act;
use super::fixed::round_shift;
use super::math::sigmoid_q30;

/// `silu(g_i) * u_i` for Q16 inputs, quantized as the down projection's input.
pub fn silu_mul(g: &[i32], u: &[i32]) -> Act {
    let h: Vec<i64> = g
        .iter()
        .zip(u)
        .map(|(&g, &u)| {
            let g = g as i64;
            let silu = round_shift(g * sigmoid_q30(g), 30);
            round_shift(silu.wrapping_mul(u as i64), 16)
        })
        .collect();
    Act::quantize(&h, -16)
}
