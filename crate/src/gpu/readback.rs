//! Results back to the host and failure reporting (docs/gpu.md, "Start-up
//! self-test and failures"): the one synchronisation per token (blocking
//! natively, a promise on WebGPU) and the lost-device / GPU-error checks that
//! turn a failure into an error instead of wrong tokens.

#[cfg(not(target_arch = "wasm32"))]
use super::buffers::{act_stride, Pool, PooledBuffer};
#[cfg(not(target_arch = "wasm32"))]
use super::GpuInput;
use super::{GpuExecutor, GpuRows};
use crate::exec::ExecError;
#[cfg(not(target_arch = "wasm32"))]
use std::sync::{Arc, Mutex};

impl GpuExecutor {
    /// The first failure recorded since the device opened: a lost device (its
    /// callback) before any error it caused.
    pub(super) fn check_lost(&self) -> Result<(), ExecError> {
        #[cfg(not(target_arch = "wasm32"))]
        let _ = self.device.poll(wgpu::PollType::Poll); // runs pending callbacks
        let lost = self.lost.lock().ok().and_then(|l| l.clone());
        let failed = self.failed.lock().ok().and_then(|l| l.clone());
        match lost.or(failed) {
            Some(why) => Err(ExecError::Device(why)),
            None => Ok(()),
        }
    }

    /// Records a failure that the next read-back reports (executor operations
    /// themselves cannot fail).
    pub(super) fn fail(&mut self, why: String) {
        if let Ok(mut l) = self.failed.lock() {
            l.get_or_insert(why);
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
    pub(super) fn start_read(&mut self, x: &GpuRows) -> (wgpu::Buffer, usize) {
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

    pub(super) fn finish_read(
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
}
