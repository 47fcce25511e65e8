// The joined tiled matmul (the arithmetic and work split of matmul.wgsl):
// shader.rs emits the part up to the entry once per weight, with the names of
// that weight's format file, block term, bindings (`w`, `out`) and stride
// suffixed `_0`, `_1`, `_2`; the entry calls the one whose rows hold the
// invocation's row, outside the barrier's control flow.

// Lane `lane`'s partial sums (blocks lane, lane + 8, ...) of `row` for tokens t0..t0 + 7.
fn tile_segment(row: u32, lane: u32, t0: u32) -> array<I64, 8> {
    let n = p.cols;
    let nb = n / BLOCK_LEN;
    let astride = n / 2u + 1u + n / 32u;
    var acc: array<I64, 8>;
    for (var k = 0u; k < TT; k = k + 1u) {
        acc[k] = I64(0u, 0u);
    }
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
    return acc;
}

fn tile_write(t: u32, row: u32, v: i32) {
    out[t * p.stride + row] = v;
}

// @entry
var<workgroup> part: array<I64, 512>;

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
    // @select acc = tile_segment(ROW, lane, t0);
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
        let v = sat_i32(round_shift(sum, 16));
        // @select tile_write(t, ROW, v);
    }
}
