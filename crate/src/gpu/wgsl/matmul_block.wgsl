// The shared part of the two matmul kernels (matmul.wgsl, matmul_rows.wgsl):
// bindings, the exact block sum S1 and one block's rounded term T_b
// (docs/numerics.md section 3). `FORMAT` selects the block layout (embed.wgsl).

struct Params {
    rows: u32,      // rows in this dispatch (one split of the weight)
    cols: u32,
    n_tokens: u32,
    row0: u32,      // first output column of this split
    out_stride: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> w: array<u32>;
@group(0) @binding(2) var<storage, read> act: array<u32>;
@group(0) @binding(3) var<storage, read_write> out: array<i32>;

const TT: u32 = 8u;

// Exact sum_j q_j a_j of one block with the activation words of one token.
fn block_s1(wbase: u32, abase: u32, n: u32, b: u32) -> i32 {
    var s = 0;
    if (FORMAT == FORMAT_Q4_1) {
        for (var i = 0u; i < 4u; i = i + 1u) {
            let q = w[wbase + 1u + i];
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
            let q = w[wbase + 1u + i];
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
fn block_term(wbase: u32, abase: u32, n: u32, b: u32, d: vec2<i32>, m: vec2<i32>, e: i32) -> I64 {
    let s1 = block_s1(wbase, abase, n, b);
    var term = round_shift(mul_i32_wide(d.x, s1), -(d.y + e + 32));
    if (FORMAT == FORMAT_Q4_1) {
        let s0 = bitcast<i32>(act[abase + n / 2u + 1u + b]);
        term = i64_add(term, round_shift(mul_i32_wide(m.x, s0), -(m.y + e + 32)));
    }
    return term;
}
