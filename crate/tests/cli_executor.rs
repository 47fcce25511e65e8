//! `--executor auto` (crate/src/cli/executor.rs): a Vulkan adapter emulated in software (lavapipe,
//! device type Cpu) is not timed and the CPU runs, saying why; with no Vulkan driver at all the
//! CPU runs too; the tokens are those of `--executor cpu` either way.

mod common;

use std::process::Command;

const LAVAPIPE_ICD: &str = "/usr/share/vulkan/icd.d/lvp_icd.x86_64.json";

/// Runs `generate --json` on `executor` with `VK_ICD_FILENAMES=icd`; returns (json, stderr).
fn generate(executor: &str, icd: &str) -> (serde_json::Value, String) {
    common::model_bytes("smollm2-135m-instruct-q4_1"); // fails clearly if not fetched
    let out = Command::new(env!("CARGO_BIN_EXE_verbatim"))
        .args([
            "generate",
            "--prompt",
            "The capital of France is",
            "--max-tokens",
            "4",
        ])
        .args(["--json", "--executor", executor])
        .env("VK_ICD_FILENAMES", icd)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{stderr}");
    (serde_json::from_slice(&out.stdout).unwrap(), stderr)
}

#[test]
fn auto_runs_on_the_cpu_when_the_gpu_is_emulated_or_missing_and_says_why() {
    let (on_cpu, _) = generate("cpu", LAVAPIPE_ICD);
    if std::path::Path::new(LAVAPIPE_ICD).exists() {
        let (auto, why) = generate("auto", LAVAPIPE_ICD);
        assert_eq!(auto["executor"], "cpu", "{why}");
        assert!(
            why.contains("executor auto: CPU: faster than this machine's GPU executor, whose adapter llvmpipe")
                && why.contains("is emulated in software (device type Cpu)"),
            "{why}"
        );
        assert_eq!(auto["token_ids"], on_cpu["token_ids"]);
        assert_eq!(auto["tokens_hash"], on_cpu["tokens_hash"]);
    }
    let (auto, why) = generate("auto", "/nonexistent/icd.json");
    assert_eq!(auto["executor"], "cpu", "{why}");
    assert!(why.contains("executor auto: CPU: no usable GPU ("), "{why}");
    assert_eq!(auto["tokens_hash"], on_cpu["tokens_hash"]);
}
