// Input stage source: the Q16 rows themselves (the quantize before the O
// projection), rows of `cols` values one after another.

@group(0) @binding(5) var<storage, read> src: array<i32>;

fn load_value(i: u32) -> I64 {
    return i64_from_i32(src[i]);
}
