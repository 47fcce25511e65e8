// Embedding lookup (docs/numerics.md sections 3 and 14): one table row per token
// as Q16. The table is one row range [row0, row0 + rows) of a weight split to fit
// the device's binding limit; tokens outside it are left to other dispatches.
// Blocks are repacked on upload so that every read is an aligned word; the
// format file (formats/*.wgsl) gives the block's scales and its q_j.
// Element j is d * sc * q_j (+ mn * mm), the two brought to the smaller exponent
// exactly and rounded once.

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
    let nb = p.cols / BLOCK_LEN;
    let e = j % BLOCK_LEN;
    let wb = (r * nb + j / BLOCK_LEN) * BLOCK_WORDS;
    let h = block_head(wb);
    let q = extractBits(bitcast<i32>(q_word(wb, e / 4u)), 8u * (e % 4u), 8u);
    // |d| < 2^11, |sc| <= 128, |q| <= 128: the product is exact in i32.
    let dq = h.x * sub_scale(wb, e / (4u * SUB_WORDS)) * q;
    var v: I64;
    if (HAS_MIN) {
        let lo = min(h.y, h.w);
        let a = i64_shl(i64_from_i32(dq), u32(h.y - lo));
        let m = i64_shl(i64_from_i32(h.z * min_mult(wb, e / 32u)), u32(h.w - lo));
        v = round_shift(i64_add(a, m), -(lo + 16));
    } else {
        v = round_shift(i64_from_i32(dq), -(h.y + 16));
    }
    out[t * p.cols + j] = sat_i32(v);
}
