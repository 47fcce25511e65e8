// Exact decoding of IEEE binary16 bits into (mantissa, exponent):
// docs/numerics.md section 1 ("f16 decode"). No float arithmetic.

fn f16_decode(bits: u32) -> vec2<i32> {
    let e = i32((bits >> 10u) & 0x1fu);
    let f = i32(bits & 0x3ffu);
    var m: i32;
    var x: i32;
    if (e == 0) {
        m = f;
        x = -24;
    } else if (e == 31) {
        m = 0x7ff;
        x = 5;
    } else {
        m = f | 0x400;
        x = e - 25;
    }
    if ((bits & 0x8000u) != 0u) {
        m = -m;
    }
    return vec2<i32>(m, x);
}
