// Input stage source: the GELU product of gate and up (docs/numerics.md
// section 15, the arithmetic of gelu_mul.wgsl; gelu_q16 is gelu.wgsl's).

@group(0) @binding(5) var<storage, read> gate: array<i32>;
@group(0) @binding(6) var<storage, read> up: array<i32>;

fn load_value(i: u32) -> I64 {
    return round_shift(i64_mul(gelu_q16(gate[i]), i64_from_i32(up[i])), 16);
}
