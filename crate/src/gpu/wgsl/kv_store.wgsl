// Appends keys and values to the cache (docs/numerics.md section 7, step 1): each
// head of each new row quantized like an activation (ve = -16) and stored as
// 16-bit pairs plus one exponent. One workgroup per (kv head, row, k|v).
//
// With `rope` set, the RoPE of section 5 that would precede it is done here
// (attention.rs folds the queries' and keys' RoPE dispatch into this one): a key
// workgroup rotates its head in place before quantizing it, and a third layer of
// workgroups (z = 2) rotates the query heads of its kv head's group in place.
// Each pair is rotated by `rope_pair` (rope_pair.wgsl), as in rope.wgsl.

struct Params {
    n_kv: u32,
    head_dim: u32,
    n_rows: u32,
    pos0: u32,
    rope: u32,    // 1: rotate keys and queries first
    pairs: u32,   // rotated pairs per head
    neox: u32,
    n_head: u32,  // query heads
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> k_rows: array<i32>;
@group(0) @binding(2) var<storage, read> v_rows: array<i32>;
@group(0) @binding(3) var<storage, read_write> k_cache: array<u32>;
@group(0) @binding(4) var<storage, read_write> v_cache: array<u32>;
@group(0) @binding(5) var<storage, read_write> k_exp: array<i32>;
@group(0) @binding(6) var<storage, read_write> v_exp: array<i32>;
@group(0) @binding(7) var<storage, read_write> q_rows: array<i32>;
@group(0) @binding(8) var<storage, read> table: array<i32>;

fn load(which: u32, i: u32) -> i32 {
    if (which == 0u) {
        return k_rows[i];
    }
    return v_rows[i];
}

// The rotated pair (a, b) of pair i of a head, and its table index at row t.
fn pair_index(i: u32) -> vec2<u32> {
    if (p.neox != 0u) {
        return vec2<u32>(i, i + p.pairs);
    }
    return vec2<u32>(2u * i, 2u * i + 1u);
}

fn rotate_key(base: u32, t: u32, lid: u32) {
    for (var i = lid; i < p.pairs; i = i + WG) {
        let ab = pair_index(i);
        let ti = ((p.pos0 + t) * p.pairs + i) * 2u;
        let y = rope_pair(k_rows[base + ab.x], k_rows[base + ab.y], table[ti], table[ti + 1u]);
        k_rows[base + ab.x] = y.x;
        k_rows[base + ab.y] = y.y;
    }
}

fn rotate_query(base: u32, t: u32, lid: u32) {
    for (var i = lid; i < p.pairs; i = i + WG) {
        let ab = pair_index(i);
        let ti = ((p.pos0 + t) * p.pairs + i) * 2u;
        let y = rope_pair(q_rows[base + ab.x], q_rows[base + ab.y], table[ti], table[ti + 1u]);
        q_rows[base + ab.x] = y.x;
        q_rows[base + ab.y] = y.y;
    }
}

@compute @workgroup_size(64)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wg: vec3<u32>) {
    let kvh = wg.x;
    let t = wg.y;
    let which = wg.z;
    let hd = p.head_dim;
    if (which == 2u) {
        let group = p.n_head / p.n_kv;
        for (var h = kvh * group; h < (kvh + 1u) * group; h = h + 1u) {
            rotate_query(t * p.n_head * hd + h * hd, t, lid);
        }
        return;
    }
    let src = t * p.n_kv * hd + kvh * hd;
    if (which == 0u && p.rope != 0u) {
        rotate_key(src, t, lid);
        storageBarrier();
    }
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
