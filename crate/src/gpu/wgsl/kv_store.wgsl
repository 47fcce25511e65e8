// Appends keys and values to the cache (docs/numerics.md section 7, step 1): each
// head of each new row quantized like an activation (ve = -16) and stored as
// 16-bit pairs plus one exponent. One workgroup per (kv head, row, k|v).

struct Params {
    n_kv: u32,
    head_dim: u32,
    n_rows: u32,
    pos0: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> k_rows: array<i32>;
@group(0) @binding(2) var<storage, read> v_rows: array<i32>;
@group(0) @binding(3) var<storage, read_write> k_cache: array<u32>;
@group(0) @binding(4) var<storage, read_write> v_cache: array<u32>;
@group(0) @binding(5) var<storage, read_write> k_exp: array<i32>;
@group(0) @binding(6) var<storage, read_write> v_exp: array<i32>;

fn load(which: u32, i: u32) -> i32 {
    if (which == 0u) {
        return k_rows[i];
    }
    return v_rows[i];
}

@compute @workgroup_size(64)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wg: vec3<u32>) {
    let kvh = wg.x;
    let t = wg.y;
    let which = wg.z;
    let hd = p.head_dim;
    let src = t * p.n_kv * hd + kvh * hd;
    var mx = I64(0u, 0u);
    for (var i = lid; i < hd; i = i + WG) {
        mx = u64_max(mx, i64_abs(i64_from_i32(load(which, src + i))));
    }
    let s = act_shift(wg_max_u64(lid, mx));
    let slot = (p.pos0 + t) * p.n_kv + kvh;
    for (var i = lid; i < hd / 2u; i = i + WG) {
        let a0 = act_value(i64_from_i32(load(which, src + 2u * i)), s);
        let a1 = act_value(i64_from_i32(load(which, src + 2u * i + 1u)), s);
        let word = (bitcast<u32>(a0) & 0xffffu) | (bitcast<u32>(a1) << 16u);
        if (which == 0u) {
            k_cache[slot * (hd / 2u) + i] = word;
        } else {
            v_cache[slot * (hd / 2u) + i] = word;
        }
    }
    if (lid == 0u) {
        if (which == 0u) {
            k_exp[slot] = s - 16;
        } else {
            v_exp[slot] = s - 16;
        }
    }
}
