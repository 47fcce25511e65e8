//! Task files: a valid file parses; hostile files get the error that names the problem.

use super::*;

fn spec(ot: OutputType) -> TaskHeaderSpec {
    TaskHeaderSpec {
        name: "toy".into(),
        version: 1,
        output_type: ot,
        package: "tests".into(),
        licence: "CC0-1.0".into(),
    }
}

fn mc(lines: &[&str]) -> Vec<u8> {
    let l: Vec<String> = lines.iter().map(|s| s.to_string()).collect();
    write_task_file(&spec(OutputType::MultipleChoice), &l)
}

const GOOD: &str = r#"{"context":"Question: 2+2?\nAnswer:","choices":["4","5"],"gold":0}"#;

#[test]
fn a_valid_file_parses() {
    let t = Task::parse(&mc(&[
        GOOD,
        r#"{"id":"x","context":"Q","choices":["a","b","c"],"gold":2}"#,
    ]))
    .unwrap();
    assert_eq!(t.name, "toy");
    assert_eq!(t.output_type, OutputType::MultipleChoice);
    assert_eq!(t.target_delimiter, " ");
    assert_eq!(t.items.len(), 2);
    assert_eq!(
        t.items[0],
        Item::Choice {
            context: "Question: 2+2?\nAnswer:".into(),
            choices: vec!["4".into(), "5".into()],
            gold: 0
        }
    );
    let ll = write_task_file(
        &spec(OutputType::Loglikelihood),
        &[r#"{"context":"The cat sat on the","continuation":" mat"}"#.into()],
    );
    let t = Task::parse(&ll).unwrap();
    assert!(
        matches!(&t.items[0], Item::Loglikelihood { continuation, .. } if continuation == " mat")
    );
    let roll = write_task_file(
        &spec(OutputType::LoglikelihoodRolling),
        &[r#"{"text":"Some text."}"#.into()],
    );
    assert_eq!(Task::parse(&roll).unwrap().items.len(), 1);
}

fn err(bytes: &[u8]) -> TaskError {
    Task::parse(bytes).unwrap_err()
}

#[test]
fn bad_json_names_the_line() {
    let e = err(&mc(&[GOOD, r#"{"context": "Q", "choices": ["a""#]));
    assert!(matches!(e, TaskError::BadJson { line: 3, .. }), "{e}");
    assert!(e.to_string().starts_with("line 3 is not valid JSON"));
    assert_eq!(err(&mc(&["[1, 2]"])), TaskError::NotAnObject { line: 2 });
    assert_eq!(
        err(b"not json at all\n"),
        TaskError::BadJson {
            line: 1,
            message: "expected ident at line 1 column 2".into()
        }
    );
    let mut f = mc(&[GOOD]);
    let n = f.len();
    f[n - 5] = 0xff;
    assert!(matches!(err(&f), TaskError::NotUtf8 { line: 2 }));
}

#[test]
fn missing_fields_and_wrong_types() {
    assert_eq!(
        err(&mc(&[r#"{"context":"Q","choices":["a","b"]}"#])),
        TaskError::MissingField {
            line: 2,
            field: "gold"
        }
    );
    assert_eq!(
        err(&mc(&[r#"{"choices":["a","b"],"gold":0}"#])),
        TaskError::MissingField {
            line: 2,
            field: "context"
        }
    );
    assert_eq!(
        err(&mc(&[r#"{"context":"Q","choices":["a",3],"gold":0}"#])),
        TaskError::WrongType {
            line: 2,
            field: "choices",
            expected: "a list of strings"
        }
    );
    assert_eq!(
        err(&mc(&[r#"{"context":"Q","choices":["a","b"],"gold":-1}"#])),
        TaskError::WrongType {
            line: 2,
            field: "gold",
            expected: "a non-negative integer"
        }
    );
    assert_eq!(
        err(&mc(&[
            r#"{"context":"Q","choices":["a","b"],"gold":0,"answer":1}"#
        ])),
        TaskError::UnknownField {
            line: 2,
            field: "answer".into()
        }
    );
    assert_eq!(
        err(&mc(&[r#"{"context":"Q","choices":["a",""],"gold":0}"#])),
        TaskError::EmptyText {
            line: 2,
            field: "choices"
        }
    );
    assert_eq!(
        err(&mc(&[r#"{"context":"Q","choices":["a"],"gold":0}"#])),
        TaskError::ChoiceCount { line: 2, found: 1 }
    );
}

#[test]
fn gold_out_of_range() {
    let e = err(&mc(&[
        GOOD,
        r#"{"context":"Q","choices":["a","b"],"gold":2}"#,
    ]));
    assert_eq!(
        e,
        TaskError::GoldOutOfRange {
            line: 3,
            gold: 2,
            choices: 2
        }
    );
    assert_eq!(
        e.to_string(),
        "line 3: gold answer 2 is out of range (the item has 2 choices)"
    );
}

#[test]
fn oversized_items_and_too_many_items() {
    let big = format!(
        r#"{{"context":"{}","choices":["a","b"],"gold":0}}"#,
        "x".repeat(MAX_ITEM_BYTES)
    );
    assert!(matches!(
        err(&mc(&[GOOD, &big])),
        TaskError::ItemTooLarge { line: 3, .. }
    ));
    let small = r#"{"context":"","choices":["a","b"],"gold":0}"#;
    let many = vec![small; MAX_ITEMS + 1];
    assert_eq!(err(&mc(&many)), TaskError::TooManyItems);
    let huge = vec![b'\n'; MAX_FILE_BYTES + 1];
    assert!(matches!(err(&huge), TaskError::FileTooLarge { .. }));
}

#[test]
fn header_problems() {
    assert_eq!(err(b""), TaskError::Empty);
    assert_eq!(err(b"{}\n"), TaskError::NotATaskFile);
    assert_eq!(err(br#"{"verbatim_task":2}"#), TaskError::NoFinalNewline);
    assert_eq!(err(b"{\"verbatim_task\":2}\n"), TaskError::NotATaskFile);
    let mut f = mc(&[GOOD]);
    // Count and hash are checked against the items.
    let text = String::from_utf8(f.clone()).unwrap();
    let tampered = text.replace("\"items\":1", "\"items\":2");
    assert_eq!(
        err(tampered.as_bytes()),
        TaskError::CountMismatch {
            header: 2,
            found: 1
        }
    );
    let edited = text.replace("\"gold\":0}", "\"gold\":1}");
    assert!(matches!(
        err(edited.as_bytes()),
        TaskError::HashMismatch { .. }
    ));
    let renamed = text.replace("\"name\":\"toy\"", "\"name\":\"<b>x</b>\"");
    assert_eq!(err(renamed.as_bytes()), TaskError::BadName);
    let typed = text.replace("multiple_choice", "generate_until");
    assert_eq!(
        err(typed.as_bytes()),
        TaskError::UnknownOutputType("generate_until".into())
    );
    f.extend_from_slice(b"\n");
    assert!(matches!(err(&f), TaskError::BlankLine { line: 3 }));
}
