//! The golden links of `tests/golden/links/<release>.json`: links made by each release, each with
//! the reason it exists, that every later build must replay exactly with `verbatim replay`
//! (docs/releasing.md). The browser leg is `tests/browser/site.test.mjs`.

mod common;

use serde_json::Value;
use verbatim::eval::link::{is_eval_link, EvalLink};
use verbatim::replay::RunLink;

/// (id, why, link) of every release's golden links.
fn golden_links() -> Vec<(String, String, String)> {
    let folder = common::repo_root().join("tests/golden/links");
    let mut files: Vec<_> = std::fs::read_dir(&folder)
        .unwrap_or_else(|e| panic!("{}: {e}", folder.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    let mut links = Vec::new();
    for path in files {
        let text = std::fs::read_to_string(&path).unwrap();
        let doc: Value =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        for entry in doc["links"].as_array().expect("a links list") {
            let field = |name: &str| entry[name].as_str().unwrap_or_default().to_string();
            links.push((field("id"), field("why"), field("link")));
        }
    }
    links
}

#[test]
fn every_golden_link_states_why_it_exists_and_decodes() {
    let links = golden_links();
    assert!(links.len() >= 5, "{} golden links", links.len());
    let mut ids: Vec<_> = links.iter().map(|(id, _, _)| id).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(
        ids.len(),
        links.len(),
        "golden link ids are unique across releases"
    );
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
    let links = golden_links();
    // One `verbatim replay` per link, side by side (each mostly loads the model).
    let results: Vec<_> = std::thread::scope(|scope| {
        let runs: Vec<_> = links
            .iter()
            .map(|(_, _, link)| scope.spawn(|| common::verbatim_cli(&["replay", link], &[])))
            .collect();
        runs.into_iter().map(|run| run.join().unwrap()).collect()
    });
    for ((id, _, link), (code, out, err)) in links.iter().zip(results) {
        assert_eq!(code, 0, "{id}: {out}{err}");
        let want = if is_eval_link(link) {
            "Score reproduced exactly"
        } else {
            "Reproduced exactly"
        };
        assert!(out.contains(want), "{id}: {out}");
    }
}
