//! `verbatim link` makes a link that `verbatim replay` reproduces exactly; a link
//! whose expectation was altered is reported as diverged with exit status 1.

mod common;

use std::process::Command;
use verbatim::replay::RunLink;

fn verbatim(args: &[&str]) -> (i32, String, String) {
    common::model_bytes("smollm2-135m-instruct-q4_1"); // fails clearly if not fetched
    let out = Command::new(env!("CARGO_BIN_EXE_verbatim"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn link_then_replay_reproduces_and_tampering_diverges() {
    let (code, out, err) = verbatim(&[
        "link",
        "--prompt",
        "Name a color.",
        "--chat",
        "--max-tokens",
        "12",
        "--temperature",
        "0.9",
        "--seed",
        "5",
    ]);
    assert_eq!(code, 0, "{err}");
    let url = out.trim();
    assert!(url.starts_with("http://127.0.0.1:8080/#v1."), "{url}");

    let (code, out, err) = verbatim(&["replay", url]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("Reproduced exactly"), "{out}");

    let mut link = RunLink::decode(url).unwrap();
    let e = link.expect.as_mut().unwrap();
    e.token_ids[2] = (e.token_ids[2] + 1) % 49152;
    let (code, out, _) = verbatim(&["replay", &link.encode()]);
    assert_eq!(code, 1);
    assert!(out.contains("Diverged at token 3"), "{out}");

    let (code, _, err) = verbatim(&["replay", &url[..url.len() - 9]]);
    assert_eq!(code, 1);
    assert!(err.contains("error: the link"), "{err}");
}
