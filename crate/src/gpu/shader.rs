//! WGSL assembly and the compiled-pipeline cache. A kernel's module is the
//! shared integer library (`int64`, `f16`, `reduce`, and where needed `int128`,
//! `rms_factor`, `exp`, `act_write`, a `dot4` flavour and `matmul_block`) followed by the kernel itself; pipelines are
//! compiled once per (kernel, weight format) and kept.

use super::matmul_join::{Join, Product};
use super::matmul_load::{Load, LoadSource};
use crate::exact::math::exp2_table;
use crate::exact::quant::WeightFormat;
use std::collections::HashMap;
use std::fmt::Write;

const INT64: &str = include_str!("wgsl/int64.wgsl");
const F16: &str = include_str!("wgsl/f16.wgsl");
const REDUCE: &str = include_str!("wgsl/reduce.wgsl");
const INT128: &str = include_str!("wgsl/int128.wgsl");
const RMS_FACTOR: &str = include_str!("wgsl/rms_factor.wgsl");
const EXP: &str = include_str!("wgsl/exp.wgsl");
const GELU: &str = include_str!("wgsl/gelu.wgsl");
const ACT_WRITE: &str = include_str!("wgsl/act_write.wgsl");
const DOT4_BUILTIN: &str = include_str!("wgsl/dot4_builtin.wgsl");
const DOT4_FALLBACK: &str = include_str!("wgsl/dot4_fallback.wgsl");
const MATMUL_BIND: &str = include_str!("wgsl/matmul_bind.wgsl");
const MATMUL_BLOCK: &str = include_str!("wgsl/matmul_block.wgsl");

/// A compute kernel (and its weight format where it reads weights).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kernel {
    Embed(WeightFormat),
    Matmul(WeightFormat),
    /// Matmul with one invocation per output element (no workgroup memory).
    MatmulRows(WeightFormat),
    /// Two or three matmuls of one input in one dispatch (`matmul_join`).
    MatmulJoin(Join),
    /// A matmul that quantizes its input on load (`matmul_load`).
    MatmulLoad(Load),
    RmsNorm,
    Rope,
    KvStore,
    Attention,
    SiluMul,
    Quantize,
    Add,
    // Spec exact-2's gemma3 operations.
    Scale,
    RmsNormWide,
    RmsNormQ16,
    GeluMul,
}

impl Kernel {
    /// Every kernel, for tests and pre-compilation.
    pub const ALL: [Kernel; 27] = [
        Kernel::Embed(WeightFormat::Q4_1),
        Kernel::Embed(WeightFormat::Q8_0),
        Kernel::Matmul(WeightFormat::Q4_1),
        Kernel::Matmul(WeightFormat::Q8_0),
        Kernel::MatmulRows(WeightFormat::Q4_1),
        Kernel::MatmulRows(WeightFormat::Q8_0),
        // SmolLM2's Q, K, V and gate, up (with the SiLU product).
        Kernel::MatmulJoin(Join::q4_1(false, 3, None)),
        Kernel::MatmulJoin(Join::q4_1(false, 2, None)),
        Kernel::MatmulJoin(Join::q4_1(false, 2, Some(Product::Silu))),
        Kernel::MatmulJoin(Join::q4_1(true, 3, None)),
        Kernel::MatmulJoin(Join::q4_1(true, 2, None)),
        Kernel::MatmulJoin(Join::q4_1(true, 2, Some(Product::Silu))),
        // SmolLM2's O and down, quantizing on load.
        Kernel::MatmulLoad(Load::q4_1(false, LoadSource::Q16)),
        Kernel::MatmulLoad(Load::q4_1(false, LoadSource::Wide)),
        Kernel::MatmulLoad(Load::q4_1(true, LoadSource::Q16)),
        Kernel::MatmulLoad(Load::q4_1(true, LoadSource::Wide)),
        Kernel::RmsNorm,
        Kernel::Rope,
        Kernel::KvStore,
        Kernel::Attention,
        Kernel::SiluMul,
        Kernel::Quantize,
        Kernel::Add,
        Kernel::Scale,
        Kernel::RmsNormWide,
        Kernel::RmsNormQ16,
        Kernel::GeluMul,
    ];

    /// Every kernel in every weight format: [`Kernel::ALL`] has the format-bound
    /// kernels in spec exact-1's formats only (those are compiled ahead of use by
    /// `GpuExecutor::precompile`, the others on first use).
    #[cfg(all(test, not(target_arch = "wasm32")))]
    pub fn every() -> Vec<Kernel> {
        let mut all: Vec<Kernel> = Self::ALL
            .into_iter()
            .filter(|k| k.format().is_none())
            .collect();
        for f in super::formats::FORMATS {
            all.extend([Kernel::Embed(f), Kernel::Matmul(f), Kernel::MatmulRows(f)]);
        }
        // Each format joined with itself and a mixed triple, both work splits
        // (the exact-1 pairs and triples are in ALL).
        use WeightFormat::{Q4K, Q4_0, Q5K, Q6K, Q8_0};
        for per_row in [false, true] {
            let mut joins: Vec<[Option<WeightFormat>; super::matmul_join::MAX_JOIN]> =
                super::formats::FORMATS
                    .into_iter()
                    .filter(|&f| f != WeightFormat::Q4_1)
                    .map(|f| [Some(f), Some(f), Some(f)])
                    .collect();
            joins.push([Some(Q4K), Some(Q4K), Some(Q6K)]);
            joins.push([Some(Q5K), Some(Q8_0), None]);
            joins.push([Some(Q6K), Some(Q4_0), None]);
            all.extend(joins.into_iter().map(|formats| {
                Kernel::MatmulJoin(Join {
                    per_row,
                    formats,
                    product: None,
                })
            }));
            // Gated gate and up pairs (Gemma's Q4_K pair with GELU).
            for (formats, product) in [
                ([Some(Q4K), Some(Q4K), None], Product::Gelu),
                ([Some(Q8_0), Some(Q4_0), None], Product::Silu),
            ] {
                all.push(Kernel::MatmulJoin(Join {
                    per_row,
                    formats,
                    product: Some(product),
                }));
            }
            // Every format quantizing on load from Q16 rows, a few from
            // 64-bit products (the input stage does not depend on the format).
            for format in super::formats::FORMATS {
                if format != WeightFormat::Q4_1 {
                    all.push(Kernel::MatmulLoad(Load {
                        format,
                        per_row,
                        source: LoadSource::Q16,
                    }));
                }
            }
            for format in [Q6K, Q8_0] {
                all.push(Kernel::MatmulLoad(Load {
                    format,
                    per_row,
                    source: LoadSource::Wide,
                }));
            }
        }
        all
    }

    fn body(self) -> &'static str {
        match self {
            Kernel::Embed(_) => super::embed::SOURCE,
            Kernel::Matmul(_) => super::matmul::SOURCE,
            Kernel::MatmulRows(_) => super::matmul::ROWS_SOURCE,
            Kernel::MatmulJoin(_) | Kernel::MatmulLoad(_) => "",
            Kernel::RmsNorm => super::rms_norm::SOURCE,
            Kernel::Rope => super::rope::SOURCE,
            Kernel::KvStore => super::attention::KV_STORE_SOURCE,
            Kernel::Attention => super::attention::SOURCE,
            Kernel::SiluMul => super::silu_mul::SOURCE,
            Kernel::Quantize => super::quantize::SOURCE,
            Kernel::Add => super::add::SOURCE,
            Kernel::Scale => super::scale::SOURCE,
            Kernel::RmsNormWide => super::rms_norm_wide::SOURCE,
            Kernel::RmsNormQ16 => super::rms_norm_q16::SOURCE,
            Kernel::GeluMul => super::gelu_mul::SOURCE,
        }
    }

    fn format(self) -> Option<WeightFormat> {
        match self {
            Kernel::Embed(f) | Kernel::Matmul(f) | Kernel::MatmulRows(f) => Some(f),
            _ => None,
        }
    }
}

/// The complete WGSL module of `kernel`.
pub fn source(kernel: Kernel, dot4: bool) -> String {
    let mut s = String::new();
    s.push_str(INT64);
    s.push_str(F16);
    s.push_str(REDUCE);
    let norm = matches!(
        kernel,
        Kernel::RmsNorm | Kernel::RmsNormWide | Kernel::RmsNormQ16
    );
    if norm || kernel == Kernel::Scale {
        s.push_str(INT128);
    }
    if norm {
        s.push_str(RMS_FACTOR);
    }
    let gated = matches!(kernel, Kernel::MatmulJoin(j) if j.product.is_some());
    if gated
        || matches!(
            kernel,
            Kernel::SiluMul | Kernel::GeluMul | Kernel::Attention
        )
    {
        // The table is a storage binding (the kernel's last), not a WGSL const:
        // dynamically indexing a const array makes compilers copy it per call.
        let binding = match kernel {
            Kernel::SiluMul | Kernel::GeluMul => 5,
            Kernel::MatmulJoin(_) => 7,
            _ => 8,
        };
        let _ = writeln!(
            s,
            "@group(0) @binding({binding}) var<storage, read> EXP2: array<u32, {}>;",
            exp2_table().len()
        );
        s.push_str(EXP);
    }
    if matches!(
        kernel,
        Kernel::GeluMul
            | Kernel::MatmulJoin(Join {
                product: Some(Product::Gelu),
                ..
            })
    ) {
        s.push_str(GELU);
    }
    if matches!(
        kernel,
        Kernel::SiluMul
            | Kernel::GeluMul
            | Kernel::RmsNorm
            | Kernel::RmsNormWide
            | Kernel::Quantize
    ) {
        s.push_str(ACT_WRITE);
    }
    if let Kernel::MatmulJoin(join) = kernel {
        s.push_str(if dot4 { DOT4_BUILTIN } else { DOT4_FALLBACK });
        super::matmul_join::source(join, MATMUL_BLOCK, &mut s);
        return s;
    }
    if let Kernel::MatmulLoad(load) = kernel {
        s.push_str(if dot4 { DOT4_BUILTIN } else { DOT4_FALLBACK });
        super::matmul_load::source(load, MATMUL_BIND, MATMUL_BLOCK, &mut s);
        return s;
    }
    if matches!(kernel, Kernel::Matmul(_) | Kernel::MatmulRows(_)) {
        s.push_str(if dot4 { DOT4_BUILTIN } else { DOT4_FALLBACK });
        s.push_str(MATMUL_BIND);
        s.push_str(MATMUL_BLOCK);
    }
    // The format file reads the kernel's weight binding `w` and is read by it
    // (WGSL resolves module-scope names in any order).
    s.push_str(kernel.body());
    if let Some(format) = kernel.format() {
        s.push_str(super::formats::COMMON);
        s.push_str(super::formats::source(format));
    }
    s
}

/// Compiled pipelines by kernel.
pub struct Pipelines {
    dot4: bool,
    /// Each pipeline with its bind group layout (fetched once, not per dispatch).
    compiled: HashMap<Kernel, (wgpu::ComputePipeline, wgpu::BindGroupLayout)>,
}

impl Pipelines {
    pub fn new(dot4: bool) -> Self {
        Self {
            dot4,
            compiled: HashMap::new(),
        }
    }

    pub fn dot4(&self) -> bool {
        self.dot4
    }

    pub fn get(
        &mut self,
        device: &wgpu::Device,
        kernel: Kernel,
    ) -> (&wgpu::ComputePipeline, &wgpu::BindGroupLayout) {
        let dot4 = self.dot4;
        let (p, l) = self.compiled.entry(kernel).or_insert_with(|| {
            let label = format!("{kernel:?}");
            let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
                label: Some(&label),
                source: wgpu::ShaderSource::Wgsl(source(kernel, dot4).into()),
            });
            let pipeline = device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: Some(&label),
                layout: None,
                module: &module,
                entry_point: Some("main"),
                compilation_options: Default::default(),
                cache: None,
            });
            let layout = pipeline.get_bind_group_layout(0);
            (pipeline, layout)
        });
        (p, l)
    }
}

// naga is a native dev-dependency: these tests do not build on wasm32.
#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use naga::{Expression, Literal, ScalarKind, TypeInner};

    fn parse(kernel: Kernel, dot4: bool) -> naga::Module {
        let src = source(kernel, dot4);
        let module = naga::front::wgsl::parse_str(&src)
            .unwrap_or_else(|e| panic!("{kernel:?}: {}", e.emit_to_string(&src)));
        naga::valid::Validator::new(
            naga::valid::ValidationFlags::all(),
            naga::valid::Capabilities::all(),
        )
        .validate(&module)
        .unwrap_or_else(|e| panic!("{kernel:?} does not validate: {e:?}"));
        module
    }

    fn is_float(inner: &TypeInner) -> bool {
        match inner {
            TypeInner::Scalar(s) | TypeInner::Vector { scalar: s, .. } | TypeInner::Atomic(s) => {
                s.kind == ScalarKind::Float
            }
            TypeInner::Matrix { .. } => true,
            _ => false,
        }
    }

    fn float_literal(e: &Expression) -> bool {
        matches!(
            e,
            Expression::Literal(
                Literal::F16(_) | Literal::F32(_) | Literal::F64(_) | Literal::AbstractFloat(_)
            )
        )
    }

    /// Every float type, float literal and conversion to float in `m`.
    fn float_uses(m: &naga::Module) -> Vec<String> {
        let mut found = Vec::new();
        for (_, ty) in m.types.iter() {
            if is_float(&ty.inner) {
                found.push(format!("type {:?}", ty.inner));
            }
        }
        let mut exprs: Vec<&naga::Arena<Expression>> = vec![&m.global_expressions];
        exprs.extend(m.functions.iter().map(|(_, f)| &f.expressions));
        exprs.extend(m.entry_points.iter().map(|ep| &ep.function.expressions));
        for arena in exprs {
            for (_, e) in arena.iter() {
                let conv = matches!(
                    e,
                    Expression::As {
                        kind: ScalarKind::Float,
                        ..
                    }
                );
                if float_literal(e) || conv {
                    found.push(format!("{e:?}"));
                }
            }
        }
        found
    }

    /// The exact path may not touch floats: no float type, float literal or
    /// conversion anywhere in any kernel, in either dot4 flavour.
    #[test]
    fn kernels_are_integer_only_and_valid() {
        for dot4 in [true, false] {
            for kernel in Kernel::every() {
                let uses = float_uses(&parse(kernel, dot4));
                assert!(uses.is_empty(), "{kernel:?} uses floats: {uses:?}");
            }
        }
    }

    #[test]
    fn the_float_check_sees_floats() {
        for src in [
            "fn f(x: u32) -> u32 { return u32(f32(x) * 0.5); }",
            "fn f(x: u32) -> u32 { let y = 2.0; return x; }",
            "var<private> v: vec2<f32>;",
        ] {
            let m = naga::front::wgsl::parse_str(src).unwrap();
            assert!(!float_uses(&m).is_empty(), "missed the float in {src}");
        }
    }

    #[test]
    fn dot4_flavours_differ_only_in_the_builtins() {
        for format in crate::gpu::formats::FORMATS {
            let with = source(Kernel::Matmul(format), true);
            let without = source(Kernel::Matmul(format), false);
            assert!(with.contains("dot4I8Packed(") && !without.contains("dot4I8Packed("));
        }
        for kernel in Kernel::every() {
            if let Kernel::MatmulJoin(_) | Kernel::MatmulLoad(_) = kernel {
                assert!(source(kernel, true).contains("dot4I8Packed("));
                assert!(!source(kernel, false).contains("dot4I8Packed("));
            }
        }
    }

    #[test]
    fn every_kernel_is_listed_once() {
        let every = Kernel::every();
        assert_eq!(
            every.len(),
            15 + 3 * crate::gpu::formats::FORMATS.len()
                + 2 * 10
                + 2
                + 4
                + 2 * (2 + crate::gpu::formats::FORMATS.len() + 1)
        );
        assert!(Kernel::ALL.iter().all(|k| every.contains(k)));
    }
}
