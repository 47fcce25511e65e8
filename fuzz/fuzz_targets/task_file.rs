//! Fuzz target: task files and eval links (see `fuzz/checks.rs` for what is checked).
#![no_main]

#[path = "../checks.rs"]
#[allow(dead_code)]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::task_file(data));
