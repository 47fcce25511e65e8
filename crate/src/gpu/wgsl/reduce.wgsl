// Workgroup reductions over 64 invocations. Every operation is associative and
// commutative on integers (max, wrapping add), so neither the workgroup size nor
// the order of the tree can change a result. Call from uniform control flow.

const WG: u32 = 64u;

var<workgroup> red: array<I64, 64>;

const RED_MAX_U64: u32 = 0u;
const RED_MAX_I64: u32 = 1u;
const RED_SUM: u32 = 2u;

fn red_combine(a: I64, b: I64, op: u32) -> I64 {
    switch op {
        case 0u: { return u64_max(a, b); }
        case 1u: { return i64_max(a, b); }
        default: { return i64_add(a, b); }
    }
}

// Tree reduction of one value per invocation; every invocation gets the result.
fn wg_reduce(lid: u32, v: I64, op: u32) -> I64 {
    red[lid] = v;
    workgroupBarrier();
    for (var step = WG / 2u; step > 0u; step = step / 2u) {
        if (lid < step) {
            red[lid] = red_combine(red[lid], red[lid + step], op);
        }
        workgroupBarrier();
    }
    let r = red[0];
    workgroupBarrier();
    return r;
}

fn wg_max_u64(lid: u32, v: I64) -> I64 {
    return wg_reduce(lid, v, RED_MAX_U64);
}

fn wg_max_i64(lid: u32, v: I64) -> I64 {
    return wg_reduce(lid, v, RED_MAX_I64);
}

fn wg_sum_i64(lid: u32, v: I64) -> I64 {
    return wg_reduce(lid, v, RED_SUM);
}

// Activation quantization of docs/numerics.md section 2: the shift s >= 0 that
// brings max |v| inside 32767 after round_shift.
fn act_shift(max_abs: I64) -> i32 {
    var s = max(0, bit_len64(max_abs) - 15);
    if (i64_lt(I64(32767u, 0u), round_shift(max_abs, s))) {
        s = s + 1;
    }
    return s;
}

fn act_value(v: I64, s: i32) -> i32 {
    let r = round_shift(v, s);
    if (i64_lt(r, i64_from_i32(-32767))) {
        return -32767;
    }
    if (i64_lt(I64(32767u, 0u), r)) {
        return 32767;
    }
    return bitcast<i32>(r.x);
}
