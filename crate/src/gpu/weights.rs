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

/// An uploaded weight and the file it came from.
pub(super) type WeightEntry = (Arc<Vec<u8>>, GpuWeight);
impl GpuExecutor {
    /// Uploads `view` once per (file, offset); a tied output head shares the
    /// embedding's buffers.
    pub(super) fn weight_cached(&mut self, view: WeightView) -> Result<GpuWeight, ExecError> {
        let len = view.format.block_elems();
        if view.cols % len != 0 {
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
    pub(super) fn upload_weight(&mut self, view: &WeightView) -> Result<GpuWeight, ExecError> {
        let nb = view.cols / view.format.block_elems();
        let words = formats::words_per_block(view.format);
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
                formats::repack(view.format, bytes, &mut packed);
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
