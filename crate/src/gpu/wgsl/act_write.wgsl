// Writes one matmul input row (docs/numerics.md section 2) from 64-bit values
// staged in `scratch`: n/4 words of low bytes, n/4 words of high bytes (each
// 16-bit activation a = hi * 256 + lo, lo unsigned), the exponent, then one sum
// per 32-element block. Needs int64.wgsl and reduce.wgsl, and bindings
// `scratch: array<I64>` and `act: array<u32>`.

fn act_stride(n: u32) -> u32 {
    return n / 2u + 1u + n / 32u;
}

// `local_max` is this invocation's max |v| over the values it staged.
fn act_write(lid: u32, n: u32, src: u32, ve: i32, dst: u32, local_max: I64) {
    let m = wg_max_u64(lid, local_max);
    storageBarrier();
    let s = act_shift(m);
    let nb = n / 32u;
    for (var b = lid; b < nb; b = b + WG) {
        var sum = 0;
        for (var w = 0u; w < 8u; w = w + 1u) {
            var lo = 0u;
            var hi = 0u;
            for (var k = 0u; k < 4u; k = k + 1u) {
                let a = act_value(scratch[src + b * 32u + w * 4u + k], s);
                sum = sum + a;
                lo = lo | ((bitcast<u32>(a) & 0xffu) << (8u * k));
                hi = hi | ((bitcast<u32>(a >> 8u) & 0xffu) << (8u * k));
            }
            act[dst + b * 8u + w] = lo;
            act[dst + n / 4u + b * 8u + w] = hi;
        }
        act[dst + n / 2u + 1u + b] = bitcast<u32>(sum);
    }
    if (lid == 0u) {
        act[dst + n / 2u] = bitcast<u32>(ve + s);
    }
}
