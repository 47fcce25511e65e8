//! Acquiring a device: the adapter, the limits the executor asks for, and the
//! WGSL language extension `packed_4x8_integer_dot_product` when present
//! (<https://www.w3.org/TR/WGSL/#language_extension-packed_4x8_integer_dot_product>).

#![cfg_attr(target_arch = "wasm32", allow(clippy::arc_with_non_send_sync))]

use super::shader::Pipelines;
use super::{GpuExecutor, GpuStats, Pool};
use crate::exec::ExecError;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Choices a caller (or a test) makes about the executor.
#[derive(Debug, Clone, Default)]
pub struct GpuOptions {
    /// Use the byte-by-byte fallback even where `dot4I8Packed` exists.
    pub no_dot4: bool,
    /// Bind at most this many bytes per storage buffer (tests lower it to force
    /// weight splitting); the device's own limit applies anyway.
    pub max_binding: Option<u64>,
    /// Which matmul kernel to use.
    pub matmul: MatmulKernel,
    /// Whether matmuls quantize their inputs on load (`matmul_load`; None: on
    /// the tiled path only, since the loading kernels compile slowly on
    /// SwiftShader and do not speed up lavapipe, docs/gpu.md).
    pub quantize_on_load: Option<bool>,
}

/// The two matmul kernels (equal results; they differ in speed by device).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum MatmulKernel {
    /// Per row on GPUs emulated by the CPU, tiled on real GPUs.
    #[default]
    Auto,
    /// 8 rows x 8 lanes per workgroup, partial sums meeting in workgroup memory.
    Tiled,
    /// One invocation per output row (and 8 tokens), no workgroup memory.
    PerRow,
}

/// What ran the kernels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdapterSummary {
    pub name: String,
    /// PCI vendor and device ids as the driver reports them (0 where unknown).
    pub vendor: u32,
    pub device: u32,
    pub backend: String,
    pub driver: String,
    pub device_type: String,
    /// Whether `dot4I8Packed` / `dot4U8Packed` are used.
    pub dot4: bool,
    /// Whether matmuls use the per-row kernel (else the tiled one).
    pub matmul_per_row: bool,
    pub max_binding: u64,
}

impl std::fmt::Display for AdapterSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let name = if self.name.is_empty() {
            "WebGPU adapter"
        } else {
            &self.name
        };
        write!(f, "{name} ({}", self.backend)?;
        if !self.driver.is_empty() {
            write!(f, ", {}", self.driver)?;
        }
        write!(
            f,
            ", {}, {} matmul, max binding {})",
            if self.dot4 { "dot4I8Packed" } else { "no dot4" },
            if self.matmul_per_row {
                "per-row"
            } else {
                "tiled"
            },
            if self.max_binding >= 1 << 20 {
                format!("{} MiB", self.max_binding >> 20)
            } else {
                format!("{} KiB", self.max_binding >> 10)
            }
        )
    }
}

impl GpuExecutor {
    /// Opens the default adapter (Vulkan natively, WebGPU in the browser).
    pub async fn new(opts: GpuOptions) -> Result<Self, ExecError> {
        #[cfg(target_arch = "wasm32")]
        let backends = wgpu::Backends::BROWSER_WEBGPU;
        #[cfg(not(target_arch = "wasm32"))]
        let backends = wgpu::Backends::VULKAN;
        let mut desc = wgpu::InstanceDescriptor::new_without_display_handle();
        desc.backends = backends;
        let instance = wgpu::Instance::new(desc);
        let adapter = instance
            .request_adapter(&wgpu::RequestAdapterOptions::default())
            .await
            .map_err(|e| ExecError::Device(format!("no GPU adapter is available: {e}")))?;
        let info = adapter.get_info();
        let have = adapter.limits();
        let dot4 = !opts.no_dot4
            && instance
                .wgsl_language_features()
                .contains(wgpu::WgslLanguageFeatures::Packed4x8IntegerDotProduct);
        let mut limits = wgpu::Limits::defaults();
        limits.max_storage_buffer_binding_size = have.max_storage_buffer_binding_size;
        limits.max_buffer_size = have.max_buffer_size;
        limits.max_storage_buffers_per_shader_stage =
            have.max_storage_buffers_per_shader_stage.min(10);
        if have.max_storage_buffers_per_shader_stage < 8 {
            return Err(ExecError::Device(format!(
                "{} binds {} storage buffers per shader; Verbatim's kernels need 8",
                info.name, have.max_storage_buffers_per_shader_stage
            )));
        }
        let (device, queue) = adapter
            .request_device(&wgpu::DeviceDescriptor {
                label: Some("verbatim"),
                required_features: wgpu::Features::empty(),
                required_limits: limits.clone(),
                ..Default::default()
            })
            .await
            .map_err(|e| ExecError::Device(format!("the GPU refused a device: {e}")))?;
        let lost: Arc<Mutex<Option<String>>> = Arc::default();
        let l = lost.clone();
        device.set_device_lost_callback(move |reason, msg| {
            if let Ok(mut s) = l.lock() {
                s.get_or_insert_with(|| {
                    let detail = if msg.is_empty() {
                        String::new()
                    } else {
                        format!(": {msg}")
                    };
                    format!("the GPU device was lost ({reason:?}){detail}")
                });
            }
        });
        let failed: Arc<Mutex<Option<String>>> = Arc::default();
        let l = failed.clone();
        device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| {
            if let Ok(mut s) = l.lock() {
                s.get_or_insert_with(|| format!("GPU error: {e}"));
            }
        }));
        let max_binding = limits
            .max_storage_buffer_binding_size
            .min(limits.max_buffer_size)
            .min(opts.max_binding.unwrap_or(u64::MAX))
            / 256
            * 256;
        let summary_per_row = match opts.matmul {
            MatmulKernel::Auto => info.device_type == wgpu::DeviceType::Cpu,
            MatmulKernel::Tiled => false,
            MatmulKernel::PerRow => true,
        };
        let summary = AdapterSummary {
            name: info.name.clone(),
            vendor: info.vendor,
            device: info.device,
            backend: format!("{:?}", info.backend),
            driver: [info.driver.as_str(), info.driver_info.as_str()]
                .iter()
                .filter(|s| !s.is_empty())
                .copied()
                .collect::<Vec<_>>()
                .join(" "),
            device_type: format!("{:?}", info.device_type),
            dot4,
            matmul_per_row: summary_per_row,
            max_binding,
        };
        Ok(GpuExecutor {
            uniform_align: limits.min_uniform_buffer_offset_alignment.max(16) as u64,
            device,
            queue,
            summary,
            pipelines: Pipelines::new(dot4),
            pool: Arc::new(Mutex::new(Pool::default())),
            commands: Vec::new(),
            params: Vec::new(),
            params_buf: None,
            max_binding,
            ropes: HashMap::new(),
            weights: HashMap::new(),
            constants: HashMap::new(),
            exp2: None,
            lost,
            failed,
            open_matmul: None,
            open_rope: None,
            open_load: None,
            quantize_on_load: opts.quantize_on_load.unwrap_or(!summary_per_row),
            spare: None,
            stats: GpuStats::default(),
        })
    }

    /// [`GpuExecutor::new`], blocking (native only).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn new_blocking(opts: GpuOptions) -> Result<Self, ExecError> {
        pollster::block_on(Self::new(opts))
    }
}
