// The joined per-row matmul (the arithmetic of matmul_rows.wgsl): shader.rs
// emits the part up to the entry once per weight, with the names of that
// weight's format file, block term, bindings (`w`, `out`) and stride suffixed
// `_0`, `_1`, `_2`, and the entry calls the one whose rows hold the invocation's.

fn rows_segment(row: u32, t0: u32, tn: u32) {
    let n = p.cols;
    let nb = n / BLOCK_LEN;
    let astride = n / 2u + 1u + n / 32u;
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
        out[(t0 + k) * p.stride + row] = sat_i32(round_shift(acc[k], 16));
    }
}

// @entry
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let row = gid.x;
    let t0 = gid.y * TT;
    if (row >= p.rows) {
        return;
    }
    let tn = min(TT, p.n_tokens - t0);
    // @select rows_segment(ROW, t0, tn);
}
