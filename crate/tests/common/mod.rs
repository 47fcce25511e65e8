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
