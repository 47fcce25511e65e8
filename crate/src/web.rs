//! The wasm-bindgen surface: the only module that knows about JavaScript.
//! Errors become JS `Error`s here, once (as candle's wasm examples do), each with
//! a `code` property that the worker switches on (never on the English text):
//!
//! | code | meaning |
//! |---|---|
//! | `no-webgpu` | the browser exposes no WebGPU |
//! | `no-adapter` | WebGPU gave no usable adapter or device (none, refused, too small) |
//! | `gpu-selftest` | the GPU compiled the kernels but failed the start-up self-test |
//! | `device-lost` | the GPU failed while loading or during a run (lost device, GPU error) |
//! | `gpu-unsupported` | the GPU executor does not run this model yet (a block format or an exact-2 operation it lacks: `ExecError::UnsupportedWeight`, `ExecError::MissingOp`); the CPU executor runs it |
//! | `bad-model` | the file is not a model this engine can load |
//! | `unsupported-model` | a valid model of an architecture the chosen engine does not run |
//! | `bad-request` | invalid generation options or prompt |
//! | `bad-link` | a link that cannot be decoded or encoded |
//! | `busy` | an overlapping call on the same model |
//! | `engine` | anything else |
//!
//! A panic is reported apart from these: the panic hook passes its message to the
//! listener set with [`set_panic_listener`] (and keeps it for [`take_panic_message`])
//! before the instance traps; the worker then reports code `panic` and the page
//! starts a fresh worker, since a trapped instance must not be used again.

// The asynchronous methods hold the session across awaits on purpose: a second
// call meanwhile gets `busy()` from `try_borrow_mut`, never a panic.
#![allow(clippy::await_holding_refcell_ref)]

use crate::engine::{tokens_hash, EngineKind};
use crate::exact::{SPEC_EXACT_1, SPEC_EXACT_2, SPEC_VERSION};
use crate::hash::Sha256Stream;
use crate::replay::{LinkView, RunLink};
use crate::request::RunOptions;
use crate::session::{LoadedModel, Session};
use serde::Serialize;
use std::cell::RefCell;
use std::rc::Rc;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;

/// A JS `Error` with `message` and the property `code` (see the module docs).
fn coded(code: &str, e: impl std::fmt::Display) -> JsValue {
    let error = js_sys::Error::new(&e.to_string());
    // Setting a property on a fresh Error object cannot fail.
    let _ = js_sys::Reflect::set(&error, &"code".into(), &code.into());
    error.into()
}

fn js_err(e: impl std::fmt::Display) -> JsValue {
    coded("engine", e)
}

fn to_js<T: Serialize>(v: &T) -> Result<JsValue, JsValue> {
    v.serialize(&serde_wasm_bindgen::Serializer::json_compatible())
        .map_err(js_err)
}

/// Whether `e` is the GPU executor failing (a lost device, a GPU error).
fn is_device_failure(e: &crate::Error) -> bool {
    use crate::exec::ExecError;
    use crate::model::ModelError;
    matches!(
        e,
        crate::Error::Model(ModelError::Exec(ExecError::Device(_)))
    )
}

/// Whether `e` is an executor refusing a block format or an operation it does not
/// implement (today: the GPU executor and spec exact-2's formats and gemma3 ops).
fn is_executor_refusal(e: &crate::Error) -> bool {
    use crate::exec::ExecError;
    use crate::model::ModelError;
    matches!(
        e,
        crate::Error::Model(ModelError::Exec(
            ExecError::UnsupportedWeight { .. } | ExecError::MissingOp(_)
        ))
    )
}

/// The code of an error from a generation step or a GPU read.
fn run_err(e: crate::Error) -> JsValue {
    let code = if is_device_failure(&e) {
        "device-lost"
    } else if is_executor_refusal(&e) {
        "gpu-unsupported"
    } else {
        "engine"
    };
    coded(code, e)
}

/// The code of an error from starting a generation: the request, or an executor
/// that cannot compute the prompt's forward pass.
fn begin_err(e: crate::Error) -> JsValue {
    if is_executor_refusal(&e) || is_device_failure(&e) {
        run_err(e)
    } else {
        coded("bad-request", e)
    }
}

/// The code of an error from loading a model file (on the CPU, where a refused
/// format is the file's problem: `bad-model`).
fn load_err(e: crate::Error) -> JsValue {
    use crate::model::ModelError;
    let code = match &e {
        crate::Error::Model(ModelError::Unsupported(_)) => "unsupported-model",
        _ if is_device_failure(&e) => "device-lost",
        _ => "bad-model",
    };
    coded(code, e)
}

/// The code of an error from loading a model file on the GPU executor: a format or
/// operation the GPU lacks is `gpu-unsupported` (the worker then loads it on the CPU).
fn load_gpu_err(e: crate::Error) -> JsValue {
    if is_executor_refusal(&e) {
        coded("gpu-unsupported", e)
    } else {
        load_err(e)
    }
}

thread_local! {
    static PANIC_MESSAGE: RefCell<Option<String>> = const { RefCell::new(None) };
    static PANIC_LISTENER: RefCell<Option<js_sys::Function>> = const { RefCell::new(None) };
}

#[wasm_bindgen(start)]
pub fn start() {
    std::panic::set_hook(Box::new(|info| {
        console_error_panic_hook::hook(info);
        let message = info.to_string();
        // try_with/try_borrow: a panic while these are in use must not panic again.
        let listener = PANIC_LISTENER
            .try_with(|l| l.try_borrow().ok().and_then(|l| l.clone()))
            .ok()
            .flatten();
        let _ = PANIC_MESSAGE.try_with(|m| {
            if let Ok(mut m) = m.try_borrow_mut() {
                *m = Some(message.clone());
            }
        });
        if let Some(f) = listener {
            let _ = f.call1(&JsValue::NULL, &JsValue::from_str(&message));
        }
    }));
}

/// Calls `listener(message)` when the engine panics, before the instance traps
/// (a `WebAssembly.RuntimeError`). The instance must not be used after that.
#[wasm_bindgen]
pub fn set_panic_listener(listener: js_sys::Function) {
    PANIC_LISTENER.with(|l| *l.borrow_mut() = Some(listener));
}

/// The message of the last panic, once (null if there was none).
#[wasm_bindgen]
pub fn take_panic_message() -> Option<String> {
    PANIC_MESSAGE.with(|m| m.borrow_mut().take())
}

/// A genuine panic, for the browser tests of panic containment: the worker calls
/// this only when the page was opened with its test hooks on.
#[wasm_bindgen]
pub fn panic_for_test(what: &str) {
    panic!("test panic requested by the page: {what}");
}

/// The crate version, for display.
#[wasm_bindgen]
pub fn version() -> String {
    env!("CARGO_PKG_VERSION").to_string()
}

/// The built-in model manifest as JSON text.
#[wasm_bindgen]
pub fn manifest_json() -> String {
    crate::manifest::MANIFEST_JSON.to_string()
}

/// Encodes a run (`{spec, model: {id, sha256, url?}, run: <begin options>, expect?:
/// {token_ids, tokens_hash}}`) as a link payload `v1.…` for the URL fragment.
#[wasm_bindgen]
pub fn link_encode(view: JsValue) -> Result<String, JsValue> {
    let v: LinkView = serde_wasm_bindgen::from_value(view)
        .map_err(|e| coded("bad-link", format!("invalid run description: {e}")))?;
    RunLink::try_from(&v)
        .map_err(|e| coded("bad-link", e))?
        .encode()
        .map_err(|e| coded("bad-link", e))
}

/// Decodes a link, `#fragment` or payload into the object `link_encode` takes;
/// throws an Error with a readable message for any defect.
#[wasm_bindgen]
pub fn link_decode(text: &str) -> Result<JsValue, JsValue> {
    let link = RunLink::decode(text).map_err(|e| coded("bad-link", e))?;
    to_js(&LinkView::from(&link))
}

/// The numeric spec this build replays.
#[wasm_bindgen]
pub fn spec_version() -> String {
    SPEC_VERSION.to_string()
}

/// Every numeric spec this build replays (`exact-2` is a strict superset of
/// `exact-1`: a model runs under the spec `crate::model::spec_of` names).
#[wasm_bindgen]
pub fn spec_versions() -> Vec<String> {
    vec![SPEC_EXACT_1.to_string(), SPEC_EXACT_2.to_string()]
}

/// The golden corpus built into this module (`crate::golden`), for the
/// conformance page: `{spec, quick: [case ids], cases: [{id, model, options}]}`.
#[wasm_bindgen]
pub fn golden_corpus() -> Result<JsValue, JsValue> {
    #[derive(Serialize)]
    struct View {
        spec: String,
        quick: &'static [&'static str],
        cases: Vec<crate::golden::Case>,
    }
    let c = crate::golden::Corpus::builtin();
    to_js(&View {
        spec: c.spec,
        quick: &crate::golden::QUICK,
        cases: c.cases,
    })
}

/// Compares a case's outcome (`{prompt_tokens, token_ids, logits_hashes,
/// tokens_hash, stop_reason, text}`, as in expected.json) with the pinned one:
/// `{verdict: "pass" | "diverged" | "missing", first_step?, detail?}`.
#[wasm_bindgen]
pub fn golden_verdict(id: &str, outcome: JsValue) -> Result<JsValue, JsValue> {
    let got: crate::golden::Outcome = serde_wasm_bindgen::from_value(outcome)
        .map_err(|e| coded("bad-request", format!("invalid outcome: {e}")))?;
    let expected = crate::golden::Expected::builtin();
    to_js(&crate::golden::compare(expected.cases.get(id), &got))
}

/// Incremental SHA-256 for verifying downloads chunk by chunk.
#[wasm_bindgen]
#[derive(Default)]
pub struct Sha256Hasher(Option<Sha256Stream>);

#[wasm_bindgen]
impl Sha256Hasher {
    #[wasm_bindgen(constructor)]
    pub fn new() -> Self {
        Self(Some(Sha256Stream::default()))
    }
    pub fn update(&mut self, chunk: &[u8]) -> Result<(), JsValue> {
        self.0
            .as_mut()
            .ok_or_else(|| js_err("hasher already finalized"))?
            .update(chunk);
        Ok(())
    }
    pub fn finalize(&mut self) -> Result<String, JsValue> {
        Ok(self
            .0
            .take()
            .ok_or_else(|| js_err("hasher already finalized"))?
            .finalize_hex())
    }
}

#[derive(Serialize)]
struct Info {
    engine: &'static str,
    /// "cpu", or "gpu: <adapter>".
    executor: String,
    /// GPU start-up: pipeline compilation and self-test, in milliseconds.
    gpu_compile_ms: Option<f64>,
    gpu_selftest_ms: Option<f64>,
    spec: Option<&'static str>,
    name: Option<String>,
    architecture: &'static str,
    n_layer: usize,
    n_vocab: usize,
    context_length: usize,
    has_chat_template: bool,
}

#[derive(Serialize)]
struct Begun {
    prompt_tokens: usize,
}

#[derive(Serialize)]
struct StepOut {
    token_id: u32,
    text: String,
    /// FNV-1a of the logits this token was sampled from (exact engine), hex.
    logits_hash: Option<String>,
    done: bool,
    reason: Option<&'static str>,
    /// SHA-256 of all generated token ids, on the last step.
    tokens_hash: Option<String>,
}

/// A loaded model and its generation state. The session is shared with the
/// futures of the asynchronous methods; overlapping calls get a clear error.
#[wasm_bindgen]
pub struct WasmModel {
    session: Rc<RefCell<Session>>,
    gpu_compile_ms: Option<f64>,
    gpu_selftest_ms: Option<f64>,
}

fn busy() -> JsValue {
    coded(
        "busy",
        "the model is busy with another call: await it first",
    )
}

fn step_out(session: &mut Session) -> Result<JsValue, JsValue> {
    let s = session.step().map_err(run_err)?;
    let done = s.stop.is_some();
    to_js(&StepOut {
        token_id: s.token_id,
        text: s.text,
        logits_hash: s.logits_hash.map(|h| format!("{h:016x}")),
        done,
        reason: s.stop.map(|r| r.as_str()),
        tokens_hash: done.then(|| tokens_hash(session.generated())),
    })
}

fn elapsed_ms(since: web_time::Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1e3
}

/// Opens the WebGPU executor for `bytes` (a GGUF file): refuses a bad file first,
/// compiles every kernel and runs the start-up self-test; returns the executor and
/// the milliseconds both took, or a coded error (`no-webgpu`, `bad-model`,
/// `no-adapter`, `gpu-selftest`). Generation and evaluation load through it.
pub(crate) async fn open_checked_gpu(
    bytes: &[u8],
) -> Result<(crate::gpu::GpuExecutor, f64, f64), JsValue> {
    use crate::gpu::{selftest, GpuExecutor, GpuOptions};
    if !webgpu_available() {
        return Err(coded("no-webgpu", "this browser has no WebGPU"));
    }
    // A bad file is refused before seconds of kernel compilation and self-test.
    crate::gguf::GgufModel::parse(bytes).map_err(|e| coded("bad-model", e))?;
    let t0 = web_time::Instant::now();

    let mut gpu = GpuExecutor::new(GpuOptions::default())
        .await
        .map_err(|e| coded("no-adapter", e))?;
    gpu.precompile();
    let compile_ms = elapsed_ms(t0);
    let t1 = web_time::Instant::now();
    let failed = selftest::run_async(&mut gpu)
        .await
        .map_err(|e| coded("gpu-selftest", e))?;
    let selftest_ms = elapsed_ms(t1);
    if !failed.is_empty() {
        return Err(coded(
            "gpu-selftest",
            format!(
                "{} failed the self-test: {}",
                gpu.summary(),
                failed.join("; ")
            ),
        ));
    }
    Ok((gpu, compile_ms, selftest_ms))
}

/// Whether this browser exposes WebGPU at all (`navigator.gpu`).
#[wasm_bindgen]
pub fn webgpu_available() -> bool {
    let gpu = js_sys::Reflect::get(&js_sys::global(), &"navigator".into())
        .and_then(|nav| js_sys::Reflect::get(&nav, &"gpu".into()));
    matches!(gpu, Ok(v) if !v.is_undefined() && !v.is_null())
}

#[wasm_bindgen]
impl WasmModel {
    /// Parses, validates and loads a GGUF file on `engine` ("exact", the default,
    /// or "float"). The bytes move into the model (no second copy).
    pub fn load(bytes: Vec<u8>, engine: Option<String>) -> Result<WasmModel, JsValue> {
        let engine = match engine.as_deref() {
            None | Some("") => EngineKind::Exact,
            Some(e) => EngineKind::parse(e).ok_or_else(|| {
                coded(
                    "bad-request",
                    format!("unknown engine '{e}' (use exact or float)"),
                )
            })?,
        };
        let model = LoadedModel::load(bytes, engine).map_err(load_err)?;
        Ok(Self {
            session: Rc::new(RefCell::new(Session::new(model))),
            gpu_compile_ms: None,
            gpu_selftest_ms: None,
        })
    }

    /// Loads a GGUF file for the exact engine on WebGPU. Compiles every kernel
    /// and runs the start-up self-test first; rejects with a readable message if
    /// there is no usable adapter or the device fails the self-test (the caller
    /// then loads on the CPU: the tokens are the same).
    pub async fn load_gpu(bytes: Vec<u8>) -> Result<WasmModel, JsValue> {
        let (gpu, compile_ms, selftest_ms) = open_checked_gpu(&bytes).await?;
        let model = LoadedModel::load_gpu(bytes, gpu).map_err(load_gpu_err)?;
        Ok(Self {
            session: Rc::new(RefCell::new(Session::new(model))),
            gpu_compile_ms: Some(compile_ms),
            gpu_selftest_ms: Some(selftest_ms),
        })
    }

    pub fn info(&self) -> Result<JsValue, JsValue> {
        let session = self.session.try_borrow().map_err(|_| busy())?;
        let m = &session.model;
        let name = match m.gguf.metadata("general.name") {
            Some(candle_core::quantized::gguf_file::Value::String(s)) => Some(s.clone()),
            _ => None,
        };
        to_js(&Info {
            engine: m.engine.as_str(),
            executor: m.executor(),
            gpu_compile_ms: self.gpu_compile_ms,
            gpu_selftest_ms: self.gpu_selftest_ms,
            spec: m.spec(),
            name,
            architecture: m.gguf.config.architecture().as_str(),
            n_layer: m.gguf.config.n_layer(),
            n_vocab: m.gguf.config.n_vocab(),
            context_length: m.gguf.config.context_length(),
            has_chat_template: m.tokenizer.chat_template().is_some(),
        })
    }

    /// Starts a generation: `{prompt, chat, max_tokens, temperature?, top_k?, top_p?,
    /// min_p?, repeat_penalty?, repeat_last_n?, seed?, stop?}`.
    pub fn begin(&mut self, options: JsValue) -> Result<JsValue, JsValue> {
        let o: RunOptions = serde_wasm_bindgen::from_value(options)
            .map_err(|e| coded("bad-request", format!("invalid generation options: {e}")))?;
        let req = o.to_request().map_err(|e| coded("bad-request", e))?;
        let mut session = self.session.try_borrow_mut().map_err(|_| busy())?;
        let prompt_tokens = session.begin(&req).map_err(begin_err)?;
        to_js(&Begun { prompt_tokens })
    }

    /// Generates one token (CPU executor; use `step_async` on the GPU).
    pub fn step(&mut self) -> Result<JsValue, JsValue> {
        let mut session = self.session.try_borrow_mut().map_err(|_| busy())?;
        step_out(&mut session)
    }

    /// [`WasmModel::begin`] on any executor: resolves once the prompt's logits
    /// are on the host.
    pub fn begin_async(&self, options: JsValue) -> Result<js_sys::Promise, JsValue> {
        let o: RunOptions = serde_wasm_bindgen::from_value(options)
            .map_err(|e| coded("bad-request", format!("invalid generation options: {e}")))?;
        let req = o.to_request().map_err(|e| coded("bad-request", e))?;
        let session = self.session.clone();
        Ok(future_to_promise(async move {
            let mut s = session.try_borrow_mut().map_err(|_| busy())?;
            let prompt_tokens = s.begin(&req).map_err(begin_err)?;
            s.resolve().await.map_err(run_err)?;
            to_js(&Begun { prompt_tokens })
        }))
    }

    /// [`WasmModel::step`] on any executor: samples the next token, then waits
    /// for the logits after it.
    pub fn step_async(&self) -> js_sys::Promise {
        let session = self.session.clone();
        future_to_promise(async move {
            let mut s = session.try_borrow_mut().map_err(|_| busy())?;
            s.resolve().await.map_err(run_err)?;
            let out = step_out(&mut s)?;
            s.resolve().await.map_err(run_err)?;
            Ok(out)
        })
    }

    /// The text of one token id (as the model's decoder writes it alone).
    pub fn token_text(&self, id: u32) -> Result<String, JsValue> {
        let session = self.session.try_borrow().map_err(|_| busy())?;
        session.model.tokenizer.decode(&[id]).map_err(js_err)
    }

    /// Token ids of `text` (without BOS unless `add_bos`).
    pub fn tokenize(&self, text: &str, add_bos: bool) -> Result<Vec<u32>, JsValue> {
        let session = self.session.try_borrow().map_err(|_| busy())?;
        let tok = &session.model.tokenizer;
        let mut ids = tok.encode(text, false).map_err(js_err)?;
        if add_bos {
            if let Some(b) = tok.bos_id() {
                ids.insert(0, b);
            }
        }
        Ok(ids)
    }
}

// ---- threads: the CPU executor on Web Workers (the shared-memory build) -------------------
//
// `make wasm-threads` builds this module with shared memory (`+atomics`) into www/pkg-threads/.
// The engine's worker (www/worker.js) then calls `threads_install(n)`, starts n - 1 Web Workers
// (www/pool-worker.js) on the module and memory it returns, and each calls `threads_work`
// (crate::cpu::pool::web). Executors loaded after that compute on n threads, with the same bits.

/// Whether this build has shared memory, so that `threads_install` exists.
#[wasm_bindgen]
pub fn threads_supported() -> bool {
    cfg!(target_feature = "atomics")
}

/// Threads the CPU executor computes on: 1 until `threads_install`.
#[wasm_bindgen]
pub fn cpu_threads() -> usize {
    crate::cpu::pool::web::threads()
}

/// Sets the CPU executor up for `threads` threads in all (once per instance) and returns
/// `{module, memory}`, which each of the `threads - 1` Web Workers passes to `initSync`
/// before it calls [`threads_work`].
#[cfg(target_feature = "atomics")]
#[wasm_bindgen]
pub fn threads_install(threads: usize) -> Result<JsValue, JsValue> {
    crate::cpu::pool::web::install(threads).map_err(|e| coded("bad-request", e))?;
    let out = js_sys::Object::new();
    js_sys::Reflect::set(&out, &"module".into(), &wasm_bindgen::module())?;
    js_sys::Reflect::set(&out, &"memory".into(), &wasm_bindgen::memory())?;
    Ok(out.into())
}

/// A Web Worker's part of the pool: takes tasks until the page ends the worker (never
/// returns once `threads_install` ran; returns at once before).
#[cfg(target_feature = "atomics")]
#[wasm_bindgen]
pub fn threads_work() {
    crate::cpu::pool::web::work();
}
