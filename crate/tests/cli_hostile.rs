//! The CLI given hostile model files (issue 16): an error message and exit status 1,
//! never a panic (status 101 and a backtrace).

use std::process::Command;

/// The 57-byte GGUF whose `general.alignment = 0` made candle's reader divide by zero.
fn alignment_zero() -> Vec<u8> {
    let mut b = b"GGUF".to_vec();
    b.extend_from_slice(&3u32.to_le_bytes());
    b.extend_from_slice(&0u64.to_le_bytes());
    b.extend_from_slice(&1u64.to_le_bytes());
    let key = b"general.alignment";
    b.extend_from_slice(&(key.len() as u64).to_le_bytes());
    b.extend_from_slice(key);
    b.extend_from_slice(&4u32.to_le_bytes());
    b.extend_from_slice(&0u32.to_le_bytes());
    assert_eq!(b.len(), 57);
    b
}

#[test]
fn a_hostile_model_file_is_an_error_not_a_panic() {
    let dir = std::env::temp_dir().join(format!("verbatim-cli-hostile-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("alignment-zero.gguf");
    std::fs::write(&path, alignment_zero()).unwrap();
    let file = path.to_str().unwrap();
    for args in [
        &["tokenize", "--model-file", file, "--text", "hi"][..],
        &["generate", "--model-file", file, "--prompt", "hi"],
        &[
            "generate",
            "--model-file",
            file,
            "--prompt",
            "hi",
            "--engine",
            "float",
        ],
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_verbatim"))
            .args(args)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert!(err.contains("general.alignment is 0"), "{args:?}: {err}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
