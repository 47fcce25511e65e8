//! The exact-2 block formats against candle's dequantization (a port of ggml's
//! `dequantize_row_*`) and against exact-1's own Q4_1/Q8_0 code.
#![allow(clippy::float_arithmetic)]

use super::*;
use crate::exact::quant;
use candle_core::quantized::{ggml_file::qtensor_from_ggml, GgmlDType};
use candle_core::Device;

const NEW: [WeightFormat; 6] = [
    WeightFormat::Q4_0,
    WeightFormat::Q5_0,
    WeightFormat::Q5_1,
    WeightFormat::Q4K,
    WeightFormat::Q5K,
    WeightFormat::Q6K,
];

fn dtype(f: WeightFormat) -> GgmlDType {
    match f {
        WeightFormat::Q4_1 => GgmlDType::Q4_1,
        WeightFormat::Q8_0 => GgmlDType::Q8_0,
        WeightFormat::Q4_0 => GgmlDType::Q4_0,
        WeightFormat::Q5_0 => GgmlDType::Q5_0,
        WeightFormat::Q5_1 => GgmlDType::Q5_1,
        WeightFormat::Q4K => GgmlDType::Q4K,
        WeightFormat::Q5K => GgmlDType::Q5K,
        WeightFormat::Q6K => GgmlDType::Q6K,
    }
}

fn rng(s: &mut u64) -> u64 {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    *s
}

/// `n_blocks` random blocks of `f` whose f16 scales are finite, with exponent fields
/// in `lo..=hi` (any sign).
fn blocks(s: &mut u64, f: WeightFormat, n_blocks: usize, lo: u64, hi: u64) -> Vec<u8> {
    let mut v: Vec<u8> = (0..n_blocks * f.block_bytes())
        .map(|_| rng(s) as u8)
        .collect();
    for b in v.chunks_exact_mut(f.block_bytes()) {
        for &o in f.scale_offsets() {
            let field = lo + rng(s) % (hi - lo + 1);
            b[o + 1] = (b[o + 1] & 0x83) | ((field as u8) << 2);
        }
    }
    v
}

/// Each element's exact value from [`decode`], in f64 (exact: < 53 bits).
fn exact_values(f: WeightFormat, bytes: &[u8]) -> Vec<f64> {
    let mut dec = Decoded::default();
    let mut out = Vec::new();
    for blk in bytes.chunks_exact(f.block_bytes()) {
        decode(f, blk, &mut dec);
        for j in 0..dec.len {
            let mut v = dec.d.mant as f64
                * 2f64.powi(dec.d.exp)
                * dec.sc[j / dec.sub] as f64
                * dec.q[j] as f64;
            if let Some((mn, mm)) = dec.min {
                v += mn.mant as f64 * 2f64.powi(mn.exp) * mm[j / BLOCK] as f64;
            }
            out.push(v);
        }
    }
    out
}

fn candle_values(f: WeightFormat, bytes: &[u8]) -> Vec<f32> {
    let n = bytes.len() / f.block_bytes() * f.block_elems();
    qtensor_from_ggml(dtype(f), bytes, vec![n], &Device::Cpu)
        .unwrap()
        .dequantize(&Device::Cpu)
        .unwrap()
        .to_vec1::<f32>()
        .unwrap()
}

#[test]
fn decoding_matches_ggml_dequantization() {
    let mut s = 0x9e37_79b9_7f4a_7c15u64;
    for f in NEW
        .into_iter()
        .chain([WeightFormat::Q4_1, WeightFormat::Q8_0])
    {
        let bytes = blocks(&mut s, f, 24, 1, 30);
        let want = candle_values(f, &bytes);
        let got = exact_values(f, &bytes);
        assert_eq!(want.len(), got.len(), "{f:?}");
        for (i, (&w, &g)) in want.iter().zip(&got).enumerate() {
            // candle rounds d * sc (and d * sc * q - dmin * m) to f32 on the way.
            let tol = 3e-7 * g.abs().max(w.abs() as f64) + 1e-30;
            assert!(
                (w as f64 - g).abs() <= tol,
                "{f:?} element {i}: ggml {w}, exact {g}"
            );
        }
    }
}

#[test]
fn dequantized_rows_are_the_exact_values_rounded_once() {
    let mut s = 77u64;
    for f in NEW {
        // Scales whose values stay inside Q16's range.
        let bytes = blocks(&mut s, f, 8, 5, 16);
        let exact = exact_values(f, &bytes);
        let mut got = vec![0i32; exact.len()];
        quant::dequant_row_q16(f, &bytes, &mut got);
        for (i, (&g, &x)) in got.iter().zip(&exact).enumerate() {
            let want = (x * 65536.0 + 0.5).floor();
            assert_eq!(g as f64, want, "{f:?} element {i}");
        }
    }
}

fn activation(s: &mut u64, n: usize, exp: i32) -> Act {
    let v: Vec<i64> = (0..n).map(|_| (rng(s) % 65535) as i64 - 32767).collect();
    let mut a = Act::quantize(&v, 0);
    a.exp = exp;
    a
}

#[test]
fn row_dot_matches_float_math() {
    let mut s = 5u64;
    for f in NEW {
        for n_blocks in [1usize, 3] {
            let bytes = blocks(&mut s, f, n_blocks, 8, 14);
            let vals = exact_values(f, &bytes);
            let act = activation(&mut s, vals.len(), -14);
            let want: f64 = vals
                .iter()
                .zip(&act.q)
                .map(|(&w, &a)| w * a as f64 * 2f64.powi(act.exp))
                .sum();
            let got = quant::row_dot(f, &bytes, &act) as f64 / 65536.0;
            // two roundings to Q32 per block, one to Q16
            assert!(
                (got - want).abs() <= 1.0 / 65536.0,
                "{f:?} {n_blocks}: {got} vs {want}"
            );
        }
    }
}

#[test]
fn the_shared_definition_is_exact_1_for_q4_1_and_q8_0() {
    let mut s = 99u64;
    for f in [WeightFormat::Q4_1, WeightFormat::Q8_0] {
        // Inside section 9's bounds, where debug builds check that nothing wraps.
        for exp in [-30, -20, -14, -9] {
            let bytes = blocks(&mut s, f, 18, 1, 16);
            let act = activation(&mut s, 18 * 32, exp);
            assert_eq!(
                row_dot_acc(f, &bytes, &act),
                quant::row_dot_acc(f, &bytes, &act),
                "{f:?} exp {exp}"
            );
            let bytes = blocks(&mut s, f, 4, 1, 18);
            let (mut a, mut b) = (vec![0; 128], vec![0; 128]);
            dequant_row_q16(f, &bytes, &mut a);
            quant::dequant_row_q16(f, &bytes, &mut b);
            assert_eq!(a, b, "{f:?}");
        }
    }
}

#[test]
fn k_quant_scales_and_minimums_decode_as_get_scale_min_k4() {
    // Sub-block 5 of the 12 packed bytes: low 4 bits from byte 9, top 2 from byte 1.
    let mut q = [0u8; 12];
    q[1] = 0b1100_0000 | 7;
    q[5] = 0b0100_0000 | 9;
    q[9] = 0x3A;
    assert_eq!(scale_min_k4(1, &q), (7, 9));
    assert_eq!(scale_min_k4(5, &q), (0xA | (3 << 4), 0x3 | (1 << 4)));
}

#[test]
fn the_cpu_executors_matmul_computes_the_definition_for_every_new_format() {
    use crate::cpu::simd::{rows_dot, Prepared};
    let mut s = 3u64;
    for f in NEW {
        // 3 rows of 2 (super-)blocks; activation exponents across the usual range.
        for exp in [-24, -16, -12] {
            let bytes = blocks(&mut s, f, 6, 8, 14);
            let rb = 2 * f.block_bytes();
            let act = activation(&mut s, 2 * f.block_elems(), exp);
            let mut got = [0i32; 3];
            rows_dot(f, &bytes, rb, &Prepared::new(&act), &mut got);
            for (r, g) in got.iter().enumerate() {
                let row = &bytes[r * rb..(r + 1) * rb];
                assert_eq!(*g, quant::row_dot(f, row, &act), "{f:?} row {r} exp {exp}");
            }
        }
    }
}
