//! WGSL assembly and the compiled-pipeline cache. A kernel's module is the
//! shared integer library (`int64`, `f16`, `reduce`, and where needed `exp`,
//! `act_write`, a `dot4` flavour) followed by the kernel itself; pipelines are
//! compiled once per (kernel, weight format) and kept.

use crate::exact::math::exp2_table;
use crate::exact::quant::WeightFormat;
use std::collections::HashMap;
use std::fmt::Write;

const INT64: &str = include_str!("wgsl/int64.wgsl");
const F16: &str = include_str!("wgsl/f16.wgsl");
const REDUCE: &str = include_str!("wgsl/reduce.wgsl");
const EXP: &str = include_str!("wgsl/exp.wgsl");
const ACT_WRITE: &str = include_str!("wgsl/act_write.wgsl");
const DOT4_BUILTIN: &str = include_str!("wgsl/dot4_builtin.wgsl");
const DOT4_FALLBACK: &str = include_str!("wgsl/dot4_fallback.wgsl");

/// A compute kernel (and its weight format where it reads weights).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kernel {
    Embed(WeightFormat),
    Matmul(WeightFormat),
    RmsNorm,
    Rope,
    KvStore,
    Attention,
    SiluMul,
    Quantize,
    Add,
}

impl Kernel {
    /// Every kernel, for tests and pre-compilation.
    pub const ALL: [Kernel; 11] = [
        Kernel::Embed(WeightFormat::Q4_1),
        Kernel::Embed(WeightFormat::Q8_0),
        Kernel::Matmul(WeightFormat::Q4_1),
        Kernel::Matmul(WeightFormat::Q8_0),
        Kernel::RmsNorm,
        Kernel::Rope,
        Kernel::KvStore,
        Kernel::Attention,
        Kernel::SiluMul,
        Kernel::Quantize,
        Kernel::Add,
    ];

    fn body(self) -> &'static str {
        match self {
            Kernel::Embed(_) => super::embed::SOURCE,
            Kernel::Matmul(_) => super::matmul::SOURCE,
            Kernel::RmsNorm => super::rms_norm::SOURCE,
            Kernel::Rope => super::rope::SOURCE,
            Kernel::KvStore => super::attention::KV_STORE_SOURCE,
            Kernel::Attention => super::attention::SOURCE,
            Kernel::SiluMul => super::silu_mul::SOURCE,
            Kernel::Quantize => super::quantize::SOURCE,
            Kernel::Add => super::add::SOURCE,
        }
    }

    fn format(self) -> Option<WeightFormat> {
        match self {
            Kernel::Embed(f) | Kernel::Matmul(f) => Some(f),
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
    let format = match kernel.format() {
        Some(WeightFormat::Q8_0) => "FORMAT_Q8_0",
        _ => "FORMAT_Q4_1",
    };
    let _ = writeln!(s, "const FORMAT: u32 = {format};");
    if matches!(kernel, Kernel::SiluMul | Kernel::Attention) {
        s.push_str("const EXP2 = array<u32, 257>(");
        for (i, v) in exp2_table().iter().enumerate() {
            if i > 0 {
                s.push_str(", ");
            }
            let _ = write!(s, "{v}u");
        }
        s.push_str(");\n");
        s.push_str(EXP);
    }
    if matches!(kernel, Kernel::SiluMul | Kernel::RmsNorm | Kernel::Quantize) {
        s.push_str(ACT_WRITE);
    }
    if matches!(kernel, Kernel::Matmul(_)) {
        s.push_str(if dot4 { DOT4_BUILTIN } else { DOT4_FALLBACK });
    }
    s.push_str(kernel.body());
    s
}

/// Compiled pipelines by kernel.
pub struct Pipelines {
    dot4: bool,
    compiled: HashMap<Kernel, wgpu::ComputePipeline>,
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

    pub fn get(&mut self, device: &wgpu::Device, kernel: Kernel) -> &wgpu::ComputePipeline {
        let dot4 = self.dot4;
        self.compiled.entry(kernel).or_insert_with(|| {
            let label = format!("{kernel:?}");
            let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
                label: Some(&label),
                source: wgpu::ShaderSource::Wgsl(source(kernel, dot4).into()),
            });
            device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: Some(&label),
                layout: None,
                module: &module,
                entry_point: Some("main"),
                compilation_options: Default::default(),
                cache: None,
            })
        })
    }
}
