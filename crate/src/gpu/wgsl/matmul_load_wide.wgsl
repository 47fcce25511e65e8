// Input stage source: 64-bit values (the SiLU or GELU products that the gated
// joined gate·up dispatch wrote, matmul_join_gated_*.wgsl), rows of `cols`
// values one after another.

@group(0) @binding(5) var<storage, read> src: array<I64>;

fn load_value(i: u32) -> I64 {
    return src[i];
}
