// Causal attention with the integer softmax (docs/numerics.md section 7, steps
// 2-6) over the quantized KV cache. One workgroup per (query head, row):
//   scores s_t = round_shift(round_shift(q.k_t, -(eq + ek_t + 16)) * C, 30)
//   p_t = exp_neg_q16(s_t - max s), S = sum p_t, w_t = floor(p_t 2^30 / S)
//   o_i = sat_i32(round_shift(sum_t w_t V_ti, 30))
// Scores, then p_t, then w_t are staged in `scratch` (one slot per visible
// position); max and sums are exact integer reductions.

struct Params {
    n_head: u32,
    n_kv: u32,
    head_dim: u32,
    n_rows: u32,
    pos0: u32,
    window: u32,    // 0: unlimited
    span: u32,      // scratch slots per (row, head)
    scale_lo: u32,  // C = isqrt(2^60 / head_dim), as a 64-bit value
    scale_hi: u32,
    t0: u32,        // first row of this dispatch (rows are split to bound scratch)
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> q_rows: array<i32>;
@group(0) @binding(2) var<storage, read> k_cache: array<u32>;
@group(0) @binding(3) var<storage, read> v_cache: array<u32>;
@group(0) @binding(4) var<storage, read> k_exp: array<i32>;
@group(0) @binding(5) var<storage, read> v_exp: array<i32>;
@group(0) @binding(6) var<storage, read_write> scratch: array<I64>;
@group(0) @binding(7) var<storage, read_write> out: array<i32>;

var<workgroup> qa: array<i32, 256>;

// floor(2^93 / s) for 2^30 <= s < 2^63 (fits 64 bits), by restoring division.
fn recip93(s: I64) -> I64 {
    var q = I64(0u, 0u);
    var r = I64(0u, 0u);
    for (var i = 93; i >= 0; i = i - 1) {
        r = I64((r.x << 1u) | select(0u, 1u, i == 93), (r.y << 1u) | (r.x >> 31u));
        q = I64(q.x << 1u, (q.y << 1u) | (q.x >> 31u));
        if (!u64_lt(r, s)) {
            r = i64_sub(r, s);
            q.x = q.x | 1u;
        }
    }
    return q;
}

// floor(n / s) for n < 2^61 and s >= 2^30 with r = recip93(s): q0 = floor(n r / 2^93)
// is q or q - 1 (the error of r is below n / 2^93 < 1), so one correction is exact.
fn div_by_recip(n: I64, s: I64, r: I64) -> u32 {
    // The 128-bit product n * r as four 32-bit limbs.
    let p00 = mul_u32_wide(n.x, r.x);
    let p01 = mul_u32_wide(n.x, r.y);
    let p10 = mul_u32_wide(n.y, r.x);
    let p11 = mul_u32_wide(n.y, r.y);
    let l1a = p00.y + p01.x;
    let c1a = select(0u, 1u, l1a < p00.y);
    let l1 = l1a + p10.x;
    let c1 = c1a + select(0u, 1u, l1 < l1a);
    let l2a = p01.y + p10.y;
    let c2a = select(0u, 1u, l2a < p01.y);
    let l2b = l2a + p11.x;
    let c2b = c2a + select(0u, 1u, l2b < l2a);
    let l2 = l2b + c1;
    let c2 = c2b + select(0u, 1u, l2 < l2b);
    let l3 = p11.y + c2;
    // Bits 93.. of the product: limb 2 from bit 29 on, limb 3 above.
    var q = (l2 >> 29u) | (l3 << 3u);
    let rem = i64_sub(n, i64_mul(I64(q, 0u), s));
    if (!u64_lt(rem, s)) {
        q = q + 1u;
    }
    return q;
}

fn cached(word: u32, i: u32) -> i32 {
    return extractBits(bitcast<i32>(word), 16u * (i & 1u), 16u);
}

@compute @workgroup_size(64)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wg: vec3<u32>) {
    let h = wg.x;
    let t = wg.y + p.t0;
    let hd = p.head_dim;
    let half = hd / 2u;
    let kvh = h / (p.n_head / p.n_kv);
    let qbase = (t * p.n_head + h) * hd;

    // Step 2: quantize the query head.
    var mx = I64(0u, 0u);
    for (var i = lid; i < hd; i = i + WG) {
        mx = u64_max(mx, i64_abs(i64_from_i32(q_rows[qbase + i])));
    }
    let qs = act_shift(wg_max_u64(lid, mx));
    let eq = qs - 16;
    for (var i = lid; i < hd; i = i + WG) {
        qa[i] = act_value(i64_from_i32(q_rows[qbase + i]), qs);
    }
    workgroupBarrier();

    let pos = p.pos0 + t;
    var first = 0u;
    if (p.window != 0u && pos + 1u > p.window) {
        first = pos + 1u - p.window;
    }
    let sbase = (wg.y * p.n_head + h) * p.span;
    let scale = I64(p.scale_lo, p.scale_hi);

    // Step 3: scores.
    var smax = I64(0u, 0x80000000u);
    for (var pp = first + lid; pp <= pos; pp = pp + WG) {
        let slot = pp * p.n_kv + kvh;
        let kb = slot * half;
        var dot = I64(0u, 0u);
        for (var j = 0u; j < half; j = j + 1u) {
            let word = k_cache[kb + j];
            let prod = qa[2u * j] * cached(word, 0u) + qa[2u * j + 1u] * cached(word, 1u);
            // Each product is below 2^30 in magnitude: the pair sum fits i32.
            dot = i64_add(dot, i64_from_i32(prod));
        }
        let s16 = round_shift(dot, -(eq + k_exp[slot] + 16));
        let score = round_shift(i64_mul(s16, scale), 30);
        scratch[sbase + pp - first] = score;
        smax = i64_max(smax, score);
    }
    let m = wg_max_i64(lid, smax);

    // Step 4: p_t and their sum.
    var sum = I64(0u, 0u);
    for (var pp = first + lid; pp <= pos; pp = pp + WG) {
        let e = exp_neg_q16(i64_sub(scratch[sbase + pp - first], m));
        scratch[sbase + pp - first] = I64(e, 0u);
        sum = i64_add(sum, I64(e, 0u));
    }
    let total = wg_sum_i64(lid, sum);

    // Step 5: weights w_t = floor(p_t 2^30 / S), by a reciprocal of S and one
    // correction step (exact: see div_by_recip).
    let recip = recip93(total);
    for (var pp = first + lid; pp <= pos; pp = pp + WG) {
        let e = scratch[sbase + pp - first].x;
        let num = I64(e << 30u, e >> 2u);
        scratch[sbase + pp - first] = I64(div_by_recip(num, total, recip), 0u);
    }
    storageBarrier();

    // Step 6: weighted values.
    for (var i = lid; i < hd; i = i + WG) {
        var acc = I64(0u, 0u);
        for (var pp = first; pp <= pos; pp = pp + 1u) {
            let wt = scratch[sbase + pp - first];
            if (wt.x != 0u) {
                let slot = pp * p.n_kv + kvh;
                let va = cached(v_cache[slot * half + i / 2u], i);
                let v = round_shift_i32(va, -(v_exp[slot] + 16));
                acc = i64_add(acc, i64_mul(wt, v));
            }
        }
        out[qbase + i] = sat_i32(round_shift(acc, 30));
    }
}
