// RoPE (docs/numerics.md section 5) with the Q30 cos/sin table rows built on the
// CPU by crate/src/exact/rope.rs: y0 = sat(round_shift(x0 c - x1 s, 30)),
// y1 = sat(round_shift(x0 s + x1 c, 30)). One invocation per rotated pair.

struct Params {
    cols: u32,
    head_dim: u32,
    pairs: u32,   // rotated pairs per head (rope dimension / 2)
    neox: u32,    // 0: pairs (2i, 2i+1); 1: pairs (i, i + pairs)
    pos0: u32,
    n_rows: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> x: array<i32>;
@group(0) @binding(2) var<storage, read> table: array<i32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let n_heads = p.cols / p.head_dim;
    let k = gid.x;
    let t = gid.y;
    if (k >= n_heads * p.pairs || t >= p.n_rows) {
        return;
    }
    let h = k / p.pairs;
    let i = k % p.pairs;
    var a = 2u * i;
    var b = 2u * i + 1u;
    if (p.neox != 0u) {
        a = i;
        b = i + p.pairs;
    }
    let base = t * p.cols + h * p.head_dim;
    let x0 = x[base + a];
    let x1 = x[base + b];
    let ti = ((p.pos0 + t) * p.pairs + i) * 2u;
    let c = table[ti];
    let s = table[ti + 1u];
    x[base + a] = sat_i32(round_shift(i64_sub(mul_i32_wide(x0, c), mul_i32_wide(x1, s)), 30));
    x[base + b] = sat_i32(round_shift(i64_add(mul_i32_wide(x0, s), mul_i32_wide(x1, c)), 30));
}
