//! Evaluation: lm-evaluation-harness style tasks scored on the exact engine, with
//! scores anyone replays bit for bit.
//!
//! * [`score`]: numeric spec `score-1` (docs/numerics.md, section 12), the integer
//!   log-softmax and the predictions;
//! * [`task`]: task files (docs/tasks.md) and their strict parser.

pub mod score;
pub mod task;
