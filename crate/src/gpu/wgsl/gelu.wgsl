// GELU in its tanh form (docs/numerics.md section 15, with section 6's
// sigmoid), read by gelu_mul.wgsl and the GELU input stage of the matmul
// (matmul_load.wgsl).

const GELU_C3_Q30: i32 = 48012366;
const GELU_K_Q30: i32 = 1713444047;
const GELU_CLAMP: i32 = 1048576; // 16.0 in Q16

// Every intermediate fits i32: |x| <= 2^20, |x2| <= 2^24, |x3| <= 2^28,
// |inner| < 2^24, |u| < 2^25.
fn gelu_q16(g: i32) -> I64 {
    let x = clamp(g, -GELU_CLAMP, GELU_CLAMP);
    let x2 = bitcast<i32>(round_shift(mul_i32_wide(x, x), 16).x);
    let x3 = bitcast<i32>(round_shift(mul_i32_wide(x2, x), 16).x);
    let inner = x + bitcast<i32>(round_shift(mul_i32_wide(x3, GELU_C3_Q30), 30).x);
    let u = bitcast<i32>(round_shift(mul_i32_wide(inner, GELU_K_Q30), 30).x);
    return round_shift(mul_i32_wide(g, sigmoid_q30(u)), 30);
}
