// RoPE (docs/numerics.md section 5) with the Q30 cos/sin table rows built on the
// CPU by crate/src/exact/rope.rs: y0 = sat(round_shift(x0 c - x1 s, 30)),
// y1 = sat(round_shift(x0 s + x1 c, 30)). One invocation per rotated pair, of
// `x` and then, when the keys joined the queries' dispatch (rope.rs), of `x2`.

struct Params {
    cols: u32,
    head_dim: u32,
    pairs: u32,   // rotated pairs per head (rope dimension / 2)
    neox: u32,    // 0: pairs (2i, 2i+1); 1: pairs (i, i + pairs)
    pos0: u32,
    n_rows: u32,
    cols2: u32,   // columns of x2 (0: none)
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> x: array<i32>;
@group(0) @binding(2) var<storage, read> table: array<i32>;
@group(0) @binding(3) var<storage, read_write> x2: array<i32>;

fn rotate(x0: i32, x1: i32, c: i32, s: i32) -> vec2<i32> {
    return vec2<i32>(
        sat_i32(round_shift(i64_sub(mul_i32_wide(x0, c), mul_i32_wide(x1, s)), 30)),
        sat_i32(round_shift(i64_add(mul_i32_wide(x0, s), mul_i32_wide(x1, c)), 30)),
    );
}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let n1 = p.cols / p.head_dim * p.pairs;
    let n2 = p.cols2 / p.head_dim * p.pairs;
    let t = gid.y;
    if (gid.x >= n1 + n2 || t >= p.n_rows) {
        return;
    }
    let second = gid.x >= n1;
    let k = select(gid.x, gid.x - n1, second);
    let h = k / p.pairs;
    let i = k % p.pairs;
    var a = 2u * i;
    var b = 2u * i + 1u;
    if (p.neox != 0u) {
        a = i;
        b = i + p.pairs;
    }
    let ti = ((p.pos0 + t) * p.pairs + i) * 2u;
    let c = table[ti];
    let s = table[ti + 1u];
    if (second) {
        let base = t * p.cols2 + h * p.head_dim;
        let y = rotate(x2[base + a], x2[base + b], c, s);
        x2[base + a] = y.x;
        x2[base + b] = y.y;
    } else {
        let base = t * p.cols + h * p.head_dim;
        let y = rotate(x[base + a], x[base + b], c, s);
        x[base + a] = y.x;
        x[base + b] = y.y;
    }
}
