//! The JSON form of a [`RunLink`] that the page works with (settings as exact
//! decimal strings, hashes as hex, the seed as a decimal string).

use super::{parse_sha256, Expectation, Input, LinkError, ModelRef, RunLink};
use crate::hash::hex;
use crate::request::RunOptions;
use crate::tokenizer::ChatMessage;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelView {
    pub id: String,
    pub sha256: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectView {
    pub token_ids: Vec<u32>,
    pub tokens_hash: String,
}

/// A link as `{spec, model, run, expect}`; `run` is what `WasmModel.begin` takes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkView {
    pub spec: String,
    pub model: ModelView,
    pub run: RunOptions,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect: Option<ExpectView>,
}

impl From<&RunLink> for LinkView {
    fn from(l: &RunLink) -> Self {
        Self {
            spec: l.spec.clone(),
            model: ModelView {
                id: l.model.id.clone(),
                sha256: hex(&l.model.sha256),
                url: l.model.url.clone(),
            },
            run: RunOptions::from_request(&l.request()),
            expect: l.expect.as_ref().map(|e| ExpectView {
                token_ids: e.token_ids.clone(),
                tokens_hash: hex(&e.tokens_hash),
            }),
        }
    }
}

impl TryFrom<&LinkView> for RunLink {
    type Error = LinkError;

    fn try_from(v: &LinkView) -> Result<Self, LinkError> {
        let bad = |m: String| LinkError::InvalidSettings(m);
        let req = v.run.to_request().map_err(|e| bad(e.to_string()))?;
        let sha = |s: &str, what: &str| {
            parse_sha256(s).ok_or_else(|| bad(format!("{what} must be 64 hex digits")))
        };
        let input = if req.chat {
            Input::Chat(req.messages.clone().unwrap_or_else(|| {
                vec![ChatMessage {
                    role: "user".into(),
                    content: req.prompt.clone(),
                }]
            }))
        } else {
            Input::Raw(req.prompt.clone())
        };
        Ok(RunLink {
            spec: v.spec.clone(),
            model: ModelRef {
                id: v.model.id.clone(),
                sha256: sha(&v.model.sha256, "the model sha256")?,
                url: v.model.url.clone(),
            },
            input,
            max_tokens: req.max_tokens,
            params: req.params,
            stop: req.stop,
            expect: match &v.expect {
                None => None,
                Some(e) => Some(Expectation {
                    token_ids: e.token_ids.clone(),
                    tokens_hash: sha(&e.tokens_hash, "the tokens hash")?,
                }),
            },
        })
    }
}
