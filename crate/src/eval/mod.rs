//! Evaluation: lm-evaluation-harness style tasks scored on the exact engine, with
//! scores anyone replays bit for bit.
//!
//! * [`score`]: numeric spec `score-1` (docs/numerics.md, section 12), the integer
//!   log-softmax and the predictions; [`fingerprint`]: the items hash;
//! * [`task`]: task files (docs/tasks.md) and their strict parser; [`builtin`]: the
//!   built-in tasks' manifest;
//! * [`run`]: scoring items on a model (context once, KV cache reused per choice);
//! * [`result`]: the JSON result and the merge of shards; [`metrics`]: lm-eval's
//!   metrics for display.

pub mod builtin;
pub mod fingerprint;
pub mod link;
pub mod metrics;
pub mod result;
pub mod run;
pub mod score;
pub mod task;
