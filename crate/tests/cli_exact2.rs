//! Links and spec names under `exact-2` (docs/numerics.md, section 13): a Gemma run
//! names `exact-2` and replays; the same link renamed `exact-1` is refused (exact-1
//! does not define gemma3); a SmolLM2 link stays `exact-1` and replays under the
//! name `exact-2` too (a strict superset); an unknown spec is refused by name.

mod common;

use verbatim::replay::RunLink;

fn verbatim(args: &[&str]) -> (i32, String, String) {
    common::verbatim_cli(args, &[])
}

fn link(model: &str, prompt: &str) -> RunLink {
    let args = [
        "link",
        "--model",
        model,
        "--prompt",
        prompt,
        "--max-tokens",
        "3",
    ];
    let (code, out, err) = verbatim(&args);
    assert_eq!(code, 0, "{err}");
    RunLink::decode(out.trim()).unwrap()
}

fn renamed(link: &RunLink, spec: &str) -> String {
    let mut l = link.clone();
    l.spec = spec.into();
    l.encode().unwrap()
}

#[test]
fn gemma_links_name_exact_2_and_exact_1_links_replay_under_either_name() {
    let gemma = link("gemma-3-270m-q4_k_m", "The capital of France is");
    assert_eq!(gemma.spec, "exact-2");
    let (code, out, err) = verbatim(&["replay", &gemma.encode().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("Reproduced exactly: 3/3"), "{out}");
    let (code, _, err) = verbatim(&["replay", &renamed(&gemma, "exact-1")]);
    assert_eq!(code, 1);
    assert!(
        err.contains("'exact-1', which does not define this model"),
        "{err}"
    );

    let smol = link("smollm2-135m-instruct-q4_1", "Once upon a time");
    assert_eq!(smol.spec, "exact-1");
    let (code, out, err) = verbatim(&["replay", &renamed(&smol, "exact-2")]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("Reproduced exactly: 3/3"), "{out}");
    let (code, _, err) = verbatim(&["replay", &renamed(&smol, "exact-9")]);
    assert_eq!(code, 1);
    assert!(err.contains("'exact-9'"), "{err}");
}
