//! The golden corpus of spec exact-1 (tests/golden/exact-1): every case's token ids
//! and per-step logits hashes must come out exactly as pinned. Two files of cases:
//! `cases.json` (pinned in expected.json; also replayed in the browser,
//! tests/browser/golden.test.mjs) and `spec-points.json` (pinned in
//! spec-points-expected.json: cases that pin points of docs/numerics.md).
//!
//! New cases are added with `VERBATIM_BLESS=1 cargo test --test golden_exact`, which
//! only fills in cases missing from an expected file; existing entries are never
//! rewritten.
//!
//! `VERBATIM_EXECUTOR=gpu` runs the corpus on the GPU executor (the Vulkan driver
//! the loader picks; `VK_ICD_FILENAMES` selects one) and `VERBATIM_GOLDEN_CASES`
//! (comma-separated ids) a subset: software Vulkan is slow, so `make test` runs a
//! representative subset there and `make golden-gpu-full` all of it.
//! `VERBATIM_EXPECT_ADAPTER` (set by the Makefile: `llvmpipe`, `SwiftShader`)
//! makes a GPU run fail unless the adapter's name contains it, so a leg cannot
//! silently run on another driver. Loading, running and comparing cases is
//! `verbatim::golden`, shared with `verbatim conformance`.
//!
//! The CPU executor splits matmul rows and attention heads over threads; the
//! whole corpus runs on as many threads as the machine has (2 here and in CI), and
//! the quick subset ([`golden::QUICK`]) also on 1 and 4 threads, each of which must
//! give the pinned bits (`quick_cases_replay_on_1_and_4_threads`).

mod common;

use std::collections::BTreeMap;
use verbatim::cpu::CpuExecutor;
use verbatim::engine::EngineKind;
use verbatim::golden::{self, compare, Corpus, Expected, Verdict};
use verbatim::session::{LoadedModel, Session};

/// The corpus files (cases, expected outcomes) and the fewest cases each must hold.
const CORPORA: [(&str, &str, usize); 2] = [
    ("cases.json", "expected.json", 20),
    ("spec-points.json", "spec-points-expected.json", 6),
];

/// One file of cases with its expected outcomes.
struct Loaded {
    corpus: Corpus,
    exp_path: std::path::PathBuf,
    expected: Expected,
    added: usize,
}

fn load_corpora() -> Vec<Loaded> {
    let dir = common::repo_root().join("tests/golden/exact-1");
    let loaded: Vec<Loaded> = CORPORA
        .iter()
        .map(|(cases, exp, min)| {
            let corpus = Corpus::parse(&std::fs::read_to_string(dir.join(cases)).unwrap())
                .unwrap_or_else(|e| panic!("{cases}: {e}"));
            assert!(
                corpus.cases.len() >= *min,
                "{cases} has fewer than {min} cases"
            );
            let exp_path = dir.join(exp);
            let expected = match std::fs::read_to_string(&exp_path) {
                Ok(s) => Expected::parse(&s).unwrap_or_else(|e| panic!("{exp}: {e}")),
                Err(_) => Expected {
                    spec: corpus.spec.clone(),
                    cases: BTreeMap::new(),
                },
            };
            Loaded {
                corpus,
                exp_path,
                expected,
                added: 0,
            }
        })
        .collect();
    let mut ids = std::collections::BTreeSet::new();
    for case in loaded.iter().flat_map(|l| &l.corpus.cases) {
        assert!(ids.insert(&case.id), "case id '{}' is used twice", case.id);
    }
    loaded
}

#[test]
fn golden_corpus_replays_exactly() {
    let mut corpora = load_corpora();
    let gpu = common::gpu_requested();
    let known: Vec<&str> = corpora
        .iter()
        .flat_map(|l| l.corpus.cases.iter().map(|c| c.id.as_str()))
        .collect();
    let only = common::golden_case_filter(&known);
    let bless = std::env::var_os("VERBATIM_BLESS").is_some() && !gpu && only.is_none();
    let mut sessions: BTreeMap<String, Session> = BTreeMap::new();
    let mut failures = Vec::new();
    let mut ran = 0;
    for loaded in &mut corpora {
        for case in &loaded.corpus.cases {
            if only.as_ref().is_some_and(|ids| !ids.contains(&case.id)) {
                continue;
            }
            ran += 1;
            let session = sessions.entry(case.model.clone()).or_insert_with(|| {
                let bytes = common::model_bytes(&case.model);
                let model = if gpu {
                    LoadedModel::load_gpu(bytes, common::gpu_executor()).unwrap()
                } else {
                    LoadedModel::load(bytes, EngineKind::Exact).unwrap()
                };
                eprintln!("executor: {}", model.executor());
                Session::new(model)
            });
            if common::run_golden_case(session, case, &mut loaded.expected, bless, &mut failures) {
                loaded.added += 1;
            }
        }
    }
    for loaded in corpora.iter().filter(|l| l.added > 0) {
        std::fs::write(
            &loaded.exp_path,
            serde_json::to_string_pretty(&loaded.expected).unwrap() + "\n",
        )
        .unwrap();
        eprintln!(
            "added {} expected outcomes to {}",
            loaded.added,
            loaded.exp_path.display()
        );
    }
    eprintln!("{ran} cases ran");
    assert!(
        failures.is_empty(),
        "golden mismatches:\n{}",
        failures.join("\n")
    );
}

#[test]
fn quick_cases_replay_on_1_and_4_threads() {
    if std::env::var("VERBATIM_EXECUTOR").as_deref() == Ok("gpu") {
        eprintln!("VERBATIM_EXECUTOR=gpu: the thread counts are the CPU executor's");
        return;
    }
    let corpora = load_corpora();
    let (corpus, expected) = (&corpora[0].corpus, &corpora[0].expected);
    let cases = corpus.quick().unwrap();
    let model = &cases[0].model;
    assert!(
        cases.iter().all(|c| &c.model == model),
        "the quick cases share one model"
    );
    let bytes = common::model_bytes(model);
    let mut failures = Vec::new();
    for threads in [1, 4] {
        let cpu = CpuExecutor::with_threads(threads);
        assert_eq!(cpu.threads(), threads);
        let mut session = Session::new(LoadedModel::load_cpu(bytes.clone(), cpu).unwrap());
        let started = std::time::Instant::now();
        for case in &cases {
            let got = golden::run(&mut session, &case.options).expect("valid case");
            match compare(expected.cases.get(&case.id), &got) {
                Verdict::Pass => {}
                Verdict::Missing => failures.push(format!("{}: no expected outcome", case.id)),
                Verdict::Diverged { detail, .. } => {
                    failures.push(format!("{} on {threads} thread(s): {detail}", case.id))
                }
            }
        }
        eprintln!(
            "{} quick cases on {threads} thread(s) in {:.1} s",
            cases.len(),
            started.elapsed().as_secs_f64()
        );
    }
    assert!(
        failures.is_empty(),
        "thread counts changed bits:\n{}",
        failures.join("\n")
    );
}
