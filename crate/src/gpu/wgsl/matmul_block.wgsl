// The shared part of the two matmul kernels (matmul.wgsl, matmul_rows.wgsl):
// bindings, the exact block sum S1 and one block's rounded term T_b
// (docs/numerics.md section 3). `FORMAT` selects the block layout (embed.wgsl).
//
// One dispatch multiplies one input by up to three weights ("segments": Q, K
// and V, or gate and up), their output rows concatenated: each output element
// is still computed by exactly the arithmetic of section 3, only the dispatch is
// shared. With one segment the kernel may also add its output into the
// residual stream `res` (section 8's saturating add), writing both. Text after
// the `@segment` marker is emitted once per segment by shader.rs, with `_SEG`
// replaced by the segment's number.

struct Params {
    cols: u32,
    n_tokens: u32,
    row0: u32,          // first output column of this split (one segment only)
    residual: u32,      // 1: also res = sat_i32(res + out) (one segment only)
    rows: vec4<u32>,    // rows of segments 0..2 in this dispatch; w: their total
    stride: vec4<u32>,  // output row stride of segments 0..2
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> w_0: array<u32>;
@group(0) @binding(2) var<storage, read> w_1: array<u32>;
@group(0) @binding(3) var<storage, read> w_2: array<u32>;
@group(0) @binding(4) var<storage, read> act: array<u32>;
@group(0) @binding(5) var<storage, read_write> out_0: array<i32>;
@group(0) @binding(6) var<storage, read_write> out_1: array<i32>;
@group(0) @binding(7) var<storage, read_write> out_2: array<i32>;
@group(0) @binding(8) var<storage, read_write> res: array<i32>;

const TT: u32 = 8u;

// The segment of a row of the concatenated outputs and the row within it.
fn segment_of(r: u32) -> vec2<u32> {
    if (r < p.rows.x) {
        return vec2<u32>(0u, r);
    }
    if (r < p.rows.x + p.rows.y) {
        return vec2<u32>(1u, r - p.rows.x);
    }
    return vec2<u32>(2u, r - p.rows.x - p.rows.y);
}

// Writes output element (token t, row) of segment `seg`, and the residual add.
fn write_out(seg: u32, t: u32, row: u32, v: i32) {
    if (seg == 0u) {
        let i = t * p.stride.x + p.row0 + row;
        out_0[i] = v;
        if (p.residual != 0u) {
            res[i] = sat_i32(i64_add(i64_from_i32(res[i]), i64_from_i32(v)));
        }
    } else if (seg == 1u) {
        out_1[t * p.stride.y + row] = v;
    } else {
        out_2[t * p.stride.z + row] = v;
    }
}

// @segment
// Exact sum_j q_j a_j of one block with the activation words of one token.
fn block_s1_SEG(wbase: u32, abase: u32, n: u32, b: u32) -> i32 {
    var s = 0;
    if (FORMAT == FORMAT_Q4_1) {
        for (var i = 0u; i < 4u; i = i + 1u) {
            let q = w_SEG[wbase + 1u + i];
            let ql = q & 0x0f0f0f0fu;
            let qh = (q >> 4u) & 0x0f0f0f0fu;
            let lo_l = act[abase + b * 8u + i];
            let hi_l = act[abase + n / 4u + b * 8u + i];
            let lo_h = act[abase + b * 8u + 4u + i];
            let hi_h = act[abase + n / 4u + b * 8u + 4u + i];
            s = s + i32(dot4u8(ql, lo_l)) + 256 * dot4i8(ql, hi_l)
                  + i32(dot4u8(qh, lo_h)) + 256 * dot4i8(qh, hi_h);
        }
    } else {
        var qsum = 0;
        for (var i = 0u; i < 8u; i = i + 1u) {
            let q = w_SEG[wbase + 1u + i];
            let lo = act[abase + b * 8u + i];
            let hi = act[abase + n / 4u + b * 8u + i];
            // q * lo with lo unsigned: q * (lo - 128) + 128 * q.
            s = s + dot4i8(q, lo ^ 0x80808080u) + 256 * dot4i8(q, hi);
            qsum = qsum + dot4i8(q, 0x01010101u);
        }
        s = s + 128 * qsum;
    }
    return s;
}

// T_b of block b for one token: round_shift(d S1, -(de + e + 32)), plus for Q4_1
// round_shift(m S0, -(me + e + 32)) with the block's activation sum S0.
fn block_term_SEG(wbase: u32, abase: u32, n: u32, b: u32, d: vec2<i32>, m: vec2<i32>, e: i32) -> I64 {
    let s1 = block_s1_SEG(wbase, abase, n, b);
    var term = round_shift(mul_i32_wide(d.x, s1), -(d.y + e + 32));
    if (FORMAT == FORMAT_Q4_1) {
        let s0 = bitcast<i32>(act[abase + n / 2u + 1u + b]);
        term = i64_add(term, round_shift(mul_i32_wide(m.x, s0), -(m.y + e + 32)));
    }
    return term;
}
