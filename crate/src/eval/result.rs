//! An evaluation's result as JSON (the CLI's `--json`, the page's export) and
//! the merge of shards into the single run's result.

use super::fingerprint::items_hash;
use super::metrics::{Metrics, Tally};
use super::run::ItemResult;
use super::score::{ContinuationScore, SCORE_SPEC};
use super::task::OutputType;
use crate::hash::hex;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use thiserror::Error;

/// What was evaluated, shared by every shard of one evaluation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunInfo {
    pub task: String,
    pub task_version: u64,
    /// The task file's `items_sha256`.
    pub task_sha256: String,
    pub output_type: String,
    pub model: String,
    pub model_sha256: String,
    /// `exact` or `float`.
    pub engine: String,
    /// The forward pass's numeric spec (`exact-1`); none for the float reference.
    pub spec: Option<String>,
    pub score_spec: String,
    /// The first `limit` items of the task (all when none).
    pub limit: Option<u64>,
}

/// One item in the JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ItemJson {
    pub id: u32,
    pub gold: Option<u32>,
    pub pred: u32,
    pub pred_norm: u32,
    /// Log-likelihood per choice in nats (exactly `loglik_q16 / 65536`).
    pub loglik: Vec<f64>,
    /// The exact values: Q16 integers.
    pub loglik_q16: Vec<i64>,
    pub tokens: Vec<u32>,
    pub greedy: Vec<bool>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub words: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub bytes: Option<u64>,
}

/// An evaluation's result (or one shard's).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalResult {
    #[serde(flatten)]
    pub info: RunInfo,
    /// `"I/N"` for shard I (0-based) of N; none for a whole run or a merge.
    pub shard: Option<String>,
    pub n: u64,
    pub metrics: Metrics,
    pub items: Vec<ItemJson>,
    pub items_hash: String,
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum MergeError {
    #[error("nothing to merge")]
    Empty,
    #[error("{file}: not an evaluation result ({message})")]
    NotAResult { file: String, message: String },
    #[error("{file} is from a different evaluation ({field} differs: '{a}' vs '{b}')")]
    Mismatch {
        file: String,
        field: &'static str,
        a: String,
        b: String,
    },
    #[error("{file} is not a shard (it has no \"shard\": \"I/N\")")]
    NotAShard { file: String },
    #[error("shard {shard} is given twice")]
    DuplicateShard { shard: String },
    #[error("shards missing: {missing} (of {total})")]
    MissingShards { missing: String, total: usize },
    #[error("item {id} appears in two shards")]
    DuplicateItem { id: u32 },
    #[error("{file}: its items do not match its items hash (edited or damaged)")]
    HashMismatch { file: String },
    #[error("{file}: item {id} is inconsistent ({why})")]
    BadItem {
        file: String,
        id: u32,
        why: &'static str,
    },
}

impl ItemJson {
    pub fn from_result(it: &ItemResult) -> Self {
        Self {
            id: it.id,
            gold: it.gold,
            pred: it.pred,
            pred_norm: it.pred_norm,
            loglik: it
                .scores
                .iter()
                .map(|s| s.loglik_q16 as f64 / 65536.0)
                .collect(),
            loglik_q16: it.scores.iter().map(|s| s.loglik_q16).collect(),
            tokens: it.scores.iter().map(|s| s.tokens).collect(),
            greedy: it.scores.iter().map(|s| s.greedy).collect(),
            words: it.words,
            bytes: it.bytes,
        }
    }

    /// The exact result (from the integer fields).
    pub fn to_result(&self) -> Result<ItemResult, &'static str> {
        let n = self.loglik_q16.len();
        if n == 0 || self.tokens.len() != n || self.greedy.len() != n {
            return Err("loglik_q16, tokens and greedy must have one entry per choice");
        }
        if self.pred as usize >= n || self.pred_norm as usize >= n {
            return Err("a prediction is out of range");
        }
        Ok(ItemResult {
            id: self.id,
            gold: self.gold,
            scores: (0..n)
                .map(|i| ContinuationScore {
                    loglik_q16: self.loglik_q16[i],
                    greedy: self.greedy[i],
                    tokens: self.tokens[i],
                })
                .collect(),
            pred: self.pred,
            pred_norm: self.pred_norm,
            words: self.words,
            bytes: self.bytes,
        })
    }
}

impl EvalResult {
    /// The result of `items` (sorted here by id).
    pub fn new(info: RunInfo, shard: Option<(usize, usize)>, mut items: Vec<ItemResult>) -> Self {
        items.sort_by_key(|i| i.id);
        let ot = OutputType::parse(&info.output_type).unwrap_or(OutputType::MultipleChoice);
        let metrics = Tally::of(&items, ot).metrics(ot);
        Self {
            shard: shard.map(|(i, n)| format!("{i}/{n}")),
            n: items.len() as u64,
            metrics,
            items_hash: hex(&items_hash(&items)),
            items: items.iter().map(ItemJson::from_result).collect(),
            info,
        }
    }

    /// The exact items, checked against the items hash.
    pub fn exact_items(&self, file: &str) -> Result<Vec<ItemResult>, MergeError> {
        let items = self
            .items
            .iter()
            .map(|j| {
                j.to_result().map_err(|why| MergeError::BadItem {
                    file: file.into(),
                    id: j.id,
                    why,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        if hex(&items_hash(&items)) != self.items_hash {
            return Err(MergeError::HashMismatch { file: file.into() });
        }
        Ok(items)
    }
}

/// Parses shard results; `(name, text)` per file.
pub fn parse_results(files: &[(String, String)]) -> Result<Vec<EvalResult>, MergeError> {
    files
        .iter()
        .map(|(name, text)| {
            serde_json::from_str(text).map_err(|e| MergeError::NotAResult {
                file: name.clone(),
                message: e.to_string(),
            })
        })
        .collect()
}

/// Combines the shards of one evaluation (every shard `I/N` exactly once) into
/// exactly the result a single run gives.
pub fn merge(files: &[(String, String)]) -> Result<EvalResult, MergeError> {
    let results = parse_results(files)?;
    let first = results.first().ok_or(MergeError::Empty)?;
    let info = first.info.clone();
    let mut total = None;
    let mut seen = BTreeSet::new();
    let mut items = Vec::new();
    let mut ids = BTreeSet::new();
    for ((name, _), r) in files.iter().zip(&results) {
        let a = serde_json::to_value(&info).unwrap_or_default();
        let b = serde_json::to_value(&r.info).unwrap_or_default();
        for field in [
            "task",
            "task_version",
            "task_sha256",
            "output_type",
            "model",
            "model_sha256",
            "engine",
            "spec",
            "score_spec",
            "limit",
        ] {
            if a[field] != b[field] {
                return Err(MergeError::Mismatch {
                    file: name.clone(),
                    field,
                    a: a[field].to_string(),
                    b: b[field].to_string(),
                });
            }
        }
        let (i, n) = r
            .shard
            .as_deref()
            .and_then(parse_shard)
            .ok_or_else(|| MergeError::NotAShard { file: name.clone() })?;
        if *total.get_or_insert(n) != n {
            return Err(MergeError::Mismatch {
                file: name.clone(),
                field: "shard count",
                a: total.unwrap_or(0).to_string(),
                b: n.to_string(),
            });
        }
        if !seen.insert(i) {
            return Err(MergeError::DuplicateShard {
                shard: format!("{i}/{n}"),
            });
        }
        for it in r.exact_items(name)? {
            if !ids.insert(it.id) {
                return Err(MergeError::DuplicateItem { id: it.id });
            }
            items.push(it);
        }
    }
    let total = total.unwrap_or(0);
    let missing: Vec<String> = (0..total)
        .filter(|i| !seen.contains(i))
        .map(|i| format!("{i}/{total}"))
        .collect();
    if !missing.is_empty() {
        return Err(MergeError::MissingShards {
            missing: missing.join(", "),
            total,
        });
    }
    Ok(EvalResult::new(info, None, items))
}

/// `"I/N"` with `I < N`, `N >= 1`.
pub fn parse_shard(s: &str) -> Option<(usize, usize)> {
    let (i, n) = s.split_once('/')?;
    let (i, n): (usize, usize) = (i.trim().parse().ok()?, n.trim().parse().ok()?);
    (n >= 1 && i < n && n <= 1_000_000).then_some((i, n))
}

/// The run info for a task and model; `spec` is the exact engine's numeric spec
/// (`None`: the float reference).
pub fn run_info(
    task: &super::task::Task,
    model: &str,
    model_sha256: &str,
    spec: Option<&str>,
    limit: Option<u64>,
) -> RunInfo {
    RunInfo {
        task: task.name.clone(),
        task_version: task.version,
        task_sha256: task.items_sha256.clone(),
        output_type: task.output_type.as_str().into(),
        model: model.into(),
        model_sha256: model_sha256.into(),
        engine: if spec.is_some() { "exact" } else { "float" }.into(),
        spec: spec.map(str::to_string),
        score_spec: SCORE_SPEC.into(),
        limit,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::task::{write_task_file, OutputType, Task, TaskHeaderSpec};

    fn toy_task() -> Task {
        let header = TaskHeaderSpec {
            name: "toy".into(),
            version: 1,
            output_type: OutputType::MultipleChoice,
            package: "test".into(),
            licence: "CC0-1.0".into(),
        };
        let items = vec![r#"{"context":"Ice is","choices":["hot","cold"],"gold":1}"#.to_string()];
        Task::parse(&write_task_file(&header, &items)).unwrap()
    }

    #[test]
    fn a_result_names_the_spec_its_model_ran_under() {
        let task = toy_task();
        let gemma = run_info(&task, "gemma", "00", Some("exact-2"), None);
        assert_eq!(
            (gemma.engine.as_str(), gemma.spec.as_deref()),
            ("exact", Some("exact-2"))
        );
        let smol = run_info(&task, "smol", "00", Some("exact-1"), Some(1));
        assert_eq!(smol.spec.as_deref(), Some("exact-1"));
        let float = run_info(&task, "smol", "00", None, None);
        assert_eq!((float.engine.as_str(), float.spec), ("float", None));
        assert_eq!(float.score_spec, SCORE_SPEC);
    }
}
