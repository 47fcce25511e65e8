//! Start-up known-answer test: a small forward pass through every kernel (spec
//! exact-1's llama ops, then exact-2's gemma3 ops) on fixed inputs, each result's FNV-1a hash compared with values pinned here.
//! The pinned values are what the CPU executor (the reference) computes; a
//! unit test keeps the two in step. A device that gets any of them wrong is
//! not used: the page falls back to the CPU executor.

use crate::exact::gemma::{embed_scale_q30, RESIDUAL_SHIFT};
use crate::exact::quant::WeightFormat;
use crate::exact::rope::{RopeStyle, RopeTable};
use crate::exec::{AttnShape, ExecError, Executor, WeightView};
use std::sync::Arc;

/// (check, FNV-1a 64 of the little-endian i32 results) of the CPU executor.
pub const EXPECTED: [(&str, u64); 14] = [
    ("embed q8_0", 0x7cc0781214eefe97),
    ("rmsnorm + matmul q4_1", 0x88fdc8f969419c03),
    ("rope", 0x9173b55a1bf15722),
    ("attention prefill", 0x1805ac3122ead7ef),
    ("attention decode", 0x0008eaaf0eb07c9a),
    ("quantize + matmul q8_0", 0xb4b63d659329b5ca),
    ("silu_mul + matmul q4_1", 0xfbc2a773c9504e8a),
    ("add + last_row", 0x6e03d2c7ec5e644c),
    ("matmul q5_0", 0x6828a84c8b9208c6),
    ("matmul q4_k", 0xaa74984121852be1),
    ("matmul q6_k", 0xd173f800ed43c131),
    (
        "gemma3: scale + rms_norm_wide + qk-norm + neox rope",
        0x1fda96dcb083b53b,
    ),
    ("gemma3: windowed attention + post-norm", 0x6413243ebef0066d),
    ("gemma3: gelu_mul + matmul q8_0", 0xbcb9a9fc120a6755),
];

const DIM: usize = 96;
const HEADS: usize = 3;
const KV_HEADS: usize = 1;
const HEAD_DIM: usize = 32;

/// Deterministic bytes (xorshift32).
fn bytes(seed: u32, n: usize) -> Vec<u8> {
    let mut x = seed;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x >> 11) as u8
        })
        .collect()
}

/// A weight matrix with small finite scales (f16 exponent field 5..=7).
fn weight(seed: u32, format: WeightFormat, rows: usize, cols: usize) -> WeightView {
    let mut b = bytes(
        seed,
        rows * cols / format.block_elems() * format.block_bytes(),
    );
    for blk in b.chunks_exact_mut(format.block_bytes()) {
        for &o in format.scale_offsets() {
            blk[o + 1] = (blk[o + 1] & 0x83) | ((5 + blk[o + 1] % 3) << 2);
        }
    }
    WeightView {
        name: format!("self-test {format:?}"),
        format,
        rows,
        cols,
        file: Arc::new(b),
        offset: 0,
    }
}

/// Records the self-test's operations on `ex`; returns the results to read.
pub fn record<E: Executor>(ex: &mut E) -> Result<Vec<(&'static str, E::Rows)>, ExecError> {
    let table = ex.weight(weight(1, WeightFormat::Q8_0, 40, DIM))?;
    let wq = ex.weight(weight(2, WeightFormat::Q4_1, HEADS * HEAD_DIM, DIM))?;
    let wk = ex.weight(weight(3, WeightFormat::Q4_1, KV_HEADS * HEAD_DIM, DIM))?;
    let wv = ex.weight(weight(4, WeightFormat::Q4_1, KV_HEADS * HEAD_DIM, DIM))?;
    let wo = ex.weight(weight(5, WeightFormat::Q8_0, DIM, HEADS * HEAD_DIM))?;
    let gamma: Vec<i32> = bytes(6, DIM)
        .iter()
        .map(|&b| (b as i32 - 100) * 1500)
        .collect();
    let eps = 0x3727_c5ac; // 1e-5
    let mut rope = RopeTable::new(HEAD_DIM, 10000f32.to_bits(), RopeStyle::Interleaved);
    let shape = AttnShape {
        n_head: HEADS,
        n_head_kv: KV_HEADS,
        head_dim: HEAD_DIM,
        window: None,
    };
    let mut cache = ex.new_cache(shape);
    let mut out = Vec::new();

    let h = ex.embed(&table, &[0, 5, 17, 39]);
    let x = ex.rms_norm(&h, &gamma, eps);
    let q = ex.matmul(&wq, &x);
    let mut k = ex.matmul(&wk, &x);
    let v = ex.matmul(&wv, &x);
    let mut qr = ex.matmul(&wq, &x);
    ex.rope(&mut qr, &mut rope, HEAD_DIM, 0);
    ex.rope(&mut k, &mut rope, HEAD_DIM, 0);
    let att = ex.attention(&mut cache, &qr, &k, &v, 0);
    // Quantized here, not right before its Q8_0 matmul, which would then
    // quantize on load (the same bits) and compile one more pipeline during
    // the self-test; the Q4_1 pair below runs the loading kernel (docs/gpu.md).
    let xa = ex.quantize(&att);
    // One decode step at position 4 over the cached prompt.
    let h1 = ex.embed(&table, &[23]);
    let x1 = ex.rms_norm(&h1, &gamma, eps);
    let mut q1 = ex.matmul(&wq, &x1);
    let mut k1 = ex.matmul(&wk, &x1);
    let v1 = ex.matmul(&wv, &x1);
    ex.rope(&mut q1, &mut rope, HEAD_DIM, 4);
    ex.rope(&mut k1, &mut rope, HEAD_DIM, 4);
    let att1 = ex.attention(&mut cache, &q1, &k1, &v1, 4);
    let o = ex.matmul(&wo, &xa);
    let hid = ex.silu_mul(&q, &qr);
    let qo = ex.quantize(&o);
    let down = ex.matmul(&wq, &qo);
    let mixed = ex.matmul(&wo, &hid);
    let mut sum = ex.embed(&table, &[1, 2, 3, 4]);
    ex.add(&mut sum, &mixed);
    let last = ex.last_row(&sum);

    // Spec exact-2's gemma3 steps: norm weights past exact-1's 2^23 clamp, the
    // embedding scale, QK-norm, NEOX RoPE, a sliding window, a post-norm into the
    // residual scale, the GELU product.
    let wide: Vec<i32> = gamma.iter().map(|&g| g * 700).collect();
    let mut hg = ex.embed(&table, &[3, 9, 21, 30, 11]);
    ex.scale(&mut hg, embed_scale_q30(DIM))?;
    let xg = ex.rms_norm_wide(&hg, &wide, eps)?;
    let mut qg = ex.matmul(&wq, &xg);
    let mut kg = ex.matmul(&wk, &xg);
    let vg = ex.matmul(&wv, &xg);
    ex.rms_norm_q16(&mut qg, &wide[..HEAD_DIM], eps, 0)?;
    ex.rms_norm_q16(&mut kg, &wide[HEAD_DIM..2 * HEAD_DIM], eps, 0)?;
    let mut neox = RopeTable::new(HEAD_DIM, 1_000_000f32.to_bits(), RopeStyle::Neox);
    ex.rope(&mut qg, &mut neox, HEAD_DIM, 0);
    ex.rope(&mut kg, &mut neox, HEAD_DIM, 0);
    let mut local = ex.new_cache(AttnShape {
        window: Some(3),
        ..shape
    });
    let attg = ex.attention(&mut local, &qg, &kg, &vg, 0);
    let xo = ex.quantize(&attg);
    // The exact-2 formats' input (below), recorded between each quantize and
    // its matmul, as `xa` above.
    let wide_table = ex.weight(weight(7, WeightFormat::Q8_0, 8, 256))?;
    let xw = ex.embed(&wide_table, &[2, 7]);
    let mut og = ex.matmul(&wo, &xo);
    let xw = ex.quantize(&xw);
    ex.rms_norm_q16(&mut og, &wide, eps, RESIDUAL_SHIFT)?;
    let hid = ex.gelu_mul(&og, &og)?;
    let downg = ex.matmul(&wo, &hid);

    out.push(("embed q8_0", h));
    out.push(("rmsnorm + matmul q4_1", q));
    out.push(("rope", qr));
    out.push(("attention prefill", att));
    out.push(("attention decode", att1));
    out.push(("quantize + matmul q8_0", o));
    out.push(("silu_mul + matmul q4_1", down));
    out.push(("add + last_row", last));

    // The exact-2 formats Gemma 3's files use besides Q8_0, on 256-wide rows.
    for (seed, format, name) in [
        (8, WeightFormat::Q5_0, "matmul q5_0"),
        (9, WeightFormat::Q4K, "matmul q4_k"),
        (10, WeightFormat::Q6K, "matmul q6_k"),
    ] {
        let w = ex.weight(weight(seed, format, 40, 256))?;
        out.push((name, ex.matmul(&w, &xw)));
    }
    out.push(("gemma3: scale + rms_norm_wide + qk-norm + neox rope", qg));
    out.push(("gemma3: windowed attention + post-norm", og));
    out.push(("gemma3: gelu_mul + matmul q8_0", downg));
    Ok(out)
}

/// FNV-1a of a result's rows.
pub fn hash(rows: &[Vec<i32>]) -> u64 {
    crate::engine::logits_hash(&rows.concat())
}

/// The checks whose hash differs from [`EXPECTED`], described.
pub fn failures(got: &[(&'static str, u64)]) -> Vec<String> {
    EXPECTED
        .iter()
        .zip(got)
        .filter(|((_, want), (_, have))| want != have)
        .map(|((name, want), (_, have))| format!("{name}: got {have:016x}, want {want:016x}"))
        .collect()
}

/// Runs the self-test on `ex`, waiting for the device; returns the failed checks.
#[cfg(not(target_arch = "wasm32"))]
pub fn run<E: Executor>(ex: &mut E) -> Result<Vec<String>, ExecError> {
    let results = record(ex)?;
    let mut got = Vec::new();
    for (name, rows) in &results {
        got.push((*name, hash(&ex.read(rows)?)));
    }
    Ok(failures(&got))
}

/// Runs the self-test on a WebGPU device; returns the failed checks.
#[cfg(target_arch = "wasm32")]
pub async fn run_async(ex: &mut super::GpuExecutor) -> Result<Vec<String>, ExecError> {
    let results = record(ex)?;
    let mut got = Vec::new();
    for (name, rows) in &results {
        got.push((*name, hash(&ex.read_async(rows).await?)));
    }
    Ok(failures(&got))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cpu::CpuExecutor;

    #[test]
    fn pinned_hashes_are_the_cpu_executors() {
        let mut cpu = CpuExecutor::with_threads(1);
        let results = record(&mut cpu).unwrap();
        let got: Vec<(&str, u64)> = results
            .iter()
            .map(|(n, r)| (*n, hash(&cpu.read(r).unwrap())))
            .collect();
        // Every check computes something: most values neither 0 nor saturated.
        for (name, r) in &results {
            let v = cpu.read(r).unwrap().concat();
            let plain = v
                .iter()
                .filter(|&&x| x != 0 && x != i32::MAX && x != i32::MIN);
            assert!(plain.count() * 2 > v.len(), "{name}: mostly 0 or saturated");
        }
        let names: Vec<&str> = got.iter().map(|g| g.0).collect();
        assert_eq!(names, EXPECTED.map(|e| e.0));
        let wrong: Vec<String> = EXPECTED
            .iter()
            .zip(&got)
            .filter(|(e, g)| e.1 != g.1)
            .map(|((name, want), (_, have))| {
                format!("{name}: pinned {want:#018x}, CPU computes {have:#018x}")
            })
            .collect();
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));
        // The checks see distinct data (no result is trivially zero or repeated).
        let mut hashes: Vec<u64> = got.iter().map(|g| g.1).collect();
        hashes.sort();
        hashes.dedup();
        assert_eq!(hashes.len(), EXPECTED.len());
    }

    #[test]
    fn a_wrong_result_is_named() {
        let mut got: Vec<(&str, u64)> = EXPECTED.to_vec();
        assert!(failures(&got).is_empty());
        got[3].1 ^= 1;
        let f = failures(&got);
        assert_eq!(f.len(), 1);
        assert!(f[0].starts_with("attention prefill: got"), "{f:?}");
    }
}
