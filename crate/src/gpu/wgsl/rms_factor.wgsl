// Steps 1-4 of RMSNorm (docs/numerics.md section 4) for one workgroup's vector
// x[base .. base + n): k = max(0, bit_len(max |x|) - 23), x' = round_shift(x, k),
//   ss = sum x'^2, V = floor(ss 2^16 / n), v = max(1, V + eps_k),
//   R = isqrt(floor(2^124 / v)), s = max(0, bit_len(R) - 16), M = round_shift(R, s).
// The one 128-bit step runs on invocation 0 with 4 x 32-bit limbs. Needs
// int64.wgsl, int128.wgsl, reduce.wgsl, a binding `x: array<i32>` and uniform
// `p.eps: array<vec4<u32>, 5>`: epsilon in fixed point for k = 0..9 as (lo, hi)
// pairs, decoded on the CPU (which scales it for exact-2's residual stream).

// floor(2^124 / v) for v >= 1: restoring division, quotient bits shifted in.
fn recip124(v: U128) -> U128 {
    var q = U128(0u, 0u, 0u, 0u);
    var r = U128(1u, 0u, 0u, 0u); // the numerator's one bit, 2^124, brought down first
    for (var i = 0; i <= 124; i = i + 1) {
        q = u128_shl1(q);
        if (!u128_lt(r, v)) {
            r = u128_sub(r, v);
            q.x = q.x | 1u;
        }
        r = u128_shl1(r);
    }
    return q;
}

// floor(sqrt(a)) for a <= 2^124, digit by digit.
fn isqrt128(a: U128) -> U128 {
    var rem = a;
    var res = U128(0u, 0u, 0u, 0u);
    var bit = U128(0u, 0u, 0u, 1u << 28u); // 2^124
    while (u128_lt(rem, bit) && !u128_is_zero(bit)) {
        bit = u128_shr1(u128_shr1(bit));
    }
    while (!u128_is_zero(bit)) {
        let rb = u128_add(res, bit);
        if (!u128_lt(rem, rb)) {
            rem = u128_sub(rem, rb);
            res = u128_add(u128_shr1(res), bit);
        } else {
            res = u128_shr1(res);
        }
        bit = u128_shr1(u128_shr1(bit));
    }
    return res;
}

var<workgroup> shared_m: vec2<i32>; // (M, s)

// Returns (k, M, s) to every invocation. Call from uniform control flow.
fn rms_factor(lid: u32, base: u32, n: u32) -> vec3<i32> {
    var mx = 0u;
    for (var i = lid; i < n; i = i + WG) {
        mx = max(mx, bitcast<u32>(abs(x[base + i])));
    }
    let xmax = wg_max_u64(lid, I64(mx, 0u)).x;
    let k = max(0, bit_len32(xmax) - 23);

    var ss = I64(0u, 0u);
    for (var i = lid; i < n; i = i + WG) {
        let xs = bitcast<i32>(round_shift_i32(x[base + i], k).x);
        ss = i64_add(ss, mul_i32_wide(xs, xs));
    }
    let total = wg_sum_i64(lid, ss);

    if (lid == 0u) {
        // V = floor(ss * 2^16 / n) by 16-bit digits (n <= 2^16).
        // ss * 2^16 as 16-bit digits, least significant first.
        var digits = array<u32, 5>(0u, total.x & 0xffffu, total.x >> 16u, total.y & 0xffffu, total.y >> 16u);
        var r = 0u;
        var qd = array<u32, 5>(0u, 0u, 0u, 0u, 0u);
        for (var i = 4; i >= 0; i = i - 1) {
            let cur = (r << 16u) | digits[i];
            qd[i] = cur / n;
            r = cur % n;
        }
        var v = U128(qd[0] | (qd[1] << 16u), qd[2] | (qd[3] << 16u), qd[4], 0u);
        let e4 = p.eps[u32(k) / 2u];
        var eps = I64(e4.x, e4.y);
        if ((u32(k) & 1u) == 1u) {
            eps = I64(e4.z, e4.w);
        }
        v = u128_add(v, U128(eps.x, eps.y, 0u, 0u));
        if (u128_is_zero(v)) {
            v.x = 1u;
        }
        let rr = isqrt128(recip124(v));
        let r64 = I64(rr.x, rr.y);
        let s = max(0, bit_len64(r64) - 16);
        let mm = round_shift(r64, s);
        shared_m = vec2<i32>(bitcast<i32>(mm.x), s);
    }
    workgroupBarrier();
    return vec3<i32>(k, shared_m.x, shared_m.y);
}

// |P_i| = |x'_i G_i| M of step 5, exact in 96 bits (exact-2's wide norm weights
// make it exceed 64: |x'| <= 2^23, |G| < 2^31, M <= 2^16), and its sign.
fn norm_product(xv: i32, k: i32, g: i32, m: i32) -> U128 {
    let xs = bitcast<i32>(round_shift_i32(xv, k).x);
    let xg = mul_i32_wide(xs, g);
    return i128_signed(mul_u64_u32(i64_abs(xg), bitcast<u32>(m)), i64_is_neg(xg));
}

fn norm_product_bits(xv: i32, k: i32, g: i32, m: i32) -> i32 {
    let xs = bitcast<i32>(round_shift_i32(xv, k).x);
    return bit_len128(mul_u64_u32(i64_abs(mul_i32_wide(xs, g)), bitcast<u32>(m)));
}
