// One RoPE rotation (docs/numerics.md section 5) by the Q30 pair (c, s):
// y0 = sat(round_shift(x0 c - x1 s, 30)), y1 = sat(round_shift(x0 s + x1 c, 30)).

fn rope_pair(x0: i32, x1: i32, c: i32, s: i32) -> vec2<i32> {
    return vec2<i32>(
        sat_i32(round_shift(i64_sub(mul_i32_wide(x0, c), mul_i32_wide(x1, s)), 30)),
        sat_i32(round_shift(i64_add(mul_i32_wide(x0, s), mul_i32_wide(x1, c)), 30)),
    );
}
