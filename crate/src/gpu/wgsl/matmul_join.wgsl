// Parameters and the input binding of the joined matmul kernels
// (matmul_join_tiled.wgsl, matmul_join_rows.wgsl): one dispatch multiplies one
// quantized input by two or three weights (Q, K, V; gate, up), rows 0..end_0
// by weight 0, end_0..end_1 by weight 1, the rest by weight 2, each into its own
// output. Words 0-5 are those of matmul_bind.wgsl, so `rows` stays at word 0
// and `cols` at word 1 (docs/gpu.md, "Why the first dispatch fusion was slow on
// lavapipe"); the segment bounds are appended and only compared with rows.

struct Params {
    rows: u32,      // rows of all the weights together
    cols: u32,
    n_tokens: u32,
    row0: u32,      // 0 (split weights are not joined)
    stride_0: u32,  // rows of weight 0: its output's row stride
    res_rows: u32,  // 0 (a residual add does not fold into a joined dispatch)
    end_0: u32,
    end_1: u32,
    stride_1: u32,
    stride_2: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(2) var<storage, read> act: array<u32>;

const TT: u32 = 8u;
