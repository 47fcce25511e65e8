// Byte-parallel helpers of the block formats (formats/*.wgsl): each format
// file gives the (super-)block's f16 scales, integer sub-block scales, minimum
// multipliers, and its q_j four at a time as packed bytes (docs/numerics.md
// sections 3 and 14); the matmul and embedding kernels use nothing else.

// The nibbles `h` (0 low, 1 high) of the 4 bytes of `x`, one per byte.
fn nibbles(x: u32, h: u32) -> u32 {
    return (x >> (4u * h)) & 0x0f0f0f0fu;
}

// Bits 0..3 of `x` as bit 0 of bytes 0..3.
fn bits4_to_bytes(x: u32) -> u32 {
    return (x & 1u) | ((x & 2u) << 7u) | ((x & 4u) << 14u) | ((x & 8u) << 21u);
}

// Each byte u < 128 of `x` minus `c` <= 128, as an i8 byte (no borrow crosses
// bytes: (u | 128) - c >= 0, and flipping bit 7 adds 128 mod 256).
fn bytes_sub(x: u32, c: u32) -> u32 {
    return ((x | 0x80808080u) - c * 0x01010101u) ^ 0x80808080u;
}

fn byte_at(x: u32, i: u32) -> u32 {
    return (x >> (8u * i)) & 0xffu;
}
