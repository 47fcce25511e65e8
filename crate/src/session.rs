//! A loaded model and one generation over it, stepped one token at a time so
//! that callers (the CLI, the web worker) can stream text and stop at any point.

use crate::engine::{logits_hash, EngineKind, ExactModel};
use crate::error::{Error, Result};
use crate::gguf::GgufModel;
use crate::gpu::{GpuExecutor, GpuRows};
use crate::reference::FloatModel;
use crate::sampler::{apply_repeat_penalty, sample, DrawStream, SamplingParams};
use crate::tokenizer::{ChatMessage, StreamDecoder, Tokenizer};
use std::sync::Arc;

/// Largest number of new tokens one request may ask for.
pub const MAX_NEW_TOKENS: u32 = 8192;
/// Most stop strings, and longest stop string in bytes, a request may carry.
pub const MAX_STOPS: usize = 16;
pub const MAX_STOP_LEN: usize = 256;

/// What to generate.
#[derive(Debug, Clone)]
pub struct GenerateRequest {
    pub prompt: String,
    /// Apply the model's chat template: to `messages` if given, else to the
    /// prompt as a single user message.
    pub chat: bool,
    /// A whole conversation (chat mode only).
    pub messages: Option<Vec<ChatMessage>>,
    pub max_tokens: u32,
    pub params: SamplingParams,
    /// Generation ends before the first occurrence of any of these.
    pub stop: Vec<String>,
}

impl GenerateRequest {
    /// A greedy request with default settings.
    pub fn greedy(prompt: impl Into<String>, chat: bool, max_tokens: u32) -> Self {
        Self {
            prompt: prompt.into(),
            chat,
            messages: None,
            max_tokens,
            params: SamplingParams::default(),
            stop: Vec::new(),
        }
    }

    pub fn validate(&self) -> Result<()> {
        if self.max_tokens == 0 || self.max_tokens > MAX_NEW_TOKENS {
            return Err(Error::InvalidRequest(format!(
                "max tokens must be between 1 and {MAX_NEW_TOKENS}, not {}",
                self.max_tokens
            )));
        }
        if self.stop.len() > MAX_STOPS
            || self
                .stop
                .iter()
                .any(|s| s.is_empty() || s.len() > MAX_STOP_LEN)
        {
            return Err(Error::InvalidRequest(format!(
                "at most {MAX_STOPS} stop strings of 1 to {MAX_STOP_LEN} bytes each"
            )));
        }
        self.params
            .validate()
            .map_err(|e| Error::InvalidRequest(e.to_string()))
    }
}

/// Why a generation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    Eos,
    MaxTokens,
    StopString,
    ContextFull,
}

impl StopReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Eos => "eos",
            Self::MaxTokens => "max_tokens",
            Self::StopString => "stop_string",
            Self::ContextFull => "context_full",
        }
    }
}

/// One generated token.
#[derive(Debug, Clone)]
pub struct Step {
    pub token_id: u32,
    /// Text that became final with this token (may be empty).
    pub text: String,
    /// Fingerprint of the logits the token was sampled from (exact engine only).
    pub logits_hash: Option<u64>,
    /// Set on the last step.
    pub stop: Option<StopReason>,
}

enum Backend {
    Float(Box<FloatModel>),
    Exact(Box<ExactModel>),
    Gpu(Box<ExactModel<GpuExecutor>>),
}

/// The logits of the next position: on the host, or (WebGPU) still on the GPU
/// until [`Session::resolve`] reads them.
enum NextLogits {
    Ready(Vec<i32>),
    #[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
    Pending(GpuRows),
}

impl NextLogits {
    fn take(&mut self) -> Result<Vec<i32>> {
        match self {
            NextLogits::Ready(l) => Ok(std::mem::take(l)),
            NextLogits::Pending(_) => Err(Error::InvalidRequest(
                "the next logits are still on the GPU: await resolve() first".into(),
            )),
        }
    }
}

/// A model file loaded for generation on one engine.
pub struct LoadedModel {
    pub gguf: GgufModel,
    pub tokenizer: Tokenizer,
    pub engine: EngineKind,
    backend: Backend,
}

struct Running {
    tokens: Vec<u32>,
    prompt_len: usize,
    max_tokens: usize,
    params: SamplingParams,
    draws: DrawStream,
    stop: Vec<String>,
    /// Logits for the next position (Q16).
    next_logits: NextLogits,
    /// Turns generated ids into text as they arrive.
    decoder: StreamDecoder,
    /// The generated text so far (complete characters; end-of-generation tokens left out).
    text: String,
    /// Bytes of `text` already handed out.
    emitted: usize,
    done: bool,
}

/// A model plus the state of the generation in progress, if any.
pub struct Session {
    pub model: LoadedModel,
    running: Option<Running>,
}

impl LoadedModel {
    /// Parses, validates and loads a whole GGUF file for `engine`.
    pub fn load(bytes: Vec<u8>, engine: EngineKind) -> Result<Self> {
        let mut gguf = GgufModel::parse(&bytes)?;
        let tokenizer = Tokenizer::from_gguf_taking(&mut gguf.content)?;
        let backend = match engine {
            EngineKind::Float => Backend::Float(Box::new(FloatModel::load(&gguf, &bytes)?)),
            EngineKind::Exact => {
                let file = Arc::new(bytes);
                Backend::Exact(Box::new(ExactModel::load_cpu(&gguf, &file)?))
            }
        };
        Ok(Self {
            gguf,
            tokenizer,
            engine,
            backend,
        })
    }

    /// Parses, validates and loads a whole GGUF file for the exact engine on `cpu`
    /// (a given thread count; [`LoadedModel::load`] uses every core).
    pub fn load_cpu(bytes: Vec<u8>, cpu: crate::cpu::CpuExecutor) -> Result<Self> {
        let mut gguf = GgufModel::parse(&bytes)?;
        let tokenizer = Tokenizer::from_gguf_taking(&mut gguf.content)?;
        let file = Arc::new(bytes);
        let model = ExactModel::load(cpu, &gguf, &file)?;
        Ok(Self {
            gguf,
            tokenizer,
            engine: EngineKind::Exact,
            backend: Backend::Exact(Box::new(model)),
        })
    }

    /// Parses, validates and loads a whole GGUF file for the exact engine on `gpu`.
    ///
    /// The tokenizer is built before the file's bytes are freed: building it after
    /// would put it into the file's space, and the page's *Automatic* on a real GPU,
    /// which then loads a second copy of the file for the CPU executor to time both,
    /// would need fresh memory for that copy (wasm memory never shrinks: Gemma's peak
    /// 2.10x the file that way, 1.64x this way; *GPU* alone: 1.42x).
    pub fn load_gpu(bytes: Vec<u8>, gpu: GpuExecutor) -> Result<Self> {
        let mut gguf = GgufModel::parse(&bytes)?;
        let tokenizer = Tokenizer::from_gguf_taking(&mut gguf.content)?;
        let file = Arc::new(bytes);
        let mut model = ExactModel::load(gpu, &gguf, &file)?;
        // The weights live on the GPU: let the file's bytes go.
        model.executor.release_host_files();
        drop(file);
        Ok(Self {
            gguf,
            tokenizer,
            engine: EngineKind::Exact,
            backend: Backend::Gpu(Box::new(model)),
        })
    }

    /// Which executor computes the logits: "cpu", or "gpu" and the adapter.
    pub fn executor(&self) -> String {
        match &self.backend {
            Backend::Float(_) => "cpu (float reference)".into(),
            Backend::Exact(_) => "cpu".into(),
            Backend::Gpu(m) => format!("gpu: {}", m.executor.summary()),
        }
    }

    /// The numeric spec the exact engine runs this model under (`exact-1` or
    /// `exact-2`, [`crate::model::spec_of`]); `None` on the float engine.
    pub fn spec(&self) -> Option<&'static str> {
        match &self.backend {
            Backend::Float(_) => None,
            Backend::Exact(m) => Some(m.spec()),
            Backend::Gpu(m) => Some(m.spec()),
        }
    }

    /// The GPU executor's counters, when the model runs on one.
    pub fn gpu_stats(&self) -> Option<crate::gpu::GpuStats> {
        match &self.backend {
            Backend::Gpu(m) => Some(m.executor.stats),
            _ => None,
        }
    }

    /// The prompt's token ids: the chat template applied if asked, BOS as the
    /// file's `tokenizer.ggml.add_bos_token` says.
    pub fn prompt_tokens(&self, prompt: &str, chat: bool) -> Result<Vec<u32>> {
        let text = if chat {
            let template = self.tokenizer.chat_template().ok_or_else(|| {
                Error::InvalidRequest(
                    "this model has no chat template: use a raw prompt instead".into(),
                )
            })?;
            template.render(
                &[ChatMessage {
                    role: "user".into(),
                    content: prompt.to_string(),
                }],
                true,
            )?
        } else {
            prompt.to_string()
        };
        Ok(self.tokenizer.encode(&text, true)?)
    }

    /// The token ids of a conversation rendered with the chat template.
    pub fn chat_tokens(&self, messages: &[ChatMessage]) -> Result<Vec<u32>> {
        let template = self.tokenizer.chat_template().ok_or_else(|| {
            Error::InvalidRequest(
                "this model has no chat template: use a raw prompt instead".into(),
            )
        })?;
        let text = template.render(messages, true)?;
        Ok(self.tokenizer.encode(&text, true)?)
    }

    /// Runs `tokens` from position `pos` (0 starts over) and returns the next logits in Q16.
    fn forward(&mut self, tokens: &[u32], pos: usize) -> Result<NextLogits> {
        match &mut self.backend {
            Backend::Exact(m) => {
                if pos == 0 {
                    m.reset();
                }
                Ok(NextLogits::Ready(m.forward(tokens)?))
            }
            Backend::Gpu(m) => {
                if pos == 0 {
                    m.reset();
                }
                #[cfg(not(target_arch = "wasm32"))]
                {
                    Ok(NextLogits::Ready(m.forward(tokens)?))
                }
                #[cfg(target_arch = "wasm32")]
                {
                    Ok(NextLogits::Pending(m.forward_rows(tokens)?))
                }
            }
            Backend::Float(m) => {
                let l = m.forward(tokens, pos)?;
                Ok(NextLogits::Ready(crate::reference::logits_to_q16(&l)))
            }
        }
    }
}

impl Session {
    pub fn new(model: LoadedModel) -> Self {
        Self {
            model,
            running: None,
        }
    }

    /// Tokenizes the prompt and runs it through the model; returns the prompt length.
    pub fn begin(&mut self, req: &GenerateRequest) -> Result<usize> {
        self.running = None;
        req.validate()?;
        let tokens = match (&req.messages, req.chat) {
            (Some(m), true) => self.model.chat_tokens(m)?,
            _ => self.model.prompt_tokens(&req.prompt, req.chat)?,
        };
        self.begin_tokens(tokens, req)
    }

    /// Like [`Session::begin`] with the prompt already tokenized.
    pub fn begin_tokens(&mut self, tokens: Vec<u32>, req: &GenerateRequest) -> Result<usize> {
        self.running = None;
        req.validate()?;
        if tokens.is_empty() {
            return Err(Error::InvalidRequest("the prompt is empty".into()));
        }
        let ctx = self.model.gguf.config.context_length();
        if tokens.len() >= ctx {
            return Err(Error::InvalidRequest(format!(
                "the prompt has {} tokens; this model's context holds {ctx}",
                tokens.len()
            )));
        }
        let next_logits = self.model.forward(&tokens, 0)?;
        let prompt_len = tokens.len();
        self.running = Some(Running {
            tokens,
            prompt_len,
            max_tokens: req.max_tokens as usize,
            params: req.params.clone(),
            draws: DrawStream::new(req.params.seed),
            stop: req.stop.clone(),
            next_logits,
            decoder: StreamDecoder::new(),
            text: String::new(),
            emitted: 0,
            done: false,
        });
        Ok(prompt_len)
    }

    /// Picks the next token, feeds it back, and returns it.
    pub fn step(&mut self) -> Result<Step> {
        let run = self.running.as_mut().ok_or(Error::NotStarted)?;
        if run.done {
            return Err(Error::InvalidRequest("the generation has finished".into()));
        }
        let k = (run.tokens.len() - run.prompt_len) as u64;
        let mut logits = run.next_logits.take()?;
        let hash = match self.model.engine {
            EngineKind::Exact => Some(logits_hash(&logits)),
            EngineKind::Float => None,
        };
        apply_repeat_penalty(&mut logits, &run.tokens, &run.params);
        let token_id = sample(&logits, &run.params, run.draws.draw(k));
        run.tokens.push(token_id);
        let generated = run.tokens.len() - run.prompt_len;
        let ctx = self.model.gguf.config.context_length();
        let tok = &self.model.tokenizer;
        let eog = tok.is_eog(token_id);
        if !eog {
            let piece = run.decoder.push(tok, token_id)?;
            run.text.push_str(&piece);
        }
        let hit_stop = find_stop(run).is_some();
        let stop = if hit_stop {
            Some(StopReason::StopString)
        } else if eog {
            Some(StopReason::Eos)
        } else if generated >= run.max_tokens {
            Some(StopReason::MaxTokens)
        } else if run.tokens.len() >= ctx {
            Some(StopReason::ContextFull)
        } else {
            None
        };
        if stop.is_some() && !hit_stop {
            let rest = run.decoder.finish();
            run.text.push_str(&rest);
        }
        let text = release_text(run, stop.is_some());
        if stop.is_some() {
            run.done = true;
        } else {
            let pos = run.tokens.len() - 1;
            run.next_logits = self.model.forward(&[token_id], pos)?;
        }
        Ok(Step {
            token_id,
            text,
            logits_hash: hash,
            stop,
        })
    }

    /// Reads logits still on the GPU (WebGPU); call before [`Session::step`].
    #[cfg(target_arch = "wasm32")]
    pub async fn resolve(&mut self) -> Result<()> {
        let Some(run) = self.running.as_mut() else {
            return Ok(());
        };
        if let NextLogits::Pending(rows) = &run.next_logits {
            let Backend::Gpu(m) = &mut self.model.backend else {
                unreachable!("only the GPU backend leaves logits pending");
            };
            let read = m.executor.read_async(rows).await;
            let mut rows = read.map_err(crate::model::ModelError::from)?;
            run.next_logits = NextLogits::Ready(rows.pop().unwrap_or_default());
        }
        Ok(())
    }

    /// Generated token ids so far.
    pub fn generated(&self) -> &[u32] {
        match &self.running {
            Some(r) => &r.tokens[r.prompt_len..],
            None => &[],
        }
    }
}

/// Byte offset of the first stop string in the generated text.
fn find_stop(run: &Running) -> Option<usize> {
    run.stop
        .iter()
        .filter_map(|s| run.text.find(s.as_str()))
        .min()
}

/// The part of the generated text that is now final. Text before a stop string
/// is final; otherwise a tail that might be the start of a stop string is held
/// back until the generation ends.
fn release_text(run: &mut Running, last: bool) -> String {
    let end = match find_stop(run) {
        Some(i) => i,
        None if last => run.text.len(),
        None => {
            let full = run.text.as_str();
            let mut end = full.len();
            for s in &run.stop {
                for l in (1..s.len()).rev() {
                    if s.is_char_boundary(l) && full.ends_with(&s[..l]) {
                        end = end.min(full.len() - l);
                        break;
                    }
                }
            }
            end
        }
    };
    let start = run.emitted.min(end);
    let out = run.text[start..end].to_string();
    run.emitted = run.emitted.max(end);
    out
}
