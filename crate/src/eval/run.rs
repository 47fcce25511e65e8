//! Scoring items on a model, as lm-evaluation-harness builds its requests
//! (docs/tasks.md, "Tokenization"): each context runs once, its KV cache is kept,
//! and every choice's continuation tokens go through the model as one batch
//! after it. A context and continuation longer than the model's context keep
//! their last tokens, as lm-eval's `_loglikelihood_tokens` cuts from the left
//! ([`fit_context`]).

use super::score::{argmax_first, argmax_norm_first, ContinuationScore};
use super::task::{Item, OutputType, Task};
use crate::engine::ExactModel;
use crate::exec::Executor;
use crate::model::ModelError;
use crate::reference::{logits_to_q16, FloatLlamaAll, ReferenceError};
use crate::tokenizer::{Tokenizer, TokenizerError};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum EvalError {
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error(transparent)]
    Reference(#[from] ReferenceError),
    #[error(transparent)]
    Tokenizer(#[from] TokenizerError),
    #[error(
        "item {item}: its continuation alone is {tokens} tokens; this model's context holds {max}"
    )]
    ContinuationTooLong {
        item: usize,
        tokens: usize,
        max: usize,
    },
    #[error(
        "item {item}: the continuation has no tokens of its own once tokenized with the context"
    )]
    EmptyContinuation { item: usize },
    #[error("the model has neither a BOS nor an EOS token to start an empty context with")]
    NoPrefixToken,
}

/// A model that gives the logits predicting each continuation token.
pub trait ScoringModel {
    /// Positions the model holds.
    fn context_length(&self) -> usize;
    /// Q16 logits predicting each token of `cont` right after `context`
    /// (`cont.len()` rows). Consecutive calls with the same context reuse its run.
    fn rows(&mut self, context: &[u32], cont: &[u32]) -> Result<Vec<Vec<i32>>, EvalError>;
    /// Tokens run through the model so far (for speed figures).
    fn tokens_run(&self) -> u64;
    /// The numeric spec the scores follow (`exact-1`, `exact-2`); `None` for the
    /// float reference.
    fn spec(&self) -> Option<&'static str> {
        None
    }
}

/// The exact engine: the context's KV cache is kept and rewound after each choice.
pub struct ExactScorer<E: Executor> {
    model: ExactModel<E>,
    context_length: usize,
    context: Vec<u32>,
    context_logits: Vec<i32>,
    tokens_run: u64,
}

impl<E: Executor> ExactScorer<E> {
    pub fn new(model: ExactModel<E>, context_length: usize) -> Self {
        Self {
            model,
            context_length,
            context: Vec::new(),
            context_logits: Vec::new(),
            tokens_run: 0,
        }
    }
}

impl<E: Executor> ScoringModel for ExactScorer<E> {
    fn context_length(&self) -> usize {
        self.context_length
    }

    fn rows(&mut self, context: &[u32], cont: &[u32]) -> Result<Vec<Vec<i32>>, EvalError> {
        if self.context.is_empty() || self.context != context {
            self.context.clear();
            self.model.reset();
            self.context_logits = self.model.forward(context)?;
            self.tokens_run += context.len() as u64;
            self.context = context.to_vec();
        }
        let mut rows = vec![self.context_logits.clone()];
        if cont.len() > 1 {
            self.model.rewind(context.len());
            rows.extend(self.model.forward_all(&cont[..cont.len() - 1])?);
            self.tokens_run += cont.len() as u64 - 1;
        }
        Ok(rows)
    }

    fn tokens_run(&self) -> u64 {
        self.tokens_run
    }

    fn spec(&self) -> Option<&'static str> {
        Some(self.model.spec())
    }
}

/// The float reference (f32, all positions in one batch): context and
/// continuation run together for each choice; its logits are rounded to Q16 and
/// scored by the same integer code. Not reproducible across machines.
pub struct FloatScorer {
    model: FloatLlamaAll,
    context_length: usize,
    tokens_run: u64,
}

impl FloatScorer {
    pub fn new(model: FloatLlamaAll, context_length: usize) -> Self {
        Self {
            model,
            context_length,
            tokens_run: 0,
        }
    }
}

impl ScoringModel for FloatScorer {
    fn context_length(&self) -> usize {
        self.context_length
    }

    fn rows(&mut self, context: &[u32], cont: &[u32]) -> Result<Vec<Vec<i32>>, EvalError> {
        let mut all = context.to_vec();
        all.extend_from_slice(&cont[..cont.len() - 1]);
        let rows = self.model.forward_all(&all)?;
        self.tokens_run += all.len() as u64;
        Ok(rows[context.len() - 1..]
            .iter()
            .map(|r| logits_to_q16(r))
            .collect())
    }

    fn tokens_run(&self) -> u64 {
        self.tokens_run
    }
}

/// What one item scored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemResult {
    /// 0-based index of the item in the task file.
    pub id: u32,
    /// The gold choice (multiple-choice tasks).
    pub gold: Option<u32>,
    /// One per choice (one continuation for the other task types).
    pub scores: Vec<ContinuationScore>,
    /// First largest log-likelihood (0 without choices).
    pub pred: u32,
    /// First largest log-likelihood per character (0 without choices).
    pub pred_norm: u32,
    /// Rolling tasks: the document's words and UTF-8 bytes.
    pub words: Option<u64>,
    pub bytes: Option<u64>,
}

/// lm-eval's `_encode_pair`: trailing whitespace moves from the context to the
/// continuation; the continuation's tokens are those of the whole text after the
/// context's tokens.
pub fn encode_pair(
    tok: &Tokenizer,
    context: &str,
    continuation: &str,
    item: usize,
) -> Result<(Vec<u32>, Vec<u32>), EvalError> {
    let trimmed = context.trim_end();
    let moved = &context[trimmed.len()..];
    let cont = format!("{moved}{continuation}");
    if trimmed.is_empty() {
        let prefix = prefix_token(tok)?;
        let c = tok.encode(&cont, false)?;
        if c.is_empty() {
            return Err(EvalError::EmptyContinuation { item });
        }
        return Ok((vec![prefix], c));
    }
    let ctx = tok.encode(trimmed, true)?;
    let whole = tok.encode(&format!("{trimmed}{cont}"), true)?;
    if whole.len() <= ctx.len() {
        return Err(EvalError::EmptyContinuation { item });
    }
    Ok((ctx.clone(), whole[ctx.len()..].to_vec()))
}

/// The token an empty context starts with: BOS, or EOS (lm-eval's prefix token).
fn prefix_token(tok: &Tokenizer) -> Result<u32, EvalError> {
    tok.bos_id()
        .or_else(|| tok.eos_id())
        .ok_or(EvalError::NoPrefixToken)
}

/// Words as lm-eval counts them: `len(re.split(r"\s+", text))`.
pub fn word_count(text: &str) -> u64 {
    let mut n = 1;
    let mut in_space = false;
    for c in text.chars() {
        let s = c.is_whitespace();
        if s && !in_space {
            n += 1;
        }
        in_space = s;
    }
    n
}

/// lm-eval's left truncation (`_loglikelihood_tokens`: the model reads
/// `(context + continuation)[-(max_length + 1):][:-1]`): when the context and the
/// continuation need more than `max` positions, the context keeps its last
/// `max + 1 - cont.len()` tokens (at least one). A continuation longer than `max`
/// alone cannot be scored and is an error.
pub fn fit_context<'a>(
    context: &'a [u32],
    cont: &[u32],
    max: usize,
    item: usize,
) -> Result<&'a [u32], EvalError> {
    if cont.len() > max {
        return Err(EvalError::ContinuationTooLong {
            item,
            tokens: cont.len(),
            max,
        });
    }
    let keep = max + 1 - cont.len();
    Ok(&context[context.len().saturating_sub(keep)..])
}

/// A request's (context tokens, continuation tokens).
pub type Request = (Vec<u32>, Vec<u32>);

/// The requests item `index` is scored with, in order (one per choice; one for
/// the other task types), before [`fit_context`].
pub fn item_requests(
    tok: &Tokenizer,
    task: &Task,
    index: usize,
) -> Result<Vec<Request>, EvalError> {
    Ok(match &task.items[index] {
        Item::Choice {
            context, choices, ..
        } => choices
            .iter()
            .map(|c| {
                let cont = format!("{}{c}", task.target_delimiter);
                encode_pair(tok, context, &cont, index)
            })
            .collect::<Result<_, _>>()?,
        Item::Loglikelihood {
            context,
            continuation,
        } => vec![encode_pair(tok, context, continuation, index)?],
        Item::Rolling { text } => {
            let cont = tok.encode(text, false)?;
            if cont.is_empty() {
                return Err(EvalError::EmptyContinuation { item: index });
            }
            vec![(vec![prefix_token(tok)?], cont)]
        }
    })
}

/// The result of item `index` from the scores of its [`item_requests`], in order.
pub fn item_result(task: &Task, index: usize, scores: Vec<ContinuationScore>) -> ItemResult {
    let id = index as u32;
    match &task.items[index] {
        Item::Choice { choices, gold, .. } => {
            let lls: Vec<i64> = scores.iter().map(|s| s.loglik_q16).collect();
            let lens: Vec<u32> = choices.iter().map(|c| c.chars().count() as u32).collect();
            ItemResult {
                id,
                gold: Some(*gold),
                pred: argmax_first(&lls) as u32,
                pred_norm: argmax_norm_first(&lls, &lens) as u32,
                scores,
                words: None,
                bytes: None,
            }
        }
        Item::Loglikelihood { .. } => ItemResult {
            id,
            gold: None,
            scores,
            pred: 0,
            pred_norm: 0,
            words: None,
            bytes: None,
        },
        Item::Rolling { text } => ItemResult {
            id,
            gold: None,
            scores,
            pred: 0,
            pred_norm: 0,
            words: Some(word_count(text)),
            bytes: Some(text.len() as u64),
        },
    }
}

/// Scores item `index` of `task`.
pub fn score_item(
    model: &mut dyn ScoringModel,
    tok: &Tokenizer,
    task: &Task,
    index: usize,
) -> Result<ItemResult, EvalError> {
    let max = model.context_length();
    let mut scores = Vec::new();
    for (context, cont) in item_requests(tok, task, index)? {
        let context = fit_context(&context, &cont, max, index)?;
        let rows = model.rows(context, &cont)?;
        scores.push(ContinuationScore::from_rows(&rows, &cont));
    }
    Ok(item_result(task, index, scores))
}

/// Items `[start, end)` of the first `limit` items (all when `None`), shard `i`
/// of `n` (0-based; contiguous blocks).
pub fn subset(total: usize, limit: Option<usize>, shard: Option<(usize, usize)>) -> (usize, usize) {
    let m = limit.map_or(total, |l| l.min(total));
    match shard {
        None => (0, m),
        Some((i, n)) => (i * m / n, (i + 1) * m / n),
    }
}

/// Whether the task's items are scored with choices.
pub fn has_choices(t: OutputType) -> bool {
    t == OutputType::MultipleChoice
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_as_python_re_split() {
        assert_eq!(word_count("a b  c"), 3);
        assert_eq!(word_count(" a\n\tb "), 4); // ['', 'a', 'b', '']
        assert_eq!(word_count("one"), 1);
    }

    #[test]
    fn long_contexts_are_cut_from_the_left_as_lm_eval() {
        let ctx: Vec<u32> = (0..10).collect();
        let cont = [100, 101, 102];
        // Fits: 10 + 3 - 1 = 12 positions.
        assert_eq!(fit_context(&ctx, &cont, 12, 0).unwrap(), &ctx[..]);
        // lm-eval: (ctx + cont)[-(8 + 1):][:-1] = ctx[4..] + cont[..2].
        let kept = fit_context(&ctx, &cont, 8, 0).unwrap();
        assert_eq!(kept, &ctx[4..]);
        let whole: Vec<u32> = ctx.iter().chain(&cont).copied().collect();
        let lm_eval_input = &whole[whole.len() - 9..whole.len() - 1];
        let ours: Vec<u32> = kept.iter().chain(&cont[..2]).copied().collect();
        assert_eq!(ours, lm_eval_input);
        // A continuation of exactly the context length keeps one context token.
        assert_eq!(fit_context(&ctx, &cont, 3, 0).unwrap(), &[9]);
        // Longer alone: an error that names the item.
        let err = fit_context(&ctx, &cont, 2, 7).unwrap_err();
        assert_eq!(
            err.to_string(),
            "item 7: its continuation alone is 3 tokens; this model's context holds 2"
        );
    }

    #[test]
    fn shards_cover_the_subset_once() {
        assert_eq!(subset(10, None, None), (0, 10));
        assert_eq!(subset(10, Some(4), None), (0, 4));
        assert_eq!(subset(3, Some(40), None), (0, 3));
        let parts: Vec<_> = (0..3).map(|i| subset(10, Some(7), Some((i, 3)))).collect();
        assert_eq!(parts, vec![(0, 2), (2, 4), (4, 7)]);
    }
}
