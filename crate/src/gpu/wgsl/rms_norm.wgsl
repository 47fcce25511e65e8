// RMSNorm (docs/numerics.md section 4), one workgroup per row: steps 1-4 in
// `rms_factor` (wgsl/rms_factor.wgsl), then P_i = x'_i G_i M quantized with
// ve = s - 70.

struct Params {
    n: u32,
    rows: u32,
    pad0: u32,
    pad1: u32,
    eps: array<vec4<u32>, 5>, // eps for k = 0..9 as (lo, hi) pairs
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<i32>;
@group(0) @binding(2) var<storage, read> gamma: array<i32>;
@group(0) @binding(3) var<storage, read_write> scratch: array<I64>;
@group(0) @binding(4) var<storage, read_write> act: array<u32>;

@compute @workgroup_size(64)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wg: vec3<u32>) {
    let row = wg.x;
    let n = p.n;
    let base = row * n;
    let f = rms_factor(lid, base, n);
    let k = f.x;
    let mr = f.y;
    let s = f.z;

    var pmax = I64(0u, 0u);
    for (var i = lid; i < n; i = i + WG) {
        let xs = bitcast<i32>(round_shift_i32(x[base + i], k).x);
        let v = i64_mul(mul_i32_wide(xs, gamma[i]), i64_from_i32(mr));
        scratch[base + i] = v;
        pmax = u64_max(pmax, i64_abs(v));
    }
    act_write(lid, n, base, s - 70, row * act_stride(n), pmax);
}
