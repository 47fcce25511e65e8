//! Each GPU kernel against the CPU executor (the reference), bit for bit, over
//! many shapes including awkward ones, with both matmul kernels (per-row and
//! tiled) each with and without `dot4I8Packed` (each leg asserts which it
//! uses), and with weights split across bindings. Runs on whatever Vulkan driver the loader
//! picks: `make test` runs it on Mesa lavapipe and on SwiftShader
//! (`VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json`).

mod common;

use common::gpu::{
    check_attention_steps, check_joined_matmuls, cpu_rows, executors, loads_here, same, weight, Rng,
};
use verbatim::cpu::CpuExecutor;
use verbatim::exact::quant::WeightFormat;
use verbatim::exact::rope::{RopeStyle, RopeTable};
use verbatim::exec::{AttnShape, Executor};
use verbatim::gpu::{GpuExecutor, GpuOptions};

#[test]
fn matmul_and_quantize_match_cpu() {
    let mut rng = Rng(0x1234_5678_9abc_def1);
    let mut cpu = CpuExecutor::with_threads(1);
    for (name, mut gpu) in executors() {
        let mut split = 0;
        for case in 0..24 {
            let format = if case % 2 == 0 {
                WeightFormat::Q4_1
            } else {
                WeightFormat::Q8_0
            };
            // The first two cases are larger than a 128 KiB binding.
            let rows = if case < 2 {
                700
            } else {
                [1, 7, 8, 13, 64, 70, 200][rng.below(7) as usize]
            };
            let cols = 32 * rng.range(1, 40) as usize;
            let t = [1, 2, 5, 8, 9, 17][rng.below(6) as usize];
            let view = weight(&mut rng, format, rows, cols);
            let x = rng.q16_bounded(t * cols);
            let wc = cpu.weight(view.clone()).unwrap();
            let ic = cpu.quantize(&cpu_rows(x.clone(), cols));
            let want = cpu.matmul(&wc, &ic);

            let wg = gpu.weight(view).unwrap();
            split += usize::from(wg.parts() > 1);
            let xg = gpu.rows_from_host(&x, cols);
            let ig = gpu.quantize(&xg);
            same(
                &gpu.read_input(&ig).unwrap(),
                &ic,
                &format!("{name}: quantize {t}x{cols}"),
            );
            let got = gpu.matmul(&wg, &ig);
            let got = gpu.read(&got).unwrap().concat();
            same(
                &got,
                &want.data,
                &format!("{name}: {format:?} {rows}x{cols} times {t} rows"),
            );
        }
        if gpu.max_binding() < 1 << 20 {
            assert!(split > 0, "{name}: no weight was split");
        }
    }
}

/// A residual add recorded right after the matmul that produced its addend
/// folds into that matmul's dispatch (one dispatch instead of two); the sum and
/// the product still equal the CPU's, saturation included. Split weights and an
/// add whose addend is not the last recorded command take the add kernel.
#[test]
fn residual_add_folds_into_matmul_and_matches_cpu() {
    let mut rng = Rng(0x5eed_f00d_0bad_cafe);
    let mut cpu = CpuExecutor::with_threads(1);
    for (name, mut gpu) in executors() {
        // The write is shared by every format; one exact-2 format keeps the
        // pipelines to compile (slow on SwiftShader) few.
        for case in 0..6 {
            let format = [WeightFormat::Q4_1, WeightFormat::Q8_0, WeightFormat::Q4K][case % 3];
            let block = format.block_elems();
            // Case 0's weight is larger than a 128 KiB binding (split in some legs).
            let rows = if case == 0 {
                700
            } else {
                [1, 7, 13, 64, 70, 200][rng.below(6) as usize]
            };
            let cols = block * rng.range(1, 3) as usize;
            let t = [1, 2, 5, 9][rng.below(4) as usize];
            let view = weight(&mut rng, format, rows, cols);
            let a = rng.q16_bounded(t * cols);
            let mut h = rng.q16(t * rows);
            // Residuals at the ends of the range, so that adds saturate.
            for (i, v) in h.iter_mut().enumerate().filter(|(i, _)| i % 5 == 0) {
                *v = if i % 2 == 0 {
                    i32::MAX - 3
                } else {
                    i32::MIN + 3
                };
            }
            let wc = cpu.weight(view.clone()).unwrap();
            let ic = cpu.quantize(&cpu_rows(a.clone(), cols));
            let y_want = cpu.matmul(&wc, &ic);
            let mut h_want = cpu_rows(h.clone(), rows);
            cpu.add(&mut h_want, &y_want);

            let wg = gpu.weight(view).unwrap();
            let ag = gpu.rows_from_host(&a, cols);
            let ig = gpu.quantize(&ag);
            // Submitted: the matmul would otherwise take it back (quantize on
            // load, tested below on lavapipe).
            gpu.flush();
            let what = format!("{name}: {format:?} {rows}x{cols} times {t}");
            for interleaved in [false, true] {
                let mut hg = gpu.rows_from_host(&h, rows);
                let yg = gpu.matmul(&wg, &ig);
                if interleaved {
                    // Another command between the matmul and the add.
                    let _ = gpu.matmul(&wg, &ig);
                }
                let before = gpu.stats.dispatches;
                gpu.add(&mut hg, &yg);
                let folded = gpu.stats.dispatches == before;
                assert_eq!(
                    folded,
                    !interleaved && wg.parts() == 1,
                    "{what}: folded {folded}"
                );
                same(&gpu.read(&yg).unwrap().concat(), &y_want.data, &what);
                same(&gpu.read(&hg).unwrap().concat(), &h_want.data, &what);
            }
        }
    }
}

/// Q16 rows of `t` tokens of `cols` values for a matmul input, each token's row
/// at its own magnitude (so each has its own exponent), some rows holding the
/// magnitude's extreme (negative: the asymmetric end of the clamp).
fn rows_of_mixed_exponents(rng: &mut Rng, t: usize, cols: usize, top: u32) -> Vec<i32> {
    let mut x = Vec::with_capacity(t * cols);
    for r in 0..t {
        let scale = 1i64 << [8, 12, 16, 20, top][(r + rng.below(5) as usize) % 5];
        let mut row: Vec<i32> = (0..cols)
            .map(|_| rng.range(-scale, scale - 1) as i32)
            .collect();
        if r % 3 == 1 {
            row[rng.below(cols as u64) as usize] = -scale as i32;
        }
        x.extend(row);
    }
    x
}

/// The O and down projections of a decoded token: a matmul recorded right
/// after the quantize of its input (O) takes that dispatch back and quantizes
/// on load (`matmul_load`), and the residual add folds in: one dispatch
/// instead of three. Before the down projection, gate and up join one
/// dispatch, which also writes the SiLU product of each pair (as 64 bits),
/// and the down projection quantizes those on load: two dispatches instead of
/// four. Only when `t * act_stride(cols)` fits 2944 words and the weight one
/// binding, and on the tiled path or where asked for (one per-row leg); else
/// the separate dispatches. Gate, up, the product, the sum
/// (saturating), the quantized input (which the first workgroup writes) and a
/// second matmul of it all equal the CPU's; widths from one block to 1568
/// (SmolLM2's 1536 and 576 among them), 1 to 17 tokens, rows ending inside a
/// workgroup, a split weight. Lavapipe only.
#[test]
fn quantize_and_silu_load_into_the_matmul_and_match_cpu() {
    use WeightFormat::{Q4_1, Q8_0};
    let mut rng = Rng(0x10ad_0f51_11c0_de01);
    let mut cpu = CpuExecutor::with_threads(1);
    for (name, mut gpu) in executors() {
        if !loads_here(&gpu) {
            eprintln!("{name}: not lavapipe, skipped");
            return;
        }
        let mut loaded = 0;
        for case in 0..12 {
            let silu = case % 2 == 1;
            let format = [Q4_1, Q8_0][case / 2 % 2];
            let (rows, cols, t) = match case {
                // Larger than a 128 KiB binding: split on one leg.
                0 => (700, 576, 1),
                1 => (576, 1536, 1),
                2 => (13, 1568, 3),
                3 => (70, 1568, 4),
                _ => (
                    [1, 7, 13, 64, 70, 200][rng.below(6) as usize],
                    32 * rng.range(1, 30) as usize,
                    [1, 2, 3, 5, 8, 17][rng.below(6) as usize],
                ),
            };
            let view = weight(&mut rng, format, rows, cols);
            let mut h = rng.q16(t * rows);
            h[0] = i32::MAX - 1;
            let wc = cpu.weight(view.clone()).unwrap();
            let wg = gpu.weight(view).unwrap();
            let mut hg = gpu.rows_from_host(&h, rows);
            let what = format!("{name}: silu {silu}, {format:?} {rows}x{cols} times {t}");
            let (ic, ig, before, gated) = if silu {
                // Gate and up (`cols` rows each) of a quantized input.
                let width = 32 * rng.range(1, 3) as usize;
                let x = rows_of_mixed_exponents(&mut rng, t, width, 16);
                let (gv, uv) = (
                    weight(&mut rng, Q4_1, cols, width),
                    weight(&mut rng, Q8_0, cols, width),
                );
                let xc = cpu.quantize(&cpu_rows(x.clone(), width));
                let (gc, uc) = (
                    cpu.weight(gv.clone()).unwrap(),
                    cpu.weight(uv.clone()).unwrap(),
                );
                let (gc, uc) = (cpu.matmul(&gc, &xc), cpu.matmul(&uc, &xc));
                let xg = gpu.rows_from_host(&x, width);
                let xg = gpu.quantize(&xg);
                gpu.flush();
                let (wgate, wup) = (gpu.weight(gv).unwrap(), gpu.weight(uv).unwrap());
                let before = gpu.stats.dispatches;
                let (gg, ug) = (gpu.matmul(&wgate, &xg), gpu.matmul(&wup, &xg));
                let ig = gpu.silu_mul(&gg, &ug);
                (cpu.silu_mul(&gc, &uc), ig, before, Some((gg, ug, gc, uc)))
            } else {
                let x = rows_of_mixed_exponents(&mut rng, t, cols, 27);
                let xg = gpu.rows_from_host(&x, cols);
                let before = gpu.stats.dispatches;
                (
                    cpu.quantize(&cpu_rows(x, cols)),
                    gpu.quantize(&xg),
                    before,
                    None,
                )
            };
            let want = cpu.matmul(&wc, &ic);
            let mut h_want = cpu_rows(h, rows);
            cpu.add(&mut h_want, &want);
            let yg = gpu.matmul(&wg, &ig);
            gpu.add(&mut hg, &yg);
            let dispatches = gpu.stats.dispatches - before - u64::from(silu);
            let fits = gpu.quantizes_on_load() && t * (cols / 2 + 1 + cols / 32) <= 2944;
            let want_dispatches = match wg.parts() {
                1 if fits => 1,
                1 => 2,
                parts => 2 + parts as u64,
            };
            assert_eq!(dispatches, want_dispatches, "{what}: dispatches");
            loaded += usize::from(dispatches == 1);
            if let Some((gg, ug, gc, uc)) = gated {
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
            }
            same(&gpu.read(&yg).unwrap().concat(), &want.data, &what);
            same(&gpu.read(&hg).unwrap().concat(), &h_want.data, &what);
            same(
                &gpu.read_input(&ig).unwrap(),
                &ic,
                &format!("{what}: input"),
            );
            if case % 3 == 0 {
                let again = gpu.matmul(&wg, &ig);
                same(&gpu.read(&again).unwrap().concat(), &want.data, &what);
            }
        }
        // The default per-row leg keeps the separate dispatches.
        let least = if gpu.quantizes_on_load() { 6 } else { 0 };
        assert!(loaded >= least, "{name}: only {loaded} of 12 loaded");
    }
}

/// Q, K, V (and gate, up): matmuls of one input recorded one after another
/// join one dispatch (`matmul_join`), formats mixed, rows that end inside a
/// workgroup, 1 to 17 tokens; a weight split across bindings (the 700-row ones
/// on the leg with 128 KiB bindings) takes its own dispatches. Every product
/// equals the CPU's.
#[test]
fn joined_matmuls_match_cpu() {
    use WeightFormat::{Q4_1, Q8_0};
    let mut rng = Rng(0x0f05_ed0f_05ed_0f05);
    let mut cpu = CpuExecutor::with_threads(1);
    for (name, mut gpu) in executors() {
        let mut joined = 0;
        for case in 0..8 {
            let rows = |rng: &mut Rng| [1, 7, 13, 64, 70, 200][rng.below(6) as usize];
            let mut weights = vec![(Q4_1, rows(&mut rng)), (Q8_0, rows(&mut rng))];
            if case % 2 == 0 {
                weights.push(([Q4_1, Q8_0][case / 2 % 2], rows(&mut rng)));
            }
            if case == 3 {
                // Larger than a 128 KiB binding: split on one leg.
                weights[1].1 = 700;
            }
            let cols = 32 * rng.range(1, 24) as usize;
            let t = [1, 2, 5, 8, 9, 17][case % 6];
            let shape = (if case == 3 { 256 } else { cols }, t);
            joined += usize::from(check_joined_matmuls(
                &mut gpu, &mut cpu, &mut rng, &weights, shape, &name,
            ));
        }
        assert!(joined >= 7, "{name}: only {joined} of 8 joined");
    }
}

#[test]
fn embed_matches_cpu() {
    let mut rng = Rng(42);
    let mut cpu = CpuExecutor::with_threads(1);
    for (name, mut gpu) in executors() {
        for format in [WeightFormat::Q4_1, WeightFormat::Q8_0] {
            let (rows, cols) = (4000, 96);
            let view = weight(&mut rng, format, rows, cols);
            let tokens: Vec<u32> = (0..20).map(|_| rng.below(rows as u64 + 5) as u32).collect();
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
                &format!("{name}: {format:?}"),
            );
        }
    }
}

#[test]
fn rms_norm_silu_add_match_cpu() {
    let mut rng = Rng(7);
    let mut cpu = CpuExecutor::with_threads(1);
    for (name, mut gpu) in executors() {
        for _ in 0..16 {
            let cols = 32 * rng.range(1, 50) as usize;
            let t = rng.range(1, 6) as usize;
            let x = rng.q16(t * cols);
            let y = rng.q16(t * cols);
            let gamma: Vec<i32> = (0..cols)
                .map(|_| rng.range(-(1 << 23) + 1, (1 << 23) - 1) as i32)
                .collect();
            let eps = [1e-5f32, 1e-6, 0.0, 3.5][rng.below(4) as usize].to_bits();
            let (xc, yc) = (cpu_rows(x.clone(), cols), cpu_rows(y.clone(), cols));
            let (xg, yg) = (gpu.rows_from_host(&x, cols), gpu.rows_from_host(&y, cols));

            let want = cpu.rms_norm(&xc, &gamma, eps);
            let got = gpu.rms_norm(&xg, &gamma, eps);
            same(
                &gpu.read_input(&got).unwrap(),
                &want,
                &format!("{name}: rms_norm {t}x{cols}"),
            );

            let want = cpu.silu_mul(&xc, &yc);
            let got = gpu.silu_mul(&xg, &yg);
            same(
                &gpu.read_input(&got).unwrap(),
                &want,
                &format!("{name}: silu_mul {t}x{cols}"),
            );

            let mut xc = xc;
            let mut xg = xg;
            cpu.add(&mut xc, &yc);
            gpu.add(&mut xg, &yg);
            same(
                &gpu.read(&xg).unwrap().concat(),
                &xc.data,
                &format!("{name}: add"),
            );
            let last = gpu.last_row(&xg);
            same(
                &gpu.read(&last).unwrap().concat(),
                &cpu.last_row(&xc).data,
                "last_row",
            );
        }
    }
}

#[test]
fn rope_matches_cpu() {
    let mut rng = Rng(99);
    let mut cpu = CpuExecutor::with_threads(1);
    for (name, mut gpu) in executors() {
        for style in [RopeStyle::Interleaved, RopeStyle::Neox] {
            for _ in 0..6 {
                let head_dim = 2 * rng.range(1, 64) as usize;
                let dim = 2 * rng.range(1, head_dim as i64 / 2) as usize;
                let heads = rng.range(1, 5) as usize;
                let t = rng.range(1, 9) as usize;
                let pos0 = rng.range(0, 3000) as usize;
                let base = [10000f32, 100000.0, 1e6][rng.below(3) as usize].to_bits();
                let x = rng.q16(t * heads * head_dim);
                let mut xc = cpu_rows(x.clone(), heads * head_dim);
                cpu.rope(
                    &mut xc,
                    &mut RopeTable::new(dim, base, style),
                    head_dim,
                    pos0,
                );
                let mut xg = gpu.rows_from_host(&x, heads * head_dim);
                gpu.rope(
                    &mut xg,
                    &mut RopeTable::new(dim, base, style),
                    head_dim,
                    pos0,
                );
                same(
                    &gpu.read(&xg).unwrap().concat(),
                    &xc.data,
                    &format!("{name}: {style:?} dim {dim} of {head_dim}, pos {pos0}"),
                );
            }
        }
    }
}

/// The keys' RoPE recorded right after the queries' (same table, positions and
/// head size) joins its dispatch; both rotations still equal the CPU's. Keys
/// at other positions take a dispatch of their own.
#[test]
fn keys_rope_joins_the_queries_dispatch_and_matches_cpu() {
    let mut rng = Rng(0x0e0e_1234);
    let mut cpu = CpuExecutor::with_threads(1);
    for (name, mut gpu) in executors() {
        for (case, style) in [RopeStyle::Interleaved, RopeStyle::Neox, RopeStyle::Neox]
            .into_iter()
            .enumerate()
        {
            let head_dim = 2 * rng.range(1, 64) as usize;
            let dim = 2 * rng.range(1, head_dim as i64 / 2) as usize;
            let (q_heads, k_heads) = (rng.range(2, 9) as usize, rng.range(1, 3) as usize);
            let t = rng.range(1, 9) as usize;
            let pos0 = rng.range(0, 3000) as usize;
            // The last case rotates the keys at other positions: no join.
            let k_pos0 = if case == 2 { pos0 + 1 } else { pos0 };
            let base = [10000f32, 1e6][rng.below(2) as usize].to_bits();
            let q = rng.q16(t * q_heads * head_dim);
            let k = rng.q16(t * k_heads * head_dim);
            let mut table = RopeTable::new(dim, base, style);
            let mut qc = cpu_rows(q.clone(), q_heads * head_dim);
            let mut kc = cpu_rows(k.clone(), k_heads * head_dim);
            cpu.rope(&mut qc, &mut table, head_dim, pos0);
            cpu.rope(&mut kc, &mut table, head_dim, k_pos0);
            let mut table = RopeTable::new(dim, base, style);
            let mut qg = gpu.rows_from_host(&q, q_heads * head_dim);
            let mut kg = gpu.rows_from_host(&k, k_heads * head_dim);
            let before = gpu.stats.dispatches;
            gpu.rope(&mut qg, &mut table, head_dim, pos0);
            gpu.rope(&mut kg, &mut table, head_dim, k_pos0);
            let what =
                format!("{name}: {style:?} dim {dim} of {head_dim}, {q_heads}+{k_heads} heads");
            assert_eq!(
                gpu.stats.dispatches - before,
                if case == 2 { 2 } else { 1 },
                "{what}: dispatches"
            );
            same(&gpu.read(&qg).unwrap().concat(), &qc.data, &what);
            same(&gpu.read(&kg).unwrap().concat(), &kc.data, &what);
        }
    }
}

/// The queries' and keys' RoPE recorded right before their attention folds into
/// the KV store dispatch (two dispatches instead of three): the attention, and
/// the rotated queries and keys read back, equal the CPU's, for interleaved and
/// NeoX pairs, partial rotary dimensions and heads up to 256 wide, over a
/// prompt and decode steps, one of which grows the cache. Keys rotated at other positions than the queries
/// (no joined RoPE) take the unfolded path.
#[test]
fn rope_folds_into_the_kv_store_and_matches_cpu() {
    let mut rng = Rng(0x0f01_d0e5);
    let mut cpu = CpuExecutor::with_threads(1);
    for (name, mut gpu) in executors() {
        for case in 0..4 {
            let style = [RopeStyle::Interleaved, RopeStyle::Neox][case % 2];
            let n_head_kv = rng.range(1, 3) as usize;
            let n_head = n_head_kv * rng.range(1, 3) as usize;
            let head_dim = [2, 8, 64, 96, 256][rng.below(5) as usize];
            let dim = 2 * rng.range(1, head_dim as i64 / 2) as usize;
            let shape = AttnShape {
                n_head,
                n_head_kv,
                head_dim,
                window: None,
            };
            let base = [10000f32, 1e6][rng.below(2) as usize].to_bits();
            let (mut ct, mut gt) = (
                RopeTable::new(dim, base, style),
                RopeTable::new(dim, base, style),
            );
            let mut cc = cpu.new_cache(shape);
            let mut gc = gpu.new_cache(shape);
            let mut pos = 0;
            // The second decode step grows the cache (16 positions at first),
            // recording copies between the RoPE and the attention.
            for t in [rng.range(12, 15) as usize, 1, 1, 1] {
                // The last case rotates the keys one position on: no fold.
                let k_pos = if case == 3 { pos + 1 } else { pos };
                let what = format!(
                    "{name}: {style:?} dim {dim} of {head_dim}, heads {n_head}/{n_head_kv}, {t} rows at {pos}"
                );
                let qd = rng.q16(t * n_head * head_dim);
                let kd = rng.q16(t * n_head_kv * head_dim);
                let vd = rng.q16(t * n_head_kv * head_dim);
                let mut qc = cpu_rows(qd.clone(), n_head * head_dim);
                let mut kc = cpu_rows(kd.clone(), n_head_kv * head_dim);
                cpu.rope(&mut qc, &mut ct, head_dim, pos);
                cpu.rope(&mut kc, &mut ct, head_dim, k_pos);
                let vc = cpu_rows(vd.clone(), n_head_kv * head_dim);
                let want = cpu.attention(&mut cc, &qc, &kc, &vc, pos);

                let mut q = gpu.rows_from_host(&qd, n_head * head_dim);
                let mut k = gpu.rows_from_host(&kd, n_head_kv * head_dim);
                let v = gpu.rows_from_host(&vd, n_head_kv * head_dim);
                let before = gpu.stats.dispatches;
                gpu.rope(&mut q, &mut gt, head_dim, pos);
                gpu.rope(&mut k, &mut gt, head_dim, k_pos);
                let got = gpu.attention(&mut gc, &q, &k, &v, pos);
                assert_eq!(
                    gpu.stats.dispatches - before,
                    if case == 3 { 4 } else { 2 },
                    "{what}: dispatches"
                );
                same(&gpu.read(&got).unwrap().concat(), &want.data, &what);
                same(&gpu.read(&q).unwrap().concat(), &qc.data, &what);
                same(&gpu.read(&k).unwrap().concat(), &kc.data, &what);
                pos += t;
            }
        }
    }
}

#[test]
fn attention_matches_cpu() {
    let mut rng = Rng(2024);
    let mut cpu = CpuExecutor::with_threads(1);
    for (name, mut gpu) in executors() {
        for case in 0..10 {
            let n_head_kv = rng.range(1, 3) as usize;
            let n_head = n_head_kv * rng.range(1, 3) as usize;
            let head_dim = [2, 8, 64, 96, 256][rng.below(5) as usize];
            let window = if case % 3 == 2 {
                Some(rng.range(1, 20) as usize)
            } else {
                None
            };
            let shape = AttnShape {
                n_head,
                n_head_kv,
                head_dim,
                window,
            };
            // A prompt, a few decode steps, then a rewind by two positions and a
            // different continuation.
            let p = rng.range(1, 70) as usize;
            let steps = [(p, None), (1, None), (1, None), (3, None), (1, Some(p + 3))];
            check_attention_steps(
                &mut cpu,
                &mut gpu,
                shape,
                &steps,
                &mut |n| rng.q16(n),
                &format!("{name}: heads {n_head}/{n_head_kv} x {head_dim}"),
            );
        }
    }
}

/// Long contexts (the golden corpus's ~670-token case runs in `make golden-gpu-full`):
/// a prompt of two batches up to 520 positions, then decode steps, with and
/// without a sliding window shorter than the context. The scratch is split
/// into many row chunks on the leg with 128 KiB bindings.
#[test]
fn attention_over_long_contexts_matches_cpu() {
    let mut rng = Rng(670);
    let mut cpu = CpuExecutor::with_threads(1);
    for (name, mut gpu) in executors() {
        for window in [None, Some(500)] {
            let shape = AttnShape {
                n_head: 2,
                n_head_kv: 1,
                head_dim: 64,
                window,
            };
            let steps = [(300, None), (220, None), (1, None), (1, None)];
            check_attention_steps(
                &mut cpu,
                &mut gpu,
                shape,
                &steps,
                &mut |n| rng.q16(n),
                &name,
            );
        }
    }
}

#[test]
fn self_test_passes_on_this_device() {
    for (name, mut gpu) in executors() {
        let started = std::time::Instant::now();
        gpu.precompile();
        let compiled = started.elapsed();
        let failed = verbatim::gpu::selftest::run(&mut gpu).unwrap();
        assert!(failed.is_empty(), "{name}: self-test failed: {failed:?}");
        eprintln!(
            "{name}: pipelines {:.0} ms, self-test {:.0} ms",
            compiled.as_secs_f64() * 1e3,
            (started.elapsed() - compiled).as_secs_f64() * 1e3
        );
    }
}

#[test]
fn a_lost_device_is_reported_not_hidden() {
    let mut rng = Rng(5);
    let mut gpu = GpuExecutor::new_blocking(GpuOptions::default()).unwrap();
    let x = rng.q16(4 * 64);
    let rows = gpu.rows_from_host(&x, 64);
    assert_eq!(gpu.read(&rows).unwrap().concat(), x);
    gpu.lose_device();
    let mut y = gpu.rows_from_host(&x, 64);
    gpu.add(&mut y, &rows);
    let err = gpu
        .read(&y)
        .expect_err("a read after the device is gone must fail");
    let msg = err.to_string();
    assert!(
        msg.contains("GPU device was lost"),
        "unclear message: {msg}"
    );
    eprintln!("reported: {msg}");
}
