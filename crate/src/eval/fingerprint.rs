//! The items hash and per-item digests of `score-1` (docs/numerics.md, section 12):
//! integer fields in a fixed little-endian layout, hashed with SHA-256.
#![deny(clippy::float_arithmetic)]

use super::run::ItemResult;
use sha2::{Digest, Sha256};

/// The bytes one item contributes to the items hash.
pub fn item_bytes(item: &ItemResult) -> Vec<u8> {
    let mut b = Vec::with_capacity(16 + 13 * item.scores.len());
    b.extend_from_slice(&item.id.to_le_bytes());
    b.extend_from_slice(&(item.scores.len() as u32).to_le_bytes());
    for s in &item.scores {
        b.extend_from_slice(&s.loglik_q16.to_le_bytes());
        b.extend_from_slice(&s.tokens.to_le_bytes());
        b.push(s.greedy as u8);
    }
    b.extend_from_slice(&item.pred.to_le_bytes());
    b.extend_from_slice(&item.pred_norm.to_le_bytes());
    b
}

/// SHA-256 over the items in the order given (callers sort by id).
pub fn items_hash(items: &[ItemResult]) -> [u8; 32] {
    let mut h = Sha256::new();
    for it in items {
        h.update(item_bytes(it));
    }
    h.finalize().into()
}

/// The first byte of the SHA-256 of one item's bytes: an eval link keeps it per
/// item so a replay names the first item whose log-likelihoods differ.
pub fn item_digest(item: &ItemResult) -> u8 {
    Sha256::digest(item_bytes(item))[0]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::score::ContinuationScore;

    #[test]
    fn layout_is_fixed() {
        let it = ItemResult {
            id: 2,
            gold: Some(1),
            scores: vec![ContinuationScore {
                loglik_q16: -65536,
                greedy: true,
                tokens: 3,
            }],
            pred: 0,
            pred_norm: 0,
            words: None,
            bytes: None,
        };
        let b = item_bytes(&it);
        assert_eq!(
            b,
            [
                2, 0, 0, 0, 1, 0, 0, 0, // id, count
                0, 0, 255, 255, 255, 255, 255, 255, 3, 0, 0, 0, 1, // loglik, tokens, greedy
                0, 0, 0, 0, 0, 0, 0, 0 // pred, pred_norm
            ]
        );
        // The gold answer is the task's, not a result: it is not hashed.
        let other = ItemResult {
            gold: Some(0),
            ..it.clone()
        };
        assert_eq!(items_hash(std::slice::from_ref(&it)), items_hash(&[other]));
        let changed = ItemResult {
            pred_norm: 1,
            ..it.clone()
        };
        assert_ne!(items_hash(&[it]), items_hash(&[changed]));
    }
}
