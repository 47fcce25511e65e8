// Q8_0 (docs/numerics.md section 3): 9 words per block, d alone in the first,
// then q[32] (i8), so q_word is a plain load.

const BLOCK_LEN: u32 = 32u;
const BLOCK_WORDS: u32 = 9u;
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
    return w[wb + 1u + k];
}
