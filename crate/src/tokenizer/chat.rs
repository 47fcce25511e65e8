//! Chat templates: the Jinja template a model ships in `tokenizer.chat_template`, rendered with
//! minijinja (<https://docs.rs/minijinja>).
//!
//! The context follows Hugging Face `transformers`' `apply_chat_template`
//! (<https://huggingface.co/docs/transformers/main/en/chat_templating>): `messages` (a list of
//! `{role, content}`), `add_generation_prompt`, `bos_token`, `eos_token`, and a
//! `raise_exception(message)` function that aborts rendering with the template's own message.
//! A few Python string methods templates commonly call (`strip`, `startswith`, ...) are provided,
//! as HF's Jinja sandbox has them.

use minijinja::value::Value;
use minijinja::{Environment, ErrorKind, State, UndefinedBehavior};
use serde::{Deserialize, Serialize};

use super::error::TokenizerError;

const NAME: &str = "chat_template";

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
        template.render(ctx).map_err(|e| {
            let raised = std::iter::successors(Some(&e as &dyn std::error::Error), |e| e.source())
                .find_map(|e| e.downcast_ref::<Raised>());
            match raised {
                Some(Raised(message)) => ChatTemplateError::Raised(message.clone()).into(),
                None => ChatTemplateError::Render(describe(&e)).into(),
            }
        })
    }
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
            (Some(from), Some(to)) => Value::from(s.replace(from, to)),
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
}
