//! Fixed-point primitives of spec `exact-1` (docs/numerics.md, section "Primitives").
//!
//! Every rounding in the spec is [`round_shift`]: multiply by 2^-s and round half
//! up, i.e. `floor(v / 2^s + 1/2)`, computed with an arithmetic shift. Sums are
//! two's-complement wrapping so that their value does not depend on the order of
//! the terms. IEEE half and single floats stored in GGUF files are decoded into
//! an exact integer mantissa and a power-of-two exponent by bit manipulation; no
//! float arithmetic happens.

/// `floor(v * 2^-s + 1/2)` for `s >= 0`; `v * 2^-s` (wrapping) for `s < 0`.
#[inline(always)]
pub fn round_shift(v: i64, s: i32) -> i64 {
    if s <= 0 {
        if s <= -64 {
            debug_assert!(v == 0, "exact-1 bound violated: {v} << {}", -s);
            0
        } else {
            let r = v.wrapping_shl((-s) as u32);
            debug_assert!(r >> (-s) == v, "exact-1 bound violated: {v} << {}", -s);
            r
        }
    } else if s >= 63 {
        round_shift_i128(v as i128, s) as i64
    } else {
        (v >> s) + ((v >> (s - 1)) & 1)
    }
}

/// [`round_shift`] on a 128-bit value, for intermediate products the spec allows to be wide.
#[inline(always)]
pub fn round_shift_i128(v: i128, s: i32) -> i128 {
    if s <= 0 {
        if s <= -128 {
            0
        } else {
            v.wrapping_shl((-s) as u32)
        }
    } else if s >= 128 {
        // v / 2^s lies in [-1/2, 1/2): adding 1/2 and flooring gives 0.
        0
    } else if s == 127 {
        if v >= 1i128 << 126 {
            1
        } else if v < -(1i128 << 126) {
            -1
        } else {
            0
        }
    } else {
        (v >> s) + ((v >> (s - 1)) & 1)
    }
}

/// Accumulator addition: wrapping (so that the order of terms cannot matter);
/// debug builds check that the spec's bounds keep it from wrapping.
#[inline(always)]
pub fn wadd(a: i64, b: i64) -> i64 {
    debug_assert!(
        a.checked_add(b).is_some(),
        "exact-1 accumulator overflow: {a} + {b}"
    );
    a.wrapping_add(b)
}

/// Saturates to the i32 range.
#[inline(always)]
pub fn sat_i32(v: i64) -> i32 {
    v.clamp(i32::MIN as i64, i32::MAX as i64) as i32
}

/// Number of significant bits of `v` (0 for 0).
#[inline(always)]
pub fn bit_len(v: u64) -> i32 {
    64 - v.leading_zeros() as i32
}

/// A number `mant * 2^exp` with an integer mantissa, as decoded from a float's bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scaled {
    pub mant: i32,
    pub exp: i32,
}

/// Exact value of an IEEE 754 binary16 bit pattern as `mant * 2^exp`, `|mant| < 2^11`.
/// Infinities and NaNs (exponent field 31) are not valid weight scales: they
/// decode as the largest finite magnitude (65504) with their sign; model loading
/// rejects them before this is used (`model::check_scales`).
#[inline(always)]
pub fn f16_bits(bits: u16) -> Scaled {
    let sign = if bits & 0x8000 != 0 { -1 } else { 1 };
    let e = ((bits >> 10) & 0x1f) as i32;
    let f = (bits & 0x3ff) as i32;
    let (m, x) = match e {
        0 => (f, -24),
        31 => (0x7ff, 5),
        _ => (f | 0x400, e - 25),
    };
    Scaled {
        mant: sign * m,
        exp: x,
    }
}

/// Exact value of an IEEE 754 binary32 bit pattern as `mant * 2^exp`, `|mant| < 2^24`.
/// Non-finite values decode as the largest finite magnitude with their sign.
pub fn f32_bits(bits: u32) -> Scaled {
    let sign = if bits & 0x8000_0000 != 0 { -1 } else { 1 };
    let e = ((bits >> 23) & 0xff) as i32;
    let f = (bits & 0x7f_ffff) as i32;
    let (m, x) = match e {
        0 => (f, -149),
        255 => (0xff_ffff, 104),
        _ => (f | 0x80_0000, e - 150),
    };
    Scaled {
        mant: sign * m,
        exp: x,
    }
}

/// `round(value(bits) * 2^frac)` for an f32 bit pattern, saturated to i64.
pub fn f32_to_fixed(bits: u32, frac: i32) -> i64 {
    let s = f32_bits(bits);
    let shift = -(s.exp + frac);
    if shift < -38 {
        // |mant| < 2^24: anything shifted left by more than 38 may pass 2^62.
        return if s.mant == 0 {
            0
        } else if s.mant > 0 {
            i64::MAX
        } else {
            i64::MIN
        };
    }
    round_shift(s.mant as i64, shift)
}

/// `floor(sqrt(v))`, exact.
pub fn isqrt_u128(v: u128) -> u128 {
    if v < 2 {
        return v;
    }
    // Newton's method from an over-estimate; decreases monotonically to floor(sqrt).
    let bits = 128 - v.leading_zeros();
    let mut x: u128 = 1u128 << bits.div_ceil(2);
    loop {
        let y = (x + v / x) >> 1;
        if y >= x {
            return x;
        }
        x = y;
    }
}

#[cfg(test)]
#[allow(clippy::float_arithmetic, clippy::excessive_precision)]
mod tests {
    use super::*;

    #[test]
    fn round_shift_rounds_half_up() {
        assert_eq!(round_shift(5, 1), 3); // 2.5 -> 3
        assert_eq!(round_shift(-5, 1), -2); // -2.5 -> -2
        assert_eq!(round_shift(7, 2), 2); // 1.75 -> 2
        assert_eq!(round_shift(-7, 2), -2);
        assert_eq!(round_shift(3, -2), 12);
        assert_eq!(round_shift(i64::MAX, 63), 1);
        assert_eq!(round_shift(i64::MIN, 63), -1);
        assert_eq!(round_shift(1 << 40, 80), 0);
        assert_eq!(round_shift(i64::MIN, 62), -2);
        for v in -1000i64..1000 {
            for s in 1..12 {
                let want = ((v as f64) / f64::powi(2.0, s) + 0.5).floor() as i64;
                assert_eq!(round_shift(v, s), want, "v={v} s={s}");
            }
        }
    }

    #[test]
    fn f16_decoding_is_exact() {
        for bits in 0u16..=0xffff {
            if (bits >> 10) & 0x1f == 31 {
                continue;
            }
            let s = f16_bits(bits);
            let want = half_to_f64(bits);
            assert_eq!(
                s.mant as f64 * f64::powi(2.0, s.exp),
                want,
                "bits {bits:#x}"
            );
            assert!(s.mant.abs() < 2048);
        }
    }

    fn half_to_f64(bits: u16) -> f64 {
        let sign = if bits & 0x8000 != 0 { -1.0 } else { 1.0 };
        let e = ((bits >> 10) & 0x1f) as i32;
        let f = (bits & 0x3ff) as f64;
        if e == 0 {
            sign * f * f64::powi(2.0, -24)
        } else {
            sign * (1.0 + f / 1024.0) * f64::powi(2.0, e - 15)
        }
    }

    #[test]
    fn f32_decoding_is_exact() {
        for x in [
            0.0f32,
            1.0,
            -1.5,
            1e-5,
            9.999_999_7e-6,
            100000.0,
            1e-40,
            -3.4e38,
        ] {
            let s = f32_bits(x.to_bits());
            assert_eq!(s.mant as f64 * f64::powi(2.0, s.exp), x as f64, "{x}");
        }
        assert_eq!(f32_to_fixed(1.5f32.to_bits(), 16), 98304);
        assert_eq!(f32_to_fixed((-0.25f32).to_bits(), 2), -1);
    }

    #[test]
    fn isqrt_is_floor_sqrt() {
        for v in 0u128..5000 {
            let r = isqrt_u128(v);
            assert!(r * r <= v && (r + 1) * (r + 1) > v, "{v}");
        }
        let big = (1u128 << 124) - 1;
        let r = isqrt_u128(big);
        assert!(r * r <= big && (r + 1) * (r + 1) > big);
        assert_eq!(isqrt_u128(1u128 << 124), 1u128 << 62);
    }
}
