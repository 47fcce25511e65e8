// RMSNorm (docs/numerics.md section 4), one workgroup per row:
//   k = max(0, bit_len(max |x|) - 23), x' = round_shift(x, k), ss = sum x'^2
//   V = floor(ss 2^16 / n), v = max(1, V + eps_k), R = isqrt(floor(2^124 / v))
//   s = max(0, bit_len(R) - 16), M = round_shift(R, s), P_i = x'_i G_i M
// then P is quantized with ve = s - 70. The one 128-bit step runs on invocation 0
// with 4 x 32-bit limbs. `eps_k` (epsilon in fixed point for each possible k)
// comes from the CPU, which decodes the f32 epsilon exactly.

struct Params {
    n: u32,
    rows: u32,
    pad0: u32,
    pad1: u32,
    eps: array<vec4<u32>, 5>, // eps for k = 0..9 as (lo, hi) pairs
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<i32>;
@group(0) @binding(2) var<storage, read> gamma: array<i32>;
@group(0) @binding(3) var<storage, read_write> scratch: array<I64>;
@group(0) @binding(4) var<storage, read_write> act: array<u32>;

alias U128 = vec4<u32>; // x = least significant limb

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

fn u128_sub(a: U128, b: U128) -> U128 {
    return u128_add(a, u128_add(~b, U128(1u, 0u, 0u, 0u)));
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

@compute @workgroup_size(64)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wg: vec3<u32>) {
    let row = wg.x;
    let n = p.n;
    let base = row * n;

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
    let mr = shared_m.x;
    let s = shared_m.y;

    var pmax = I64(0u, 0u);
    for (var i = lid; i < n; i = i + WG) {
        let xs = bitcast<i32>(round_shift_i32(x[base + i], k).x);
        let v = i64_mul(mul_i32_wide(xs, gamma[i]), i64_from_i32(mr));
        scratch[base + i] = v;
        pmax = u64_max(pmax, i64_abs(v));
    }
    act_write(lid, n, base, s - 70, row * act_stride(n), pmax);
}
