// The gated entry of the joined tiled matmul (gate and up, matmul_join.rs):
// a workgroup computes 8 gate rows and the same 8 up rows (tile_segment_0,
// _1 and the lane sums of matmul.wgsl, one after the other through `part`),
// so lane l holds gate and up of token t0 + l and writes both, and their
// gated product (product_*.wgsl) into `hid`, the 64-bit values the down
// projection quantizes on load (matmul_load.wgsl).

@group(0) @binding(6) var<storage, read_write> hid: array<I64>;
var<workgroup> part: array<I64, 512>;

// The lane sums of `acc` across the workgroup: this lane's token's output.
fn tile_sum(lid: u32, rsub: u32, lane: u32, acc: array<I64, 8>) -> i32 {
    for (var k = 0u; k < TT; k = k + 1u) {
        part[lid * TT + k] = acc[k];
    }
    workgroupBarrier();
    var sum = I64(0u, 0u);
    for (var j = 0u; j < 8u; j = j + 1u) {
        sum = i64_add(sum, part[(rsub * 8u + j) * TT + lane]);
    }
    workgroupBarrier();
    return sat_i32(round_shift(sum, 16));
}

@compute @workgroup_size(64)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wg: vec3<u32>) {
    let lane = lid % 8u;
    let rsub = lid / 8u;
    let row = wg.x * 8u + rsub;
    let t0 = wg.y * TT;
    var acc: array<I64, 8>;
    for (var k = 0u; k < TT; k = k + 1u) {
        acc[k] = I64(0u, 0u);
    }
    if (row < p.end_0) {
        acc = tile_segment_0(row, lane, t0);
    }
    let g = tile_sum(lid, rsub, lane, acc);
    if (row < p.end_0) {
        acc = tile_segment_1(row, lane, t0);
    }
    let u = tile_sum(lid, rsub, lane, acc);
    let t = t0 + lane;
    if (row < p.end_0 && t < p.n_tokens) {
        tile_write_0(t, row, g);
        tile_write_1(t, row, u);
        hid[t * p.end_0 + row] = gated_product(g, u);
    }
}
