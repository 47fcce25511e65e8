//! The golden corpus of spec exact-2 (tests/golden/exact-2, Gemma 3 270M Q4_K_M) on
//! the CPU executor: every case's token ids and per-step logits hashes must come out
//! exactly as pinned. The corpus of exact-1 (tests/golden/exact-1) is checked, and
//! left unchanged, by `golden_exact.rs`.
//!
//! Gemma's head is 262,144 rows, so `make test` runs the short cases;
//! `VERBATIM_GOLDEN_FULL=1` (`make golden-exact2-full`) adds the ones in [`FULL_ONLY`]
//! (a context past the 512-position sliding window). New cases are pinned with
//! `VERBATIM_BLESS=1`, which only fills in cases missing from expected.json.
//!
//! As for exact-1 (`golden_exact.rs`), `VERBATIM_EXECUTOR=gpu` runs the corpus on
//! the GPU executor and `VERBATIM_GOLDEN_CASES` a subset of it (`make test-gpu`
//! replays one short case on the software Vulkan drivers).

mod common;

use verbatim::engine::EngineKind;
use verbatim::golden::{Corpus, Expected};
use verbatim::session::{LoadedModel, Session};

/// Cases too slow for `make test`.
const FULL_ONLY: [&str; 1] = ["gemma-long-window"];

#[test]
fn exact_2_golden_corpus_replays_exactly() {
    let dir = common::repo_root().join("tests/golden/exact-2");
    let corpus = Corpus::parse(&std::fs::read_to_string(dir.join("cases.json")).unwrap()).unwrap();
    assert_eq!(corpus.spec, "exact-2");
    assert!(corpus.cases.len() >= 6, "the exact-2 corpus lost cases");
    let exp_path = dir.join("expected.json");
    let mut expected = Expected::parse(&std::fs::read_to_string(&exp_path).unwrap()).unwrap();
    let full = std::env::var_os("VERBATIM_GOLDEN_FULL").is_some();
    let gpu = common::gpu_requested();
    let known: Vec<&str> = corpus.cases.iter().map(|c| c.id.as_str()).collect();
    let only = common::golden_case_filter(&known);
    let bless = std::env::var_os("VERBATIM_BLESS").is_some() && !gpu && only.is_none();
    let mut session: Option<Session> = None;
    let (mut failures, mut added, mut ran) = (Vec::new(), 0, 0);
    for case in &corpus.cases {
        let skip = match &only {
            Some(ids) => !ids.contains(&case.id),
            None => !full && FULL_ONLY.contains(&case.id.as_str()),
        };
        if skip {
            continue;
        }
        ran += 1;
        let session = session.get_or_insert_with(|| {
            let bytes = common::model_bytes(&case.model);
            let model = if gpu {
                LoadedModel::load_gpu(bytes, common::gpu_executor()).unwrap()
            } else {
                LoadedModel::load(bytes, EngineKind::Exact).unwrap()
            };
            assert_eq!(model.spec(), Some("exact-2"));
            Session::new(model)
        });
        if common::run_golden_case(session, case, &mut expected, bless, &mut failures) {
            added += 1;
        }
    }
    if added > 0 {
        let text = serde_json::to_string_pretty(&expected).unwrap() + "\n";
        std::fs::write(&exp_path, text).unwrap();
        eprintln!("added {added} expected outcomes to {}", exp_path.display());
    }
    eprintln!("{ran} cases ran");
    assert!(
        failures.is_empty(),
        "golden mismatches:\n{}",
        failures.join("\n")
    );
}
