// The gated entry of the joined per-row matmul (gate and up, matmul_join.rs):
// invocation `row` computes gate row `row` and up row `row` (rows_segment_0,
// _1: the arithmetic of matmul_rows.wgsl, each written to its output), then
// the gated product of the two (product_*.wgsl) into `hid`, the 64-bit values
// the down projection quantizes on load (matmul_load.wgsl).

@group(0) @binding(6) var<storage, read_write> hid: array<I64>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let row = gid.x;
    let t0 = gid.y * TT;
    if (row >= p.end_0) {
        return;
    }
    let tn = min(TT, p.n_tokens - t0);
    rows_segment_0(row, t0, tn);
    rows_segment_1(row, t0, tn);
    for (var k = 0u; k < tn; k = k + 1u) {
        let t = t0 + k;
        hid[t * p.end_0 + row] = gated_product(out_0[t * p.stride_0 + row], out_1[t * p.stride_1 + row]);
    }
}
