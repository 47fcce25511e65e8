//! Integer transcendental functions of spec `exact-1` (docs/numerics.md, "Tables").
//!
//! Two layers:
//! * High-precision generators in Q60 fixed point (`i128`, value = v / 2^60):
//!   `log2`, `exp2`, `sin`/`cos` by bit-by-bit squaring and Taylor series, with every
//!   product rounded by [`round_shift_i128`]. They build the tables (RoPE angles,
//!   the exp2 table) once, by integer code, identically on every machine.
//! * Runtime functions on the decision path: [`exp_neg_q16`] (a 257-entry table plus
//!   linear interpolation) and [`sigmoid_q30`].

use super::fixed::{f32_bits, round_shift, round_shift_i128};
use std::sync::OnceLock;

/// 1.0 in Q60.
pub const ONE_Q60: i128 = 1 << 60;
/// round(ln 2 * 2^60).
pub const LN2_Q60: i128 = 799_144_290_325_165_979;
/// round(pi * 2^60).
pub const PI_Q60: i128 = 3_622_009_729_038_561_421;
/// round(2 pi * 2^60).
pub const TWO_PI_Q60: i128 = 7_244_019_458_077_122_842;
/// round(log2(e) * 2^30).
pub const LOG2E_Q30: i64 = 1_549_082_005;

#[inline]
fn mul_q60(a: i128, b: i128) -> i128 {
    round_shift_i128(a * b, 60)
}

/// Rounded `a / d` for `d > 0`, half up.
#[inline]
fn div_round(a: i128, d: i128) -> i128 {
    (a * 2 + d).div_euclid(2 * d)
}

/// `2^f` for `0 <= f < 1` (Q60 in, Q60 out), by the Taylor series of `e^(f ln 2)`.
pub fn exp2_frac_q60(f: i128) -> i128 {
    debug_assert!((0..ONE_Q60).contains(&f));
    let t = mul_q60(f, LN2_Q60);
    let mut sum = ONE_Q60;
    let mut term = ONE_Q60;
    for k in 1..=30 {
        term = div_round(mul_q60(term, t), k);
        if term == 0 {
            break;
        }
        sum += term;
    }
    sum
}

/// `2^(-a)` for `a >= 0` (Q60 in, Q60 out).
pub fn exp2_neg_q60(a: i128) -> i128 {
    debug_assert!(a >= 0);
    let n = a >> 60;
    let f = a & (ONE_Q60 - 1);
    if n >= 62 {
        return 0;
    }
    if f == 0 {
        return round_shift_i128(ONE_Q60, n as i32);
    }
    // 2^(-n-f) = 2^(1-f) / 2^(n+1), with 1 - f in (0, 1).
    round_shift_i128(exp2_frac_q60(ONE_Q60 - f), n as i32 + 1)
}

/// `log2(v)` in Q60 for a positive f32 bit pattern `v` (exact decode, then
/// bit-by-bit squaring of the mantissa in [1, 2)).
pub fn log2_f32_q60(bits: u32) -> i128 {
    let s = f32_bits(bits);
    assert!(s.mant > 0, "log2 of a non-positive number");
    log2_int_q60(s.mant as i128) + ((s.exp as i128) << 60)
}

/// `log2(m)` in Q60 for an integer `0 < m < 2^61`: `n = bit_len(m) - 1`, then
/// bit-by-bit squaring of `m / 2^n` in [1, 2) (the algorithm of section 5).
pub fn log2_int_q60(m: i128) -> i128 {
    assert!(m > 0 && m < (1 << 61), "log2 argument out of range");
    let n = 127 - m.leading_zeros() as i128; // floor(log2 m)
    let mut y = m << (60 - n); // m / 2^n in Q60, in [1, 2)
    let mut frac: i128 = 0;
    for i in 1..=60 {
        y = mul_q60(y, y);
        if y >= 2 * ONE_Q60 {
            y >>= 1;
            frac |= 1 << (60 - i);
        }
    }
    (n << 60) + frac
}

/// `(sin x, cos x)` in Q60 for `x` in Q60 (any magnitude below 2^66).
pub fn sin_cos_q60(x: i128) -> (i128, i128) {
    let mut r = x.rem_euclid(TWO_PI_Q60);
    if r > PI_Q60 {
        r -= TWO_PI_Q60;
    }
    // Taylor series on [-pi, pi]: terms r^k / k!, all in Q60.
    let r2 = mul_q60(r, r);
    let (mut s, mut c) = (r, ONE_Q60);
    let (mut ts, mut tc) = (r, ONE_Q60);
    for k in 1..=20i128 {
        ts = -div_round(mul_q60(ts, r2), (2 * k) * (2 * k + 1));
        tc = -div_round(mul_q60(tc, r2), (2 * k - 1) * (2 * k));
        s += ts;
        c += tc;
    }
    (s, c)
}

/// `EXP2_TABLE[j] = round(2^30 * 2^(-j/256))`, j = 0..=256, built by integer code.
pub fn exp2_table() -> &'static [u32; 257] {
    static TABLE: OnceLock<[u32; 257]> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut t = [0u32; 257];
        for (j, e) in t.iter_mut().enumerate() {
            let a = (j as i128) << 52; // j / 256 in Q60
            *e = round_shift_i128(exp2_neg_q60(a), 30) as u32;
        }
        t
    })
}

/// `e^d` for `d <= 0` given in Q16, returned in Q30 (0 ..= 2^30).
///
/// `y = round(-d * log2 e)` in Q24; `2^-y = 2^-n * 2^-(f/2^24)`, the latter by
/// linear interpolation in [`exp2_table`] on the top 8 and bottom 16 bits of `f`.
#[inline]
pub fn exp_neg_q16(d: i64) -> u32 {
    if d >= 0 {
        return 1 << 30;
    }
    let neg = (-d).min(1 << 32);
    // y = -d * log2(e) in Q24.
    let y = round_shift(neg * LOG2E_Q30, 22);
    let n = y >> 24;
    if n >= 31 {
        return 0;
    }
    let f = y & 0xff_ffff;
    let (j, r) = ((f >> 16) as usize, f & 0xffff);
    let t = exp2_table();
    let (a, b) = (t[j] as i64, t[j + 1] as i64);
    let v = a - round_shift((a - b) * r, 16);
    round_shift(v, n as i32) as u32
}

/// The logistic function of `x` (Q16) in Q30: `1 / (1 + e^-x)`.
#[inline]
pub fn sigmoid_q30(x: i64) -> i64 {
    let e = exp_neg_q16(-x.abs()) as i64; // e^-|x|, Q30
    let den = (1i64 << 30) + e;
    let pos = ((1i64 << 60) + den / 2) / den; // sigmoid(|x|), Q30
    if x >= 0 {
        pos
    } else {
        (1i64 << 30) - pos
    }
}

#[cfg(test)]
#[allow(clippy::float_arithmetic, clippy::excessive_precision)]
mod tests {
    use super::*;

    fn q60(v: i128) -> f64 {
        v as f64 / 2f64.powi(60)
    }

    #[test]
    fn generators_match_libm() {
        for i in 0..100 {
            let f = (i as i128) * (ONE_Q60 / 100);
            let got = q60(exp2_frac_q60(f));
            assert!((got - 2f64.powf(i as f64 / 100.0)).abs() < 1e-15);
        }
        for base in [10_000.0f32, 100_000.0, 1_000_000.0, 3.0, 0.5, 1e-5] {
            let got = q60(log2_f32_q60(base.to_bits()));
            assert!((got - (base as f64).log2()).abs() < 1e-14, "{base}");
        }
        for i in -300..300 {
            let x = i as f64 * 0.37;
            let (s, c) = sin_cos_q60((x * 2f64.powi(60)) as i128);
            assert!((q60(s) - x.sin()).abs() < 1e-14 && (q60(c) - x.cos()).abs() < 1e-14);
        }
    }

    #[test]
    fn exp_table_is_pinned() {
        // Changing the table changes exact-1 outputs: this hash must never change.
        let t = exp2_table();
        let mut h: u64 = 0xcbf29ce484222325;
        for v in t.iter() {
            for b in v.to_le_bytes() {
                h = (h ^ b as u64).wrapping_mul(0x100000001b3);
            }
        }
        assert_eq!(t[0], 1 << 30);
        assert_eq!(t[256], 1 << 29);
        assert_eq!(h, EXP2_TABLE_FNV1A, "exp2 table hash {h:#x}");
    }

    /// FNV-1a 64 of the little-endian bytes of the exp2 table of exact-1.
    const EXP2_TABLE_FNV1A: u64 = 0x2002_e267_d796_8bb6;

    #[test]
    fn runtime_exp_and_sigmoid_are_accurate() {
        for i in 0..20000 {
            let d = -(i as i64) * 97;
            let got = exp_neg_q16(d) as f64 / 2f64.powi(30);
            let want = (d as f64 / 65536.0).exp();
            assert!((got - want).abs() < 2e-6, "d={d} got={got} want={want}");
        }
        for i in -2000..2000 {
            let x = i as i64 * 331;
            let got = sigmoid_q30(x) as f64 / 2f64.powi(30);
            let want = 1.0 / (1.0 + (-(x as f64) / 65536.0).exp());
            assert!((got - want).abs() < 2e-6);
        }
    }
}
