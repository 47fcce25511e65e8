//! Rotary position embedding (Su et al. 2021, RoFormer) with integer tables
//! (docs/numerics.md, "RoPE"). `theta_{p,i} = p * base^(-2i/d)`; cos and sin are
//! built by [`super::math`]'s Q60 generators and rounded to Q30.

use super::fixed::round_shift_i128;
use super::math::{exp2_neg_q60, log2_f32_q60, sin_cos_q60};

/// How the pairs of a head are formed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RopeStyle {
    /// Pairs (2i, 2i+1): llama.cpp's `LLAMA_ROPE_TYPE_NORM` (llama).
    Interleaved,
    /// Pairs (i, i + d/2): llama.cpp's `LLAMA_ROPE_TYPE_NEOX` (gemma3).
    Neox,
}

/// Per-position cos/sin rows, computed on first use.
#[derive(Debug, Clone)]
pub struct RopeTable {
    dim: usize,
    style: RopeStyle,
    base_bits: u32,
    /// freq_i in Q60, i < dim/2.
    freqs: Vec<i128>,
    /// rows[p] = (cos, sin) in Q30 for each i.
    rows: Vec<Vec<(i32, i32)>>,
}

impl RopeTable {
    /// `dim` rotated dimensions per head, base frequency as an f32 bit pattern.
    pub fn new(dim: usize, base_bits: u32, style: RopeStyle) -> Self {
        assert!(dim.is_multiple_of(2) && dim > 0);
        let l = log2_f32_q60(base_bits);
        let freqs = (0..dim / 2)
            .map(|i| {
                // a = 2i * log2(base) / dim, rounded half up.
                let num = (2 * i as i128) * l;
                let d = dim as i128;
                let a = (2 * num + d).div_euclid(2 * d);
                exp2_neg_q60(a)
            })
            .collect();
        Self {
            dim,
            style,
            base_bits,
            freqs,
            rows: Vec::new(),
        }
    }

    /// What identifies the table's contents: rotated dimensions, pair style, base bits.
    pub fn key(&self) -> (usize, RopeStyle, u32) {
        (self.dim, self.style, self.base_bits)
    }

    /// Rotated dimensions per head.
    pub fn dim(&self) -> usize {
        self.dim
    }

    pub fn style(&self) -> RopeStyle {
        self.style
    }

    /// `(cos, sin)` in Q30 of each pair for position `pos`.
    pub fn row(&mut self, pos: usize) -> &[(i32, i32)] {
        while self.rows.len() <= pos {
            let p = self.rows.len() as i128;
            let row = self
                .freqs
                .iter()
                .map(|&f| {
                    let (s, c) = sin_cos_q60(p * f);
                    (
                        round_shift_i128(c, 30) as i32,
                        round_shift_i128(s, 30) as i32,
                    )
                })
                .collect();
            self.rows.push(row);
        }
        &self.rows[pos]
    }

    /// Rotates every head of `x` (Q16, `n_head * head_dim` values) for position `pos`.
    pub fn apply(&mut self, x: &mut [i32], head_dim: usize, pos: usize) {
        let (dim, style) = (self.dim, self.style);
        let row = self.row(pos).to_vec();
        for head in x.chunks_exact_mut(head_dim) {
            for (i, &(c, s)) in row.iter().enumerate() {
                let (a, b) = match style {
                    RopeStyle::Interleaved => (2 * i, 2 * i + 1),
                    RopeStyle::Neox => (i, i + dim / 2),
                };
                let (x0, x1) = (head[a] as i64, head[b] as i64);
                let (c, s) = (c as i64, s as i64);
                head[a] = sat(x0 * c - x1 * s);
                head[b] = sat(x0 * s + x1 * c);
            }
        }
    }
}

#[inline]
fn sat(v: i64) -> i32 {
    super::fixed::sat_i32(super::fixed::round_shift(v, 30))
}

#[cfg(test)]
#[allow(clippy::float_arithmetic, clippy::excessive_precision)]
mod tests {
    use super::*;

    #[test]
    fn table_matches_float_rope() {
        let mut t = RopeTable::new(64, 100000f32.to_bits(), RopeStyle::Interleaved);
        for pos in [0usize, 1, 17, 511, 4095] {
            let row = t.row(pos).to_vec();
            for (i, (c, s)) in row.iter().enumerate() {
                let theta = pos as f64 * 100000f64.powf(-(2.0 * i as f64) / 64.0);
                assert!((*c as f64 / 2f64.powi(30) - theta.cos()).abs() < 2e-9);
                assert!((*s as f64 / 2f64.powi(30) - theta.sin()).abs() < 2e-9);
            }
        }
    }
}
