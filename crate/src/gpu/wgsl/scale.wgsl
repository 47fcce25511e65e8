// Scaling a Q16 vector by a Q30 factor (docs/numerics.md section 15, the
// embedding scale): x = sat_i32(round_shift(x * m, 30)), the product exact in
// i128. One invocation per element.

struct Params {
    len: u32,
    m_lo: u32, // m as a 64-bit two's-complement value
    m_hi: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> x: array<i32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
    let i = gid.x + gid.y * nwg.x * WG;
    if (i >= p.len) {
        return;
    }
    let m = I64(p.m_lo, p.m_hi);
    let v = x[i];
    let mag = mul_u64_u32(i64_abs(m), bitcast<u32>(abs(v))); // |i32::MIN| = 2^31
    let prod = i128_signed(mag, (v < 0) != i64_is_neg(m));
    x[i] = i128_sat_i32(i128_round_shift(prod, 30u));
}
