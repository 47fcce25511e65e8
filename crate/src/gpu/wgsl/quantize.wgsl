// Q16 rows -> matmul input rows (docs/numerics.md section 2, ve = -16).
// One workgroup per row.

struct Params {
    n: u32,
    rows: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<i32>;
@group(0) @binding(2) var<storage, read_write> scratch: array<I64>;
@group(0) @binding(3) var<storage, read_write> act: array<u32>;

@compute @workgroup_size(64)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wg: vec3<u32>) {
    let row = wg.x;
    let base = row * p.n;
    var mx = I64(0u, 0u);
    for (var i = lid; i < p.n; i = i + WG) {
        let v = i64_from_i32(x[base + i]);
        scratch[base + i] = v;
        mx = u64_max(mx, i64_abs(v));
    }
    act_write(lid, p.n, base, -16, row * act_stride(p.n), mx);
}
