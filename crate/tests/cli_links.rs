//! `verbatim link` makes a link that `verbatim replay` reproduces exactly; a link
//! whose expectation was altered is reported as diverged with exit status 1.

mod common;

use verbatim::replay::{Expectation, RunLink};

fn verbatim(args: &[&str]) -> (i32, String, String) {
    common::verbatim_cli(args, &[])
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

    let link = RunLink::decode(url).unwrap();
    let with_ids = |edit: &dyn Fn(&mut Vec<u32>)| {
        let mut l = link.clone();
        let mut ids = l.expect.take().unwrap().token_ids;
        edit(&mut ids);
        l.expect = Some(Expectation::of(ids));
        l.encode().unwrap()
    };
    let (code, out, _) = verbatim(&["replay", &with_ids(&|ids| ids[2] = (ids[2] + 1) % 49152)]);
    assert_eq!(code, 1);
    assert!(out.contains("Diverged at token 3"), "{out}");

    // An expected id outside the vocabulary is a divergence at its position too.
    let (code, out, err) = verbatim(&["replay", &with_ids(&|ids| ids[1] = 4_000_000_000)]);
    assert_eq!(code, 1, "{err}");
    assert!(
        out.contains(
            "Diverged at token 2: expected (token id 4000000000, not in this model's vocabulary)"
        ),
        "{out}"
    );

    // Ids changed without their hash: refused, never "Reproduced exactly".
    let mut forged = link.clone();
    forged.expect.as_mut().unwrap().token_ids[0] ^= 1;
    let text = verbatim::replay::pack_payload(&forged.unchecked_fields());
    let (code, out, err) = verbatim(&["replay", &text]);
    assert_eq!(code, 1);
    assert!(!out.contains("Reproduced"), "{out}");
    assert!(err.contains("do not match their hash"), "{err}");

    let (code, _, err) = verbatim(&["replay", &url[..url.len() - 9]]);
    assert_eq!(code, 1);
    assert!(err.contains("error: the link"), "{err}");
}
