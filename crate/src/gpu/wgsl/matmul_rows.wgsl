// Quantized weights x activations (docs/numerics.md sections 3 and 14), the same sums as
// matmul.wgsl with one invocation per (output row, tile of 8 tokens): no
// workgroup memory and no barriers, which suits GPUs emulated on CPUs (lavapipe,
// SwiftShader) where a barrier costs more than the arithmetic. Each block's
// scales are decoded once per tile. Bindings and the block term
// are in matmul_block.wgsl.

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    // @load
    let row = gid.x;
    let t0 = gid.y * TT;
    let n = p.cols;
    let nb = n / BLOCK_LEN;
    let astride = n / 2u + 1u + n / 32u;
    if (row >= p.rows) {
        return;
    }
    let tn = min(TT, p.n_tokens - t0);
    var acc: array<I64, 8>;
    var ex: array<i32, 8>;
    for (var k = 0u; k < tn; k = k + 1u) {
        acc[k] = I64(0u, 0u);
        ex[k] = bitcast<i32>(act[(t0 + k) * astride + n / 2u]);
    }
    for (var b = 0u; b < nb; b = b + 1u) {
        let wbase = (row * nb + b) * BLOCK_WORDS;
        let h = block_head(wbase);
        for (var k = 0u; k < tn; k = k + 1u) {
            let abase = (t0 + k) * astride;
            acc[k] = i64_add(acc[k], block_term(wbase, abase, n, b, h, ex[k]));
        }
    }
    for (var k = 0u; k < tn; k = k + 1u) {
        write_out(t0 + k, row, sat_i32(round_shift(acc[k], 16)));
    }
}
