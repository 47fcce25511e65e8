// Q5_1 (docs/numerics.md section 14): the GGUF block is already 6 aligned words,
// d | m << 16, qh, then qs[16]; q_j = nibble j + 16 * (bit j of qh).

const BLOCK_LEN: u32 = 32u;
const BLOCK_WORDS: u32 = 6u;
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
    return nibbles(w[wb + 2u + (k & 3u)], k >> 2u) | (bits4_to_bytes(w[wb + 1u] >> (4u * k)) << 4u);
}
