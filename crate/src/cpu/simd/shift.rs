//! What the SIMD twins share: the row's one shift ([`Shift`], the "one shift per
//! row" and "rounding without 64-bit arithmetic shifts" sections of the module docs
//! of [`super`]), how often accumulator lanes are flushed, how many blocks a row
//! has, and the block layouts the one-shift kernels take ("legacy blocks"). Compiled only where a twin exists (x86_64, wasm32).

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

/// The block layouts the one-shift kernels take (module docs of [`super`], "Legacy
/// blocks"): exact-1's Q4_1 and Q8_0 and exact-2's Q4_0, Q5_0 and Q5_1, whose terms
/// have the same form (a scale `d` times `S1`, and for Q4_1/Q5_1 a minimum `m`
/// times the block's activation sum).
pub(super) const Q4_1: u8 = 0;
pub(super) const Q8_0: u8 = 1;
pub(super) const Q4_0: u8 = 2;
pub(super) const Q5_0: u8 = 3;
pub(super) const Q5_1: u8 = 4;

/// The layout constant of `format`, if the one-shift kernels take it.
pub(super) fn layout(format: WeightFormat) -> Option<u8> {
    match format {
        WeightFormat::Q4_1 => Some(Q4_1),
        WeightFormat::Q8_0 => Some(Q8_0),
        WeightFormat::Q4_0 => Some(Q4_0),
        WeightFormat::Q5_0 => Some(Q5_0),
        WeightFormat::Q5_1 => Some(Q5_1),
        _ => None,
    }
}

/// The format of layout `L`.
pub(super) const fn format_of(l: u8) -> WeightFormat {
    match l {
        Q4_1 => WeightFormat::Q4_1,
        Q8_0 => WeightFormat::Q8_0,
        Q4_0 => WeightFormat::Q4_0,
        Q5_0 => WeightFormat::Q5_0,
        _ => WeightFormat::Q5_1,
    }
}

/// Whether layout `L` has a minimum (two f16 scales `d`, `m` at the block's start).
pub(super) const fn has_min(l: u8) -> bool {
    l == Q4_1 || l == Q5_1
}

/// The exact integer sum (Q32 accumulator) of one row as the spec defines it:
/// exact-1's [`crate::exact::quant::row_dot_acc`] or exact-2's
/// [`crate::exact::blocks::row_dot_acc`].
#[cfg(target_arch = "x86_64")]
pub(super) fn definition(format: WeightFormat, row: &[u8], act: &Act) -> i64 {
    if super::exact2::covers(format) {
        crate::exact::blocks::row_dot_acc(format, row, act)
    } else {
        crate::exact::quant::row_dot_acc(format, row, act)
    }
}

/// Blocks of a row of `rb` bytes the kernels read: [`block_count`] for exact-1;
/// exact-2's definition reads every block of the row and slices the activation
/// (a short one panics there, and here).
pub(super) fn blocks_of(l: u8, rb: usize, act: &Act) -> usize {
    let format = format_of(l);
    let n = block_count(format, rb, act);
    if super::exact2::covers(format) {
        let whole = rb / format.block_bytes();
        assert!(
            n == whole && act.block_sums.len() >= n,
            "activation shorter than the weight row"
        );
    }
    n
}
