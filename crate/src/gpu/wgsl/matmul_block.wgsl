// One (super-)block's rounded term T_b (docs/numerics.md sections 3 and 14),
// for the block format whose file (formats/*.wgsl) shader.rs adds, read by
// every matmul kernel (the joined ones have one copy per weight binding).

// T_b of block b (at word wb, scales h = block_head(wb)) for the token whose
// activation starts at word abase, exponent e:
//   S1 = sum_s sc_s * sum_{j in s} q_j a_j (exact; i32 per sub-block, i64 across),
//   T_b = round_shift(dm * S1, -(de + e + 32))
//       + round_shift(mnm * sum_k mm_k S0_k, -(mne + e + 32)) (formats with a minimum).
// Activations are 16-bit a = 256 hi + lo (lo unsigned bytes, hi signed), so
// q . a = 256 (q . hi) + q . lo; for signed q, q . lo = q . (lo - 128) + 128 sum q.
fn block_term(wb: u32, abase: u32, n: u32, b: u32, h: vec4<i32>, e: i32) -> I64 {
    let a0 = abase + b * (BLOCK_LEN / 4u);
    var s1 = I64(0u, 0u);
    for (var s = 0u; s < BLOCK_LEN / 4u / SUB_WORDS; s = s + 1u) {
        var dot = 0;
        var qsum = 0;
        for (var i = 0u; i < SUB_WORDS; i = i + 1u) {
            let k = s * SUB_WORDS + i;
            let q = q_word(wb, k);
            let lo = act[a0 + k];
            let hi = act[a0 + n / 4u + k];
            if (Q_SIGNED) {
                dot = dot + dot4i8(q, lo ^ 0x80808080u) + 256 * dot4i8(q, hi);
                qsum = qsum + dot4i8(q, 0x01010101u);
            } else {
                dot = dot + i32(dot4u8(q, lo)) + 256 * dot4i8(q, hi);
            }
        }
        dot = dot + 128 * qsum;
        if (BLOCK_LEN == 32u) {
            s1 = i64_from_i32(dot);
        } else {
            s1 = i64_add(s1, mul_i32_wide(sub_scale(wb, s), dot));
        }
    }
    var term = round_shift(i64_mul(i64_from_i32(h.x), s1), -(h.y + e + 32));
    if (HAS_MIN) {
        let sums = abase + n / 2u + 1u + b * (BLOCK_LEN / 32u);
        var s0 = 0;
        for (var k = 0u; k < BLOCK_LEN / 32u; k = k + 1u) {
            s0 = s0 + min_mult(wb, k) * bitcast<i32>(act[sums + k]);
        }
        term = i64_add(term, round_shift(mul_i32_wide(h.z, s0), -(h.w + e + 32)));
    }
    return term;
}
