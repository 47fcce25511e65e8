//! The weight block formats on the device (docs/numerics.md sections 3 and 14;
//! docs/gpu.md, "Data on the device"): each GGUF block is repacked on upload into
//! whole little-endian words so that every shader read is an aligned `u32`, and
//! each format has a WGSL file (`wgsl/formats/*.wgsl`) that reads that layout for
//! the matmul and embedding kernels. The repacking only moves bytes, except for
//! the K-quants' 6-bit scales and minima, which are decoded here exactly as
//! `exact::blocks::scale_min_k4` (ggml `get_scale_min_k4`) decodes them.
//!
//! | format | GGUF bytes | device words | layout |
//! |---|---|---|---|
//! | Q8_0 | 34 | 9 | `d`, 0, `q[32]` |
//! | Q4_1 | 20 | 5 | as in the file |
//! | Q4_0 | 18 | 5 | `d`, 0, `qs[16]` (Q4_1's with no minimum) |
//! | Q5_1 | 24 | 6 | as in the file: `d`, `m`, `qh`, `qs[16]` |
//! | Q5_0 | 22 | 6 | `d`, 0, `qh`, `qs[16]` (Q5_1's with no minimum) |
//! | Q4_K | 144 | 37 | `d`, `dmin`, `sc[8]`, `m[8]`, `qs[128]` |
//! | Q5_K | 176 | 45 | `d`, `dmin`, `sc[8]`, `m[8]`, `qh[32]`, `qs[128]` |
//! | Q6_K | 210 | 53 | `d`, 0, `scales[16]`, `ql[128]`, `qh[64]` |

use crate::exact::blocks::scale_min_k4;
use crate::exact::quant::WeightFormat;

/// Every format the GPU executor runs.
#[cfg(test)]
pub(super) const FORMATS: [WeightFormat; 8] = [
    WeightFormat::Q4_1,
    WeightFormat::Q8_0,
    WeightFormat::Q4_0,
    WeightFormat::Q5_0,
    WeightFormat::Q5_1,
    WeightFormat::Q4K,
    WeightFormat::Q5K,
    WeightFormat::Q6K,
];

/// Helpers every format file uses.
pub(super) const COMMON: &str = include_str!("wgsl/formats/common.wgsl");

/// The WGSL file reading `format`'s device layout.
pub(super) fn source(format: WeightFormat) -> &'static str {
    match format {
        WeightFormat::Q4_1 => include_str!("wgsl/formats/q4_1.wgsl"),
        WeightFormat::Q8_0 => include_str!("wgsl/formats/q8_0.wgsl"),
        WeightFormat::Q4_0 => include_str!("wgsl/formats/q4_0.wgsl"),
        WeightFormat::Q5_0 => include_str!("wgsl/formats/q5_0.wgsl"),
        WeightFormat::Q5_1 => include_str!("wgsl/formats/q5_1.wgsl"),
        WeightFormat::Q4K => include_str!("wgsl/formats/q4_k.wgsl"),
        WeightFormat::Q5K => include_str!("wgsl/formats/q5_k.wgsl"),
        WeightFormat::Q6K => include_str!("wgsl/formats/q6_k.wgsl"),
    }
}

/// Device words per (super-)block (`BLOCK_WORDS` in the format's file).
pub(super) const fn words_per_block(format: WeightFormat) -> usize {
    match format {
        WeightFormat::Q4_1 | WeightFormat::Q4_0 => 5,
        WeightFormat::Q5_1 | WeightFormat::Q5_0 => 6,
        WeightFormat::Q8_0 => 9,
        WeightFormat::Q4K => 37,
        WeightFormat::Q5K => 45,
        WeightFormat::Q6K => 53,
    }
}

/// The K-quants' 12 packed scale bytes as 8 scales then 8 minima, one byte each.
fn k_scales(packed: &[u8], out: &mut [u8]) {
    for s in 0..8 {
        let (sc, m) = scale_min_k4(s, packed);
        out[s] = sc as u8;
        out[8 + s] = m as u8;
    }
}

/// Repacks whole GGUF blocks `src` of `format` into the device layout `dst`
/// (`words_per_block * 4` bytes per block; the table in the module docs).
pub(super) fn repack(format: WeightFormat, src: &[u8], dst: &mut [u8]) {
    let out_bytes = words_per_block(format) * 4;
    let blocks = src
        .chunks_exact(format.block_bytes())
        .zip(dst.chunks_exact_mut(out_bytes));
    for (b, o) in blocks {
        o.fill(0);
        match format {
            WeightFormat::Q4_1 | WeightFormat::Q5_1 => o.copy_from_slice(b),
            WeightFormat::Q8_0 => {
                o[0..2].copy_from_slice(&b[0..2]);
                o[4..36].copy_from_slice(&b[2..34]);
            }
            WeightFormat::Q4_0 => {
                o[0..2].copy_from_slice(&b[0..2]);
                o[4..20].copy_from_slice(&b[2..18]);
            }
            WeightFormat::Q5_0 => {
                o[0..2].copy_from_slice(&b[0..2]);
                o[4..24].copy_from_slice(&b[2..22]);
            }
            WeightFormat::Q4K | WeightFormat::Q5K => {
                o[0..4].copy_from_slice(&b[0..4]);
                k_scales(&b[4..16], &mut o[4..20]);
                o[20..].copy_from_slice(&b[16..]);
            }
            WeightFormat::Q6K => {
                o[0..2].copy_from_slice(&b[208..210]);
                o[4..20].copy_from_slice(&b[192..208]);
                o[20..212].copy_from_slice(&b[0..192]);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every layout fills its words exactly: the repacked block is the GGUF
    /// block's bytes plus padding (and the K-quants' 4 extra scale bytes).
    #[test]
    fn layouts_fit_their_words() {
        for format in FORMATS {
            let extra = match format {
                WeightFormat::Q4_1 | WeightFormat::Q5_1 => 0,
                WeightFormat::Q8_0 | WeightFormat::Q4_0 | WeightFormat::Q5_0 => 2,
                WeightFormat::Q4K | WeightFormat::Q5K => 4,
                WeightFormat::Q6K => 2,
            };
            assert_eq!(
                format.block_bytes() + extra,
                words_per_block(format) * 4,
                "{format:?}"
            );
        }
    }

    #[test]
    fn k_quant_scales_are_decoded_as_ggml_does() {
        // scales[12] with every 6-bit field distinct: s < 4 straight, s >= 4 split.
        let packed: Vec<u8> = (0..12u8).map(|i| 0x41u8.wrapping_mul(i + 1)).collect();
        let mut out = [0u8; 16];
        k_scales(&packed, &mut out);
        for s in 0..8 {
            let (sc, m) = scale_min_k4(s, &packed);
            assert_eq!((out[s] as i32, out[8 + s] as i32), (sc, m));
        }
        assert_eq!(out[0], packed[0] & 63);
        assert_eq!(out[12], (packed[8] >> 4) | ((packed[4] >> 6) << 4));
    }
}
