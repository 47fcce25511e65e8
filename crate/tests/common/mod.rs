//! Shared helpers of the integration tests: model files and golden paths.
#![allow(dead_code)]

use std::path::PathBuf;

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
