//! Task files (docs/tasks.md): one JSON header line, then one JSON item per line.
//!
//! Everything in a task file is untrusted (a reader can drop their own file on the
//! page): the parser bounds every size and count and fails with a [`TaskError`]
//! that names the line and the problem, never a panic.

use crate::hash::sha256_hex;
use serde_json::{Map, Value};
use thiserror::Error;

/// The header's format marker (`"verbatim_task": 1`).
pub const TASK_FORMAT: u64 = 1;
/// Largest task file, in bytes.
pub const MAX_FILE_BYTES: usize = 64 << 20;
/// Most items in one task file.
pub const MAX_ITEMS: usize = 100_000;
/// Longest item line, in bytes.
pub const MAX_ITEM_BYTES: usize = 64 << 10;
/// Most choices of a multiple-choice item.
pub const MAX_CHOICES: usize = 32;
/// Longest task name.
pub const MAX_NAME: usize = 64;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum TaskError {
    #[error("the task file is empty")]
    Empty,
    #[error("the task file is too large ({bytes} bytes; at most {MAX_FILE_BYTES})")]
    FileTooLarge { bytes: usize },
    #[error("line {line} is not valid UTF-8 text")]
    NotUtf8 { line: usize },
    #[error("line {line} is not valid JSON: {message}")]
    BadJson { line: usize, message: String },
    #[error("line {line} must be a JSON object")]
    NotAnObject { line: usize },
    #[error("line {line} has no \"{field}\" field")]
    MissingField { line: usize, field: &'static str },
    #[error("line {line}: \"{field}\" must be {expected}")]
    WrongType {
        line: usize,
        field: &'static str,
        expected: &'static str,
    },
    #[error("line {line} has an unknown field \"{field}\"")]
    UnknownField { line: usize, field: String },
    #[error("this is not a Verbatim task file (its first line needs \"verbatim_task\": {TASK_FORMAT}); it may be a newer format")]
    NotATaskFile,
    #[error(
        "unknown output type \"{0}\" (use multiple_choice, loglikelihood or loglikelihood_rolling)"
    )]
    UnknownOutputType(String),
    #[error("the task name must be 1 to {MAX_NAME} characters of a-z, 0-9, '_', '-' or '.'")]
    BadName,
    #[error("line {line}: \"{field}\" is empty")]
    EmptyText { line: usize, field: &'static str },
    #[error("line {line}: gold answer {gold} is out of range (the item has {choices} choices)")]
    GoldOutOfRange {
        line: usize,
        gold: u64,
        choices: usize,
    },
    #[error("line {line}: an item needs 2 to {MAX_CHOICES} choices, not {found}")]
    ChoiceCount { line: usize, found: usize },
    #[error("line {line} is too large ({bytes} bytes; an item may have at most {MAX_ITEM_BYTES})")]
    ItemTooLarge { line: usize, bytes: usize },
    #[error("the file has more than {MAX_ITEMS} items")]
    TooManyItems,
    #[error("the header says {header} items but the file has {found}")]
    CountMismatch { header: u64, found: usize },
    #[error("the items do not match the header's sha256 (header {header}, items {computed}): the file was changed or damaged")]
    HashMismatch { header: String, computed: String },
    #[error("line {line} is empty (items are one per line, without blank lines)")]
    BlankLine { line: usize },
    #[error("the file does not end with a newline")]
    NoFinalNewline,
}

/// How items are scored (lm-evaluation-harness's `output_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputType {
    MultipleChoice,
    Loglikelihood,
    LoglikelihoodRolling,
}

impl OutputType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::MultipleChoice => "multiple_choice",
            Self::Loglikelihood => "loglikelihood",
            Self::LoglikelihoodRolling => "loglikelihood_rolling",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::MultipleChoice,
            Self::Loglikelihood,
            Self::LoglikelihoodRolling,
        ]
        .into_iter()
        .find(|t| t.as_str() == s)
    }
    /// The byte that encodes this type in an eval link.
    pub fn code(self) -> u64 {
        match self {
            Self::MultipleChoice => 0,
            Self::Loglikelihood => 1,
            Self::LoglikelihoodRolling => 2,
        }
    }
}

/// Where a task's items come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskSource {
    pub package: String,
    pub version: String,
    pub path: String,
}

/// One item, as lm-eval builds its requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    /// Scored continuations `target_delimiter + choice` after `context`.
    Choice {
        context: String,
        choices: Vec<String>,
        gold: u32,
    },
    /// One continuation after `context` (LAMBADA: `" " + last word`).
    Loglikelihood {
        context: String,
        continuation: String,
    },
    /// A whole document's log-likelihood (perplexity).
    Rolling { text: String },
}

/// A parsed, verified task file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Task {
    pub name: String,
    pub version: u64,
    pub output_type: OutputType,
    pub target_delimiter: String,
    pub source: TaskSource,
    pub licence: String,
    /// SHA-256 (hex) of the item lines: the task's identity.
    pub items_sha256: String,
    pub items: Vec<Item>,
}

struct Obj<'a> {
    line: usize,
    map: &'a Map<String, Value>,
}

impl<'a> Obj<'a> {
    fn get(&self, field: &'static str) -> Result<&'a Value, TaskError> {
        self.map.get(field).ok_or(TaskError::MissingField {
            line: self.line,
            field,
        })
    }
    fn wrong(&self, field: &'static str, expected: &'static str) -> TaskError {
        TaskError::WrongType {
            line: self.line,
            field,
            expected,
        }
    }
    fn str(&self, field: &'static str) -> Result<&'a str, TaskError> {
        self.get(field)?
            .as_str()
            .ok_or_else(|| self.wrong(field, "a string"))
    }
    fn text(&self, field: &'static str) -> Result<String, TaskError> {
        let s = self.str(field)?;
        if s.is_empty() {
            return Err(TaskError::EmptyText {
                line: self.line,
                field,
            });
        }
        Ok(s.to_string())
    }
    fn uint(&self, field: &'static str) -> Result<u64, TaskError> {
        self.get(field)?
            .as_u64()
            .ok_or_else(|| self.wrong(field, "a non-negative integer"))
    }
    fn only(&self, allowed: &[&str]) -> Result<(), TaskError> {
        match self.map.keys().find(|k| !allowed.contains(&k.as_str())) {
            Some(k) => Err(TaskError::UnknownField {
                line: self.line,
                field: k.chars().take(64).collect(),
            }),
            None => Ok(()),
        }
    }
}

fn parse_line(line: usize, bytes: &[u8]) -> Result<Map<String, Value>, TaskError> {
    let text = std::str::from_utf8(bytes).map_err(|_| TaskError::NotUtf8 { line })?;
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(TaskError::NotAnObject { line }),
        Err(e) => Err(TaskError::BadJson {
            line,
            message: e.to_string(),
        }),
    }
}

fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_NAME
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_-.".contains(&b))
}

impl Task {
    /// Parses and verifies a whole task file.
    pub fn parse(bytes: &[u8]) -> Result<Self, TaskError> {
        if bytes.is_empty() {
            return Err(TaskError::Empty);
        }
        if bytes.len() > MAX_FILE_BYTES {
            return Err(TaskError::FileTooLarge { bytes: bytes.len() });
        }
        if bytes.last() != Some(&b'\n') {
            return Err(TaskError::NoFinalNewline);
        }
        let header_end = bytes
            .iter()
            .position(|&b| b == b'\n')
            .unwrap_or(bytes.len());
        let header = parse_line(1, &bytes[..header_end])?;
        let h = Obj {
            line: 1,
            map: &header,
        };
        if header.get("verbatim_task").and_then(Value::as_u64) != Some(TASK_FORMAT) {
            return Err(TaskError::NotATaskFile);
        }
        h.only(&[
            "verbatim_task",
            "name",
            "version",
            "output_type",
            "target_delimiter",
            "source",
            "licence",
            "items",
            "items_sha256",
        ])?;
        let name = h.str("name")?.to_string();
        if !valid_name(&name) {
            return Err(TaskError::BadName);
        }
        let version = h.uint("version")?;
        let ot = h.str("output_type")?;
        let output_type = OutputType::parse(ot)
            .ok_or_else(|| TaskError::UnknownOutputType(ot.chars().take(64).collect()))?;
        let target_delimiter = match header.get("target_delimiter") {
            None => " ".to_string(),
            Some(v) => v
                .as_str()
                .ok_or_else(|| h.wrong("target_delimiter", "a string"))?
                .to_string(),
        };
        let src = h
            .get("source")?
            .as_object()
            .ok_or_else(|| h.wrong("source", "an object {package, version, path}"))?;
        let s = Obj { line: 1, map: src };
        s.only(&["package", "version", "path"])?;
        let source = TaskSource {
            package: s.str("package")?.to_string(),
            version: s.str("version")?.to_string(),
            path: s.str("path")?.to_string(),
        };
        let licence = h.text("licence")?;
        let count = h.uint("items")?;
        let want_sha = h.str("items_sha256")?.to_string();
        if want_sha.len() != 64 || !want_sha.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(h.wrong("items_sha256", "64 hexadecimal digits"));
        }
        let body = &bytes[header_end + 1..];
        let mut items = Vec::new();
        let mut start = 0;
        let mut line = 1;
        while start < body.len() {
            line += 1;
            let end = start
                + body[start..]
                    .iter()
                    .position(|&b| b == b'\n')
                    .unwrap_or(body.len() - start);
            let raw = &body[start..end];
            start = end + 1;
            if items.len() == MAX_ITEMS {
                return Err(TaskError::TooManyItems);
            }
            if raw.len() > MAX_ITEM_BYTES {
                return Err(TaskError::ItemTooLarge {
                    line,
                    bytes: raw.len(),
                });
            }
            if raw.is_empty() {
                return Err(TaskError::BlankLine { line });
            }
            let map = parse_line(line, raw)?;
            items.push(parse_item(Obj { line, map: &map }, output_type)?);
        }
        if items.len() as u64 != count {
            return Err(TaskError::CountMismatch {
                header: count,
                found: items.len(),
            });
        }
        let computed = sha256_hex(body);
        if !computed.eq_ignore_ascii_case(&want_sha) {
            return Err(TaskError::HashMismatch {
                header: want_sha,
                computed,
            });
        }
        Ok(Self {
            name,
            version,
            output_type,
            target_delimiter,
            source,
            licence,
            items_sha256: computed,
            items,
        })
    }
}

fn parse_item(o: Obj, ot: OutputType) -> Result<Item, TaskError> {
    Ok(match ot {
        OutputType::MultipleChoice => {
            o.only(&["id", "context", "choices", "gold"])?;
            let context = o.str("context")?.to_string();
            let arr = o
                .get("choices")?
                .as_array()
                .ok_or_else(|| o.wrong("choices", "a list of strings"))?;
            if arr.len() < 2 || arr.len() > MAX_CHOICES {
                return Err(TaskError::ChoiceCount {
                    line: o.line,
                    found: arr.len(),
                });
            }
            let mut choices = Vec::with_capacity(arr.len());
            for c in arr {
                let c = c
                    .as_str()
                    .ok_or_else(|| o.wrong("choices", "a list of strings"))?;
                if c.is_empty() {
                    return Err(TaskError::EmptyText {
                        line: o.line,
                        field: "choices",
                    });
                }
                choices.push(c.to_string());
            }
            let gold = o.uint("gold")?;
            if gold >= choices.len() as u64 {
                return Err(TaskError::GoldOutOfRange {
                    line: o.line,
                    gold,
                    choices: choices.len(),
                });
            }
            Item::Choice {
                context,
                choices,
                gold: gold as u32,
            }
        }
        OutputType::Loglikelihood => {
            o.only(&["id", "context", "continuation"])?;
            Item::Loglikelihood {
                context: o.str("context")?.to_string(),
                continuation: o.text("continuation")?,
            }
        }
        OutputType::LoglikelihoodRolling => {
            o.only(&["id", "text"])?;
            Item::Rolling {
                text: o.text("text")?,
            }
        }
    })
}

/// Builds a task file's bytes from item lines (the inverse of [`Task::parse`],
/// with a placeholder source): tests and small hand-made tasks use it.
pub fn write_task_file(header: &TaskHeaderSpec, item_lines: &[String]) -> Vec<u8> {
    let mut body = String::new();
    for l in item_lines {
        body.push_str(l);
        body.push('\n');
    }
    let mut h = serde_json::json!({
        "verbatim_task": TASK_FORMAT,
        "name": header.name,
        "version": header.version,
        "output_type": header.output_type.as_str(),
        "source": {"package": header.package, "version": "0", "path": "-"},
        "licence": header.licence,
        "items": item_lines.len(),
        "items_sha256": sha256_hex(body.as_bytes()),
    });
    if header.output_type == OutputType::MultipleChoice {
        h["target_delimiter"] = Value::from(" ");
    }
    let mut out = h.to_string().into_bytes();
    out.push(b'\n');
    out.extend_from_slice(body.as_bytes());
    out
}

/// The header fields [`write_task_file`] needs.
pub struct TaskHeaderSpec {
    pub name: String,
    pub version: u64,
    pub output_type: OutputType,
    pub package: String,
    pub licence: String,
}

#[cfg(test)]
#[path = "task_tests.rs"]
mod tests;
