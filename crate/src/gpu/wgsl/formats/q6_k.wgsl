// Q6_K (docs/numerics.md section 14): 53 words per 256-element super-block:
// d; scales[16] (i8); ql[128]; qh[64]. In half n, element 128n + 32c + l
// (c = 0..3, l = 0..31) is nibble c / 2 of ql[64n + 32 (c % 2) + l] plus 16 times
// bits 2c, 2c + 1 of qh[32n + l], minus 32. Sub-blocks are 16 elements.

const BLOCK_LEN: u32 = 256u;
const BLOCK_WORDS: u32 = 53u;
const SUB_WORDS: u32 = 4u;
const Q_SIGNED: bool = true;
const HAS_MIN: bool = false;

fn block_head(wb: u32) -> vec4<i32> {
    return vec4<i32>(f16_decode(w[wb] & 0xffffu), 0, 0);
}

fn sub_scale(wb: u32, s: u32) -> i32 {
    return extractBits(bitcast<i32>(w[wb + 1u + s / 4u]), 8u * (s % 4u), 8u);
}

fn min_mult(wb: u32, k: u32) -> i32 {
    return 1;
}

fn q_word(wb: u32, k: u32) -> u32 {
    let n = k / 32u;
    let c = (k % 32u) / 8u;
    let i = k % 8u;
    let lo = nibbles(w[wb + 5u + 16u * n + 8u * (c % 2u) + i], c / 2u);
    let hi = (w[wb + 37u + 8u * n + i] >> (2u * c)) & 0x03030303u;
    return bytes_sub(lo | (hi << 4u), 32u);
}
