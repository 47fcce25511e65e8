// Embedding lookup (docs/numerics.md section 3): one table row per token as Q16.
// The table is one row range [row0, row0 + rows) of a weight split to fit the
// device's binding limit; tokens outside it are left to other dispatches.
// Blocks are repacked on upload: Q8_0 as 9 words (d, then 32 x i8), Q4_1 as
// 5 words (d | m << 16, then 16 bytes of nibbles), so that every read is aligned.

struct Params {
    cols: u32,
    n_tokens: u32,
    row0: u32,
    rows: u32,
    table_rows: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> w: array<u32>;
@group(0) @binding(2) var<storage, read> tokens: array<u32>;
@group(0) @binding(3) var<storage, read_write> out: array<i32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let j = gid.x;
    let t = gid.y;
    if (j >= p.cols || t >= p.n_tokens) {
        return;
    }
    let tok = min(tokens[t], p.table_rows - 1u);
    if (tok < p.row0 || tok >= p.row0 + p.rows) {
        return;
    }
    let r = tok - p.row0;
    let nb = p.cols / 32u;
    let b = j / 32u;
    let e = j % 32u;
    var v: I64;
    if (FORMAT == FORMAT_Q8_0) {
        let base = (r * nb + b) * 9u;
        let d = f16_decode(w[base] & 0xffffu);
        let q = extractBits(bitcast<i32>(w[base + 1u + e / 4u]), 8u * (e % 4u), 8u);
        v = round_shift(mul_i32_wide(d.x, q), -(d.y + 16));
    } else {
        let base = (r * nb + b) * 5u;
        let d = f16_decode(w[base] & 0xffffu);
        let m = f16_decode(w[base] >> 16u);
        let byte = (w[base + 1u + (e % 16u) / 4u] >> (8u * (e % 4u))) & 0xffu;
        let q = i32(select(byte & 15u, byte >> 4u, e >= 16u));
        let lo = min(d.y, m.y);
        let dq = i64_shl(mul_i32_wide(d.x, q), u32(d.y - lo));
        let mm = i64_shl(i64_from_i32(m.x), u32(m.y - lo));
        v = round_shift(i64_add(dq, mm), -(lo + 16));
    }
    out[t * p.cols + j] = sat_i32(v);
}
