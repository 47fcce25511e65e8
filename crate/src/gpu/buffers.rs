//! Device memory of the GPU executor (docs/gpu.md, "Data on the device"): the
//! buffer pool, Q16 rows and matmul-input rows, host uploads, constants (norm
//! weights, the exp2 table of numerics.md section 6), the RoPE table rows of
//! section 5 and the per-layer KV cache of section 7.

#![cfg_attr(target_arch = "wasm32", allow(clippy::arc_with_non_send_sync))]

use super::GpuExecutor;
use crate::exact::rope::RopeTable;
use crate::exec::{AttnShape, ExecError};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// A storage buffer from the executor's pool; returns to the pool when dropped.
/// Recorded commands hold their own handles, so reuse only ever follows earlier
/// uses in queue order.
pub struct PooledBuffer {
    pub(super) buf: Option<wgpu::Buffer>,
    pub(super) pool: Arc<Mutex<Pool>>,
}

impl PooledBuffer {
    pub(super) fn get(&self) -> &wgpu::Buffer {
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
pub(super) struct Pool {
    pub(super) free: HashMap<u64, Vec<wgpu::Buffer>>,
}

/// Q16 rows `[rows × cols]` on the device (`i32`).
pub struct GpuRows {
    pub(super) buf: PooledBuffer,
    pub rows: usize,
    pub cols: usize,
}

/// Matmul input rows on the device: per row `cols/4` words of low bytes, `cols/4`
/// words of high bytes, the exponent and `cols/32` block sums (`wgsl/act_write.wgsl`).
pub struct GpuInput {
    pub(super) buf: PooledBuffer,
    pub rows: usize,
    pub cols: usize,
}

pub(super) fn act_stride(cols: usize) -> usize {
    cols / 2 + 1 + cols / 32
}

/// One layer's KV cache: 16-bit pairs per (position, kv head) and exponents.
pub struct GpuKvCache {
    pub(super) shape: AttnShape,
    pub(super) len: usize,
    pub(super) cap: usize,
    pub(super) k: Option<wgpu::Buffer>,
    pub(super) v: Option<wgpu::Buffer>,
    pub(super) k_exp: Option<wgpu::Buffer>,
    pub(super) v_exp: Option<wgpu::Buffer>,
}

pub(super) struct RopeGpu {
    pub(super) buf: wgpu::Buffer,
    /// Positions uploaded.
    pub(super) rows: usize,
    pub(super) cap: usize,
}

impl GpuExecutor {
    /// The exp2 table of spec exact-1 section 6 on the device.
    pub(super) fn exp2_table(&mut self) -> wgpu::Buffer {
        if let Some(b) = &self.exp2 {
            return b.clone();
        }
        let t = crate::exact::math::exp2_table();
        let b = self.constant_i32(&t.map(|v| v as i32));
        self.exp2 = Some(b.clone());
        b
    }

    /// A device copy of constant data (norm weights), uploaded once per content.
    pub(super) fn constant_i32(&mut self, data: &[i32]) -> wgpu::Buffer {
        let bytes: Vec<u8> = data.iter().flat_map(|v| v.to_le_bytes()).collect();
        let key = (crate::engine::fnv1a64(&bytes), bytes.len());
        if let Some(b) = self.constants.get(&key) {
            return b.clone();
        }
        let b = self.upload(&bytes);
        self.constants.insert(key, b.clone());
        b
    }

    /// A small storage buffer bound to writable slots a dispatch does not use
    /// (writable bindings of one dispatch may not alias).
    pub(super) fn spare_buffer(&mut self) -> wgpu::Buffer {
        if let Some(s) = &self.spare {
            return s.clone();
        }
        let s = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("verbatim unused binding"),
            size: 256,
            usage: wgpu::BufferUsages::STORAGE,
            mapped_at_creation: false,
        });
        self.spare = Some(s.clone());
        s
    }

    pub(super) fn alloc(&mut self, bytes: usize) -> PooledBuffer {
        self.alloc_avoiding(bytes, &[])
    }

    /// A pooled buffer that is none of `avoid`: buffers the caller has released
    /// but a dispatch about to be recorded still reads (a quantize taken back
    /// by the matmul, `matmul_load`, reads its input in the matmul's dispatch).
    pub(super) fn alloc_avoiding(&mut self, bytes: usize, avoid: &[&wgpu::Buffer]) -> PooledBuffer {
        let size = (bytes.max(4) as u64).next_multiple_of(256);
        let reused = self.pool.lock().ok().and_then(|mut p| {
            let free = p.free.get_mut(&size)?;
            let i = free.iter().rposition(|b| !avoid.contains(&b))?;
            Some(free.remove(i))
        });
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
    pub(super) fn upload(&mut self, data: &[u8]) -> wgpu::Buffer {
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

    pub(super) fn rope_table(&mut self, table: &mut RopeTable, upto: usize) -> wgpu::Buffer {
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

    pub(super) fn ensure_cache(
        &mut self,
        cache: &mut GpuKvCache,
        need: usize,
    ) -> Result<(), ExecError> {
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
}
