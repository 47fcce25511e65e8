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

mod common;

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use verbatim::engine::{tokens_hash, EngineKind};
use verbatim::gpu::{GpuExecutor, GpuOptions, MatmulKernel};
use verbatim::request::RunOptions;
use verbatim::session::{LoadedModel, Session};

#[derive(Deserialize)]
struct Corpus {
    spec: String,
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    id: String,
    model: String,
    options: RunOptions,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Outcome {
    prompt_tokens: usize,
    token_ids: Vec<u32>,
    logits_hashes: Vec<String>,
    tokens_hash: String,
    stop_reason: String,
    text: String,
}

#[derive(Serialize, Deserialize)]
struct Expected {
    spec: String,
    cases: BTreeMap<String, Outcome>,
}

fn run(session: &mut Session, opts: &RunOptions) -> Outcome {
    let req = opts.to_request().expect("valid case");
    let prompt_tokens = session.begin(&req).expect("begin");
    let mut text = String::new();
    let mut hashes = Vec::new();
    let reason = loop {
        let s = session.step().expect("step");
        text.push_str(&s.text);
        hashes.push(format!("{:016x}", s.logits_hash.expect("exact engine")));
        if let Some(r) = s.stop {
            break r;
        }
    };
    let ids = session.generated().to_vec();
    Outcome {
        prompt_tokens,
        tokens_hash: tokens_hash(&ids),
        token_ids: ids,
        logits_hashes: hashes,
        stop_reason: reason.as_str().to_string(),
        text,
    }
}

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
            let corpus: Corpus =
                serde_json::from_str(&std::fs::read_to_string(dir.join(cases)).unwrap()).unwrap();
            assert_eq!(corpus.spec, "exact-1", "{cases}");
            assert!(
                corpus.cases.len() >= *min,
                "{cases} has fewer than {min} cases"
            );
            let exp_path = dir.join(exp);
            let expected = match std::fs::read_to_string(&exp_path) {
                Ok(s) => serde_json::from_str(&s).unwrap(),
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
    let gpu = match std::env::var("VERBATIM_EXECUTOR").as_deref() {
        Ok("gpu") => true,
        Ok("cpu") | Err(_) => false,
        Ok(other) => panic!("VERBATIM_EXECUTOR={other}: use cpu or gpu"),
    };
    let only: Option<Vec<String>> = std::env::var("VERBATIM_GOLDEN_CASES")
        .ok()
        .map(|s| s.split(',').map(|c| c.trim().to_string()).collect());
    if let Some(ids) = &only {
        for id in ids {
            assert!(
                corpora
                    .iter()
                    .any(|l| l.corpus.cases.iter().any(|c| &c.id == id)),
                "VERBATIM_GOLDEN_CASES names unknown case '{id}'"
            );
        }
    }
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
            let session = sessions
                .entry(case.model.clone())
                .or_insert_with(|| open_session(&case.model, gpu));
            let started = std::time::Instant::now();
            let got = run(session, &case.options);
            eprintln!(
                "{}: {} + {} tokens in {:.1} s",
                case.id,
                got.prompt_tokens,
                got.token_ids.len(),
                started.elapsed().as_secs_f64()
            );
            match loaded.expected.cases.get(&case.id) {
                Some(want) if *want == got => {}
                Some(want) => failures.push(format!(
                    "{}: expected tokens {:?}\n   got {:?}\n   first differing step: {:?}",
                    case.id,
                    want.token_ids,
                    got.token_ids,
                    want.logits_hashes
                        .iter()
                        .zip(&got.logits_hashes)
                        .position(|(a, b)| a != b)
                )),
                None if bless => {
                    loaded.expected.cases.insert(case.id.clone(), got);
                    loaded.added += 1;
                }
                None => failures.push(format!(
                    "{}: no expected outcome (add it with VERBATIM_BLESS=1)",
                    case.id
                )),
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

/// A session on `model` on the CPU executor, or on the GPU executor (`gpu`).
fn open_session(model: &str, gpu: bool) -> Session {
    let bytes = common::model_bytes(model);
    let model = if gpu {
        // VERBATIM_GPU_MATMUL=tiled runs the kernel real GPUs get on a software one.
        let matmul = match std::env::var("VERBATIM_GPU_MATMUL").as_deref() {
            Ok("tiled") => MatmulKernel::Tiled,
            Ok("per-row") => MatmulKernel::PerRow,
            Ok(other) => panic!("VERBATIM_GPU_MATMUL={other}: use tiled or per-row"),
            Err(_) => MatmulKernel::Auto,
        };
        let opts = GpuOptions {
            matmul,
            ..Default::default()
        };
        let ex = GpuExecutor::new_blocking(opts)
            .expect("a Vulkan device (make apt-deps installs mesa-vulkan-drivers)");
        LoadedModel::load_gpu(bytes, ex).unwrap()
    } else {
        LoadedModel::load(bytes, EngineKind::Exact).unwrap()
    };
    eprintln!("executor: {}", model.executor());
    Session::new(model)
}
