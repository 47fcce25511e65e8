//! The golden links of `tests/golden/links/links.json`: links made by earlier releases, each with
//! the reason it exists, that every later build must replay exactly with `verbatim replay`
//! (docs/releasing.md). The browser leg is `tests/browser/site.test.mjs`.

mod common;

use serde_json::Value;
use verbatim::eval::link::{is_eval_link, EvalLink};
use verbatim::replay::RunLink;

fn golden_links() -> Vec<(String, String, String)> {
    let path = common::repo_root().join("tests/golden/links/links.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let doc: Value = serde_json::from_str(&text).unwrap();
    doc["links"]
        .as_array()
        .expect("a links list")
        .iter()
        .map(|entry| {
            let field = |name: &str| entry[name].as_str().unwrap_or_default().to_string();
            (field("id"), field("why"), field("link"))
        })
        .collect()
}

#[test]
fn every_golden_link_states_why_it_exists_and_decodes() {
    let links = golden_links();
    assert!(links.len() >= 5, "{} golden links", links.len());
    for (id, why, link) in &links {
        assert!(
            !id.is_empty() && !why.is_empty(),
            "{id}: an id and a reason"
        );
        if is_eval_link(link) {
            EvalLink::decode(link).unwrap_or_else(|e| panic!("{id}: {e}"));
        } else {
            let run = RunLink::decode(link).unwrap_or_else(|e| panic!("{id}: {e}"));
            assert!(
                run.expect.is_some(),
                "{id}: a golden link records its tokens"
            );
        }
    }
}

#[test]
fn every_golden_link_replays_exactly() {
    for (id, _, link) in golden_links() {
        let (code, out, err) = common::verbatim_cli(&["replay", &link], &[]);
        assert_eq!(code, 0, "{id}: {out}{err}");
        let want = if is_eval_link(&link) {
            "Score reproduced exactly"
        } else {
            "Reproduced exactly"
        };
        assert!(out.contains(want), "{id}: {out}");
    }
}
