// 64-bit two's-complement integers as vec2<u32> (x = low word, y = high word),
// the arithmetic spec exact-1 (docs/numerics.md, section 1) needs and WGSL lacks.
// All operations wrap mod 2^64 like the CPU executor's release build.

alias I64 = vec2<u32>;

fn i64_from_i32(v: i32) -> I64 {
    return I64(bitcast<u32>(v), select(0u, 0xffffffffu, v < 0));
}

fn i64_from_u32(v: u32) -> I64 {
    return I64(v, 0u);
}

fn i64_add(a: I64, b: I64) -> I64 {
    let lo = a.x + b.x;
    return I64(lo, a.y + b.y + select(0u, 1u, lo < a.x));
}

fn i64_neg(a: I64) -> I64 {
    return i64_add(~a, I64(1u, 0u));
}

fn i64_sub(a: I64, b: I64) -> I64 {
    return i64_add(a, i64_neg(b));
}

fn i64_is_neg(a: I64) -> bool {
    return (a.y >> 31u) != 0u;
}

// Signed a < b.
fn i64_lt(a: I64, b: I64) -> bool {
    if (a.y != b.y) {
        return bitcast<i32>(a.y) < bitcast<i32>(b.y);
    }
    return a.x < b.x;
}

// Unsigned a < b.
fn u64_lt(a: I64, b: I64) -> bool {
    if (a.y != b.y) {
        return a.y < b.y;
    }
    return a.x < b.x;
}

fn i64_max(a: I64, b: I64) -> I64 {
    return select(a, b, i64_lt(a, b));
}

fn u64_max(a: I64, b: I64) -> I64 {
    return select(a, b, u64_lt(a, b));
}

// |a| as an unsigned 64-bit value (|-2^63| = 2^63).
fn i64_abs(a: I64) -> I64 {
    return select(a, i64_neg(a), i64_is_neg(a));
}

// Unsigned 32 x 32 -> 64.
fn mul_u32_wide(a: u32, b: u32) -> I64 {
    let a0 = a & 0xffffu;
    let a1 = a >> 16u;
    let b0 = b & 0xffffu;
    let b1 = b >> 16u;
    let p00 = a0 * b0;
    let p01 = a0 * b1;
    let p10 = a1 * b0;
    let p11 = a1 * b1;
    let mid = p01 + p10;
    let mid_carry = select(0u, 0x10000u, mid < p01);
    let lo = p00 + (mid << 16u);
    let c = select(0u, 1u, lo < p00);
    return I64(lo, p11 + (mid >> 16u) + mid_carry + c);
}

// Signed 32 x 32 -> 64 (exact).
fn mul_i32_wide(a: i32, b: i32) -> I64 {
    var p = mul_u32_wide(bitcast<u32>(a), bitcast<u32>(b));
    p.y = p.y - select(0u, bitcast<u32>(b), a < 0) - select(0u, bitcast<u32>(a), b < 0);
    return p;
}

// 64 x 64 -> low 64 bits (wrapping; the same for signed and unsigned).
fn i64_mul(a: I64, b: I64) -> I64 {
    var p = mul_u32_wide(a.x, b.x);
    p.y = p.y + a.x * b.y + a.y * b.x;
    return p;
}

// a << s for 0 <= s (wrapping; 0 for s >= 64). Branch-free: invocations of a
// workgroup with different shifts stay in step.
fn i64_shl(a: I64, s: u32) -> I64 {
    let k = s & 31u;
    // a.x >> (32 - k), 0 for k = 0 (a shift by 32 would be masked to 0).
    let carry = (a.x >> 1u) >> (31u - k);
    let small = I64(a.x << k, (a.y << k) | carry);
    let big = I64(0u, a.x << k);
    return select(select(small, big, s >= 32u), I64(0u, 0u), s >= 64u);
}

// Arithmetic a >> s for 0 <= s (sign fill for s >= 64). Branch-free.
fn i64_sar(a: I64, s: u32) -> I64 {
    let sign = bitcast<u32>(bitcast<i32>(a.y) >> 31u);
    let k = s & 31u;
    let carry = (a.y << 1u) << (31u - k);
    let small = I64((a.x >> k) | carry, bitcast<u32>(bitcast<i32>(a.y) >> k));
    let big = I64(bitcast<u32>(bitcast<i32>(a.y) >> k), sign);
    return select(select(small, big, s >= 32u), I64(sign, sign), s >= 64u);
}

// Logical a >> s.
fn u64_shr(a: I64, s: u32) -> I64 {
    if (s == 0u) {
        return a;
    }
    if (s >= 64u) {
        return I64(0u, 0u);
    }
    if (s >= 32u) {
        return I64(a.y >> (s - 32u), 0u);
    }
    return I64((a.x >> s) | (a.y << (32u - s)), a.y >> s);
}

// round_shift(v, s): floor(v / 2^s + 1/2) for s > 0, v * 2^-s (wrapping) for s <= 0.
// Branch-free (both directions computed, one selected).
fn round_shift(v: I64, s: i32) -> I64 {
    let left = i64_shl(v, u32(max(-s, 0)));
    let r = u32(clamp(s, 1, 64));
    let half = i64_sar(v, r - 1u).x & 1u;
    let right = select(i64_add(i64_sar(v, r), I64(half, 0u)), I64(0u, 0u), s >= 64);
    return select(right, left, s <= 0);
}

// round_shift on an i32 (exact for any s; the result always fits i64).
fn round_shift_i32(v: i32, s: i32) -> I64 {
    return round_shift(i64_from_i32(v), s);
}

// Clamps to the i32 range.
fn sat_i32(v: I64) -> i32 {
    let hi = bitcast<i32>(v.y);
    if (hi > 0 || (hi == 0 && v.x >= 0x80000000u)) {
        return 2147483647;
    }
    if (hi < -1 || (hi == -1 && v.x < 0x80000000u)) {
        return -2147483647 - 1;
    }
    return bitcast<i32>(v.x);
}

// Number of significant bits of an unsigned 64-bit value.
fn bit_len64(v: I64) -> i32 {
    if (v.y != 0u) {
        return 64 - i32(countLeadingZeros(v.y));
    }
    return 32 - i32(countLeadingZeros(v.x));
}

fn bit_len32(v: u32) -> i32 {
    return 32 - i32(countLeadingZeros(v));
}

// floor(n / d) for a u64 n and 0 < d <= 2^31, by restoring division.
fn udiv64_u31(n: I64, d: u32) -> I64 {
    var q = I64(0u, 0u);
    var r = 0u;
    for (var i = 63; i >= 0; i = i - 1) {
        let word = select(n.x, n.y, i >= 32);
        let bit = (word >> u32(i & 31)) & 1u;
        r = (r << 1u) | bit;
        if (r >= d) {
            r = r - d;
            if (i >= 32) {
                q.y = q.y | (1u << u32(i - 32));
            } else {
                q.x = q.x | (1u << u32(i));
            }
        }
    }
    return q;
}
