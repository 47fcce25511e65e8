//! Shared helpers of the integration tests: model files and golden paths.
#![allow(dead_code)]

pub mod gpu;

use std::path::PathBuf;
use verbatim::golden::{self, compare, Case, Expected, Verdict};
use verbatim::session::Session;

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The cached, verified model file for `id`; fails (does not skip) when absent.
pub fn model_bytes(id: &str) -> Vec<u8> {
    let dir = std::env::var_os("VERBATIM_MODELS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("models/cache"));
    let path = dir.join(format!("{id}.gguf"));
    std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "model file {} is missing ({e}): run `make models` first",
            path.display()
        )
    })
}

/// With `VERBATIM_EXPECT_ADAPTER` set (the Makefile sets `llvmpipe` or
/// `SwiftShader` for each Vulkan leg), fails unless `adapter` names it, so a GPU
/// test cannot silently run on another driver than the one its leg is for.
pub fn expect_adapter(adapter: &str) {
    if let Ok(want) = std::env::var("VERBATIM_EXPECT_ADAPTER") {
        assert!(
            adapter.to_lowercase().contains(&want.to_lowercase()),
            "VERBATIM_EXPECT_ADAPTER={want}, but the GPU is '{adapter}' (check VK_ICD_FILENAMES)"
        );
    }
}

/// Runs the `verbatim` binary built for these tests with `args` and the
/// environment changes `env` (`Some(v)` sets, `None` removes), after checking the
/// default model is fetched; returns (exit status, stdout, stderr).
pub fn verbatim_cli(args: &[&str], env: &[(&str, Option<&str>)]) -> (i32, String, String) {
    model_bytes("smollm2-135m-instruct-q4_1"); // fails clearly if not fetched
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_verbatim"));
    cmd.args(args);
    for (k, v) in env {
        match v {
            Some(v) => cmd.env(k, v),
            None => cmd.env_remove(k),
        };
    }
    let out = cmd.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Runs golden `case` on `session`, prints its size and time, and compares it with
/// `expected`. A missing outcome is added when `bless` (returns true); a missing or
/// diverging one otherwise becomes a line in `failures`.
pub fn run_golden_case(
    session: &mut Session,
    case: &Case,
    expected: &mut Expected,
    bless: bool,
    failures: &mut Vec<String>,
) -> bool {
    let started = std::time::Instant::now();
    let got = golden::run(session, &case.options).expect("valid case");
    eprintln!(
        "{}: {} + {} tokens in {:.1} s",
        case.id,
        got.prompt_tokens,
        got.token_ids.len(),
        started.elapsed().as_secs_f64()
    );
    match compare(expected.cases.get(&case.id), &got) {
        Verdict::Pass => {}
        Verdict::Missing if bless => {
            expected.cases.insert(case.id.clone(), got);
            return true;
        }
        Verdict::Missing => failures.push(format!(
            "{}: no expected outcome (add it with VERBATIM_BLESS=1)",
            case.id
        )),
        Verdict::Diverged { detail, .. } => failures.push(format!(
            "{}: {detail}\n   expected tokens {:?}\n   got {:?}",
            case.id, expected.cases[&case.id].token_ids, got.token_ids
        )),
    }
    false
}

/// `VERBATIM_EXECUTOR=gpu`: the golden tests run on the GPU executor (the Vulkan
/// driver the loader picks; `VK_ICD_FILENAMES` selects one), else on the CPU.
pub fn gpu_requested() -> bool {
    match std::env::var("VERBATIM_EXECUTOR").as_deref() {
        Ok("gpu") => true,
        Ok("cpu") | Err(_) => false,
        Ok(other) => panic!("VERBATIM_EXECUTOR={other}: use cpu or gpu"),
    }
}

/// The GPU executor of a golden run; `VERBATIM_GPU_MATMUL=tiled` runs the kernel
/// real GPUs get on a software one (`per-row` the other).
pub fn gpu_executor() -> verbatim::gpu::GpuExecutor {
    use verbatim::gpu::{GpuExecutor, GpuOptions, MatmulKernel};
    let matmul = match std::env::var("VERBATIM_GPU_MATMUL").as_deref() {
        Ok("tiled") => MatmulKernel::Tiled,
        Ok("per-row") => MatmulKernel::PerRow,
        Ok(other) => panic!("VERBATIM_GPU_MATMUL={other}: use tiled or per-row"),
        Err(_) => MatmulKernel::Auto,
    };
    let opts = GpuOptions {
        matmul,
        ..Default::default()
    };
    let ex = GpuExecutor::new_blocking(opts)
        .expect("a Vulkan device (make apt-deps installs mesa-vulkan-drivers)");
    expect_adapter(&ex.summary().name);
    ex
}

/// `VERBATIM_GOLDEN_CASES` (comma-separated ids): the subset of a corpus to run;
/// an id that is not among `known` fails the test.
pub fn golden_case_filter(known: &[&str]) -> Option<Vec<String>> {
    let ids: Vec<String> = std::env::var("VERBATIM_GOLDEN_CASES")
        .ok()?
        .split(',')
        .map(|c| c.trim().to_string())
        .collect();
    for id in &ids {
        assert!(
            known.contains(&id.as_str()),
            "VERBATIM_GOLDEN_CASES names unknown case '{id}'"
        );
    }
    Some(ids)
}
