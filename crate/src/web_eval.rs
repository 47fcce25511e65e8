//! The wasm-bindgen surface of evaluation (docs/tasks.md, docs/links.md "Eval
//! links"): a [`WasmEvaluator`] scores a task's items one call at a time on the
//! exact engine (wasm CPU executor), so the page's worker can report progress,
//! cancel between items and resume from items it kept.

use crate::cpu::CpuExecutor;
use crate::engine::ExactModel;
use crate::eval::builtin::TASKS_MANIFEST_JSON;
use crate::eval::link::{compare, difference, expectation, EvalLink, EvalVerdict, TaskRef};
use crate::eval::metrics::headline;
use crate::eval::result::{run_info, EvalResult, ItemJson};
use crate::eval::run::{score_item, ExactScorer, ItemResult, ScoringModel};
use crate::eval::task::{Item, Task};
use crate::gguf::GgufModel;
use crate::hash::{hex, sha256_hex};
use crate::replay::{parse_sha256, ModelRef};
use crate::tokenizer::Tokenizer;
use serde::Serialize;
use std::sync::Arc;
use wasm_bindgen::prelude::*;

fn js_err(e: impl std::fmt::Display) -> JsError {
    JsError::new(&e.to_string())
}

fn to_js<T: Serialize>(v: &T) -> Result<JsValue, JsError> {
    v.serialize(&serde_wasm_bindgen::Serializer::json_compatible())
        .map_err(js_err)
}

/// The built-in tasks' manifest (`tasks/manifest.json`) as JSON text.
#[wasm_bindgen]
pub fn tasks_manifest_json() -> String {
    TASKS_MANIFEST_JSON.to_string()
}

#[derive(Serialize)]
struct TaskInfo {
    name: String,
    version: u64,
    output_type: &'static str,
    licence: String,
    source: String,
    items: usize,
    items_sha256: String,
}

fn task_info(t: &Task) -> TaskInfo {
    TaskInfo {
        name: t.name.clone(),
        version: t.version,
        output_type: t.output_type.as_str(),
        licence: t.licence.clone(),
        source: format!(
            "{} {} {}",
            t.source.package, t.source.version, t.source.path
        ),
        items: t.items.len(),
        items_sha256: t.items_sha256.clone(),
    }
}

/// Parses and checks a task file; throws an Error naming the line and the problem.
#[wasm_bindgen]
pub fn task_check(bytes: &[u8]) -> Result<JsValue, JsError> {
    to_js(&task_info(&Task::parse(bytes).map_err(js_err)?))
}

#[derive(Serialize)]
struct LinkInfo {
    spec: String,
    score_spec: String,
    model_id: String,
    model_sha256: String,
    task: String,
    task_version: u64,
    task_sha256: String,
    output_type: &'static str,
    limit: Option<u64>,
    n: usize,
    items_hash: Option<String>,
}

/// Decodes an eval link (`e1.…`, a `#fragment` or a URL); throws a readable Error.
#[wasm_bindgen]
pub fn eval_link_decode(text: &str) -> Result<JsValue, JsError> {
    let l = EvalLink::decode(text).map_err(js_err)?;
    to_js(&LinkInfo {
        spec: l.spec.clone(),
        score_spec: l.score_spec.clone(),
        model_id: l.model.id.clone(),
        model_sha256: hex(&l.model.sha256),
        task: l.task.name.clone(),
        task_version: l.task.version,
        task_sha256: hex(&l.task.items_sha256),
        output_type: l.task.output_type.as_str(),
        limit: l.limit,
        n: l.expect.as_ref().map_or(0, |e| e.items.len()),
        items_hash: l.expect.as_ref().map(|e| hex(&e.items_hash)),
    })
}

/// Whether a fragment is an eval link (else a run link).
#[wasm_bindgen]
pub fn is_eval_link(text: &str) -> bool {
    crate::eval::link::is_eval_link(text)
}

#[derive(Serialize)]
struct ItemView {
    context: String,
    choices: Vec<String>,
    gold: Option<u32>,
}

#[derive(Serialize)]
struct Verdict {
    exact: bool,
    /// The item that differs, when one does.
    item: Option<u32>,
    message: String,
}

/// The exact engine plus one task: scores items by index.
#[wasm_bindgen]
pub struct WasmEvaluator {
    scorer: ExactScorer<CpuExecutor>,
    tok: Tokenizer,
    model_id: String,
    model_sha256: String,
    task: Option<Task>,
}

impl WasmEvaluator {
    fn task(&self) -> Result<&Task, JsError> {
        self.task
            .as_ref()
            .ok_or_else(|| js_err("no task is set: call set_task first"))
    }

    fn items(&self, items: JsValue) -> Result<Vec<ItemResult>, JsError> {
        let json: Vec<ItemJson> = serde_wasm_bindgen::from_value(items)
            .map_err(|e| js_err(format!("invalid items: {e}")))?;
        json.iter().map(|j| j.to_result().map_err(js_err)).collect()
    }
}

#[wasm_bindgen]
impl WasmEvaluator {
    /// Loads a GGUF file for the exact engine (spec `exact-1`, wasm CPU executor).
    #[wasm_bindgen(constructor)]
    pub fn new(bytes: Vec<u8>, model_id: String) -> Result<WasmEvaluator, JsError> {
        let model_sha256 = sha256_hex(&bytes);
        let gguf = GgufModel::parse(&bytes).map_err(js_err)?;
        let tok = Tokenizer::from_gguf(&gguf.content).map_err(js_err)?;
        let ctx = gguf.config.context_length();
        let file = Arc::new(bytes);
        let model = ExactModel::load(CpuExecutor::new(), &gguf, &file).map_err(js_err)?;
        Ok(Self {
            scorer: ExactScorer::new(model, ctx),
            tok,
            model_id,
            model_sha256,
            task: None,
        })
    }

    pub fn model_sha256(&self) -> String {
        self.model_sha256.clone()
    }

    /// Sets the task from a task file's bytes; returns its description.
    pub fn set_task(&mut self, bytes: &[u8]) -> Result<JsValue, JsError> {
        let t = Task::parse(bytes).map_err(js_err)?;
        let info = to_js(&task_info(&t));
        self.task = Some(t);
        info
    }

    /// Scores item `index`; returns it in the JSON result's item form.
    pub fn score(&mut self, index: u32) -> Result<JsValue, JsError> {
        let task = self
            .task
            .as_ref()
            .ok_or_else(|| js_err("no task is set: call set_task first"))?;
        if index as usize >= task.items.len() {
            return Err(js_err(format!("the task has no item {index}")));
        }
        let r = score_item(&mut self.scorer, &self.tok, task, index as usize).map_err(js_err)?;
        to_js(&ItemJson::from_result(&r))
    }

    /// Tokens run through the model so far.
    pub fn tokens_run(&self) -> f64 {
        self.scorer.tokens_run() as f64
    }

    /// An item's text, for the per-item view.
    pub fn item_view(&self, index: u32) -> Result<JsValue, JsError> {
        let t = self.task()?;
        let item = t
            .items
            .get(index as usize)
            .ok_or_else(|| js_err(format!("the task has no item {index}")))?;
        let v = match item {
            Item::Choice {
                context,
                choices,
                gold,
            } => ItemView {
                context: context.clone(),
                choices: choices.clone(),
                gold: Some(*gold),
            },
            Item::Loglikelihood {
                context,
                continuation,
            } => ItemView {
                context: context.clone(),
                choices: vec![continuation.clone()],
                gold: None,
            },
            Item::Rolling { text } => ItemView {
                context: String::new(),
                choices: vec![text.clone()],
                gold: None,
            },
        };
        to_js(&v)
    }

    /// The result (`verbatim eval --json`'s shape) of scored `items` (items
    /// `0..n` of the task in order; `limit` as the run asked).
    pub fn result(&self, items: JsValue, limit: Option<u32>) -> Result<JsValue, JsError> {
        let t = self.task()?;
        let info = run_info(
            t,
            &self.model_id,
            &self.model_sha256,
            true,
            limit.map(|l| l as u64),
        );
        to_js(&EvalResult::new(info, None, self.items(items)?))
    }

    /// The eval link (`e1.…`) of scored `items` (the task's first `n`, in order).
    pub fn link(&self, items: JsValue, limit: Option<u32>) -> Result<String, JsError> {
        let t = self.task()?;
        let items = self.items(items)?;
        let link = EvalLink {
            spec: crate::exact::SPEC_VERSION.into(),
            score_spec: crate::eval::score::SCORE_SPEC.into(),
            model: ModelRef {
                id: self.model_id.clone(),
                sha256: parse_sha256(&self.model_sha256).ok_or_else(|| js_err("model hash"))?,
                url: None,
            },
            task: TaskRef {
                name: t.name.clone(),
                version: t.version,
                items_sha256: parse_sha256(&t.items_sha256).ok_or_else(|| js_err("task hash"))?,
                output_type: t.output_type,
            },
            limit: limit.map(|l| l as u64),
            expect: Some(expectation(&items, t.output_type)),
        };
        Ok(link.encode())
    }

    /// Compares replayed `items` with a link: `{exact, item, message}` with the
    /// CLI's words ("Score reproduced exactly: …" / "Item 17 differs: …").
    pub fn compare_link(&self, link: &str, items: JsValue) -> Result<JsValue, JsError> {
        let l = EvalLink::decode(link).map_err(js_err)?;
        let e = l
            .expect
            .ok_or_else(|| js_err("the link has no expectation"))?;
        let items = self.items(items)?;
        let ot = l.task.output_type;
        let v = match compare(&e, &items, ot) {
            EvalVerdict::Exact { items: n } => {
                let t = self.task()?;
                let info = run_info(t, &self.model_id, &self.model_sha256, true, l.limit);
                let r = EvalResult::new(info, None, items);
                let (name, value) = headline(&r.metrics);
                Verdict {
                    exact: true,
                    item: None,
                    message: format!(
                        "Score reproduced exactly: {name} {value:.4} on {n} items (items sha256 {})",
                        r.items_hash
                    ),
                }
            }
            other => Verdict {
                exact: false,
                item: match other {
                    EvalVerdict::ItemDiffers { id, .. } => Some(id),
                    _ => None,
                },
                message: difference(&other, ot).unwrap_or_default(),
            },
        };
        to_js(&v)
    }
}
