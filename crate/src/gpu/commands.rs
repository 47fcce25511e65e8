//! Recording and submitting work (docs/gpu.md, "One sync point per token"):
//! dispatches and copies are recorded, with their parameters packed into one
//! uniform buffer, and encoded into a single command buffer per submission.

use super::shader::Kernel;
use super::GpuExecutor;

/// A buffer bound to a kernel: the whole buffer or a byte range.
#[derive(Clone)]
pub(super) struct Binding {
    pub(super) buf: wgpu::Buffer,
    pub(super) offset: u64,
    pub(super) size: Option<u64>,
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

pub(super) enum Command {
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

/// Commands recorded before a submission is forced (bounds host memory).
pub(super) const MAX_PENDING: usize = 8192;
impl GpuExecutor {
    /// Records a dispatch of `kernel` with uniform `params` and storage `bindings`
    /// (bindings 1..). Returns its index among the recorded commands while it is
    /// still pending (None if it was empty or has been submitted already).
    pub(super) fn dispatch(
        &mut self,
        kernel: Kernel,
        params: &[u32],
        bindings: Vec<Binding>,
        groups: [u32; 3],
    ) -> Option<usize> {
        self.close_open();
        if groups.contains(&0) {
            return None;
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
            return None;
        }
        Some(self.commands.len() - 1)
    }

    pub(super) fn copy(
        &mut self,
        src: &wgpu::Buffer,
        src_offset: u64,
        dst: &wgpu::Buffer,
        dst_offset: u64,
        size: u64,
    ) {
        self.close_open();
        self.commands.push(Command::Copy {
            src: src.clone(),
            src_offset,
            dst: dst.clone(),
            dst_offset,
            size,
        });
        self.stats.copies += 1;
    }

    /// Ends the window in which a residual add, the keys' RoPE or a matmul
    /// that quantizes on load may still join the last recorded command: anything else recorded, or a submit, closes it.
    fn close_open(&mut self) {
        self.open_matmul = None;
        self.open_rope = None;
        self.open_load = None;
    }

    /// Submits everything recorded so far.
    pub fn flush(&mut self) {
        self.close_open();
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
}
