//! Spec `exact-2`'s block formats (docs/numerics.md section 14: Q4_0, Q5_0, Q5_1,
//! Q4_K, Q5_K, Q6_K) on the GPU against the CPU executor, bit for bit: matmul
//! (per-row and tiled, each with and without `dot4I8Packed`), embedding lookup,
//! and a tied output head, over awkward shapes (rows not a multiple of a
//! workgroup, 1..n super-blocks, 1 to 17 tokens), extreme scales (all-max 6-bit
//! sub-scales, negative `d`, `dmin = 0`, subnormal `d`) and weights split across
//! 128 KiB bindings. `make test` runs it on lavapipe and SwiftShader.

mod common;

use common::gpu::{
    check_joined_matmuls, cpu_rows, executors, loads_here, same, weight, weight_with, Rng,
};
use verbatim::cpu::CpuExecutor;
use verbatim::exact::quant::WeightFormat;
use verbatim::exec::{ExecError, Executor};
use verbatim::gpu::GpuExecutor;

const NEW: [WeightFormat; 6] = [
    WeightFormat::Q4_0,
    WeightFormat::Q5_0,
    WeightFormat::Q5_1,
    WeightFormat::Q4K,
    WeightFormat::Q5K,
    WeightFormat::Q6K,
];

/// Blocks per row, from 1 to `most` (K-quants: super-blocks).
fn blocks_per_row(rng: &mut Rng, format: WeightFormat) -> usize {
    let most = if format.block_elems() > 32 { 4 } else { 24 };
    rng.range(1, most) as usize
}

/// `rows x cols` weight times `t` quantized rows on the CPU and on `gpu`.
fn check_matmul(
    gpu: &mut GpuExecutor,
    cpu: &mut CpuExecutor,
    rng: &mut Rng,
    (format, rows, cols, t, extreme): (WeightFormat, usize, usize, usize, bool),
    name: &str,
) -> usize {
    let view = weight_with(rng, format, rows, cols, extreme);
    let x = rng.q16_bounded(t * cols);
    let want = {
        let w = cpu.weight(view.clone()).unwrap();
        let a = cpu.quantize(&cpu_rows(x.clone(), cols));
        cpu.matmul(&w, &a)
    };
    let w = gpu.weight(view).unwrap();
    let xg = gpu.rows_from_host(&x, cols);
    let a = gpu.quantize(&xg);
    if !loads_here(gpu) {
        gpu.flush();
    }
    let got = gpu.matmul(&w, &a);
    same(
        &gpu.read(&got).unwrap().concat(),
        &want.data,
        &format!("{name}: {format:?} {rows}x{cols} times {t} rows, extreme {extreme}"),
    );
    w.parts()
}

/// Gemma's down projection of a decoded token: gate and up (K-quants, one
/// joined dispatch that also writes the GELU product of section 15 of each
/// pair, as 64 bits) and the down matmul quantizing those on load
/// (`matmul_load`): two dispatches instead of three. Gate, up, the product and
/// the quantized input equal the CPU's; widths to Gemma's 2048, 1 to 3 tokens,
/// rows ending inside a workgroup; split weights keep separate dispatches.
/// Lavapipe only (the SwiftShader leg stays as it was).
#[test]
fn gelu_product_loads_into_the_matmul_and_matches_cpu() {
    use WeightFormat::{Q4K, Q5K, Q6K, Q8_0};
    let mut rng = Rng(0x5eed_0006);
    let mut cpu = CpuExecutor::with_threads(1);
    for (name, mut gpu) in executors() {
        if !loads_here(&gpu) {
            eprintln!("{name}: not lavapipe, skipped");
            return;
        }
        for (case, format) in [Q6K, Q8_0, Q4K].into_iter().enumerate() {
            let (rows, cols, t) = match case {
                0 => (70, 2048, 1),
                _ => ([13, 65][case - 1], 256 * rng.range(1, 5) as usize, case + 1),
            };
            let width = 256;
            // Modest activations: gate and up stay inside the spec's bounds.
            let x: Vec<i32> = rng.q16_bounded(t * width).iter().map(|v| v >> 14).collect();
            let (gv, uv) = (
                weight_with(&mut rng, Q4K, cols, width, false),
                weight_with(&mut rng, Q5K, cols, width, false),
            );
            let view = weight_with(&mut rng, format, rows, cols, case == 2);
            let xc = cpu.quantize(&cpu_rows(x.clone(), width));
            let (gc, uc) = (
                cpu.weight(gv.clone()).unwrap(),
                cpu.weight(uv.clone()).unwrap(),
            );
            let (gc, uc) = (cpu.matmul(&gc, &xc), cpu.matmul(&uc, &xc));
            let ic = cpu.gelu_mul(&gc, &uc).unwrap();
            let wc = cpu.weight(view.clone()).unwrap();
            let want = cpu.matmul(&wc, &ic);

            let xg = gpu.rows_from_host(&x, width);
            let xg = gpu.quantize(&xg);
            gpu.flush();
            let (wgate, wup) = (gpu.weight(gv).unwrap(), gpu.weight(uv).unwrap());
            let wg = gpu.weight(view).unwrap();
            let before = gpu.stats.dispatches;
            let (gg, ug) = (gpu.matmul(&wgate, &xg), gpu.matmul(&wup, &xg));
            let ig = gpu.gelu_mul(&gg, &ug).unwrap();
            let got = gpu.matmul(&wg, &ig);
            let dispatches = gpu.stats.dispatches - before;
            let what = format!("{name}: gelu, {format:?} {rows}x{cols} times {t}");
            // Split weights (the leg with 128 KiB bindings) take their own dispatches.
            // The default per-row leg keeps the product's dispatch.
            let whole = [&wgate, &wup, &wg].iter().all(|w| w.parts() == 1);
            let loads = whole && gpu.quantizes_on_load();
            assert_eq!(dispatches == 2, loads, "{what}: {dispatches} dispatches");
            same(
                &gpu.read(&gg).unwrap().concat(),
                &gc.data,
                &format!("{what}: gate"),
            );
            same(
                &gpu.read(&ug).unwrap().concat(),
                &uc.data,
                &format!("{what}: up"),
            );
            same(&gpu.read(&got).unwrap().concat(), &want.data, &what);
            same(
                &gpu.read_input(&ig).unwrap(),
                &ic,
                &format!("{what}: input"),
            );
        }
    }
}

#[test]
fn matmul_matches_cpu_in_every_new_format() {
    let mut rng = Rng(0x5eed_0002);
    let mut cpu = CpuExecutor::with_threads(1);
    for (name, mut gpu) in executors() {
        for format in NEW {
            // First a weight larger than a 128 KiB binding (split on the leg
            // that forces it), then awkward shapes, half with extreme scales.
            let big = (300, 4 * format.block_elems().max(192), 9, false);
            let parts = check_matmul(
                &mut gpu,
                &mut cpu,
                &mut rng,
                (format, big.0, big.1, big.2, big.3),
                &name,
            );
            assert!(
                gpu.max_binding() > 1 << 20 || parts > 1,
                "{name}: not split"
            );
            for case in 0..6 {
                let rows = [1, 7, 13, 65, 70][rng.below(5) as usize];
                let cols = format.block_elems() * blocks_per_row(&mut rng, format);
                let t = [1, 2, 8, 9, 17][case % 5];
                let shape = (format, rows, cols, t, case % 2 == 1);
                check_matmul(&mut gpu, &mut cpu, &mut rng, shape, &name);
            }
        }
    }
}

/// Joined matmuls (Q, K, V; gate, up) in the exact-2 formats, mixed as in
/// Gemma's Q4_K_M file (Q5_0 Q and K with a Q8_0 V), among K-quants, and the
/// other 32-element formats: one dispatch, each product the CPU's.
#[test]
fn joined_matmuls_match_cpu_in_mixed_formats() {
    use WeightFormat::{Q4K, Q4_0, Q5K, Q5_0, Q5_1, Q6K, Q8_0};
    let mut rng = Rng(0x5eed_0005);
    let mut cpu = CpuExecutor::with_threads(1);
    // Few sets: each is a pipeline per leg to compile (slow on SwiftShader).
    let sets: [&[WeightFormat]; 4] = [
        &[Q5_0, Q5_0, Q8_0],
        &[Q4K, Q4K, Q6K],
        &[Q6K, Q5K],
        &[Q5_1, Q8_0, Q4_0],
    ];
    for (name, mut gpu) in executors() {
        for (case, formats) in sets.iter().enumerate() {
            let weights: Vec<_> = formats
                .iter()
                .map(|&f| (f, [1, 7, 13, 65, 70][rng.below(5) as usize]))
                .collect();
            let cols = 256 * rng.range(1, 3) as usize;
            let t = [1, 9, 17, 2][case];
            let joined =
                check_joined_matmuls(&mut gpu, &mut cpu, &mut rng, &weights, (cols, t), &name);
            assert!(joined, "{name}: {formats:?} did not join");
        }
    }
}

#[test]
fn embed_matches_cpu_in_every_new_format() {
    let mut rng = Rng(0x5eed_0003);
    let mut cpu = CpuExecutor::with_threads(1);
    for (name, mut gpu) in executors().into_iter().take(2) {
        for format in NEW {
            let (rows, cols) = (3000, 2 * format.block_elems().max(64));
            for extreme in [false, true] {
                let view = weight_with(&mut rng, format, rows, cols, extreme);
                let tokens: Vec<u32> = (0..12).map(|_| rng.below(rows as u64 + 5) as u32).collect();
                let want = {
                    let w = cpu.weight(view.clone()).unwrap();
                    cpu.embed(&w, &tokens)
                };
                let w = gpu.weight(view).unwrap();
                assert!(
                    gpu.max_binding() > 1 << 20 || w.parts() > 1,
                    "{name}: not split"
                );
                let got = gpu.embed(&w, &tokens);
                same(
                    &gpu.read(&got).unwrap().concat(),
                    &want.data,
                    &format!("{name}: {format:?} embedding, extreme {extreme}"),
                );
            }
        }
    }
}

/// Gemma's tied head: one table (Q8_0 in its GGUF; Q6_K is the other common
/// output type), split across bindings, read by the embedding and then as the
/// output matmul's weight.
#[test]
fn a_tied_head_over_a_split_table_matches_cpu() {
    let mut rng = Rng(0x5eed_0004);
    let mut cpu = CpuExecutor::with_threads(1);
    for (name, mut gpu) in executors().into_iter().take(2) {
        for format in [WeightFormat::Q8_0, WeightFormat::Q6K] {
            let (rows, cols) = (1000, 512);
            let view = weight(&mut rng, format, rows, cols);
            let tokens = [3, 999, 500];
            let (wc, wg) = (
                cpu.weight(view.clone()).unwrap(),
                gpu.weight(view.clone()).unwrap(),
            );
            let head = gpu.weight(view).unwrap();
            assert!(
                gpu.max_binding() > 1 << 20 || head.parts() > 1,
                "{name}: not split"
            );
            let xc = cpu.embed(&wc, &tokens);
            let ac = cpu.quantize(&xc);
            let want = cpu.matmul(&wc, &ac);
            let xg = gpu.embed(&wg, &tokens);
            let a = gpu.quantize(&xg);
            let got = gpu.matmul(&head, &a);
            same(
                &gpu.read(&got).unwrap().concat(),
                &want.data,
                &format!("{name}: {format:?} tied head"),
            );
        }
    }
}

/// A K-quant matrix whose rows are not whole super-blocks is refused with a
/// message naming it, its format and the block size.
#[test]
fn a_row_of_partial_super_blocks_is_refused() {
    let mut gpu = executors().swap_remove(0).1;
    let mut rng = Rng(1);
    let mut view = weight(&mut rng, WeightFormat::Q4K, 2, 512);
    view.cols = 640;
    view.rows = 1;
    let Err(ExecError::Device(msg)) = gpu.weight(view) else {
        panic!("a 640-column Q4_K weight was accepted");
    };
    assert!(
        msg.contains("test Q4K") && msg.contains("Q4_K") && msg.contains("multiple of 256"),
        "unclear message: {msg}"
    );
}
