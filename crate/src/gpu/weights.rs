//! Weights on the device (docs/gpu.md, "Data on the device"): GGUF blocks
//! repacked so that every read is an aligned `u32` (Q4_1 as is, Q8_0 as 9 words
//! per block), split into row ranges that fit the device's storage binding
//! limit, uploaded once per file offset.

#![cfg_attr(target_arch = "wasm32", allow(clippy::arc_with_non_send_sync))]

use super::GpuExecutor;
use crate::exact::quant::WeightFormat;
use crate::exec::{ExecError, WeightView};
use std::sync::Arc;

/// One row range of a weight matrix in one device buffer.
pub(super) struct WeightPart {
    pub(super) buf: wgpu::Buffer,
    pub(super) row0: usize,
    pub(super) rows: usize,
}

/// A weight matrix repacked into aligned words (`wgsl/embed.wgsl`), split into
/// row ranges that each fit the device's storage binding limit.
pub struct GpuWeight {
    pub(super) format: WeightFormat,
    pub(super) rows: usize,
    pub(super) cols: usize,
    pub(super) parts: Arc<Vec<WeightPart>>,
}

impl GpuWeight {
    pub(super) fn words_per_block(format: WeightFormat) -> usize {
        match format {
            WeightFormat::Q4_1 => 5,
            WeightFormat::Q8_0 => 9,
            // exact-2's formats have no kernels yet: `weight` refuses them.
            _ => 0,
        }
    }

    pub(super) fn row_bytes(&self) -> usize {
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

/// An uploaded weight and the file it came from.
pub(super) type WeightEntry = (Arc<Vec<u8>>, GpuWeight);
impl GpuExecutor {
    /// Uploads `view` once per (file, offset); a tied output head shares the
    /// embedding's buffers.
    pub(super) fn weight_cached(&mut self, view: WeightView) -> Result<GpuWeight, ExecError> {
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

    /// Uploads a weight matrix, repacked and split (see [`GpuWeight`]).
    pub(super) fn upload_weight(&mut self, view: &WeightView) -> Result<GpuWeight, ExecError> {
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
pub(super) fn repack(format: WeightFormat, src: &[u8], dst: &mut [u8]) {
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
