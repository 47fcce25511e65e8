// The GELU product of one gate and up value (docs/numerics.md section 15, the
// arithmetic of gelu_mul.wgsl; gelu_q16 is gelu.wgsl's). Read by the gated
// joined matmul (matmul_join_gated_*.wgsl).

fn gated_product(g: i32, u: i32) -> I64 {
    return round_shift(i64_mul(gelu_q16(g), i64_from_i32(u)), 16);
}
