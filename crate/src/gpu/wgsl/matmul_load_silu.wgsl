// Input stage source: the SiLU product of gate and up (docs/numerics.md
// section 8, the arithmetic of silu_mul.wgsl), before the down projection.

@group(0) @binding(5) var<storage, read> gate: array<i32>;
@group(0) @binding(6) var<storage, read> up: array<i32>;

fn load_value(i: u32) -> I64 {
    let g = gate[i];
    let silu = round_shift(mul_i32_wide(g, sigmoid_q30(g)), 30);
    return round_shift(i64_mul(silu, i64_from_i32(up[i])), 16);
}
