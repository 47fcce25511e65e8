// The input stage of the matmul kernels that quantize on load (matmul_load.rs,
// docs/gpu.md "Dispatches per layer"): instead of reading a quantized input
// written by a separate dispatch, each workgroup computes it from the Q16
// values (`load_value`, given per source by matmul_load.rs: the values
// themselves, or the SiLU / GELU product of gate and up) into workgroup
// memory `act`, which the block terms (matmul_block.wgsl) then read. The
// arithmetic is section 2's, as act_write.wgsl: max |v| over the row (a max
// reduction, order-independent), the shift s of act_shift, round_shift and
// clamp per value, the 32-element block sums, exponent -16 + s. The first
// workgroup also writes the quantized rows to `act_out`, so the input buffer
// holds what a separate quantize would have written. For at most
// LOAD_WORDS / act_stride(cols) tokens (matmul_load.rs checks).

const LOAD_WORDS: u32 = 2944u;
var<workgroup> act: array<u32, LOAD_WORDS>;

// Quantizes every token's input row into `act` (and, if `first`, `act_out`).
// Call first, from uniform control flow: it ends with a barrier.
fn load_input(lid: u32, first: bool) {
    let n = p.cols;
    let nb = n / 32u;
    let astride = n / 2u + 1u + nb;
    for (var t = 0u; t < p.n_tokens; t = t + 1u) {
        let src = t * n;
        var mx = I64(0u, 0u);
        for (var i = lid; i < n; i = i + WG) {
            mx = u64_max(mx, i64_abs(load_value(src + i)));
        }
        let s = act_shift(wg_max_u64(lid, mx));
        let dst = t * astride;
        for (var b = lid; b < nb; b = b + WG) {
            var sum = 0;
            for (var j = 0u; j < 8u; j = j + 1u) {
                var lo = 0u;
                var hi = 0u;
                for (var k = 0u; k < 4u; k = k + 1u) {
                    let a = act_value(load_value(src + b * 32u + j * 4u + k), s);
                    sum = sum + a;
                    lo = lo | ((bitcast<u32>(a) & 0xffu) << (8u * k));
                    hi = hi | ((bitcast<u32>(a >> 8u) & 0xffu) << (8u * k));
                }
                act[dst + b * 8u + j] = lo;
                act[dst + n / 4u + b * 8u + j] = hi;
                if (first) {
                    act_out[dst + b * 8u + j] = lo;
                    act_out[dst + n / 4u + b * 8u + j] = hi;
                }
            }
            act[dst + n / 2u + 1u + b] = bitcast<u32>(sum);
            if (first) {
                act_out[dst + n / 2u + 1u + b] = bitcast<u32>(sum);
            }
        }
        if (lid == 0u) {
            act[dst + n / 2u] = bitcast<u32>(s - 16);
            if (first) {
                act_out[dst + n / 2u] = bitcast<u32>(s - 16);
            }
        }
    }
    workgroupBarrier();
}
