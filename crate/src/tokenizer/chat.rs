//! Chat templates: the Jinja template a model ships in `tokenizer.chat_template`, rendered with
//! minijinja (<https://docs.rs/minijinja>).
//!
//! The context follows Hugging Face `transformers`' `apply_chat_template`
//! (<https://huggingface.co/docs/transformers/main/en/chat_templating>): `messages` (a list of
//! `{role, content}`), `add_generation_prompt`, `bos_token`, `eos_token`, and a
//! `raise_exception(message)` function that aborts rendering with the template's own message.
//! A few Python string methods templates commonly call (`strip`, `startswith`, ...) are provided,
//! as HF's Jinja sandbox has them.
//!
//! A template comes from the model file, so it is untrusted: each render runs on a budget of
//! [`CHAT_TEMPLATE_FUEL`] minijinja instructions (nested `range(100000)` loops stop there), its
//! output is cut off at [`MAX_CHAT_OUTPUT`] bytes, and `replace` (filter and method) refuses to
//! build a string longer than that (`replace("", s)` grows a string by `|s|` per character).
//! Not bounded: the size of intermediate strings built with `~` or `*` (minijinja caps one `*`
//! at 10^8 bytes), which only fuel limits.

use minijinja::value::Value;
use minijinja::{Environment, ErrorKind, State, UndefinedBehavior};
use serde::{Deserialize, Serialize};

use super::error::TokenizerError;

const NAME: &str = "chat_template";

/// minijinja instructions one render may execute (ChatML renders 256 messages well within it).
pub const CHAT_TEMPLATE_FUEL: u64 = 2_000_000;
/// Largest rendered conversation, and largest string `replace` may build, in bytes.
pub const MAX_CHAT_OUTPUT: usize = 4 << 20;

/// One message of a conversation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    /// `system`, `user` or `assistant` (templates decide what they accept).
    pub role: String,
    pub content: String,
}

impl ChatMessage {
    pub fn new(role: impl Into<String>, content: impl Into<String>) -> Self {
        Self {
            role: role.into(),
            content: content.into(),
        }
    }
}

/// Why a chat template could not be compiled or rendered.
#[derive(Debug, thiserror::Error)]
pub enum ChatTemplateError {
    /// The template is not valid Jinja (as minijinja reads it).
    #[error("chat template does not compile: {0}")]
    Syntax(String),
    /// The template called `raise_exception`, e.g. for an unsupported role order.
    #[error("chat template rejected the conversation: {0}")]
    Raised(String),
    /// Rendering failed otherwise (unknown filter, wrong types, ...).
    #[error("chat template failed to render: {0}")]
    Render(String),
    /// The render ran out of its instruction budget.
    #[error("chat template runs too long: it used up its budget of {CHAT_TEMPLATE_FUEL} steps (CHAT_TEMPLATE_FUEL)")]
    OutOfFuel,
    /// The rendered text, or a string built on the way, is too long.
    #[error(
        "chat template output is too long: more than {MAX_CHAT_OUTPUT} bytes (MAX_CHAT_OUTPUT)"
    )]
    TooLong,
}

/// A compiled chat template.
#[derive(Debug)]
pub struct ChatTemplate {
    env: Environment<'static>,
    /// Why the source did not compile, reported by [`ChatTemplate::render`].
    syntax_error: Option<String>,
    bos_token: String,
    eos_token: String,
}

impl ChatTemplate {
    /// Compiles `source`; `bos_token` and `eos_token` are the texts the template sees under
    /// those names. A template that does not compile is still a value: [`ChatTemplate::check`]
    /// and every [`ChatTemplate::render`] report the syntax error, so a model with a broken
    /// template stays usable with raw prompts.
    pub fn new(source: &str, bos_token: &str, eos_token: &str) -> Self {
        let mut env = Environment::new();
        // HF renders with `trim_blocks` and `lstrip_blocks` on
        env.set_trim_blocks(true);
        env.set_lstrip_blocks(true);
        env.set_undefined_behavior(UndefinedBehavior::Lenient);
        env.add_function("raise_exception", raise_exception);
        env.set_unknown_method_callback(python_methods);
        env.set_fuel(Some(CHAT_TEMPLATE_FUEL));
        env.add_filter("replace", |s: String, from: String, to: String| {
            bounded_replace(&s, &from, &to)
        });
        let syntax_error = env
            .add_template_owned(NAME, source.to_string())
            .err()
            .map(|e| describe(&e));
        Self {
            env,
            syntax_error,
            bos_token: bos_token.to_string(),
            eos_token: eos_token.to_string(),
        }
    }

    /// Whether the template compiled.
    pub fn check(&self) -> Result<(), ChatTemplateError> {
        match &self.syntax_error {
            Some(e) => Err(ChatTemplateError::Syntax(e.clone())),
            None => Ok(()),
        }
    }

    /// Renders a conversation; with `add_generation_prompt`, ends with the opening of the
    /// assistant's turn.
    pub fn render(
        &self,
        messages: &[ChatMessage],
        add_generation_prompt: bool,
    ) -> Result<String, TokenizerError> {
        self.check()?;
        let template = self
            .env
            .get_template(NAME)
            .map_err(|e| ChatTemplateError::Render(describe(&e)))?;
        let ctx = minijinja::context! {
            messages => messages,
            add_generation_prompt => add_generation_prompt,
            bos_token => &self.bos_token,
            eos_token => &self.eos_token,
        };
        let mut out = Bounded(Vec::new(), false);
        match template.render_captured_to(ctx, &mut out) {
            // Every piece written is a whole `str`: the bytes are UTF-8.
            Ok(_) => Ok(String::from_utf8_lossy(&out.0).into_owned()),
            Err(_) if out.1 => Err(ChatTemplateError::TooLong.into()),
            Err(e) => Err(classify(&e).into()),
        }
    }
}

/// The typed form of a render error.
fn classify(e: &minijinja::Error) -> ChatTemplateError {
    let mut causes = std::iter::successors(Some(e as &dyn std::error::Error), |e| e.source());
    if let Some(Raised(message)) = causes.find_map(|e| e.downcast_ref::<Raised>()) {
        return ChatTemplateError::Raised(message.clone());
    }
    let mut causes = std::iter::successors(Some(e as &dyn std::error::Error), |e| e.source());
    if causes.any(|e| e.downcast_ref::<TooLong>().is_some()) {
        return ChatTemplateError::TooLong;
    }
    match e.kind() {
        ErrorKind::OutOfFuel => ChatTemplateError::OutOfFuel,
        _ => ChatTemplateError::Render(describe(e)),
    }
}

/// An output that refuses to grow past [`MAX_CHAT_OUTPUT`] bytes (and says so in `.1`).
struct Bounded(Vec<u8>, bool);

impl std::io::Write for Bounded {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.0.len() + buf.len() > MAX_CHAT_OUTPUT {
            self.1 = true;
            return Err(std::io::Error::other(TooLong));
        }
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The marker error of an output or string over [`MAX_CHAT_OUTPUT`].
#[derive(Debug)]
struct TooLong;

impl std::fmt::Display for TooLong {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "more than {MAX_CHAT_OUTPUT} bytes")
    }
}

impl std::error::Error for TooLong {}

/// `str::replace`, refusing (before building it) a result over [`MAX_CHAT_OUTPUT`] bytes.
fn bounded_replace(s: &str, from: &str, to: &str) -> Result<Value, minijinja::Error> {
    // An empty pattern matches at every character boundary, both ends included.
    let n = if from.is_empty() {
        s.chars().count() as u64 + 1
    } else {
        s.matches(from).count() as u64
    };
    let len =
        (s.len() as u64 - n * from.len() as u64).saturating_add(n.saturating_mul(to.len() as u64));
    if len > MAX_CHAT_OUTPUT as u64 {
        return Err(minijinja::Error::new(
            ErrorKind::InvalidOperation,
            "replace makes too long a string",
        )
        .with_source(TooLong));
    }
    Ok(Value::from(s.replace(from, to)))
}

/// The message of a `raise_exception` call, carried as the source of the minijinja error.
#[derive(Debug)]
struct Raised(String);

impl std::fmt::Display for Raised {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Raised {}

fn raise_exception(message: String) -> Result<Value, minijinja::Error> {
    Err(
        minijinja::Error::new(ErrorKind::InvalidOperation, message.clone())
            .with_source(Raised(message)),
    )
}

/// The error with its causes, on one line.
fn describe(err: &minijinja::Error) -> String {
    let mut text = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Python `str` methods chat templates use: `strip`, `lstrip`, `rstrip`, `startswith`,
/// `endswith`, `upper`, `lower`, `replace`, `split`.
fn python_methods(
    _state: &State,
    value: &Value,
    method: &str,
    args: &[Value],
) -> Result<Value, minijinja::Error> {
    let unknown = || {
        minijinja::Error::new(
            ErrorKind::UnknownMethod,
            format!("no method {method} on {}", value.kind()),
        )
    };
    let Some(s) = value.as_str() else {
        return Err(unknown());
    };
    let arg = |i: usize| args.get(i).and_then(Value::as_str);
    let chars = |i: usize| arg(i).map(|c| c.chars().collect::<Vec<char>>());
    Ok(match method {
        "strip" => match chars(0) {
            Some(c) => Value::from(s.trim_matches(c.as_slice())),
            None => Value::from(s.trim()),
        },
        "lstrip" => match chars(0) {
            Some(c) => Value::from(s.trim_start_matches(c.as_slice())),
            None => Value::from(s.trim_start()),
        },
        "rstrip" => match chars(0) {
            Some(c) => Value::from(s.trim_end_matches(c.as_slice())),
            None => Value::from(s.trim_end()),
        },
        "startswith" => Value::from(arg(0).is_some_and(|p| s.starts_with(p))),
        "endswith" => Value::from(arg(0).is_some_and(|p| s.ends_with(p))),
        "upper" => Value::from(s.to_uppercase()),
        "lower" => Value::from(s.to_lowercase()),
        "replace" => match (arg(0), arg(1)) {
            (Some(from), Some(to)) => bounded_replace(s, from, to)?,
            _ => return Err(unknown()),
        },
        "split" => match arg(0) {
            Some(sep) => Value::from(s.split(sep).map(Value::from).collect::<Vec<_>>()),
            None if args.is_empty() => {
                Value::from(s.split_whitespace().map(Value::from).collect::<Vec<_>>())
            }
            None => return Err(unknown()),
        },
        _ => return Err(unknown()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHATML: &str = "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' \
        + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}\
        {{ '<|im_start|>assistant\n' }}{% endif %}";

    #[test]
    fn renders_chatml() {
        let t = ChatTemplate::new(CHATML, "<s>", "</s>");
        let out = t.render(&[ChatMessage::new("user", "hi")], true).unwrap();
        assert_eq!(
            out,
            "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"
        );
    }

    #[test]
    fn exposes_bos_and_eos() {
        let t = ChatTemplate::new("{{ bos_token }}x{{ eos_token }}", "<s>", "</s>");
        assert_eq!(t.render(&[], false).unwrap(), "<s>x</s>");
    }

    #[test]
    fn raise_exception_is_a_typed_error() {
        let src = "{% if messages[0]['role'] != 'user' %}{{ raise_exception('first must be user') }}{% endif %}ok";
        let t = ChatTemplate::new(src, "", "");
        let err = t
            .render(&[ChatMessage::new("assistant", "x")], false)
            .unwrap_err();
        match err {
            TokenizerError::ChatTemplate(ChatTemplateError::Raised(m)) => {
                assert_eq!(m, "first must be user");
            }
            other => panic!("expected Raised, got {other:?}"),
        }
        assert_eq!(
            t.render(&[ChatMessage::new("user", "x")], false).unwrap(),
            "ok"
        );
    }

    #[test]
    fn syntax_errors_are_typed() {
        let t = ChatTemplate::new("{% for %}", "", "");
        assert!(matches!(t.check(), Err(ChatTemplateError::Syntax(_))));
        let err = t.render(&[], false).unwrap_err();
        assert!(
            matches!(
                err,
                TokenizerError::ChatTemplate(ChatTemplateError::Syntax(_))
            ),
            "{err:?}"
        );
    }

    #[test]
    fn python_string_methods() {
        let src = "{{ messages[0].content.strip() }}|{{ messages[0].content.startswith(' a') }}|\
                   {{ messages[0].content.upper() }}";
        let t = ChatTemplate::new(src, "", "");
        let out = t
            .render(&[ChatMessage::new("user", " ab ")], false)
            .unwrap();
        assert_eq!(out, "ab|True| AB ");
    }

    fn render_err(src: &str, content: &str) -> ChatTemplateError {
        let t = ChatTemplate::new(src, "", "");
        let start = std::time::Instant::now();
        let err = t.render(&[ChatMessage::new("user", content)], true);
        assert!(start.elapsed().as_secs() < 5, "{:?}", start.elapsed());
        match err {
            Err(TokenizerError::ChatTemplate(e)) => e,
            other => panic!("expected a chat template error, got {other:?}"),
        }
    }

    #[test]
    fn nested_loops_run_out_of_fuel() {
        let src =
            "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}";
        let err = render_err(src, "x");
        assert!(matches!(err, ChatTemplateError::OutOfFuel), "{err}");
        assert!(err.to_string().contains("CHAT_TEMPLATE_FUEL"), "{err}");
    }

    #[test]
    fn output_and_replace_are_bounded() {
        let src = "{% for i in range(100000) %}{{ messages[0].content }}{% endfor %}";
        let err = render_err(src, &"x".repeat(1000));
        assert!(matches!(err, ChatTemplateError::TooLong), "{err}");
        assert!(err.to_string().contains("MAX_CHAT_OUTPUT"), "{err}");
        for src in [
            "{% set s = messages[0].content %}{{ s|replace('', s)|replace('', s)|replace('', s) }}",
            "{% set s = messages[0].content %}{{ s.replace('', s).replace('', s).replace('', s) }}",
        ] {
            let err = render_err(src, &"ab".repeat(100));
            assert!(matches!(err, ChatTemplateError::TooLong), "{src}: {err}");
        }
        // Within the bound, replace still works like Python's.
        let t = ChatTemplate::new("{{ messages[0].content|replace('', '-') }}", "", "");
        assert_eq!(
            t.render(&[ChatMessage::new("u", "ab")], false).unwrap(),
            "-a-b-"
        );
    }

    #[test]
    fn a_long_conversation_fits_the_fuel() {
        let t = ChatTemplate::new(CHATML, "", "");
        let msgs = vec![ChatMessage::new("user", "hello there"); 256];
        assert!(t.render(&msgs, true).is_ok());
    }
}
