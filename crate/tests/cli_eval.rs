//! `verbatim eval` on small hand-made tasks: three shards merged give exactly the
//! single run's JSON; merge refuses incomplete or mixed shard sets; the
//! loglikelihood and rolling task types run and report their metrics.

mod common;

use std::path::PathBuf;
use verbatim::eval::link::EvalLink;
use verbatim::eval::task::{write_task_file, OutputType, TaskHeaderSpec};

fn verbatim(args: &[&str]) -> (i32, String, String) {
    common::verbatim_cli(args, &[])
}

fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("verbatim-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn write_task(dir: &std::path::Path, ot: OutputType, lines: &[&str]) -> String {
    let spec = TaskHeaderSpec {
        name: "toy".into(),
        version: 1,
        output_type: ot,
        package: "tests".into(),
        licence: "CC0-1.0".into(),
    };
    let l: Vec<String> = lines.iter().map(|s| s.to_string()).collect();
    let path = dir.join(format!("{}.jsonl", ot.as_str()));
    std::fs::write(&path, write_task_file(&spec, &l)).unwrap();
    path.display().to_string()
}

const MC: &[&str] = &[
    r#"{"context":"Question: What color is the sky?\nAnswer:","choices":["blue","green"],"gold":0}"#,
    r#"{"context":"Question: How many legs does a cat have?\nAnswer:","choices":["three","four","ten"],"gold":1}"#,
    r#"{"context":"Question: Which is a fruit?\nAnswer:","choices":["a stone","an apple"],"gold":1}"#,
    r#"{"context":"Question: What is frozen water?\nAnswer:","choices":["ice","steam"],"gold":0}"#,
    r#"{"context":"Question: Where do fish live?\nAnswer:","choices":["in trees","in water"],"gold":1}"#,
    r#"{"context":"The opposite of hot is","choices":["cold","warm"],"gold":0}"#,
];

#[test]
fn three_shards_merged_equal_the_single_run() {
    let dir = temp_dir("eval-shards");
    let task = write_task(&dir, OutputType::MultipleChoice, MC);
    let (code, single, err) = verbatim(&["eval", "--task-file", &task, "--limit", "5", "--json"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("5/5 items"), "progress on stderr: {err}");
    let mut files = Vec::new();
    for i in 0..3 {
        let f = dir.join(format!("shard{i}.json")).display().to_string();
        let shard = format!("{i}/3");
        let (code, _, err) = verbatim(&[
            "eval",
            "--task-file",
            &task,
            "--limit",
            "5",
            "--shard",
            &shard,
            "--out",
            &f,
        ]);
        assert_eq!(code, 0, "{err}");
        files.push(f);
    }
    let (code, merged, err) =
        verbatim(&["eval", "merge", &files[2], &files[0], &files[1], "--json"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(merged, single);
    let v: serde_json::Value = serde_json::from_str(&single).unwrap();
    assert_eq!(v["n"], 5);
    assert_eq!(v["spec"], "exact-1");
    assert_eq!(v["score_spec"], "score-1");
    assert_eq!(v["items"][1]["loglik_q16"].as_array().unwrap().len(), 3);
    assert!(v["metrics"]["acc"].as_f64().unwrap() >= 0.6, "{single}");

    // Incomplete, duplicated and mixed shard sets are refused.
    let (code, _, err) = verbatim(&["eval", "merge", &files[0], &files[1]]);
    assert_eq!(code, 1);
    assert!(err.contains("shards missing: 2/3"), "{err}");
    let (code, _, err) = verbatim(&["eval", "merge", &files[0], &files[0], &files[1]]);
    assert_eq!(code, 1);
    assert!(err.contains("shard 0/3 is given twice"), "{err}");
    let edited = std::fs::read_to_string(&files[1])
        .unwrap()
        .replace("\"pred\":1", "\"pred\":0");
    let bad = dir.join("edited.json");
    std::fs::write(&bad, edited).unwrap();
    let (code, _, err) = verbatim(&["eval", "merge", &files[0], bad.to_str().unwrap(), &files[2]]);
    assert_eq!(code, 1);
    assert!(err.contains("do not match its items hash"), "{err}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn loglikelihood_and_rolling_tasks_and_bad_task_files() {
    let dir = temp_dir("eval-types");
    let ll = write_task(
        &dir,
        OutputType::Loglikelihood,
        &[
            r#"{"context":"One, two, three, four,","continuation":" five"}"#,
            r#"{"context":"The capital of France is","continuation":" Paris"}"#,
        ],
    );
    let (code, out, err) = verbatim(&["eval", "--task-file", &ll, "--json"]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert!(v["metrics"]["perplexity"].as_f64().unwrap() >= 1.0, "{out}");
    assert!(v["metrics"]["acc"].is_number(), "{out}");
    let roll = write_task(
        &dir,
        OutputType::LoglikelihoodRolling,
        &[r#"{"text":"The quick brown fox jumps over the lazy dog."}"#],
    );
    let (code, out, err) = verbatim(&["eval", "--task-file", &roll]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("word_perplexity") && out.contains("bits_per_byte"),
        "{out}"
    );

    let bad = dir.join("bad.jsonl");
    std::fs::write(&bad, b"{\"verbatim_task\":1}\n").unwrap();
    let (code, _, err) = verbatim(&["eval", "--task-file", bad.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(
        err.contains("is not a valid task file") && err.contains("no \"name\" field"),
        "{err}"
    );
    let (code, _, err) = verbatim(&["eval", "--task", "no_such_task"]);
    assert_eq!(code, 1);
    assert!(err.contains("unknown task 'no_such_task'"), "{err}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn eval_link_replays_exactly_and_names_the_first_differing_item() {
    let dir = temp_dir("eval-link");
    let task = write_task(&dir, OutputType::MultipleChoice, MC);
    let (code, out, err) = verbatim(&["eval", "--task-file", &task, "--limit", "3", "--link"]);
    assert_eq!(code, 0, "{err}");
    let url = out.lines().last().unwrap();
    assert!(url.starts_with("http://127.0.0.1:8080/#e1."), "{out}");
    let hash = out
        .lines()
        .find_map(|l| l.trim().strip_prefix("items sha256"))
        .unwrap()
        .trim()
        .to_string();

    let (code, out, err) = verbatim(&["replay", url, "--task-file", &task]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.starts_with("Score reproduced exactly: acc ")
            && out.contains(&format!("on 3 items (items sha256 {hash})")),
        "{out}"
    );

    let mut link = EvalLink::decode(url).unwrap();
    let e = link.expect.as_mut().unwrap();
    let was = e.items[1].choice;
    e.items[1].choice = (was + 1) % 3;
    let (code, out, _) = verbatim(&["replay", &link.encode(), "--task-file", &task]);
    assert_eq!(code, 1);
    assert_eq!(
        out.trim(),
        format!(
            "Item 1 differs: expected choice {}, got choice {was}",
            (was + 1) % 3
        )
    );

    // Without the task file, a task that is not built in is named.
    let (code, _, err) = verbatim(&["replay", url]);
    assert_eq!(code, 1);
    assert!(err.contains("'toy' is not a built-in task"), "{err}");
    let (code, _, err) = verbatim(&["replay", &url[..url.len() - 7], "--task-file", &task]);
    assert_eq!(code, 1);
    assert!(err.contains("error: the link"), "{err}");
    std::fs::remove_dir_all(&dir).ok();
}
