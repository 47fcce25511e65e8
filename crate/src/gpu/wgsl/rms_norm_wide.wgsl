// gemma3's RMSNorm of the residual stream into a matmul input (docs/numerics.md
// section 15, `rmsnorm_wide`), one workgroup per row: steps 1-4 of section 4 in
// `rms_factor` (epsilon comes pre-scaled by 2^-2R from the CPU), then
//   P_i = x'_i G_i M exact in i128, t = max(0, bit_len(max |P|) - 62),
//   P_i = round_shift(P_i, t), quantized with ve = s - 70 + t.

struct Params {
    n: u32,
    rows: u32,
    pad0: u32,
    pad1: u32,
    eps: array<vec4<u32>, 5>, // eps * 2^-2R for k = 0..9 as (lo, hi) pairs
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

    var bits = 0;
    for (var i = lid; i < n; i = i + WG) {
        bits = max(bits, norm_product_bits(x[base + i], k, gamma[i], mr));
    }
    let t = max(0, i32(wg_max_u64(lid, I64(u32(bits), 0u)).x) - 62);

    var pmax = I64(0u, 0u);
    for (var i = lid; i < n; i = i + WG) {
        var v = norm_product(x[base + i], k, gamma[i], mr);
        if (t > 0) {
            v = i128_round_shift(v, u32(t));
        }
        // |v| < 2^62 + 1 now: the low 64 bits are the value.
        scratch[base + i] = v.xy;
        pmax = u64_max(pmax, i64_abs(v.xy));
    }
    act_write(lid, n, base, s - 70 + t, row * act_stride(n), pmax);
}
