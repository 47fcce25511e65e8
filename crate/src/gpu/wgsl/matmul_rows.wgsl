// Quantized weights x activations (docs/numerics.md section 3), the same sums as
// matmul.wgsl with one invocation per (output row, tile of 8 tokens): no
// workgroup memory and no barriers, which suits GPUs emulated on CPUs (lavapipe,
// SwiftShader) where a barrier costs more than the arithmetic. Each block's
// scales are decoded once per tile. Bindings, segments and the block term are
// in matmul_block.wgsl; `tile_SEG` is emitted once per segment.

// Sums of row `row` of segment SEG's weight for tokens t0 .. t0 + tn.
fn tile_SEG(row: u32, t0: u32, tn: u32, ex: array<i32, 8>) -> array<I64, 8> {
    let n = p.cols;
    let nb = n / 32u;
    let astride = n / 2u + 1u + nb;
    let words = select(5u, 9u, FORMAT == FORMAT_Q8_0);
    var acc: array<I64, 8>;
    for (var k = 0u; k < TT; k = k + 1u) {
        acc[k] = I64(0u, 0u);
    }
    for (var b = 0u; b < nb; b = b + 1u) {
        let wbase = (row * nb + b) * words;
        let w0 = w_SEG[wbase];
        let d = f16_decode(w0 & 0xffffu);
        let m = f16_decode(w0 >> 16u);
        for (var k = 0u; k < tn; k = k + 1u) {
            let abase = (t0 + k) * astride;
            acc[k] = i64_add(acc[k], block_term_SEG(wbase, abase, n, b, d, m, ex[k]));
        }
    }
    return acc;
}

// @end-segment

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    if (gid.x >= p.rows.w) {
        return;
    }
    let sr = segment_of(gid.x);
    let t0 = gid.y * TT;
    let n = p.cols;
    let astride = n / 2u + 1u + n / 32u;
    let tn = min(TT, p.n_tokens - t0);
    var ex: array<i32, 8>;
    for (var k = 0u; k < tn; k = k + 1u) {
        ex[k] = bitcast<i32>(act[(t0 + k) * astride + n / 2u]);
    }
    var acc: array<I64, 8>;
    if (sr.x == 0u) {
        acc = tile_0(sr.y, t0, tn, ex);
    } else if (sr.x == 1u) {
        acc = tile_1(sr.y, t0, tn, ex);
    } else {
        acc = tile_2(sr.y, t0, tn, ex);
    }
    for (var k = 0u; k < tn; k = k + 1u) {
        write_out(sr.x, t0 + k, sr.y, sat_i32(round_shift(acc[k], 16)));
    }
}
