//! Replays, on the stable toolchain, every input the fuzzers found a failure with
//! (`fuzz/regressions/<target>/*`) and the committed, minimized corpus
//! (`fuzz/corpus/<target>/*`), through the same checks the cargo-fuzz targets
//! run (`fuzz/checks.rs`). A panic here is a fuzz crash come back.

#[path = "../../fuzz/checks.rs"]
mod checks;

use std::path::PathBuf;
use std::time::Instant;

fn inputs(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
    let mut out = Vec::new();
    for dir in ["regressions", "corpus"] {
        let Ok(entries) = std::fs::read_dir(root.join(dir).join(target)) else {
            continue;
        };
        for e in entries {
            let path = e.unwrap().path();
            if path.is_file() && path.file_name().is_some_and(|n| n != ".gitkeep") {
                let bytes = std::fs::read(&path).unwrap();
                out.push((path, bytes));
            }
        }
    }
    out.sort();
    out
}

fn replay(target: &str, check: fn(&[u8])) {
    let all = inputs(target);
    assert!(!all.is_empty(), "no inputs for {target}");
    let t = Instant::now();
    for (path, bytes) in &all {
        let started = Instant::now();
        check(bytes);
        assert!(
            started.elapsed().as_secs() < 10,
            "{} took {:?}",
            path.display(),
            started.elapsed()
        );
    }
    eprintln!("{target}: {} inputs in {:?}", all.len(), t.elapsed());
}

#[test]
fn link_decode() {
    replay("link_decode", checks::link_decode);
}

#[test]
fn gguf_load() {
    replay("gguf_load", checks::gguf_load);
}

#[test]
fn tokenizer_gguf() {
    replay("tokenizer_gguf", checks::tokenizer_gguf);
}

#[test]
fn chat_template() {
    replay("chat_template", checks::chat_template);
}

#[test]
fn task_file() {
    replay("task_file", checks::task_file);
}
