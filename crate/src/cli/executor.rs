//! `--executor auto`: the CLI picks the faster executor by measurement, as the page does
//! (README "The page", issue 15 item 1).
//!
//! An adapter that is emulated in software (Vulkan reports `device_type` `Cpu`: lavapipe,
//! SwiftShader) is ruled out before its self-test; so is one that has no adapter at all or fails
//! the self-test. Otherwise the model is loaded on both executors and each decodes the same few
//! greedy tokens; the one with the shorter decode time runs the request, the other is freed. The
//! tokens are the same on either, so the choice changes speed only, never a bit of the output.

use anyhow::Result;
use std::time::{Duration, Instant};
use verbatim::gpu::{selftest, GpuExecutor, GpuOptions};
use verbatim::session::{GenerateRequest, LoadedModel, Session};

/// The timing run (as the page's, www/executor-choice.js): a one-token greedy prompt, one step to
/// warm up, then `TIMED_STEPS` timed steps.
const PROBE_PROMPT: &str = "Hello";
const WARM_STEPS: u32 = 1;
const TIMED_STEPS: u32 = 3;

/// The executor `auto` chose, and why, in words (printed on stderr).
pub struct Choice {
    pub model: LoadedModel,
    pub reason: String,
}

/// Why the GPU is not even timed: the Vulkan device type that means software emulation.
pub fn emulated(device_type: &str) -> bool {
    device_type == "Cpu"
}

/// Loads `bytes` for the exact engine on the executor that decodes faster here.
pub fn load_auto(bytes: Vec<u8>) -> Result<Choice> {
    let cpu = |reason: String, bytes: Vec<u8>| -> Result<Choice> {
        Ok(Choice {
            model: LoadedModel::load(bytes, verbatim::engine::EngineKind::Exact)?,
            reason,
        })
    };
    let mut gpu = match GpuExecutor::new_blocking(GpuOptions::default()) {
        Ok(gpu) => gpu,
        Err(e) => return cpu(format!("CPU: no usable GPU ({e})"), bytes),
    };
    let summary = gpu.summary().clone();
    if emulated(&summary.device_type) {
        return cpu(
            format!(
                "CPU: faster than this machine's GPU executor, whose adapter {} is emulated in software (device type Cpu)",
                summary.name
            ),
            bytes,
        );
    }
    let failed = selftest::run(&mut gpu)?;
    if !failed.is_empty() {
        return cpu(
            format!(
                "CPU: the GPU {} failed the self-test ({})",
                summary.name,
                failed.join("; ")
            ),
            bytes,
        );
    }
    let on_cpu = LoadedModel::load(bytes.clone(), verbatim::engine::EngineKind::Exact)?;
    let (on_cpu, cpu_time) = time_decode(on_cpu)?;
    let on_gpu = LoadedModel::load_gpu(bytes, gpu)?;
    let (on_gpu, gpu_time) = time_decode(on_gpu)?;
    let measured = format!(
        "{} decode steps: GPU {} ms, CPU {} ms",
        TIMED_STEPS,
        gpu_time.as_millis(),
        cpu_time.as_millis()
    );
    Ok(if gpu_time < cpu_time {
        drop(on_cpu);
        Choice {
            model: on_gpu,
            reason: format!("GPU {}: faster than the CPU ({measured})", summary.name),
        }
    } else {
        drop(on_gpu);
        Choice {
            model: on_cpu,
            reason: format!("CPU: faster than the GPU {} ({measured})", summary.name),
        }
    })
}

/// Decodes the probe on `model`; returns it with the time of the timed steps.
fn time_decode(model: LoadedModel) -> Result<(LoadedModel, Duration)> {
    let mut session = Session::new(model);
    session.begin(&GenerateRequest::greedy(
        PROBE_PROMPT,
        false,
        WARM_STEPS + TIMED_STEPS,
    ))?;
    let mut elapsed = Duration::ZERO;
    for step in 0..WARM_STEPS + TIMED_STEPS {
        let started = Instant::now();
        let out = session.step()?;
        if step >= WARM_STEPS {
            elapsed += started.elapsed();
        }
        if out.stop.is_some() {
            break;
        }
    }
    Ok((session.model, elapsed))
}

#[cfg(test)]
mod tests {
    use super::emulated;

    #[test]
    fn only_a_cpu_device_type_counts_as_emulated() {
        assert!(emulated("Cpu"));
        for other in ["DiscreteGpu", "IntegratedGpu", "VirtualGpu", "Other"] {
            assert!(!emulated(other), "{other}");
        }
    }
}
