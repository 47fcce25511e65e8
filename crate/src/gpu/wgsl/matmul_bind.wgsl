// The bindings and output write of the two matmul kernels (matmul.wgsl,
// matmul_rows.wgsl); the joined kernels (matmul_join*.wgsl) have their own.

struct Params {
    rows: u32,      // rows in this dispatch (one split of the weight)
    cols: u32,
    n_tokens: u32,
    row0: u32,      // first output column of this split
    out_stride: u32,
    res_rows: u32,  // rows below this also add their output into `res` (0: none)
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> w: array<u32>;
@group(0) @binding(2) var<storage, read> act: array<u32>;
@group(0) @binding(3) var<storage, read_write> out: array<i32>;
@group(0) @binding(4) var<storage, read_write> res: array<i32>;

const TT: u32 = 8u;

// Writes output `v` of `row` for token `t`, and with a folded residual add also
// res = sat_i32(res + v) (section 8, the arithmetic of add.wgsl). `res_rows` is
// compared with the row rather than tested alone: lavapipe recompiles shaders
// whose branches a uniform decides by itself (docs/gpu.md).
fn write_out(t: u32, row: u32, v: i32) {
    let i = t * p.out_stride + p.row0 + row;
    out[i] = v;
    if (row < p.res_rows) {
        res[i] = sat_i32(i64_add(i64_from_i32(res[i]), i64_from_i32(v)));
    }
}

