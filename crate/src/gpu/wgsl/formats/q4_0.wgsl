// Q4_0 (docs/numerics.md section 14): repacked to 5 words, d in the low half of
// the first, then qs[16] as in Q4_1; q_j = nibble j - 8.

const BLOCK_LEN: u32 = 32u;
const BLOCK_WORDS: u32 = 5u;
const SUB_WORDS: u32 = 8u;
const Q_SIGNED: bool = true;
const HAS_MIN: bool = false;

fn block_head(wb: u32) -> vec4<i32> {
    return vec4<i32>(f16_decode(w[wb] & 0xffffu), 0, 0);
}

fn sub_scale(wb: u32, s: u32) -> i32 {
    return 1;
}

fn min_mult(wb: u32, k: u32) -> i32 {
    return 1;
}

fn q_word(wb: u32, k: u32) -> u32 {
    return bytes_sub(nibbles(w[wb + 1u + (k & 3u)], k >> 2u), 8u);
}
