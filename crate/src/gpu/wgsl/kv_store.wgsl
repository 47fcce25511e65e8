// Appends keys and values to the cache (docs/numerics.md section 7, step 1): each
// head of each new row quantized like an activation (ve = -16) and stored as
// 16-bit pairs plus one exponent. One workgroup per (kv head, row, k|v).
//
// With `pairs` > 0 the dispatch also does the RoPE of the queries and keys
// (section 5, the arithmetic of rope.wgsl) that attention.rs folds into it: a
// key workgroup rotates its head's pairs as it loads them (into workgroup
// memory), writes the rotated head back to `k_rows` and stores it; workgroups
// with z = 2, one per (query head, row), rotate the queries in place before
// the attention dispatch reads them. `pairs` is appended after the original
// four words and only bounds loops together with the invocation index
// (docs/gpu.md on lavapipe's uniform inlining).

struct Params {
    n_kv: u32,
    head_dim: u32,
    n_rows: u32,
    pos0: u32,
    n_head: u32,  // query heads (z = 2 workgroups; none without RoPE)
    pairs: u32,   // rotated pairs per head (0: no RoPE)
    neox: u32,    // 0: pairs (2i, 2i+1); 1: pairs (i, i + pairs)
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

var<workgroup> head: array<i32, 256>;

fn rotate(x0: i32, x1: i32, c: i32, s: i32) -> vec2<i32> {
    return vec2<i32>(
        sat_i32(round_shift(i64_sub(mul_i32_wide(x0, c), mul_i32_wide(x1, s)), 30)),
        sat_i32(round_shift(i64_add(mul_i32_wide(x0, s), mul_i32_wide(x1, c)), 30)),
    );
}

// The two elements of rotated pair i within a head.
fn pair(i: u32) -> vec2<u32> {
    if (p.neox != 0u) {
        return vec2<u32>(i, i + p.pairs);
    }
    return vec2<u32>(2u * i, 2u * i + 1u);
}

// The table's (cos, sin) of pair i at row t.
fn angle(t: u32, i: u32) -> vec2<i32> {
    let ti = ((p.pos0 + t) * p.pairs + i) * 2u;
    return vec2<i32>(table[ti], table[ti + 1u]);
}

// Rotates the queries of head h of row t in place.
fn rotate_queries(lid: u32, h: u32, t: u32) {
    let base = t * p.n_head * p.head_dim + h * p.head_dim;
    for (var i = lid; i < p.pairs; i = i + WG) {
        let ab = pair(i);
        let cs = angle(t, i);
        let y = rotate(q_rows[base + ab.x], q_rows[base + ab.y], cs.x, cs.y);
        q_rows[base + ab.x] = y.x;
        q_rows[base + ab.y] = y.y;
    }
}

@compute @workgroup_size(64)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wg: vec3<u32>) {
    let kvh = wg.x;
    let t = wg.y;
    let which = wg.z;
    if (which == 2u) {
        if (kvh < p.n_head) {
            rotate_queries(lid, kvh, t);
        }
        return;
    }
    if (kvh >= p.n_kv) {
        return;
    }
    let hd = p.head_dim;
    let src = t * p.n_kv * hd + kvh * hd;
    for (var i = lid; i < hd; i = i + WG) {
        if (which == 0u) {
            head[i] = k_rows[src + i];
        } else {
            head[i] = v_rows[src + i];
        }
    }
    workgroupBarrier();
    if (which == 0u) {
        for (var i = lid; i < p.pairs; i = i + WG) {
            let ab = pair(i);
            let cs = angle(t, i);
            let y = rotate(head[ab.x], head[ab.y], cs.x, cs.y);
            head[ab.x] = y.x;
            head[ab.y] = y.y;
            k_rows[src + ab.x] = y.x;
            k_rows[src + ab.y] = y.y;
        }
    }
    workgroupBarrier();
    var mx = I64(0u, 0u);
    for (var i = lid; i < hd; i = i + WG) {
        mx = u64_max(mx, i64_abs(i64_from_i32(head[i])));
    }
    let s = act_shift(wg_max_u64(lid, mx));
    let slot = (p.pos0 + t) * p.n_kv + kvh;
    for (var i = lid; i < hd / 2u; i = i + WG) {
        let a0 = act_value(i64_from_i32(head[2u * i]), s);
        let a1 = act_value(i64_from_i32(head[2u * i + 1u]), s);
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
