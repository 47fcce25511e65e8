// Quantized weights x activations (docs/numerics.md sections 3 and 14).
// Per (super-)block b: S1 = sum_s sc_s sum_{j in s} q_j a_j (exact, from packed
// 4 x 8-bit dot products), T_b = round_shift(d * S1, -(de + e + 32)) (+ the
// minimum's term with the block sums S0), acc = sum_b T_b wrapping in 64 bits, output
// sat_i32(round_shift(acc, 16)). Each T_b is rounded on its own and the sum
// wraps, so how blocks are spread over invocations cannot change a bit.
//
// A workgroup of 64 = 8 rows x 8 lanes computes 8 output rows for up to 8 tokens:
// lane l sums blocks l, l + 8, ...; the 8 partial sums of a row meet in workgroup
// memory. Bindings and the block term are in matmul_block.wgsl, the block
// layout in formats/*.wgsl.

var<workgroup> part: array<I64, 512>;

@compute @workgroup_size(64)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wg: vec3<u32>) {
    // @load
    let lane = lid % 8u;
    let rsub = lid / 8u;
    let row = wg.x * 8u + rsub;
    let t0 = wg.y * TT;
    let n = p.cols;
    let nb = n / BLOCK_LEN;
    let astride = n / 2u + 1u + n / 32u;
    var acc: array<I64, 8>;
    for (var k = 0u; k < TT; k = k + 1u) {
        acc[k] = I64(0u, 0u);
    }
    if (row < p.rows) {
        for (var b = lane; b < nb; b = b + 8u) {
            let wbase = (row * nb + b) * BLOCK_WORDS;
            let h = block_head(wbase);
            for (var k = 0u; k < TT; k = k + 1u) {
                let t = t0 + k;
                if (t < p.n_tokens) {
                    let abase = t * astride;
                    let e = bitcast<i32>(act[abase + n / 2u]);
                    acc[k] = i64_add(acc[k], block_term(wbase, abase, n, b, h, e));
                }
            }
        }
    }
    for (var k = 0u; k < TT; k = k + 1u) {
        part[lid * TT + k] = acc[k];
    }
    workgroupBarrier();
    // Lane l finishes token t0 + l of this row.
    let t = t0 + lane;
    if (row < p.rows && t < p.n_tokens) {
        var sum = I64(0u, 0u);
        for (var j = 0u; j < 8u; j = j + 1u) {
            sum = i64_add(sum, part[(rsub * 8u + j) * TT + lane]);
        }
        write_out(t, row, sat_i32(round_shift(sum, 16)));
    }
}
