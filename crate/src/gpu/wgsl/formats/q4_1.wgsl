// Q4_1 (docs/numerics.md section 3): the GGUF block is already 5 aligned words,
// d | m << 16, then qs[16]: element j < 16 is the low nibble of byte j, element
// j + 16 its high nibble.

const BLOCK_LEN: u32 = 32u;
const BLOCK_WORDS: u32 = 5u;
const SUB_WORDS: u32 = 8u;
const Q_SIGNED: bool = false;
const HAS_MIN: bool = true;

fn block_head(wb: u32) -> vec4<i32> {
    return vec4<i32>(f16_decode(w[wb] & 0xffffu), f16_decode(w[wb] >> 16u));
}

fn sub_scale(wb: u32, s: u32) -> i32 {
    return 1;
}

fn min_mult(wb: u32, k: u32) -> i32 {
    return 1;
}

fn q_word(wb: u32, k: u32) -> u32 {
    return nibbles(w[wb + 1u + (k & 3u)], k >> 2u);
}
