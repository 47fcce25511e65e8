// Q4_K (docs/numerics.md section 14): 37 words per 256-element super-block:
// d | dmin << 16; the 8 sub-block scales and the 8 minimum multipliers, each a
// byte (ggml get_scale_min_k4, decoded on upload: gpu/formats.rs); qs[128].
// Elements 64g + l and 64g + 32 + l are the low and high nibbles of qs[32g + l],
// so sub-block s = 2g + h is the nibbles h of words 8g .. 8g + 7.

const BLOCK_LEN: u32 = 256u;
const BLOCK_WORDS: u32 = 37u;
const SUB_WORDS: u32 = 8u;
const Q_SIGNED: bool = false;
const HAS_MIN: bool = true;

// (d, -dmin): the minimum is subtracted.
fn block_head(wb: u32) -> vec4<i32> {
    let mn = f16_decode(w[wb] >> 16u);
    return vec4<i32>(f16_decode(w[wb] & 0xffffu), -mn.x, mn.y);
}

fn sub_scale(wb: u32, s: u32) -> i32 {
    return i32(byte_at(w[wb + 1u + s / 4u], s % 4u));
}

fn min_mult(wb: u32, k: u32) -> i32 {
    return i32(byte_at(w[wb + 3u + k / 4u], k % 4u));
}

fn q_word(wb: u32, k: u32) -> u32 {
    let s = k / 8u;
    return nibbles(w[wb + 5u + 8u * (s / 2u) + k % 8u], s & 1u);
}
