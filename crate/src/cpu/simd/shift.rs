//! What the SIMD twins share: the row's one shift ([`Shift`], the "one shift per
//! row" and "rounding without 64-bit arithmetic shifts" sections of the module docs
//! of [`super`]), how often accumulator lanes are flushed, and how many blocks a
//! row has. Compiled only where a twin exists (x86_64, wasm32).

use crate::exact::act::{Act, BLOCK};
use crate::exact::quant::WeightFormat;

/// How the terms of a row are brought to Q32, from the activation exponent alone
/// (module docs): `Right(U)` for `1 <= U <= 57`, `Left(-U)` for `-63 <= U <= 0`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Shift {
    Right(u32),
    Left(u32),
}

impl Shift {
    pub(super) fn of(act_exp: i32) -> Option<Shift> {
        let u = -(act_exp as i64 + 8);
        match u {
            1..=57 => Some(Shift::Right(u as u32)),
            -63..=0 => Some(Shift::Left((-u) as u32)),
            _ => None,
        }
    }

    /// Added to each product before masking: `2^(U-1)` (0 for left shifts).
    pub(super) fn half(self) -> i64 {
        match self {
            Shift::Right(u) => 1i64 << (u - 1),
            Shift::Left(_) => 0,
        }
    }

    /// Clears the bits below `2^U` (all ones for left shifts).
    pub(super) fn mask(self) -> i64 {
        match self {
            Shift::Right(u) => -(1i64 << u),
            Shift::Left(_) => -1,
        }
    }

    /// The sum of the terms held by accumulator lanes `l` (module docs).
    #[inline(always)]
    pub(super) fn finish<const L: usize>(self, l: [i64; L]) -> i64 {
        match self {
            Shift::Right(u) => l.iter().fold(0i64, |s, &x| s.wrapping_add(x >> u)),
            Shift::Left(k) => l
                .iter()
                .fold(0i64, |s, &x| s.wrapping_add(x))
                .wrapping_shl(k),
        }
    }
}

/// Flushes of the accumulator lanes come at least every 16 blocks (module docs):
/// every step adds at most one term per lane per block.
pub(super) const FLUSH_BLOCKS: usize = 16;

/// Blocks the reference reads of a row of `row_bytes`: it zips the row's blocks with
/// the activation's.
pub(super) fn block_count(format: WeightFormat, row_bytes: usize, act: &Act) -> usize {
    let n = (row_bytes / format.block_bytes()).min(act.q.len() / BLOCK);
    if format == WeightFormat::Q4_1 {
        // The reference indexes block_sums[b] for every block (and panics if short).
        assert!(act.block_sums.len() >= n, "activation block sums too short");
    }
    n
}
