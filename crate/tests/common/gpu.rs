//! Helpers of the GPU kernel tests (gpu_kernels.rs, gpu_kernels_exact2.rs):
//! deterministic test data, weights in every block format, the four executor legs
//! (per-row and tiled matmul, each with and without `dot4I8Packed`), and equality
//! with the first difference named.

use std::sync::Arc;
use verbatim::cpu::{CpuExecutor, Rows};
use verbatim::exact::quant::WeightFormat;
use verbatim::exec::{AttnShape, Executor, WeightView};
use verbatim::gpu::{GpuExecutor, GpuOptions, MatmulKernel};

/// Every block format the executors run.
pub const FORMATS: [WeightFormat; 8] = [
    WeightFormat::Q4_1,
    WeightFormat::Q8_0,
    WeightFormat::Q4_0,
    WeightFormat::Q5_0,
    WeightFormat::Q5_1,
    WeightFormat::Q4K,
    WeightFormat::Q5K,
    WeightFormat::Q6K,
];

/// xorshift64*: deterministic test data.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    pub fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + self.below((hi - lo + 1) as u64) as i64
    }
    /// Q16 values of mixed magnitude: mostly modest, some large, a few extreme.
    pub fn q16(&mut self, n: usize) -> Vec<i32> {
        let scale = [1i64 << 10, 1 << 16, 1 << 20, 1 << 26, 1 << 31][self.below(5) as usize];
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
    /// Q16 values inside the spec's matmul bounds (activation exponent <= -4).
    pub fn q16_bounded(&mut self, n: usize) -> Vec<i32> {
        let scale = [1i64 << 8, 1 << 16, 1 << 22, 1 << 27][self.below(4) as usize];
        (0..n)
            .map(|_| self.range(-scale, scale - 1) as i32)
            .collect()
    }
}

/// Finite halves of realistic weight-scale magnitude, some subnormal, with an
/// exponent field <= `max_e` (15: |scale| < 2; the spec's bounds assume small
/// scales, see docs/numerics.md sections 9 and 14).
pub fn f16_bits(rng: &mut Rng, max_e: i64) -> [u8; 2] {
    let e = if rng.below(20) == 0 {
        0
    } else {
        rng.range(1, max_e) as u16
    };
    let bits = ((rng.below(2) as u16) << 15) | (e << 10) | rng.below(1024) as u16;
    bits.to_le_bytes()
}

/// One random block of `format`: random bytes, realistic f16 scales, and with
/// `extreme` one of the corners the spec must get right: every 6-bit sub-scale
/// and minimum at 63 (Q6_K: every scale -128 or 127), a negative `d`, `dmin = 0`,
/// a subnormal `d`.
pub fn block(rng: &mut Rng, format: WeightFormat, extreme: bool) -> Vec<u8> {
    let mut b: Vec<u8> = (0..format.block_bytes())
        .map(|_| rng.below(256) as u8)
        .collect();
    // K-quant super-blocks sum 8x more terms: keep |d| below 2^-3 (de <= -13).
    let max_e = if format.block_elems() > 32 { 12 } else { 15 };
    let offsets = format.scale_offsets();
    for &o in offsets {
        b[o..o + 2].copy_from_slice(&f16_bits(rng, max_e));
    }
    let d = offsets[0];
    if extreme {
        match rng.below(4) {
            0 => match format {
                WeightFormat::Q4K | WeightFormat::Q5K => b[4..16].fill(0xff),
                WeightFormat::Q6K => b[192..208].fill([0x80, 0x7f][rng.below(2) as usize]),
                _ => b[d + 1] |= 0x80,
            },
            1 => b[d + 1] |= 0x80,
            2 => {
                if let Some(&m) = offsets.get(1) {
                    b[m..m + 2].fill(0);
                }
            }
            _ => b[d + 1] &= 0x83,
        }
    }
    b
}

/// A `rows x cols` weight of random blocks (see [`block`]).
pub fn weight_with(
    rng: &mut Rng,
    format: WeightFormat,
    rows: usize,
    cols: usize,
    extreme: bool,
) -> WeightView {
    let bytes = (0..rows * cols / format.block_elems())
        .flat_map(|_| block(rng, format, extreme))
        .collect();
    WeightView {
        name: format!("test {format:?} {rows}x{cols}"),
        format,
        rows,
        cols,
        file: Arc::new(bytes),
        offset: 0,
    }
}

pub fn weight(rng: &mut Rng, format: WeightFormat, rows: usize, cols: usize) -> WeightView {
    weight_with(rng, format, rows, cols, false)
}

pub fn executors() -> Vec<(String, GpuExecutor)> {
    let mk = |opts: GpuOptions| {
        GpuExecutor::new_blocking(opts).unwrap_or_else(|e| {
            panic!("no Vulkan device ({e}); `make apt-deps` installs mesa-vulkan-drivers")
        })
    };
    // (options, dot4 expected, tiled expected): both matmul kernels with and
    // without `dot4I8Packed` (a real GPU without the extension gets tiled +
    // byte-wise), and weights split across 128 KiB bindings on the per-row leg.
    let legs = [
        (GpuOptions::default(), true, None),
        (
            GpuOptions {
                no_dot4: true,
                max_binding: Some(128 << 10),
                matmul: MatmulKernel::PerRow,
                // The per-row kernels quantize on load only when asked to: this
                // leg tests them on lavapipe (SwiftShader compiles them slowly).
                quantize_on_load: Some(
                    std::env::var("VERBATIM_EXPECT_ADAPTER").as_deref() == Ok("llvmpipe"),
                ),
            },
            false,
            Some(false),
        ),
        (
            GpuOptions {
                matmul: MatmulKernel::Tiled,
                ..Default::default()
            },
            true,
            Some(true),
        ),
        (
            GpuOptions {
                no_dot4: true,
                matmul: MatmulKernel::Tiled,
                ..Default::default()
            },
            false,
            Some(true),
        ),
    ];
    let mut out = Vec::new();
    for (opts, dot4, tiled) in legs {
        let gpu = mk(opts);
        let name = gpu.summary().to_string();
        super::expect_adapter(&gpu.summary().name);
        assert_dot4(&gpu, dot4, &name);
        if let Some(tiled) = tiled {
            assert_eq!(gpu.matmul_per_row(), !tiled, "{name}: wrong matmul kernel");
        }
        out.push((name, gpu));
    }
    eprintln!("GPU: {}", out[0].0);
    out
}

/// The leg uses the `dot4I8Packed` builtins exactly when it should. Natively
/// wgpu always offers the language extension (naga lowers it where the Vulkan
/// device lacks `VK_KHR_shader_integer_dot_product`), so the default leg must
/// use it; the fallback legs must not.
pub fn assert_dot4(gpu: &GpuExecutor, want: bool, name: &str) {
    assert_eq!(gpu.uses_dot4(), want, "{name}: dot4 in use");
    assert_eq!(gpu.summary().dot4, want, "{name}: summary's dot4");
    for format in FORMATS {
        let src = gpu.matmul_source(format);
        assert_eq!(
            src.contains("dot4I8Packed(") && src.contains("dot4U8Packed("),
            want,
            "{name}: {format:?} matmul module's dot4 builtins"
        );
        assert!(
            src.contains("fn dot4i8("),
            "{name}: {format:?} matmul module lacks its dot4 helper"
        );
    }
}

/// Whether tests let matmuls quantize on load on this adapter (`matmul_load`):
/// on lavapipe; elsewhere (SwiftShader, whose pipeline compiles are slow) they
/// submit the quantize first and test the plain kernels, which keeps that
/// leg's compile count as it was (the golden cases and the self-test still
/// run the loading kernels there).
pub fn loads_here(gpu: &GpuExecutor) -> bool {
    gpu.summary().name.contains("llvmpipe")
}

/// Equality with the first difference named instead of two huge vectors.
#[track_caller]
pub fn same<T: PartialEq + std::fmt::Debug>(got: &[T], want: &[T], what: &str) {
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

pub fn cpu_rows(data: Vec<i32>, cols: usize) -> Rows {
    Rows { data, cols }
}

/// Attention on the CPU executor and on `gpu` over the same rows, step by step: a
/// step `(rows, rewind)` first cuts both caches back to position `rewind` (if
/// given), then attends `rows` new query rows of `shape` (queries, keys and values
/// drawn from `q16` in that order); the outputs must be equal.
pub fn check_attention_steps(
    cpu: &mut CpuExecutor,
    gpu: &mut GpuExecutor,
    shape: AttnShape,
    steps: &[(usize, Option<usize>)],
    q16: &mut dyn FnMut(usize) -> Vec<i32>,
    what: &str,
) {
    let (qc, kc) = (
        shape.n_head * shape.head_dim,
        shape.n_head_kv * shape.head_dim,
    );
    let mut cc = cpu.new_cache(shape);
    let mut gc = gpu.new_cache(shape);
    let mut pos = 0;
    for &(t, rewind) in steps {
        if let Some(p) = rewind {
            pos = p;
            cpu.truncate_cache(&mut cc, p);
            gpu.truncate_cache(&mut gc, p);
        }
        let (q, k, v) = (q16(t * qc), q16(t * kc), q16(t * kc));
        let want = cpu.attention(
            &mut cc,
            &cpu_rows(q.clone(), qc),
            &cpu_rows(k.clone(), kc),
            &cpu_rows(v.clone(), kc),
            pos,
        );
        let (qg, kg, vg) = (
            gpu.rows_from_host(&q, qc),
            gpu.rows_from_host(&k, kc),
            gpu.rows_from_host(&v, kc),
        );
        let got = gpu.attention(&mut gc, &qg, &kg, &vg, pos);
        same(
            &gpu.read(&got).unwrap().concat(),
            &want.data,
            &format!("{what}: window {:?}, {t} rows at {pos}", shape.window),
        );
        pos += t;
    }
}

/// Matmuls of one quantized `t x cols` input by `weights` (format, rows), recorded
/// one after another as a layer records Q, K, V or gate, up: on `gpu` they join one
/// dispatch (none split: `joined` is true), else one dispatch per part (callers
/// put a split weight second of two); each
/// product equals the CPU's. Returns whether they joined.
pub fn check_joined_matmuls(
    gpu: &mut GpuExecutor,
    cpu: &mut verbatim::cpu::CpuExecutor,
    rng: &mut Rng,
    weights: &[(WeightFormat, usize)],
    (cols, t): (usize, usize),
    name: &str,
) -> bool {
    use verbatim::exec::Executor;
    let views: Vec<WeightView> = weights
        .iter()
        .map(|&(format, rows)| {
            let extreme = rng.below(3) == 0;
            weight_with(rng, format, rows, cols, extreme)
        })
        .collect();
    let x = rng.q16_bounded(t * cols);
    let ic = cpu.quantize(&cpu_rows(x.clone(), cols));
    let wants: Vec<Vec<i32>> = views
        .iter()
        .map(|v| {
            let w = cpu.weight(v.clone()).unwrap();
            cpu.matmul(&w, &ic).data
        })
        .collect();
    let ws: Vec<_> = views.into_iter().map(|v| gpu.weight(v).unwrap()).collect();
    let xg = gpu.rows_from_host(&x, cols);
    let ig = gpu.quantize(&xg);
    // Submitted, as a layer's Q, K, V and gate, up follow an RMSNorm: a matmul
    // right after a quantize takes it back (quantize on load) and is not joined.
    gpu.flush();
    let before = gpu.stats.dispatches;
    let outs: Vec<_> = ws.iter().map(|w| gpu.matmul(w, &ig)).collect();
    let dispatches = gpu.stats.dispatches - before;
    let parts: usize = ws.iter().map(|w| w.parts()).sum();
    let joined = parts == ws.len();
    let what = format!("{name}: {weights:?} x {cols} columns times {t} rows");
    // A split weight takes a dispatch per part and nothing joins it.
    let want_dispatches = if joined { 1 } else { parts as u64 };
    assert_eq!(dispatches, want_dispatches, "{what}: dispatches");
    for (i, (out, want)) in outs.iter().zip(&wants).enumerate() {
        same(
            &gpu.read(out).unwrap().concat(),
            want,
            &format!("{what}: product {i}"),
        );
    }
    joined
}
