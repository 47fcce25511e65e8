//! Weights on the device (docs/gpu.md, "Data on the device"): GGUF blocks
//! repacked so that every read is an aligned `u32` (`formats`), split into row
//! ranges that fit the device's storage binding limit, uploaded once per file
//! offset.

#![cfg_attr(target_arch = "wasm32", allow(clippy::arc_with_non_send_sync))]

use super::{formats, GpuExecutor};
use crate::exact::quant::WeightFormat;
use crate::exec::{ExecError, WeightView};
use std::sync::Arc;

/// One row range of a weight matrix in one device buffer.
pub(super) struct WeightPart {
    pub(super) buf: wgpu::Buffer,
    pub(super) row0: usize,
    pub(super) rows: usize,
}

/// A weight matrix repacked into aligned words (`formats`), split into
/// row ranges that each fit the device's storage binding limit.
pub struct GpuWeight {
    pub(super) format: WeightFormat,
    pub(super) rows: usize,
    pub(super) cols: usize,
    pub(super) parts: Arc<Vec<WeightPart>>,
}

impl GpuWeight {
    pub(super) fn row_bytes(&self) -> usize {
        self.cols / self.format.block_elems() * formats::words_per_block(self.format) * 4
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

/// Bytes of repacked rows written to the device at a time (at least one row).
const UPLOAD_CHUNK: usize = 4 << 20;

/// An uploaded weight and the file it came from.
pub(super) type WeightEntry = (Arc<Vec<u8>>, GpuWeight);
impl GpuExecutor {
    /// Uploads `view` once per (file, offset); a tied output head shares the
    /// embedding's buffers.
    pub(super) fn weight_cached(&mut self, view: WeightView) -> Result<GpuWeight, ExecError> {
        let len = view.format.block_elems();
        if !view.cols.is_multiple_of(len) {
            return Err(ExecError::Device(format!(
                "weight '{}' ({}) has {} columns, not a multiple of {len}",
                view.name,
                view.format.name(),
                view.cols
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

    /// Uploads a weight matrix, repacked and split (see [`GpuWeight`]).
    ///
    /// The rows are repacked [`UPLOAD_CHUNK`] bytes at a time into one reused host
    /// buffer and written with `Queue::write_buffer`, so the host holds at most one
    /// chunk besides the file. (A buffer mapped at creation would cost, on wasm, a
    /// second copy of the whole part in wasm memory: wgpu's WebGPU backend writes
    /// a mapped range through a temporary `Vec` of its full size.)
    pub(super) fn upload_weight(&mut self, view: &WeightView) -> Result<GpuWeight, ExecError> {
        let nb = view.cols / view.format.block_elems();
        let words = formats::words_per_block(view.format);
        let row_bytes = (nb * words * 4) as u64;
        let rows_per_part = (self.max_binding / row_bytes).max(1) as usize;
        let rows_per_chunk = (UPLOAD_CHUNK / row_bytes as usize).max(1);
        let src = view.bytes();
        let src_row = view.row_bytes();
        let mut packed = Vec::new();
        let mut parts = Vec::new();
        let mut row0 = 0;
        while row0 < view.rows {
            let rows = rows_per_part.min(view.rows - row0);
            let buf = self.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some(&view.name),
                size: rows as u64 * row_bytes,
                usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST,
                mapped_at_creation: false,
            });
            let mut done = 0;
            while done < rows {
                let n = rows_per_chunk.min(rows - done);
                let first = row0 + done;
                packed.resize(n * row_bytes as usize, 0);
                formats::repack(
                    view.format,
                    &src[first * src_row..(first + n) * src_row],
                    &mut packed,
                );
                self.queue
                    .write_buffer(&buf, done as u64 * row_bytes, &packed);
                done += n;
            }
            // Hands the part's writes to the device now: native wgpu holds a
            // staging copy of each write until the next submission.
            self.queue.submit(std::iter::empty());
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
