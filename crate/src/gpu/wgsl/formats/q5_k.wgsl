// Q5_K (docs/numerics.md section 14): 45 words per 256-element super-block:
// d | dmin << 16; 8 scale bytes and 8 minimum bytes as in Q4_K; qh[32]; qs[128].
// Element 64g + 32h + l is nibble h of qs[32g + l] plus 16 * bit (2g + h) of qh[l].

const BLOCK_LEN: u32 = 256u;
const BLOCK_WORDS: u32 = 45u;
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
    let i = k % 8u;
    let high = ((w[wb + 5u + i] >> s) & 0x01010101u) << 4u;
    return nibbles(w[wb + 13u + 8u * (s / 2u) + i], s & 1u) | high;
}
