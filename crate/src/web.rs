//! The wasm-bindgen surface: the only module that knows about JavaScript.
//! Errors become JS `Error`s here, once (as candle's wasm examples do).

use crate::hash::Sha256Stream;
use crate::session::{GenerateRequest, LoadedModel, Session};
use serde::{Deserialize, Serialize};
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
    name: Option<String>,
    architecture: &'static str,
    n_layer: usize,
    n_vocab: usize,
    context_length: usize,
    has_chat_template: bool,
}

#[derive(Deserialize)]
struct BeginOptions {
    prompt: String,
    #[serde(default)]
    chat: bool,
    max_tokens: u32,
}

#[derive(Serialize)]
struct Begun {
    prompt_tokens: usize,
}

#[derive(Serialize)]
struct StepOut {
    token_id: u32,
    text: String,
    done: bool,
    reason: Option<&'static str>,
}

/// A loaded model and its generation state.
#[wasm_bindgen]
pub struct WasmModel {
    session: Session,
}

#[wasm_bindgen]
impl WasmModel {
    /// Parses, validates and loads a GGUF file.
    pub fn load(bytes: &[u8]) -> Result<WasmModel, JsError> {
        let model = LoadedModel::load(bytes).map_err(js_err)?;
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
            name,
            architecture: m.gguf.config.architecture().as_str(),
            n_layer: m.gguf.config.n_layer(),
            n_vocab: m.gguf.config.n_vocab(),
            context_length: m.gguf.config.context_length(),
            has_chat_template: m.tokenizer.chat_template().is_some(),
        })
    }

    /// Starts a greedy generation: `{prompt, chat, max_tokens}`.
    pub fn begin(&mut self, options: JsValue) -> Result<JsValue, JsError> {
        let o: BeginOptions = serde_wasm_bindgen::from_value(options)
            .map_err(|e| js_err(format!("invalid generation options: {e}")))?;
        let prompt_tokens = self
            .session
            .begin(&GenerateRequest {
                prompt: o.prompt,
                chat: o.chat,
                max_tokens: o.max_tokens,
            })
            .map_err(js_err)?;
        to_js(&Begun { prompt_tokens })
    }

    /// Generates one token.
    pub fn step(&mut self) -> Result<JsValue, JsError> {
        let s = self.session.step().map_err(js_err)?;
        to_js(&StepOut {
            token_id: s.token_id,
            text: s.text,
            done: s.stop.is_some(),
            reason: s.stop.map(|r| r.as_str()),
        })
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
