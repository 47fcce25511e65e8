//! The wasm-bindgen surface: the only module that knows about JavaScript.
//! Errors become JS `Error`s here, once (as candle's wasm examples do).

use crate::engine::{tokens_hash, EngineKind};
use crate::exact::SPEC_VERSION;
use crate::hash::Sha256Stream;
use crate::replay::{LinkView, RunLink};
use crate::request::RunOptions;
use crate::session::{LoadedModel, Session};
use serde::Serialize;
use wasm_bindgen::prelude::*;

fn js_err(e: impl std::fmt::Display) -> JsError {
    JsError::new(&e.to_string())
}

fn to_js<T: Serialize>(v: &T) -> Result<JsValue, JsError> {
    v.serialize(&serde_wasm_bindgen::Serializer::json_compatible())
        .map_err(js_err)
}

#[wasm_bindgen(start)]
pub fn start() {
    console_error_panic_hook::set_once();
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
pub fn link_encode(view: JsValue) -> Result<String, JsError> {
    let v: LinkView = serde_wasm_bindgen::from_value(view)
        .map_err(|e| js_err(format!("invalid run description: {e}")))?;
    Ok(RunLink::try_from(&v).map_err(js_err)?.encode())
}

/// Decodes a link, `#fragment` or payload into the object `link_encode` takes;
/// throws an Error with a readable message for any defect.
#[wasm_bindgen]
pub fn link_decode(text: &str) -> Result<JsValue, JsError> {
    let link = RunLink::decode(text).map_err(js_err)?;
    to_js(&LinkView::from(&link))
}

/// The numeric spec this build replays.
#[wasm_bindgen]
pub fn spec_version() -> String {
    SPEC_VERSION.to_string()
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
    pub fn update(&mut self, chunk: &[u8]) -> Result<(), JsError> {
        self.0
            .as_mut()
            .ok_or_else(|| js_err("hasher already finalized"))?
            .update(chunk);
        Ok(())
    }
    pub fn finalize(&mut self) -> Result<String, JsError> {
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

/// A loaded model and its generation state.
#[wasm_bindgen]
pub struct WasmModel {
    session: Session,
}

#[wasm_bindgen]
impl WasmModel {
    /// Parses, validates and loads a GGUF file on `engine` ("exact", the default,
    /// or "float"). The bytes move into the model (no second copy).
    pub fn load(bytes: Vec<u8>, engine: Option<String>) -> Result<WasmModel, JsError> {
        let engine = match engine.as_deref() {
            None | Some("") => EngineKind::Exact,
            Some(e) => EngineKind::parse(e)
                .ok_or_else(|| js_err(format!("unknown engine '{e}' (use exact or float)")))?,
        };
        let model = LoadedModel::load(bytes, engine).map_err(js_err)?;
        Ok(Self {
            session: Session::new(model),
        })
    }

    pub fn info(&self) -> Result<JsValue, JsError> {
        let m = &self.session.model;
        let name = match m.gguf.metadata("general.name") {
            Some(candle_core::quantized::gguf_file::Value::String(s)) => Some(s.clone()),
            _ => None,
        };
        to_js(&Info {
            engine: m.engine.as_str(),
            spec: (m.engine == EngineKind::Exact).then_some(SPEC_VERSION),
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
    pub fn begin(&mut self, options: JsValue) -> Result<JsValue, JsError> {
        let o: RunOptions = serde_wasm_bindgen::from_value(options)
            .map_err(|e| js_err(format!("invalid generation options: {e}")))?;
        let req = o.to_request().map_err(js_err)?;
        let prompt_tokens = self.session.begin(&req).map_err(js_err)?;
        to_js(&Begun { prompt_tokens })
    }

    /// Generates one token.
    pub fn step(&mut self) -> Result<JsValue, JsError> {
        let s = self.session.step().map_err(js_err)?;
        let done = s.stop.is_some();
        to_js(&StepOut {
            token_id: s.token_id,
            text: s.text,
            logits_hash: s.logits_hash.map(|h| format!("{h:016x}")),
            done,
            reason: s.stop.map(|r| r.as_str()),
            tokens_hash: done.then(|| tokens_hash(self.session.generated())),
        })
    }

    /// The text of one token id (as the model's decoder writes it alone).
    pub fn token_text(&self, id: u32) -> Result<String, JsError> {
        self.session.model.tokenizer.decode(&[id]).map_err(js_err)
    }

    /// Token ids of `text` (without BOS unless `add_bos`).
    pub fn tokenize(&self, text: &str, add_bos: bool) -> Result<Vec<u32>, JsError> {
        let tok = &self.session.model.tokenizer;
        let mut ids = tok.encode(text, false).map_err(js_err)?;
        if add_bos {
            if let Some(b) = tok.bos_id() {
                ids.insert(0, b);
            }
        }
        Ok(ids)
    }
}
