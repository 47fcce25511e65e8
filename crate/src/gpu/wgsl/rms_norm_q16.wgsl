// gemma3's RMSNorm of Q16 segments back into Q16 (docs/numerics.md section 15,
// `rmsnorm_q16(x, G, o)`: QK-norm per head with o = 0, the post-norms with
// o = R), in place, one workgroup per `len(G)`-element segment: steps 1-4 of
// section 4 in `rms_factor`, then y_i = sat_i32(round_shift(x'_i G_i M, 54 - s + o))
// with the product exact in i128.

struct Params {
    seg: u32,       // segment length, len(G)
    segs: u32,      // segments in all (rows x segments per row)
    shift: i32,     // 54 + o
    pad: u32,
    eps: array<vec4<u32>, 5>, // eps for k = 0..9 as (lo, hi) pairs
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> x: array<i32>;
@group(0) @binding(2) var<storage, read> gamma: array<i32>;

@compute @workgroup_size(64)
fn main(
    @builtin(local_invocation_index) lid: u32,
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) nwg: vec3<u32>,
) {
    let seg = wg.x + wg.y * nwg.x;
    if (seg >= p.segs) {
        return; // the whole workgroup: uniform
    }
    let n = p.seg;
    let base = seg * n;
    let f = rms_factor(lid, base, n);
    let k = f.x;
    let mr = f.y;
    let sh = u32(p.shift - f.z); // >= 7: s <= 47
    // Each invocation overwrites only the elements it read itself, after every
    // read of rms_factor (which ends with a barrier).
    for (var i = lid; i < n; i = i + WG) {
        let v = norm_product(x[base + i], k, gamma[i], mr);
        x[base + i] = i128_sat_i32(i128_round_shift(v, sh));
    }
}
