//! `verbatim replay --file`: every link of a file replayed, one summary line each,
//! exit status 1 if any diverged or failed (docs/ci.md). Short links (4 tokens) keep
//! it quick; the model is loaded once for all links that name it.

mod common;

use verbatim::replay::{Expectation, RunLink};

fn verbatim(args: &[&str]) -> (i32, String, String) {
    common::verbatim_cli(args, &[])
}

fn links_file(name: &str, text: impl AsRef<[u8]>) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("verbatim-replay-file-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn a_links_file_gives_one_line_per_link_and_fails_on_any_divergence() {
    let (code, out, err) = verbatim(&[
        "link",
        "--prompt",
        "Name a color.",
        "--chat",
        "--max-tokens",
        "4",
    ]);
    assert_eq!(code, 0, "{err}");
    let url = out.trim().to_string();
    let fragment = &url[url.rfind('#').unwrap()..];

    let mut altered = RunLink::decode(&url).unwrap();
    let mut ids = altered.expect.take().unwrap().token_ids;
    ids[1] = (ids[1] + 1) % 49152;
    altered.expect = Some(Expectation::of(ids));
    let altered = altered.encode().unwrap();

    // All good: a comment, blank lines, the address and its bare fragment.
    let good = links_file(
        "good.txt",
        format!("# the paper's links\n\n{url}\n  {fragment}  \n\n"),
    );
    let (code, out, err) = verbatim(&["replay", "--file", good.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}\n{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "{out}");
    for line in &lines[..2] {
        assert!(line.starts_with("ok        "), "{line}");
        assert!(
            line.contains("smollm2-135m-instruct-q4_1  Reproduced exactly: 4/4 tokens"),
            "{line}"
        );
    }
    // The same link in both forms has the same id.
    assert_eq!(lines[0], lines[1]);
    assert_eq!(
        lines[2],
        "2 links: 2 reproduced exactly, 0 diverged, 0 could not be replayed"
    );

    // One diverges, one is cut short, one is not a link at all: exit 1.
    let bad = links_file(
        "bad.txt",
        format!(
            "{url}\n{altered}\n# cut:\n{}\nnot a link\n",
            &url[..url.len() - 9]
        ),
    );
    let (code, out, err) = verbatim(&["replay", "--file", bad.to_str().unwrap()]);
    assert_eq!(code, 1, "{out}\n{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 5, "{out}");
    assert!(lines[0].starts_with("ok        "), "{out}");
    assert!(lines[1].starts_with("DIVERGED  "), "{out}");
    assert!(
        lines[1].contains("line 2: first divergence at token 2: expected"),
        "{out}"
    );
    assert!(lines[2].starts_with("ERROR     line 4: the link"), "{out}");
    assert!(lines[3].starts_with("ERROR     line 5: "), "{out}");
    assert_eq!(
        lines[4],
        "4 links: 1 reproduced exactly, 1 diverged, 2 could not be replayed"
    );
}

#[test]
fn an_empty_or_missing_links_file_is_an_error() {
    let empty = links_file("empty.txt", "# nothing yet\n\n");
    let (code, _, err) = verbatim(&["replay", "--file", empty.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(err.contains("holds no links"), "{err}");

    let (code, _, err) = verbatim(&["replay", "--file", "/nonexistent/links.txt"]);
    assert_eq!(code, 1);
    assert!(err.contains("cannot read the links file"), "{err}");

    // A link and --file together are refused by the argument parser.
    let (code, _, err) = verbatim(&["replay", "v1.AAAA", "--file", empty.to_str().unwrap()]);
    assert_ne!(code, 0);
    assert!(err.contains("cannot be used with"), "{err}");
}

#[test]
fn eval_links_in_a_file_replay_their_score() {
    use verbatim::eval::task::{write_task_file, OutputType, TaskHeaderSpec};
    let spec = TaskHeaderSpec {
        name: "toy".into(),
        version: 1,
        output_type: OutputType::MultipleChoice,
        package: "tests".into(),
        licence: "CC0-1.0".into(),
    };
    let item = r#"{"context":"Question: What color is the sky?\nAnswer:","choices":["blue","green"],"gold":0}"#;
    let task = links_file("toy.jsonl", write_task_file(&spec, &[item.to_string()]));
    let task = task.to_str().unwrap();
    let (code, out, err) = verbatim(&["eval", "--task-file", task, "--limit", "1", "--link"]);
    assert_eq!(code, 0, "{err}");
    let url = out.lines().last().unwrap();
    assert!(url.contains("#e1."), "{out}");

    let file = links_file("eval.txt", format!("# scores\n{url}\n"));
    let (code, out, err) = verbatim(&[
        "replay",
        "--file",
        file.to_str().unwrap(),
        "--task-file",
        task,
    ]);
    assert_eq!(code, 0, "{out}\n{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines[0].starts_with("ok        ")
            && lines[0].contains("smollm2-135m-instruct-q4_1  Score reproduced exactly: acc "),
        "{out}"
    );
    assert_eq!(
        lines[1],
        "1 link: 1 reproduced exactly, 0 diverged, 0 could not be replayed"
    );
}
