//! The GPU executor's spec `exact-2` (gemma3) operations against the CPU executor,
//! bit for bit (docs/numerics.md section 15): the embedding scale, both RMSNorm
//! forms with Gemma's wide weights (QK-norm per head, the post-norms), the GELU
//! product, NEOX RoPE alternating between the local and global bases, and
//! sliding-window attention across the window's edge (positions 511/512/513 and
//! a cache longer than the window). Awkward shapes throughout: row widths that are
//! not multiples of the 64-invocation workgroup, one row and many, extreme values.
//! `make test` runs it on Mesa lavapipe and on SwiftShader, like `gpu_kernels`.

mod common;

use common::gpu::check_attention_steps;

use verbatim::cpu::{CpuExecutor, Rows};
use verbatim::exact::gemma::{embed_scale_q30, RESIDUAL_SHIFT, WIDE_GAMMA_MAX};
use verbatim::exact::norm::rms_factor;
use verbatim::exact::rope::{RopeStyle, RopeTable};
use verbatim::exec::{AttnShape, Executor};
use verbatim::gpu::{GpuExecutor, GpuOptions};

/// xorshift64*: deterministic test data.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + self.below((hi - lo + 1) as u64) as i64
    }
    /// Q16 values of one magnitude per call (up to the whole i32 range), with a
    /// few extremes and zeros mixed in.
    fn q16(&mut self, n: usize) -> Vec<i32> {
        let scale =
            [1i64 << 4, 1 << 10, 1 << 16, 1 << 20, 1 << 26, 1 << 31][self.below(6) as usize];
        (0..n)
            .map(|_| match self.below(50) {
                0 => i32::MAX,
                1 => i32::MIN,
                2 => 0,
                _ => self
                    .range(-scale, scale - 1)
                    .clamp(i32::MIN as i64, i32::MAX as i64) as i32,
            })
            .collect()
    }
    /// Gemma's norm weights: mostly near 1, some up to the wide clamp.
    fn gamma(&mut self, n: usize) -> Vec<i32> {
        let scale = [1i64 << 16, 1 << 23, 1650 << 16, WIDE_GAMMA_MAX][self.below(4) as usize];
        (0..n)
            .map(|_| match self.below(40) {
                0 => WIDE_GAMMA_MAX as i32,
                1 => -WIDE_GAMMA_MAX as i32,
                _ => self.range(-scale, scale) as i32,
            })
            .collect()
    }
    fn eps(&mut self) -> u32 {
        [1e-6f32, 1e-5, 0.0, 3.5, 1000.0][self.below(5) as usize].to_bits()
    }
}

/// The GPU of this leg (the Vulkan driver `VK_ICD_FILENAMES` picks).
fn gpu() -> GpuExecutor {
    let gpu = GpuExecutor::new_blocking(GpuOptions::default()).unwrap_or_else(|e| {
        panic!("no Vulkan device ({e}); `make apt-deps` installs mesa-vulkan-drivers")
    });
    common::expect_adapter(&gpu.summary().name);
    gpu
}

/// Equality with the first difference named instead of two huge vectors.
#[track_caller]
fn same<T: PartialEq + std::fmt::Debug>(got: &[T], want: &[T], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: lengths differ");
    if let Some(i) = (0..got.len()).find(|&i| got[i] != want[i]) {
        panic!(
            "{what}: first difference at {i} of {}: got {:?}, want {:?}",
            got.len(),
            got[i],
            want[i]
        );
    }
}

fn rows(data: &[i32], cols: usize) -> Rows {
    Rows {
        data: data.to_vec(),
        cols,
    }
}

#[test]
fn scale_matches_cpu() {
    let mut rng = Rng(11);
    let mut cpu = CpuExecutor::with_threads(1);
    let mut gpu = gpu();
    let factors = [
        embed_scale_q30(640),
        embed_scale_q30(1152),
        embed_scale_q30(1 << 16),
        1 << 30,
        -(1 << 30) + 7,
        3,
        0,
        (1 << 40) + 12345,
        i64::MAX,
        i64::MIN,
    ];
    for (i, &m) in factors.iter().enumerate() {
        let (t, cols) = [(1, 640), (3, 97), (70, 1), (2, 4099)][i % 4];
        let x = rng.q16(t * cols);
        let mut xc = rows(&x, cols);
        cpu.scale(&mut xc, m).unwrap();
        let mut xg = gpu.rows_from_host(&x, cols);
        gpu.scale(&mut xg, m).unwrap();
        same(
            &gpu.read(&xg).unwrap().concat(),
            &xc.data,
            &format!("scale by {m} of {t}x{cols}"),
        );
    }
}

#[test]
fn rms_norm_wide_matches_cpu() {
    let mut rng = Rng(12);
    let mut cpu = CpuExecutor::with_threads(1);
    let mut gpu = gpu();
    let mut rounded_first = 0; // rows whose products reach 2^62 (t > 0)
    for case in 0..14 {
        let cols = [32, 96, 640, 1152, 32 * rng.range(1, 60) as usize][case % 5];
        let t = [1, 2, 9][case % 3];
        let mut x = rng.q16(t * cols);
        if case == 3 {
            x[..cols].fill(0); // an all-zero row: epsilon alone
        }
        let gamma = rng.gamma(cols);
        let eps = rng.eps();
        for row in x.chunks(cols) {
            let (xs, m, _) = rms_factor(row, eps, 2 * RESIDUAL_SHIFT);
            let p = xs
                .iter()
                .zip(&gamma)
                .map(|(&a, &g)| (a as i128 * g as i128 * m as i128).unsigned_abs());
            rounded_first += usize::from(p.max().unwrap_or(0) >= 1 << 62);
        }
        let want = cpu.rms_norm_wide(&rows(&x, cols), &gamma, eps).unwrap();
        let xg = gpu.rows_from_host(&x, cols);
        let got = gpu.rms_norm_wide(&xg, &gamma, eps).unwrap();
        same(
            &gpu.read_input(&got).unwrap(),
            &want,
            &format!("rms_norm_wide {t}x{cols}, eps {:e}", f32::from_bits(eps)),
        );
    }
    assert!(rounded_first > 0, "no row took the 2^62 pre-rounding path");
}

#[test]
fn rms_norm_q16_matches_cpu_per_head_and_per_row() {
    let mut rng = Rng(13);
    let mut cpu = CpuExecutor::with_threads(1);
    let mut gpu = gpu();
    // (segment, segments per row, rows): QK-norm on Gemma's 256-wide heads,
    // post-norms on whole rows, odd segments, many small segments.
    let shapes = [
        (256, 4, 1),
        (256, 1, 5),
        (640, 1, 3),
        (1, 7, 2),
        (2, 3, 1),
        (40, 5, 4),
        (100, 1, 1),
        (33, 2, 17),
        (1152, 1, 2),
        (1, 4, 300),
    ];
    for (i, &(seg, per_row, t)) in shapes.iter().enumerate() {
        let cols = seg * per_row;
        let x = rng.q16(t * cols);
        let gamma = rng.gamma(seg);
        let eps = rng.eps();
        for out_shift in [0, RESIDUAL_SHIFT] {
            let mut xc = rows(&x, cols);
            cpu.rms_norm_q16(&mut xc, &gamma, eps, out_shift).unwrap();
            let mut xg = gpu.rows_from_host(&x, cols);
            gpu.rms_norm_q16(&mut xg, &gamma, eps, out_shift).unwrap();
            same(
                &gpu.read(&xg).unwrap().concat(),
                &xc.data,
                &format!("case {i}: rms_norm_q16 {t}x{per_row}x{seg}, shift {out_shift}"),
            );
        }
    }
}

#[test]
fn rms_norm_q16_refuses_what_it_cannot_run() {
    let mut gpu = gpu();
    let mut x = gpu.rows_from_host(&[1; 96], 96);
    for (gamma_len, out_shift) in [(0, 0), (5, 0), (32, -1), (32, 65)] {
        let err = gpu
            .rms_norm_q16(&mut x, &vec![1 << 16; gamma_len], 0, out_shift)
            .expect_err("an unsupported norm must be refused");
        assert!(
            err.to_string().contains("not supported on the GPU"),
            "{err}"
        );
    }
}

#[test]
fn gelu_mul_matches_cpu() {
    let mut rng = Rng(14);
    let mut cpu = CpuExecutor::with_threads(1);
    let mut gpu = gpu();
    for case in 0..12 {
        let cols = [32, 96, 2048, 32 * rng.range(1, 70) as usize][case % 4];
        let t = [1, 3, 8][case % 3];
        let mut g = rng.q16(t * cols);
        let u = rng.q16(t * cols);
        if case == 0 {
            // Around GELU's clamp at +-16.0 and its sign change.
            for (i, v) in g.iter_mut().enumerate() {
                *v = [
                    (16 << 16) - 1,
                    16 << 16,
                    (16 << 16) + 1,
                    -(16 << 16),
                    -1,
                    1,
                    0,
                ][i % 7]
                    * if i % 14 < 7 { 1 } else { -1 };
            }
        }
        let want = cpu.gelu_mul(&rows(&g, cols), &rows(&u, cols)).unwrap();
        let (gg, ug) = (gpu.rows_from_host(&g, cols), gpu.rows_from_host(&u, cols));
        let got = gpu.gelu_mul(&gg, &ug).unwrap();
        same(
            &gpu.read_input(&got).unwrap(),
            &want,
            &format!("gelu_mul {t}x{cols}"),
        );
    }
}

/// NEOX RoPE over Gemma's whole 256-wide heads, layers alternating between the
/// local (10,000) and global (1,000,000) bases on one executor, past position 512.
#[test]
fn rope_alternating_bases_matches_cpu() {
    let mut rng = Rng(15);
    let mut cpu = CpuExecutor::with_threads(1);
    let mut gpu = gpu();
    let (hd, heads) = (256, 4);
    let bases = [10_000f32.to_bits(), 1_000_000f32.to_bits()];
    let new = |b: u32| RopeTable::new(hd, b, RopeStyle::Neox);
    let mut cpu_tables = bases.map(new);
    let mut gpu_tables = bases.map(new);
    let mut pos = 0;
    for t in [509, 1, 2, 1, 1, 40] {
        for layer in 0..6 {
            let which = usize::from(layer % 6 == 5);
            let x = rng.q16(t * heads * hd);
            let mut xc = rows(&x, heads * hd);
            cpu.rope(&mut xc, &mut cpu_tables[which], hd, pos);
            let mut xg = gpu.rows_from_host(&x, heads * hd);
            gpu.rope(&mut xg, &mut gpu_tables[which], hd, pos);
            same(
                &gpu.read(&xg).unwrap().concat(),
                &xc.data,
                &format!("layer {layer}: {t} rows at {pos}"),
            );
        }
        pos += t;
    }
}

/// Gemma 3's 512-position window (and no window, for the global layers), with two
/// query heads sharing one kv head (smaller heads than Gemma's 256, which
/// `gpu_kernels` covers, to keep software GPUs fast): a prompt ending just before the window's edge, decode
/// steps at positions 511, 512, 513, a batch crossing it further, a rewind inside
/// the window, and (windowed) a prompt batch longer than the window in one go.
#[test]
fn sliding_window_attention_matches_cpu_at_the_window_edge() {
    let mut rng = Rng(16);
    let mut cpu = CpuExecutor::with_threads(1);
    let mut gpu = gpu();
    for window in [Some(512), None] {
        let shape = AttnShape {
            n_head: 2,
            n_head_kv: 1,
            head_dim: 64,
            window,
        };
        // (rows, rewind to): 511 positions (0..=510), then 511, 512, 513, ...
        let steps = [
            (511, None),
            (1, None),
            (1, None),
            (1, None),
            (37, None),
            (1, None),
            (2, Some(520)),
            (1, None),
            (530, Some(0)),
            (1, None),
        ];
        // The global layer needs no second long prompt to be told apart.
        let steps = if window.is_some() {
            &steps[..]
        } else {
            &steps[..8]
        };
        check_attention_steps(
            &mut cpu,
            &mut gpu,
            shape,
            steps,
            &mut |n| rng.q16(n),
            "gemma",
        );
    }
}
