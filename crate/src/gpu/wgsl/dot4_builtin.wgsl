// Packed 4 x 8-bit dot products by the WGSL language extension
// packed_4x8_integer_dot_product (exact integer results).

fn dot4i8(a: u32, b: u32) -> i32 {
    return dot4I8Packed(a, b);
}

fn dot4u8(a: u32, b: u32) -> u32 {
    return dot4U8Packed(a, b);
}
