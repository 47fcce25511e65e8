//! The CLI's `--executor gpu` paths on the Vulkan driver the loader picks
//! (`make test` runs them on lavapipe): `generate`, `link` then `replay`, and
//! `conformance` each give the CPU executor's tokens; a GPU whose start-up
//! self-test fails is refused by every command (the failure is injected with
//! `VERBATIM_TEST_SELFTEST_FAULT`, honoured by debug builds only). Short runs:
//! software Vulkan is slow.

mod common;

use serde_json::Value;

fn verbatim(args: &[&str], fault: bool) -> (i32, String, String) {
    let fault = fault.then_some("1");
    common::verbatim_cli(args, &[("VERBATIM_TEST_SELFTEST_FAULT", fault)])
}

const RUN: [&str; 8] = [
    "--prompt",
    "The capital of France is",
    "--max-tokens",
    "3",
    "--temperature",
    "0.8",
    "--seed",
    "9",
];

fn generate(executor: &str) -> Value {
    let mut args = vec!["generate", "--json", "--executor", executor];
    args.extend(RUN);
    let (code, out, err) = verbatim(&args, false);
    assert_eq!(code, 0, "{err}");
    serde_json::from_str(&out).unwrap()
}

#[test]
fn generate_on_gpu_gives_the_cpu_tokens() {
    let gpu = generate("gpu");
    let cpu = generate("cpu");
    let on = gpu["executor"].as_str().unwrap();
    assert!(on.starts_with("gpu: "), "{on}");
    common::expect_adapter(on);
    assert_eq!(gpu["token_ids"].as_array().unwrap().len(), 3);
    for key in ["token_ids", "logits_hashes", "tokens_hash", "text"] {
        assert_eq!(gpu[key], cpu[key], "{key}");
    }
}

#[test]
fn gpu_link_replays_exactly_on_the_gpu() {
    let mut args = vec!["link", "--executor", "gpu"];
    args.extend(RUN);
    let (code, out, err) = verbatim(&args, false);
    assert_eq!(code, 0, "{err}");
    let url = out.trim();
    assert!(url.contains("#v1."), "{url}");
    let (code, out, err) = verbatim(&["replay", "--executor", "gpu", url], false);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("Reproduced exactly: 3/3 tokens"), "{out}");
    assert!(out.contains("on gpu: "), "{out}");
}

#[test]
fn a_failed_self_test_is_refused_by_every_command() {
    let mut gen = vec!["generate", "--executor", "gpu"];
    gen.extend(RUN);
    let mut link = vec!["link", "--executor", "gpu"];
    link.extend(RUN);
    for args in [gen, link] {
        let (code, out, err) = verbatim(&args, true);
        assert_eq!(code, 1, "{args:?}: {err}");
        assert!(out.is_empty(), "{args:?} printed {out}");
        assert!(
            err.contains("failed the self-test (attention decode: fault injected"),
            "{err}"
        );
        assert!(err.contains("--executor cpu"), "{err}");
    }
    // A valid link (made on the CPU) is not replayed on a GPU that failed.
    let mut cpu_link = vec!["link"];
    cpu_link.extend(RUN);
    let (code, url, err) = verbatim(&cpu_link, false);
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = verbatim(&["replay", "--executor", "gpu", url.trim()], true);
    assert_eq!(code, 1, "{err}");
    assert!(!out.contains("Reproduced"), "{out}");
    assert!(err.contains("failed the self-test"), "{err}");

    let (code, out, err) = verbatim(
        &[
            "conformance",
            "--executor",
            "gpu",
            "--cases",
            "raw-one-token",
            "--json",
        ],
        true,
    );
    assert_eq!(code, 1, "{err}");
    let rep: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(rep["outcome"], "fail");
    let gpu = &rep["executors"][0];
    assert_eq!(gpu["selftest"]["passed"], false);
    assert_eq!(
        gpu["cases"].as_array().unwrap().len(),
        0,
        "cases ran on a failed GPU"
    );
    assert!(err.contains("does not conform"), "{err}");
}

#[test]
fn conformance_on_gpu_and_cpu_passes_and_reports_the_adapter() {
    let (code, out, err) = verbatim(
        &[
            "conformance",
            "--executor",
            "both",
            "--cases",
            "raw-one-token",
            "--json",
        ],
        false,
    );
    assert_eq!(code, 0, "{err}\n{out}");
    let rep: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(rep["outcome"], "pass");
    assert_eq!(rep["spec"], "exact-1");
    assert_eq!(rep["hash"].as_str().unwrap().len(), 12);
    let ex = rep["executors"].as_array().unwrap();
    assert_eq!(ex.len(), 2);
    assert_eq!(ex[0]["executor"], "cpu");
    let gpu = &ex[1];
    assert_eq!(gpu["executor"], "gpu");
    assert_eq!(gpu["selftest"]["passed"], true);
    let adapter = &gpu["adapter"];
    common::expect_adapter(adapter["description"].as_str().unwrap());
    for key in [
        "vendor",
        "device",
        "backend",
        "driver",
        "device_type",
        "dot4",
        "max_storage_binding",
        "software",
    ] {
        assert!(!adapter[key].is_null(), "adapter lacks {key}: {adapter}");
    }
    for e in ex {
        assert_eq!(e["passed"], 1, "{e}");
        assert_eq!(e["cases"][0]["verdict"], "pass", "{e}");
        assert!(e["decode_tok_s"].as_f64().unwrap() > 0.0, "{e}");
    }
    // The readable form ends with the block to paste, naming the report's hash.
    let (code, out, err) = verbatim(
        &[
            "conformance",
            "--executor",
            "cpu",
            "--cases",
            "raw-one-token",
        ],
        false,
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("---- copy for an issue ----"), "{out}");
    assert!(
        out.contains("conformance ") && out.contains(": PASS"),
        "{out}"
    );
}

#[test]
fn conformance_rejects_unknown_cases() {
    let (code, _, err) = verbatim(
        &["conformance", "--executor", "cpu", "--cases", "nope"],
        false,
    );
    assert_eq!(code, 1);
    assert!(err.contains("there is no golden case 'nope'"), "{err}");
}

/// `verbatim eval --executor gpu` scores the same bits as the CPU executor: the
/// KV cache kept and rewound for each choice, each continuation as one batch
/// (two short items: software Vulkan is slow).
#[test]
fn eval_on_gpu_gives_the_cpu_items_hash() {
    use verbatim::eval::task::{write_task_file, OutputType, TaskHeaderSpec};
    let dir = std::env::temp_dir().join(format!("verbatim-eval-gpu-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let spec = TaskHeaderSpec {
        name: "toy".into(),
        version: 1,
        output_type: OutputType::MultipleChoice,
        package: "tests".into(),
        licence: "CC0-1.0".into(),
    };
    let lines = vec![
        r#"{"context":"The sky is","choices":["blue","green","made of cheese"],"gold":0}"#
            .to_string(),
        r#"{"context":"Ice is","choices":["cold","hot"],"gold":0}"#.to_string(),
    ];
    let task = dir.join("toy.jsonl");
    std::fs::write(&task, write_task_file(&spec, &lines)).unwrap();
    let task = task.display().to_string();
    let run = |executor: &str| -> Value {
        let args = [
            "eval",
            "--task-file",
            &task,
            "--executor",
            executor,
            "--json",
        ];
        let (code, out, err) = verbatim(&args, false);
        assert_eq!(code, 0, "{err}");
        serde_json::from_str(&out).unwrap()
    };
    let (gpu, cpu) = (run("gpu"), run("cpu"));
    assert_eq!(gpu["n"], 2);
    assert_eq!(gpu["items_hash"], cpu["items_hash"]);
    assert_eq!(gpu["items"], cpu["items"]);
    std::fs::remove_dir_all(&dir).unwrap();
}
