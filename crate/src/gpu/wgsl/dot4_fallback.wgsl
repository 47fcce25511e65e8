// Packed 4 x 8-bit dot products without the packed_4x8_integer_dot_product
// extension: the same exact integer results, byte by byte.

fn dot4i8(a: u32, b: u32) -> i32 {
    let x = bitcast<i32>(a);
    let y = bitcast<i32>(b);
    return extractBits(x, 0u, 8u) * extractBits(y, 0u, 8u)
         + extractBits(x, 8u, 8u) * extractBits(y, 8u, 8u)
         + extractBits(x, 16u, 8u) * extractBits(y, 16u, 8u)
         + extractBits(x, 24u, 8u) * extractBits(y, 24u, 8u);
}

fn dot4u8(a: u32, b: u32) -> u32 {
    return (a & 0xffu) * (b & 0xffu)
         + ((a >> 8u) & 0xffu) * ((b >> 8u) & 0xffu)
         + ((a >> 16u) & 0xffu) * ((b >> 16u) & 0xffu)
         + (a >> 24u) * (b >> 24u);
}
