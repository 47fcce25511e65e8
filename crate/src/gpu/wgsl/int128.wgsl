// 128-bit two's-complement integers as vec4<u32> (x = least significant limb),
// for the steps of spec exact-2 (docs/numerics.md, section 15) whose products
// need more than 64 bits, and RMSNorm's 128-bit reciprocal (section 4).
// Needs int64.wgsl.

alias U128 = vec4<u32>;

fn u128_add(a: U128, b: U128) -> U128 {
    let x = a.x + b.x;
    let c0 = select(0u, 1u, x < a.x);
    let y0 = a.y + b.y;
    let y = y0 + c0;
    let c1 = select(0u, 1u, y0 < a.y) + select(0u, 1u, y < y0);
    let z0 = a.z + b.z;
    let z = z0 + c1;
    let c2 = select(0u, 1u, z0 < a.z) + select(0u, 1u, z < z0);
    return U128(x, y, z, a.w + b.w + c2);
}

fn u128_neg(a: U128) -> U128 {
    return u128_add(~a, U128(1u, 0u, 0u, 0u));
}

fn u128_sub(a: U128, b: U128) -> U128 {
    return u128_add(a, u128_neg(b));
}

fn u128_lt(a: U128, b: U128) -> bool {
    if (a.w != b.w) {
        return a.w < b.w;
    }
    if (a.z != b.z) {
        return a.z < b.z;
    }
    if (a.y != b.y) {
        return a.y < b.y;
    }
    return a.x < b.x;
}

fn u128_shl1(a: U128) -> U128 {
    return U128(a.x << 1u, (a.y << 1u) | (a.x >> 31u), (a.z << 1u) | (a.y >> 31u), (a.w << 1u) | (a.z >> 31u));
}

fn u128_shr1(a: U128) -> U128 {
    return U128((a.x >> 1u) | (a.y << 31u), (a.y >> 1u) | (a.z << 31u), (a.z >> 1u) | (a.w << 31u), a.w >> 1u);
}

fn u128_is_zero(a: U128) -> bool {
    return (a.x | a.y | a.z | a.w) == 0u;
}

// Unsigned 64 x 32 -> 96 bits (exact).
fn mul_u64_u32(a: I64, b: u32) -> U128 {
    let lo = mul_u32_wide(a.x, b);
    let hi = mul_u32_wide(a.y, b);
    let mid = lo.y + hi.x;
    return U128(lo.x, mid, hi.y + select(0u, 1u, mid < lo.y), 0u);
}

// The signed value -m if `neg`, else m.
fn i128_signed(m: U128, neg: bool) -> U128 {
    return select(m, u128_neg(m), neg);
}

// Number of significant bits of an unsigned 128-bit value.
fn bit_len128(v: U128) -> i32 {
    if (v.w != 0u) {
        return 128 - i32(countLeadingZeros(v.w));
    }
    if (v.z != 0u) {
        return 96 - i32(countLeadingZeros(v.z));
    }
    return bit_len64(v.xy);
}

// Arithmetic a >> s for 0 <= s < 128.
fn i128_sar(a: U128, s: u32) -> U128 {
    let sign = bitcast<u32>(bitcast<i32>(a.w) >> 31u);
    var limbs = array<u32, 8>(a.x, a.y, a.z, a.w, sign, sign, sign, sign);
    let w = s / 32u;
    let b = s % 32u;
    var r = array<u32, 4>(0u, 0u, 0u, 0u);
    for (var i = 0u; i < 4u; i = i + 1u) {
        let lo = limbs[i + w];
        let hi = limbs[i + w + 1u];
        // hi << (32 - b), 0 for b = 0.
        r[i] = (lo >> b) | ((hi << 1u) << (31u - b));
    }
    return U128(r[0], r[1], r[2], r[3]);
}

// round_shift(v, s) of a signed 128-bit v for 1 <= s < 128 (section 1).
fn i128_round_shift(v: U128, s: u32) -> U128 {
    let half = i128_sar(v, s - 1u).x & 1u;
    return u128_add(i128_sar(v, s), U128(half, 0u, 0u, 0u));
}

// sat_i32 of a signed 128-bit value.
fn i128_sat_i32(v: U128) -> i32 {
    let fill = bitcast<u32>(bitcast<i32>(v.x) >> 31u);
    if (v.y == fill && v.z == fill && v.w == fill) {
        return bitcast<i32>(v.x);
    }
    if ((v.w >> 31u) != 0u) {
        return -2147483647 - 1;
    }
    return 2147483647;
}
