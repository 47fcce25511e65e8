//! The GPU executor: spec `exact-1` (docs/numerics.md) in WGSL compute shaders
//! driven by `wgpu`, on WebGPU in the browser and on Vulkan natively.
//!
//! Every kernel is integer-only: 64-bit values are emulated with `vec2<u32>`
//! (`wgsl/int64.wgsl`), reductions are max or wrapping sums (order-independent),
//! so neither the workgroup size nor the device can change a bit; the CPU
//! executor (`crate::cpu`) is the reference each kernel is tested against.
//! One `.rs` + `.wgsl` pair per kernel. Work is recorded and submitted in one
//! command buffer when a result is read back, so a decoded token costs one
//! CPU-GPU synchronisation (the logits read-back); weights and the KV cache stay
//! on the device.

// wgpu's WebGPU types are not Send; `Arc` keeps one code path for native
// (where they are) and the browser (single-threaded).
#![cfg_attr(target_arch = "wasm32", allow(clippy::arc_with_non_send_sync))]

mod add;
mod attention;
mod context;
mod embed;
mod matmul;
mod quantize;
mod rms_norm;
mod rope;

pub mod selftest;
mod shader;
mod silu_mul;

pub use context::{AdapterSummary, GpuOptions, MatmulKernel};

use crate::exact::quant::WeightFormat;
use crate::exact::rope::RopeTable;
use crate::exec::{AttnShape, ExecError, Executor, WeightView};
use shader::{Kernel, Pipelines};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Counters of the work the executor did, for the benchmark.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GpuStats {
    /// Compute dispatches.
    pub dispatches: u64,
    /// Buffer copies recorded on the device.
    pub copies: u64,
    /// Bytes of weights the dispatches read (each weight matrix once per matmul).
    pub weight_bytes: u64,
    /// Bytes copied back to the host.
    pub readback_bytes: u64,
    /// Bytes written from the host (tokens, parameters, RoPE rows).
    pub upload_bytes: u64,
    /// Command-buffer submissions.
    pub submits: u64,
    /// Times the host waited for the device.
    pub syncs: u64,
}

/// A storage buffer from the executor's pool; returns to the pool when dropped.
/// Recorded commands hold their own handles, so reuse only ever follows earlier
/// uses in queue order.
pub struct PooledBuffer {
    buf: Option<wgpu::Buffer>,
    pool: Arc<Mutex<Pool>>,
}

impl PooledBuffer {
    fn get(&self) -> &wgpu::Buffer {
        self.buf.as_ref().expect("pooled buffer present until drop")
    }
}

impl Drop for PooledBuffer {
    fn drop(&mut self) {
        if let (Some(b), Ok(mut pool)) = (self.buf.take(), self.pool.lock()) {
            pool.free.entry(b.size()).or_default().push(b);
        }
    }
}

#[derive(Default)]
struct Pool {
    free: HashMap<u64, Vec<wgpu::Buffer>>,
}

/// Q16 rows `[rows × cols]` on the device (`i32`).
pub struct GpuRows {
    buf: PooledBuffer,
    pub rows: usize,
    pub cols: usize,
}

/// Matmul input rows on the device: per row `cols/4` words of low bytes, `cols/4`
/// words of high bytes, the exponent and `cols/32` block sums (`wgsl/act_write.wgsl`).
pub struct GpuInput {
    buf: PooledBuffer,
    pub rows: usize,
    pub cols: usize,
}

fn act_stride(cols: usize) -> usize {
    cols / 2 + 1 + cols / 32
}

/// One row range of a weight matrix in one device buffer.
struct WeightPart {
    buf: wgpu::Buffer,
    row0: usize,
    rows: usize,
}

/// A weight matrix repacked into aligned words (`wgsl/embed.wgsl`), split into
/// row ranges that each fit the device's storage binding limit.
pub struct GpuWeight {
    format: WeightFormat,
    rows: usize,
    cols: usize,
    parts: Arc<Vec<WeightPart>>,
}

impl GpuWeight {
    fn words_per_block(format: WeightFormat) -> usize {
        match format {
            WeightFormat::Q4_1 => 5,
            WeightFormat::Q8_0 => 9,
            // exact-2's formats have no kernels yet: `weight` refuses them.
            _ => 0,
        }
    }
    fn row_bytes(&self) -> usize {
        self.cols / 32 * Self::words_per_block(self.format) * 4
    }
    /// Bytes on the device.
    pub fn bytes(&self) -> usize {
        self.rows * self.row_bytes()
    }
    /// Number of device buffers the weight is split into.
    pub fn parts(&self) -> usize {
        self.parts.len()
    }
}

/// One layer's KV cache: 16-bit pairs per (position, kv head) and exponents.
pub struct GpuKvCache {
    shape: AttnShape,
    len: usize,
    cap: usize,
    k: Option<wgpu::Buffer>,
    v: Option<wgpu::Buffer>,
    k_exp: Option<wgpu::Buffer>,
    v_exp: Option<wgpu::Buffer>,
}

struct RopeGpu {
    buf: wgpu::Buffer,
    /// Positions uploaded.
    rows: usize,
    cap: usize,
}

/// A buffer bound to a kernel: the whole buffer or a byte range.
#[derive(Clone)]
struct Binding {
    buf: wgpu::Buffer,
    offset: u64,
    size: Option<u64>,
}

impl From<&wgpu::Buffer> for Binding {
    fn from(b: &wgpu::Buffer) -> Self {
        Binding {
            buf: b.clone(),
            offset: 0,
            size: None,
        }
    }
}

enum Command {
    Dispatch {
        kernel: Kernel,
        params: (u64, u64),
        bindings: Vec<Binding>,
        groups: [u32; 3],
    },
    Copy {
        src: wgpu::Buffer,
        src_offset: u64,
        dst: wgpu::Buffer,
        dst_offset: u64,
        size: u64,
    },
}

/// An uploaded weight and the file it came from.
type WeightEntry = (Arc<Vec<u8>>, GpuWeight);

/// The wgpu executor.
pub struct GpuExecutor {
    device: wgpu::Device,
    queue: wgpu::Queue,
    summary: AdapterSummary,
    pipelines: Pipelines,
    pool: Arc<Mutex<Pool>>,
    commands: Vec<Command>,
    params: Vec<u8>,
    params_buf: Option<wgpu::Buffer>,
    uniform_align: u64,
    max_binding: u64,
    ropes: HashMap<(usize, crate::exact::rope::RopeStyle, u32), RopeGpu>,
    /// Uploaded weights by (file, offset); holding the file keeps its address
    /// from being reused by another file while the entry exists.
    weights: HashMap<(usize, usize), WeightEntry>,
    constants: HashMap<(u64, usize), wgpu::Buffer>,
    /// The exp2 table, uploaded once (silu and attention bind it on every token).
    exp2: Option<wgpu::Buffer>,
    /// Set by the device-lost callback.
    lost: Arc<Mutex<Option<String>>>,
    /// Set by the uncaptured-error handler and by operations that cannot go on.
    failed: Arc<Mutex<Option<String>>>,
    pub stats: GpuStats,
}

/// Commands recorded before a submission is forced (bounds host memory).
const MAX_PENDING: usize = 8192;

impl GpuExecutor {
    /// Adapter, driver and the capabilities the executor uses.
    pub fn summary(&self) -> &AdapterSummary {
        &self.summary
    }

    /// Whether kernels use the `packed_4x8_integer_dot_product` builtins.
    pub fn uses_dot4(&self) -> bool {
        self.pipelines.dot4()
    }

    /// The WGSL module the matmul kernel in use is compiled from (tests assert
    /// which `dot4` flavour it contains).
    pub fn matmul_source(&self, format: WeightFormat) -> String {
        let kernel = if self.summary.matmul_per_row {
            shader::Kernel::MatmulRows(format)
        } else {
            shader::Kernel::Matmul(format)
        };
        shader::source(kernel, self.pipelines.dot4())
    }

    /// Destroys the device, as a driver reset or an unplugged GPU would: every
    /// later read-back reports the loss (tests of the failure path use this).
    pub fn lose_device(&mut self) {
        self.device.destroy();
    }

    /// Forgets which files were uploaded (they are on the device now), so that the
    /// host copy of a model file can be freed once its weights are loaded.
    pub fn release_host_files(&mut self) {
        self.weights.clear();
    }

    /// Compiles every kernel's pipeline now (otherwise each compiles on first use).
    pub fn precompile(&mut self) {
        for kernel in shader::Kernel::ALL {
            self.pipelines.get(&self.device, kernel);
        }
    }

    /// Whether matmuls use the per-row kernel.
    pub fn matmul_per_row(&self) -> bool {
        self.summary.matmul_per_row
    }

    /// Largest storage binding the executor uses (weights above it are split).
    pub fn max_binding(&self) -> u64 {
        self.max_binding
    }

    /// The first failure recorded since the device opened: a lost device (its
    /// callback) before any error it caused.
    fn check_lost(&self) -> Result<(), ExecError> {
        #[cfg(not(target_arch = "wasm32"))]
        let _ = self.device.poll(wgpu::PollType::Poll); // runs pending callbacks
        let lost = self.lost.lock().ok().and_then(|l| l.clone());
        let failed = self.failed.lock().ok().and_then(|l| l.clone());
        match lost.or(failed) {
            Some(why) => Err(ExecError::Device(why)),
            None => Ok(()),
        }
    }

    /// The exp2 table of spec exact-1 section 6 on the device.
    fn exp2_table(&mut self) -> wgpu::Buffer {
        if let Some(b) = &self.exp2 {
            return b.clone();
        }
        let t = crate::exact::math::exp2_table();
        let b = self.constant_i32(&t.map(|v| v as i32));
        self.exp2 = Some(b.clone());
        b
    }

    /// Records a failure that the next read-back reports (executor operations
    /// themselves cannot fail).
    fn fail(&mut self, why: String) {
        if let Ok(mut l) = self.failed.lock() {
            l.get_or_insert(why);
        }
    }

    /// A device copy of constant data (norm weights), uploaded once per content.
    fn constant_i32(&mut self, data: &[i32]) -> wgpu::Buffer {
        let bytes: Vec<u8> = data.iter().flat_map(|v| v.to_le_bytes()).collect();
        let key = (crate::engine::fnv1a64(&bytes), bytes.len());
        if let Some(b) = self.constants.get(&key) {
            return b.clone();
        }
        let b = self.upload(&bytes);
        self.constants.insert(key, b.clone());
        b
    }

    fn alloc(&mut self, bytes: usize) -> PooledBuffer {
        let size = (bytes.max(4) as u64).next_multiple_of(256);
        let reused = self
            .pool
            .lock()
            .ok()
            .and_then(|mut p| p.free.get_mut(&size).and_then(|v| v.pop()));
        let buf = reused.unwrap_or_else(|| {
            self.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("verbatim pooled"),
                size,
                usage: wgpu::BufferUsages::STORAGE
                    | wgpu::BufferUsages::COPY_SRC
                    | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            })
        });
        PooledBuffer {
            buf: Some(buf),
            pool: self.pool.clone(),
        }
    }

    /// A storage buffer holding `data`, written at the next submission (before
    /// the commands recorded so far run, which is why it is never pooled).
    fn upload(&mut self, data: &[u8]) -> wgpu::Buffer {
        let size = (data.len().max(4) as u64).next_multiple_of(4);
        let buf = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("verbatim upload"),
            size,
            usage: wgpu::BufferUsages::STORAGE
                | wgpu::BufferUsages::COPY_SRC
                | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: true,
        });
        match buf.slice(..).get_mapped_range_mut() {
            Ok(mut map) => map.slice(..data.len()).copy_from_slice(data),
            Err(e) => self.fail(format!("writing to the GPU failed: {e}")),
        }
        buf.unmap();
        self.stats.upload_bytes += data.len() as u64;
        buf
    }

    /// Records a dispatch of `kernel` with uniform `params` and storage `bindings`
    /// (bindings 1..).
    fn dispatch(
        &mut self,
        kernel: Kernel,
        params: &[u32],
        bindings: Vec<Binding>,
        groups: [u32; 3],
    ) {
        if groups.contains(&0) {
            return;
        }
        let off = (self.params.len() as u64).next_multiple_of(self.uniform_align);
        self.params.resize(off as usize, 0);
        for w in params {
            self.params.extend_from_slice(&w.to_le_bytes());
        }
        let len = (params.len() as u64 * 4).next_multiple_of(16);
        self.params.resize((off + len) as usize, 0);
        self.commands.push(Command::Dispatch {
            kernel,
            params: (off, len),
            bindings,
            groups,
        });
        self.stats.dispatches += 1;
        if self.commands.len() >= MAX_PENDING {
            self.flush();
        }
    }

    fn copy(
        &mut self,
        src: &wgpu::Buffer,
        src_offset: u64,
        dst: &wgpu::Buffer,
        dst_offset: u64,
        size: u64,
    ) {
        self.commands.push(Command::Copy {
            src: src.clone(),
            src_offset,
            dst: dst.clone(),
            dst_offset,
            size,
        });
        self.stats.copies += 1;
    }

    /// Submits everything recorded so far.
    pub fn flush(&mut self) {
        if self.commands.is_empty() {
            return;
        }
        let need = (self.params.len() as u64).max(256);
        if self.params_buf.as_ref().is_none_or(|b| b.size() < need) {
            self.params_buf = Some(self.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("verbatim params"),
                size: need.next_power_of_two(),
                usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            }));
        }
        let params_buf = self.params_buf.clone().expect("params buffer");
        if !self.params.is_empty() {
            self.queue.write_buffer(&params_buf, 0, &self.params);
            self.stats.upload_bytes += self.params.len() as u64;
        }
        let mut enc = self
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("verbatim"),
            });
        for cmd in self.commands.drain(..) {
            match cmd {
                Command::Dispatch {
                    kernel,
                    params,
                    bindings,
                    groups,
                } => {
                    let (pipeline, layout) = self.pipelines.get(&self.device, kernel);
                    let mut entries = vec![wgpu::BindGroupEntry {
                        binding: 0,
                        resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                            buffer: &params_buf,
                            offset: params.0,
                            size: wgpu::BufferSize::new(params.1),
                        }),
                    }];
                    for (i, b) in bindings.iter().enumerate() {
                        entries.push(wgpu::BindGroupEntry {
                            binding: i as u32 + 1,
                            resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                                buffer: &b.buf,
                                offset: b.offset,
                                size: b.size.and_then(wgpu::BufferSize::new),
                            }),
                        });
                    }
                    let group = self.device.create_bind_group(&wgpu::BindGroupDescriptor {
                        label: None,
                        layout,
                        entries: &entries,
                    });
                    let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor::default());
                    pass.set_pipeline(pipeline);
                    pass.set_bind_group(0, &group, &[]);
                    pass.dispatch_workgroups(groups[0], groups[1], groups[2]);
                }
                Command::Copy {
                    src,
                    src_offset,
                    dst,
                    dst_offset,
                    size,
                } => enc.copy_buffer_to_buffer(&src, src_offset, &dst, dst_offset, size),
            }
        }
        self.queue.submit([enc.finish()]);
        self.params.clear();
        self.stats.submits += 1;
    }

    /// Q16 rows from the host (tests, self-test).
    pub fn rows_from_host(&mut self, data: &[i32], cols: usize) -> GpuRows {
        let bytes: Vec<u8> = data.iter().flat_map(|v| v.to_le_bytes()).collect();
        let buf = self.alloc(bytes.len());
        let up = self.upload(&bytes);
        self.copy(&up, 0, buf.get(), 0, bytes.len() as u64);
        GpuRows {
            buf,
            rows: data.len() / cols.max(1),
            cols,
        }
    }

    /// Matmul input rows back on the host, as the CPU executor's activations.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn read_input(&mut self, x: &GpuInput) -> Result<Vec<crate::exact::act::Act>, ExecError> {
        let stride = act_stride(x.cols);
        let words = self.read_rows(&GpuRows {
            buf: PooledBuffer {
                buf: Some(x.buf.get().clone()),
                pool: Arc::new(Mutex::new(Pool::default())),
            },
            rows: x.rows,
            cols: stride,
        })?;
        let n = x.cols;
        Ok(words
            .iter()
            .map(|w| {
                let q = (0..n)
                    .map(|i| {
                        let lo = (w[i / 4] as u32 >> (8 * (i % 4))) & 0xff;
                        let hi = (w[n / 4 + i / 4] as u32 >> (8 * (i % 4))) as u8 as i8;
                        (hi as i16) * 256 + lo as i16
                    })
                    .collect();
                crate::exact::act::Act {
                    q,
                    exp: w[n / 2],
                    block_sums: w[n / 2 + 1..n / 2 + 1 + n / 32].to_vec(),
                }
            })
            .collect())
    }

    /// Records the copy of `x` into a mappable buffer and submits.
    fn start_read(&mut self, x: &GpuRows) -> (wgpu::Buffer, usize) {
        let bytes = (x.rows * x.cols * 4) as u64;
        let staging = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("verbatim read-back"),
            size: bytes.max(4).next_multiple_of(4),
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        if bytes > 0 {
            self.copy(x.buf.get(), 0, &staging, 0, bytes);
        }
        self.flush();
        self.stats.readback_bytes += bytes;
        self.stats.syncs += 1;
        (staging, bytes as usize)
    }

    fn finish_read(
        staging: &wgpu::Buffer,
        bytes: usize,
        cols: usize,
    ) -> Result<Vec<Vec<i32>>, ExecError> {
        let data = staging
            .slice(..)
            .get_mapped_range()
            .map_err(|e| ExecError::Device(format!("reading results back failed: {e}")))?;
        let ints: Vec<i32> = data[..bytes]
            .chunks_exact(4)
            .map(|b| i32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        drop(data);
        staging.unmap();
        if cols == 0 {
            return Ok(Vec::new());
        }
        Ok(ints.chunks(cols).map(|c| c.to_vec()).collect())
    }

    /// Copies rows back to the host, waiting for the device (WebGPU: see
    /// [`GpuExecutor::read_async`]).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn read_rows(&mut self, x: &GpuRows) -> Result<Vec<Vec<i32>>, ExecError> {
        self.check_lost()?;
        let (staging, bytes) = self.start_read(x);
        let (tx, rx) = std::sync::mpsc::channel();
        staging
            .slice(..)
            .map_async(wgpu::MapMode::Read, move |r| drop(tx.send(r)));
        self.device
            .poll(wgpu::PollType::wait_indefinitely())
            .map_err(|e| ExecError::Device(format!("waiting for the GPU failed: {e}")))?;
        self.check_lost()?;
        match rx.recv() {
            Ok(Ok(())) => Self::finish_read(&staging, bytes, x.cols),
            Ok(Err(e)) => Err(ExecError::Device(format!(
                "reading results back failed: {e}"
            ))),
            Err(_) => {
                self.check_lost()?;
                Err(ExecError::Device(
                    "the GPU never finished the read-back".into(),
                ))
            }
        }
    }

    /// Copies rows back to the host without blocking the event loop (WebGPU).
    #[cfg(target_arch = "wasm32")]
    pub async fn read_async(&mut self, x: &GpuRows) -> Result<Vec<Vec<i32>>, ExecError> {
        use std::cell::RefCell;
        use std::rc::Rc;
        self.check_lost()?;
        let (staging, bytes) = self.start_read(x);
        let result: Rc<RefCell<Option<Result<(), wgpu::BufferAsyncError>>>> = Rc::default();
        let mut resolve_slot = None;
        let promise = js_sys::Promise::new(&mut |resolve, _reject| resolve_slot = Some(resolve));
        let resolve = resolve_slot.expect("Promise calls its executor at once");
        let r2 = result.clone();
        staging.slice(..).map_async(wgpu::MapMode::Read, move |r| {
            *r2.borrow_mut() = Some(r);
            let _ = resolve.call0(&wasm_bindgen::JsValue::NULL);
        });
        let _ = wasm_bindgen_futures::JsFuture::from(promise).await;
        let outcome = result.borrow_mut().take();
        match outcome {
            Some(Ok(())) => Self::finish_read(&staging, bytes, x.cols),
            Some(Err(e)) => {
                self.check_lost()?;
                Err(ExecError::Device(format!(
                    "reading results back failed: {e}"
                )))
            }
            None => Err(ExecError::Device(
                "the GPU never finished the read-back".into(),
            )),
        }
    }

    fn rope_table(&mut self, table: &mut RopeTable, upto: usize) -> wgpu::Buffer {
        let key = table.key();
        let pairs = table.dim() / 2;
        let row_bytes = pairs * 8;
        let have = self.ropes.get(&key).map_or(0, |r| r.rows);
        if have >= upto {
            return self.ropes[&key].buf.clone();
        }
        let cap = self.ropes.get(&key).map_or(0, |r| r.cap);
        let mut bytes = Vec::with_capacity((upto - have) * row_bytes);
        let grow = upto > cap;
        let first = if grow { 0 } else { have };
        for pos in first..upto {
            for &(c, s) in table.row(pos) {
                bytes.extend_from_slice(&c.to_le_bytes());
                bytes.extend_from_slice(&s.to_le_bytes());
            }
        }
        if grow {
            let new_cap = upto.next_power_of_two().max(64);
            let buf = self.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("verbatim rope"),
                size: (new_cap * row_bytes) as u64,
                usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            });
            self.ropes.insert(
                key,
                RopeGpu {
                    buf,
                    rows: 0,
                    cap: new_cap,
                },
            );
        }
        let entry = self.ropes.get_mut(&key).expect("rope table just inserted");
        // Positions first..upto were never read by recorded commands: writing them
        // ahead of those commands is safe.
        self.queue
            .write_buffer(&entry.buf, (first * row_bytes) as u64, &bytes);
        entry.rows = upto;
        self.stats.upload_bytes += bytes.len() as u64;
        entry.buf.clone()
    }

    fn ensure_cache(&mut self, cache: &mut GpuKvCache, need: usize) -> Result<(), ExecError> {
        if need <= cache.cap && cache.k.is_some() {
            return Ok(());
        }
        let sh = cache.shape;
        let vec_bytes = (sh.head_dim / 2 * 4 * sh.n_head_kv) as u64;
        let exp_bytes = (4 * sh.n_head_kv) as u64;
        let fits = (self.max_binding / vec_bytes) as usize;
        let new_cap = need.next_power_of_two().max(16).min(fits);
        if new_cap < need {
            return Err(ExecError::Device(format!(
                "a KV cache of {need} positions needs {} KiB per layer, more than this GPU binds ({} KiB)",
                (need as u64 * vec_bytes) >> 10,
                self.max_binding >> 10
            )));
        }
        let make = |dev: &wgpu::Device, size: u64| {
            dev.create_buffer(&wgpu::BufferDescriptor {
                label: Some("verbatim kv"),
                size,
                usage: wgpu::BufferUsages::STORAGE
                    | wgpu::BufferUsages::COPY_SRC
                    | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            })
        };
        let k = make(&self.device, new_cap as u64 * vec_bytes);
        let v = make(&self.device, new_cap as u64 * vec_bytes);
        let ke = make(&self.device, new_cap as u64 * exp_bytes);
        let ve = make(&self.device, new_cap as u64 * exp_bytes);
        if let (Some(ok), Some(ov), Some(oke), Some(ove)) =
            (&cache.k, &cache.v, &cache.k_exp, &cache.v_exp)
        {
            let n = cache.len as u64;
            if n > 0 {
                let (ok, ov, oke, ove) = (ok.clone(), ov.clone(), oke.clone(), ove.clone());
                self.copy(&ok, 0, &k, 0, n * vec_bytes);
                self.copy(&ov, 0, &v, 0, n * vec_bytes);
                self.copy(&oke, 0, &ke, 0, n * exp_bytes);
                self.copy(&ove, 0, &ve, 0, n * exp_bytes);
            }
        }
        cache.k = Some(k);
        cache.v = Some(v);
        cache.k_exp = Some(ke);
        cache.v_exp = Some(ve);
        cache.cap = new_cap;
        Ok(())
    }

    /// Uploads a weight matrix, repacked and split (see [`GpuWeight`]).
    fn upload_weight(&mut self, view: &WeightView) -> Result<GpuWeight, ExecError> {
        let nb = view.cols / 32;
        let words = GpuWeight::words_per_block(view.format);
        let row_bytes = (nb * words * 4) as u64;
        let rows_per_part = (self.max_binding / row_bytes).max(1) as usize;
        let src = view.bytes();
        let src_row = view.row_bytes();
        let mut parts = Vec::new();
        let mut row0 = 0;
        while row0 < view.rows {
            let rows = rows_per_part.min(view.rows - row0);
            let buf = self.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some(&view.name),
                size: rows as u64 * row_bytes,
                usage: wgpu::BufferUsages::STORAGE,
                mapped_at_creation: true,
            });
            {
                let mut map = buf.slice(..).get_mapped_range_mut().map_err(|e| {
                    ExecError::Device(format!("uploading '{}' failed: {e}", view.name))
                })?;
                let bytes = &src[row0 * src_row..(row0 + rows) * src_row];
                let mut packed = vec![0u8; rows * row_bytes as usize];
                repack(view.format, bytes, &mut packed);
                map.copy_from_slice(&packed);
            }
            buf.unmap();
            parts.push(WeightPart { buf, row0, rows });
            row0 += rows;
        }
        Ok(GpuWeight {
            format: view.format,
            rows: view.rows,
            cols: view.cols,
            parts: Arc::new(parts),
        })
    }
}

/// Repacks GGUF blocks into the aligned device layout: Q4_1 blocks are already
/// 5 words; a Q8_0 block (2 + 32 bytes) becomes 9 words, `d` alone in the first.
fn repack(format: WeightFormat, src: &[u8], dst: &mut [u8]) {
    match format {
        WeightFormat::Q4_1 => dst[..src.len()].copy_from_slice(src),
        WeightFormat::Q8_0 => {
            for (blk, out) in src.chunks_exact(34).zip(dst.chunks_exact_mut(36)) {
                out[0..2].copy_from_slice(&blk[0..2]);
                out[2..4].fill(0);
                out[4..36].copy_from_slice(&blk[2..34]);
            }
        }
        // exact-2's formats have no kernels yet: `weight` refuses them.
        _ => {}
    }
}

impl Executor for GpuExecutor {
    type Weight = GpuWeight;
    type Rows = GpuRows;
    type Input = GpuInput;
    type KvCache = GpuKvCache;

    fn weight(&mut self, view: WeightView) -> Result<GpuWeight, ExecError> {
        if !matches!(view.format, WeightFormat::Q4_1 | WeightFormat::Q8_0) {
            return Err(ExecError::UnsupportedWeight {
                name: view.name,
                dtype: format!("{} (not on the GPU executor yet)", view.format.name()),
            });
        }
        if view.cols % 32 != 0 {
            return Err(ExecError::Device(format!(
                "weight '{}' has {} columns, not a multiple of 32",
                view.name, view.cols
            )));
        }
        // A tied output head is the embedding table: upload it once.
        let key = (Arc::as_ptr(&view.file) as usize, view.offset);
        if let Some((_, w)) = self.weights.get(&key) {
            return Ok(GpuWeight {
                format: w.format,
                rows: w.rows,
                cols: w.cols,
                parts: w.parts.clone(),
            });
        }
        let w = self.upload_weight(&view)?;
        let copy = GpuWeight {
            format: w.format,
            rows: w.rows,
            cols: w.cols,
            parts: w.parts.clone(),
        };
        self.weights.insert(key, (view.file.clone(), w));
        Ok(copy)
    }

    fn new_cache(&mut self, shape: AttnShape) -> GpuKvCache {
        GpuKvCache {
            shape,
            len: 0,
            cap: 0,
            k: None,
            v: None,
            k_exp: None,
            v_exp: None,
        }
    }

    fn truncate_cache(&mut self, cache: &mut GpuKvCache, len: usize) {
        cache.len = cache.len.min(len);
    }

    fn embed(&mut self, table: &GpuWeight, tokens: &[u32]) -> GpuRows {
        embed::encode(self, table, tokens)
    }

    fn rms_norm(&mut self, x: &GpuRows, gamma: &[i32], eps_bits: u32) -> GpuInput {
        rms_norm::encode(self, x, gamma, eps_bits)
    }

    fn matmul(&mut self, w: &GpuWeight, x: &GpuInput) -> GpuRows {
        matmul::encode(self, w, x)
    }

    fn rope(&mut self, x: &mut GpuRows, table: &mut RopeTable, head_dim: usize, pos0: usize) {
        rope::encode(self, x, table, head_dim, pos0)
    }

    fn attention(
        &mut self,
        cache: &mut GpuKvCache,
        q: &GpuRows,
        k: &GpuRows,
        v: &GpuRows,
        pos0: usize,
    ) -> GpuRows {
        attention::encode(self, cache, q, k, v, pos0)
    }

    fn silu_mul(&mut self, gate: &GpuRows, up: &GpuRows) -> GpuInput {
        silu_mul::encode(self, gate, up)
    }

    fn quantize(&mut self, x: &GpuRows) -> GpuInput {
        quantize::encode(self, x)
    }

    fn add(&mut self, x: &mut GpuRows, y: &GpuRows) {
        add::encode(self, x, y)
    }

    fn last_row(&mut self, x: &GpuRows) -> GpuRows {
        let bytes = x.cols * 4;
        let out = self.alloc(bytes);
        let src = x.buf.get().clone();
        self.copy(
            &src,
            ((x.rows - 1) * bytes) as u64,
            out.get(),
            0,
            bytes as u64,
        );
        GpuRows {
            buf: out,
            rows: 1,
            cols: x.cols,
        }
    }

    #[cfg(not(target_arch = "wasm32"))]
    fn read(&mut self, x: &GpuRows) -> Result<Vec<Vec<i32>>, ExecError> {
        self.read_rows(x)
    }

    #[cfg(target_arch = "wasm32")]
    fn read(&mut self, _x: &GpuRows) -> Result<Vec<Vec<i32>>, ExecError> {
        Err(ExecError::Device(
            "WebGPU results can only be read asynchronously".into(),
        ))
    }
}
