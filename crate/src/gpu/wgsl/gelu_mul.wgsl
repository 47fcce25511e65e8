// GELU-gated product (docs/numerics.md section 15, GELU in its tanh form, with
// section 6's sigmoid): for Q16 g,
//   x = clamp(g, -2^20, 2^20), x2 = round_shift(x x, 16), x3 = round_shift(x2 x, 16),
//   inner = x + round_shift(x3 C3, 30), u = round_shift(inner K, 30),
//   gelu = round_shift(g sigmoid_q30(u), 30);
// hid = round_shift(gelu * up, 16) (wrapping), quantized as the down projection's
// input. One workgroup per row. gelu_q16 is in gelu.wgsl.

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
        let v = round_shift(i64_mul(gelu_q16(gate[base + i]), i64_from_i32(up[base + i])), 16);
        scratch[base + i] = v;
        mx = u64_max(mx, i64_abs(v));
    }
    act_write(lid, p.n, base, -16, row * act_stride(p.n), mx);
}
