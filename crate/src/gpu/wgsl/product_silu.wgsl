// The SiLU product of one gate and up value (docs/numerics.md section 8, the
// arithmetic of silu_mul.wgsl): round_shift(round_shift(g sigmoid(g), 30) u, 16).
// Read by the gated joined matmul (matmul_join_gated_*.wgsl).

fn gated_product(g: i32, u: i32) -> I64 {
    let silu = round_shift(mul_i32_wide(g, sigmoid_q30(g)), 30);
    return round_shift(i64_mul(silu, i64_from_i32(u)), 16);
}
