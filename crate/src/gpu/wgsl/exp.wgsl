// e^x and the logistic function in integers: docs/numerics.md section 6
// (exp_neg_q16, sigmoid_q30), the same code as crate/src/exact/math.rs.
// Needs int64.wgsl and the generated `EXP2` table (257 entries, Q30).

const LOG2E_Q30: u32 = 1549082005u;

// e^(d / 2^16) in Q30 for a 64-bit d (1 for d >= 0).
fn exp_neg_q16(d: I64) -> u32 {
    if (!i64_is_neg(d) ) {
        return 1u << 30u;
    }
    var neg = i64_neg(d);
    if (neg.y > 1u || (neg.y == 1u && neg.x != 0u)) {
        neg = I64(0u, 1u); // min(-d, 2^32)
    }
    let y = round_shift(i64_mul(neg, I64(LOG2E_Q30, 0u)), 22);
    let n = u64_shr(y, 24u);
    if (n.y != 0u || n.x >= 31u) {
        return 0u;
    }
    let f = y.x & 0xffffffu;
    let j = f >> 16u;
    let r = f & 0xffffu;
    let a = EXP2[j];
    let b = EXP2[j + 1u];
    let diff = mul_u32_wide(a - b, r);
    let v = i64_sub(I64(a, 0u), round_shift(diff, 16));
    return round_shift(v, i32(n.x)).x;
}

// 1 / (1 + e^-x) in Q30 for a Q16 x.
fn sigmoid_q30(x: i32) -> i32 {
    let ax = i64_abs(i64_from_i32(x));
    let e = exp_neg_q16(i64_neg(ax));
    let den = (1u << 30u) + e; // <= 2^31
    let num = I64(den >> 1u, 1u << 28u); // 2^60 + floor(den / 2)
    let pos = i32(udiv64_u31(num, den).x);
    if (x >= 0) {
        return pos;
    }
    return (1 << 30u) - pos;
}
