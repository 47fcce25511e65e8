//! The wasm-bindgen surface of evaluation (docs/tasks.md, docs/links.md "Eval
//! links"): a [`WasmEvaluator`] scores a task's items one call at a time on the
//! exact engine, on the wasm CPU executor or on WebGPU (the same bits: spec
//! `exact-1`), so the page's worker can report progress, cancel between items and
//! resume from items it kept. On WebGPU the logits are read back asynchronously,
//! so scoring is [`WasmEvaluator::score_async`].

// `score_async` holds the evaluator across awaits on purpose: a second call
// meanwhile gets a "busy" error from `try_borrow_mut`, never a panic.
#![allow(clippy::await_holding_refcell_ref)]

use crate::cpu::CpuExecutor;
use crate::engine::ExactModel;
use crate::eval::builtin::TASKS_MANIFEST_JSON;
use crate::eval::link::{compare, difference, expectation, EvalLink, EvalVerdict, TaskRef};
use crate::eval::metrics::headline;
use crate::eval::result::{run_info, EvalResult, ItemJson};
use crate::eval::run::{
    fit_context, item_requests, item_result, score_item, EvalError, ExactScorer, ItemResult,
    ScoringModel,
};
use crate::eval::score::ContinuationScore;
use crate::eval::task::{Item, Task};
use crate::gguf::GgufModel;
use crate::gpu::GpuExecutor;
use crate::hash::{hex, sha256_hex};
use crate::model::ModelError;
use crate::replay::{parse_sha256, ModelRef};
use crate::tokenizer::Tokenizer;
use serde::Serialize;
use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;

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

/// The exact engine on WebGPU as a scorer: as [`ExactScorer`] (the context runs
/// once, its KV cache is rewound for every choice, each continuation goes as one
/// batch), with the logits read back without blocking.
struct GpuScorer {
    model: ExactModel<GpuExecutor>,
    context_length: usize,
    context: Vec<u32>,
    context_logits: Vec<i32>,
    tokens_run: u64,
}

impl GpuScorer {
    async fn read(
        &mut self,
        rows: &<GpuExecutor as crate::exec::Executor>::Rows,
    ) -> Result<Vec<Vec<i32>>, EvalError> {
        self.model
            .executor
            .read_async(rows)
            .await
            .map_err(|e| EvalError::Model(ModelError::from(e)))
    }

    async fn rows(&mut self, context: &[u32], cont: &[u32]) -> Result<Vec<Vec<i32>>, EvalError> {
        if self.context.is_empty() || self.context != context {
            self.context.clear();
            self.model.reset();
            let r = self.model.forward_rows(context)?;
            self.context_logits = self.read(&r).await?.pop().unwrap_or_default();
            self.tokens_run += context.len() as u64;
            self.context = context.to_vec();
        }
        let mut rows = vec![self.context_logits.clone()];
        if cont.len() > 1 {
            self.model.rewind(context.len());
            let r = self.model.forward_rows_all(&cont[..cont.len() - 1])?;
            rows.extend(self.read(&r).await?);
            self.tokens_run += cont.len() as u64 - 1;
        }
        Ok(rows)
    }

    /// [`score_item`] with asynchronous reads.
    async fn score_item(
        &mut self,
        tok: &Tokenizer,
        task: &Task,
        index: usize,
    ) -> Result<ItemResult, EvalError> {
        let mut scores = Vec::new();
        for (context, cont) in item_requests(tok, task, index)? {
            let context = fit_context(&context, &cont, self.context_length, index)?;
            let rows = self.rows(context, &cont).await?;
            scores.push(ContinuationScore::from_rows(&rows, &cont));
        }
        Ok(item_result(task, index, scores))
    }
}

/// Where the exact engine runs.
enum Backend {
    Cpu(Box<ExactScorer<CpuExecutor>>),
    Gpu(Box<GpuScorer>),
}

struct Inner {
    backend: Backend,
    /// "cpu", or "gpu: <adapter>".
    executor: String,
    tok: Tokenizer,
    model_id: String,
    model_sha256: String,
    task: Option<Task>,
}

impl Inner {
    /// The numeric spec the loaded model runs under (`exact-1`, `exact-2`).
    fn spec(&self) -> &'static str {
        match &self.backend {
            Backend::Cpu(s) => s.spec().unwrap_or(crate::exact::SPEC_EXACT_1),
            Backend::Gpu(s) => s.model.spec(),
        }
    }

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

    fn tokens_run(&self) -> u64 {
        match &self.backend {
            Backend::Cpu(s) => s.tokens_run(),
            Backend::Gpu(s) => s.tokens_run,
        }
    }
}

/// The task, if it has item `index`.
fn task_with(task: &Option<Task>, index: u32) -> Result<&Task, JsError> {
    let task = task
        .as_ref()
        .ok_or_else(|| js_err("no task is set: call set_task first"))?;
    if index as usize >= task.items.len() {
        return Err(js_err(format!("the task has no item {index}")));
    }
    Ok(task)
}

/// The exact engine plus one task: scores items by index.
#[wasm_bindgen]
pub struct WasmEvaluator {
    inner: Rc<RefCell<Inner>>,
}

fn busy() -> JsError {
    js_err("the evaluator is busy with another call: await it first")
}

impl WasmEvaluator {
    fn with(bytes: Vec<u8>, model_id: String, gpu: Option<GpuExecutor>) -> Result<Self, JsError> {
        let model_sha256 = sha256_hex(&bytes);
        let mut gguf = GgufModel::parse(&bytes).map_err(js_err)?;
        let ctx = gguf.config.context_length();
        let file = Arc::new(bytes);
        let (backend, executor, tok) = match gpu {
            None => {
                let tok = Tokenizer::from_gguf_taking(&mut gguf.content).map_err(js_err)?;
                let model = ExactModel::load(CpuExecutor::new(), &gguf, &file).map_err(js_err)?;
                (
                    Backend::Cpu(Box::new(ExactScorer::new(model, ctx))),
                    "cpu".to_string(),
                    tok,
                )
            }
            Some(gpu) => {
                let label = format!("gpu: {}", gpu.summary());
                let mut model = ExactModel::load(gpu, &gguf, &file).map_err(js_err)?;
                // As `LoadedModel::load_gpu`: the weights live on the GPU, so the file's
                // bytes go before the tokenizer is built (wasm memory's peak is lower).
                model.executor.release_host_files();
                drop(file);
                let tok = Tokenizer::from_gguf_taking(&mut gguf.content).map_err(js_err)?;
                let scorer = GpuScorer {
                    model,
                    context_length: ctx,
                    context: Vec::new(),
                    context_logits: Vec::new(),
                    tokens_run: 0,
                };
                (Backend::Gpu(Box::new(scorer)), label, tok)
            }
        };
        Ok(Self {
            inner: Rc::new(RefCell::new(Inner {
                backend,
                executor,
                tok,
                model_id,
                model_sha256,
                task: None,
            })),
        })
    }

    fn inner(&self) -> Result<std::cell::Ref<'_, Inner>, JsError> {
        self.inner.try_borrow().map_err(|_| busy())
    }
}

#[wasm_bindgen]
impl WasmEvaluator {
    /// Loads a GGUF file for the exact engine (spec `exact-1`, wasm CPU executor).
    #[wasm_bindgen(constructor)]
    pub fn new(bytes: Vec<u8>, model_id: String) -> Result<WasmEvaluator, JsError> {
        Self::with(bytes, model_id, None)
    }

    /// Loads a GGUF file for the exact engine on WebGPU, after the kernels compile
    /// and pass the start-up self-test (as generation's `WasmModel.load_gpu`);
    /// rejects with a coded Error (`no-webgpu`, `no-adapter`, `gpu-selftest`, …)
    /// the page answers by scoring on the CPU.
    pub async fn load_gpu(bytes: Vec<u8>, model_id: String) -> Result<WasmEvaluator, JsValue> {
        let (gpu, _, _) = crate::web::open_checked_gpu(&bytes).await?;
        Self::with(bytes, model_id, Some(gpu)).map_err(JsValue::from)
    }

    pub fn model_sha256(&self) -> Result<String, JsError> {
        Ok(self.inner()?.model_sha256.clone())
    }

    /// Where the engine runs: "cpu", or "gpu: <adapter>".
    pub fn executor(&self) -> Result<String, JsError> {
        Ok(self.inner()?.executor.clone())
    }

    /// Sets the task from a task file's bytes; returns its description.
    pub fn set_task(&mut self, bytes: &[u8]) -> Result<JsValue, JsError> {
        let t = Task::parse(bytes).map_err(js_err)?;
        let info = to_js(&task_info(&t));
        self.inner.try_borrow_mut().map_err(|_| busy())?.task = Some(t);
        info
    }

    /// Scores item `index` on the CPU executor; returns it in the JSON result's
    /// item form. On WebGPU use [`WasmEvaluator::score_async`].
    pub fn score(&mut self, index: u32) -> Result<JsValue, JsError> {
        let mut guard = self.inner.try_borrow_mut().map_err(|_| busy())?;
        let inner = &mut *guard;
        let task = task_with(&inner.task, index)?;
        let Backend::Cpu(scorer) = &mut inner.backend else {
            return Err(js_err("on WebGPU, score with score_async"));
        };
        let r = score_item(scorer.as_mut(), &inner.tok, task, index as usize).map_err(js_err)?;
        to_js(&ItemJson::from_result(&r))
    }

    /// [`WasmEvaluator::score`] on either executor: resolves to the item.
    pub fn score_async(&self, index: u32) -> js_sys::Promise {
        let inner = self.inner.clone();
        future_to_promise(async move {
            let mut guard = inner.try_borrow_mut().map_err(|_| busy())?;
            let inner = &mut *guard;
            let task = task_with(&inner.task, index)?;
            let r = match &mut inner.backend {
                Backend::Cpu(scorer) => {
                    score_item(scorer.as_mut(), &inner.tok, task, index as usize)
                }
                Backend::Gpu(scorer) => scorer.score_item(&inner.tok, task, index as usize).await,
            }
            .map_err(js_err)?;
            Ok(to_js(&ItemJson::from_result(&r))?)
        })
    }

    /// Tokens run through the model so far.
    pub fn tokens_run(&self) -> Result<f64, JsError> {
        Ok(self.inner()?.tokens_run() as f64)
    }

    /// An item's text, for the per-item view.
    pub fn item_view(&self, index: u32) -> Result<JsValue, JsError> {
        let inner = self.inner()?;
        let t = inner.task()?;
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
        let inner = self.inner()?;
        let t = inner.task()?;
        let info = run_info(
            t,
            &inner.model_id,
            &inner.model_sha256,
            Some(inner.spec()),
            limit.map(|l| l as u64),
        );
        to_js(&EvalResult::new(info, None, inner.items(items)?))
    }

    /// The eval link (`e1.…`) of scored `items` (the task's first `n`, in order).
    pub fn link(&self, items: JsValue, limit: Option<u32>) -> Result<String, JsError> {
        let inner = self.inner()?;
        let t = inner.task()?;
        let items = inner.items(items)?;
        let link = EvalLink {
            spec: inner.spec().into(),
            score_spec: crate::eval::score::SCORE_SPEC.into(),
            model: ModelRef {
                id: inner.model_id.clone(),
                sha256: parse_sha256(&inner.model_sha256).ok_or_else(|| js_err("model hash"))?,
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
        let inner = self.inner()?;
        let l = EvalLink::decode(link).map_err(js_err)?;
        let e = l
            .expect
            .ok_or_else(|| js_err("the link has no expectation"))?;
        let items = inner.items(items)?;
        let ot = l.task.output_type;
        let v = match compare(&e, &items, ot) {
            EvalVerdict::Exact { items: n } => {
                let t = inner.task()?;
                let info = run_info(
                    t,
                    &inner.model_id,
                    &inner.model_sha256,
                    Some(&l.spec),
                    l.limit,
                );
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
