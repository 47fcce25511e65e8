// SiLU-gated product (docs/numerics.md section 8): hid = round_shift(
// round_shift(g * sigmoid(g), 30) * u, 16), quantized as the down projection's
// input. One workgroup per row.

struct Params {
    n: u32,
    rows: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> gate: array<i32>;
@group(0) @binding(2) var<storage, read> up: array<i32>;
@group(0) @binding(3) var<storage, read_write> scratch: array<I64>;
@group(0) @binding(4) var<storage, read_write> act: array<u32>;

@compute @workgroup_size(64)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wg: vec3<u32>) {
    let row = wg.x;
    let base = row * p.n;
    var mx = I64(0u, 0u);
    for (var i = lid; i < p.n; i = i + WG) {
        let g = gate[base + i];
        let silu = round_shift(mul_i32_wide(g, sigmoid_q30(g)), 30);
        let v = round_shift(i64_mul(silu, i64_from_i32(up[base + i])), 16);
        scratch[base + i] = v;
        mx = u64_max(mx, i64_abs(v));
    }
    act_write(lid, p.n, base, -16, row * act_stride(p.n), mx);
}
