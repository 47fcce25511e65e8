//! Splitting special tokens out of the text before the tokenizer model runs.
//!
//! This reproduces llama.cpp's `llama_vocab::impl::tokenizer_st_partition` (`src/llama-vocab.cpp`)
//! with `parse_special = true`: every control, user-defined and unknown token is a special token;
//! they are tried longest text first (ties: lower id first, where llama.cpp's `std::sort` leaves
//! the order unspecified), and each one claims all its non-overlapping occurrences, left to right,
//! inside the text not yet claimed by a longer one. The result differs from the leftmost-longest
//! matching of Hugging Face's `AddedVocabulary` when special texts overlap, which is why the
//! partition is done here rather than by `tokenizers`. The `lstrip`/`rstrip` attributes llama.cpp
//! sets for a few model names (phi-3, jina, modern-bert) are not reproduced.

use std::collections::BTreeMap;
use std::ops::Range;

/// A piece of the input: text for the tokenizer model, or a special token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Fragment {
    Text(Range<usize>),
    Token(u32),
}

/// The special tokens of a vocabulary, ready to be found in text.
#[derive(Debug, Default)]
pub(crate) struct SpecialTokens {
    /// Byte trie over the special texts; node 0 is the root.
    nodes: Vec<Node>,
    /// `rank[id]` orders the specials the way llama.cpp tries them (0 first).
    rank: BTreeMap<u32, usize>,
}

#[derive(Debug, Default)]
struct Node {
    /// Children by byte, sorted.
    edges: Vec<(u8, usize)>,
    /// The special token whose text ends here.
    token: Option<u32>,
}

/// An occurrence of a special token: byte range and id.
#[derive(Clone, Copy, Debug)]
struct Occurrence {
    start: usize,
    end: usize,
    id: u32,
}

impl SpecialTokens {
    /// `specials` are (id, text) pairs with distinct, non-empty texts.
    pub(crate) fn new<'a>(specials: impl IntoIterator<Item = (u32, &'a str)>) -> Self {
        let mut specials: Vec<(u32, &str)> = specials
            .into_iter()
            .filter(|(_, t)| !t.is_empty())
            .collect();
        specials.sort_by(|a, b| b.1.len().cmp(&a.1.len()).then(a.0.cmp(&b.0)));
        let mut nodes = vec![Node::default()];
        for &(id, text) in &specials {
            let mut at = 0;
            for &byte in text.as_bytes() {
                at = match nodes[at].edges.binary_search_by_key(&byte, |e| e.0) {
                    Ok(i) => nodes[at].edges[i].1,
                    Err(i) => {
                        let next = nodes.len();
                        nodes.push(Node::default());
                        nodes[at].edges.insert(i, (byte, next));
                        next
                    }
                };
            }
            nodes[at].token = Some(id);
        }
        let rank = specials
            .iter()
            .enumerate()
            .map(|(rank, &(id, _))| (id, rank))
            .collect();
        Self { nodes, rank }
    }

    /// Splits `text` into text fragments and special tokens, in order.
    pub(crate) fn partition(&self, text: &str) -> Vec<Fragment> {
        let mut found = self.occurrences(text.as_bytes());
        // llama.cpp's order: by special (longest first), then left to right
        found.sort_by_key(|o| (self.rank.get(&o.id).copied().unwrap_or(usize::MAX), o.start));

        // claimed byte ranges: start -> (end, id)
        let mut claimed: BTreeMap<usize, (usize, u32)> = BTreeMap::new();
        let mut last: Option<(u32, usize)> = None; // (id, end) of the last claim of this special
        for o in found {
            if let Some((id, end)) = last {
                if id == o.id && o.start < end {
                    continue; // overlaps the previous occurrence of the same special
                }
            }
            let overlaps_before = claimed
                .range(..o.end)
                .next_back()
                .is_some_and(|(_, &(end, _))| end > o.start);
            if overlaps_before {
                continue; // inside or across text a longer special already took
            }
            claimed.insert(o.start, (o.end, o.id));
            last = Some((o.id, o.end));
        }

        let mut out = Vec::with_capacity(2 * claimed.len() + 1);
        let mut at = 0;
        for (start, (end, id)) in claimed {
            if start > at {
                out.push(Fragment::Text(at..start));
            }
            out.push(Fragment::Token(id));
            at = end;
        }
        if at < text.len() {
            out.push(Fragment::Text(at..text.len()));
        }
        out
    }

    /// Every occurrence of every special text, overlapping ones included.
    fn occurrences(&self, bytes: &[u8]) -> Vec<Occurrence> {
        let mut found = Vec::new();
        if self.nodes[0].edges.is_empty() {
            return found;
        }
        for start in 0..bytes.len() {
            let mut at = 0;
            for (offset, byte) in bytes[start..].iter().enumerate() {
                match self.nodes[at].edges.binary_search_by_key(byte, |e| e.0) {
                    Ok(i) => at = self.nodes[at].edges[i].1,
                    Err(_) => break,
                }
                if let Some(id) = self.nodes[at].token {
                    found.push(Occurrence {
                        start,
                        end: start + offset + 1,
                        id,
                    });
                }
            }
        }
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(specials: &[(u32, &str)], text: &str) -> Vec<String> {
        SpecialTokens::new(specials.iter().copied())
            .partition(text)
            .into_iter()
            .map(|f| match f {
                Fragment::Text(r) => format!("{:?}", &text[r]),
                Fragment::Token(id) => format!("#{id}"),
            })
            .collect()
    }

    #[test]
    fn splits_specials_out_of_text() {
        let specials = [(1, "<|im_start|>"), (2, "<|im_end|>")];
        assert_eq!(
            parts(&specials, "<|im_start|>user\nhi<|im_end|>"),
            ["#1", "\"user\\nhi\"", "#2"]
        );
        assert_eq!(parts(&specials, "plain"), ["\"plain\""]);
        assert_eq!(parts(&specials, ""), Vec::<String>::new());
        assert_eq!(parts(&specials, "<|im_end|><|im_end|>"), ["#2", "#2"]);
    }

    #[test]
    fn longer_specials_win_even_when_they_start_later() {
        // llama.cpp tries "bcd" before "ab"; leftmost-longest matching would take "ab"
        let specials = [(1, "ab"), (2, "bcd")];
        assert_eq!(parts(&specials, "abcd"), ["\"a\"", "#2"]);
    }

    #[test]
    fn runs_of_one_character_take_the_longest_token_first() {
        let specials = [(1, "  "), (2, "   ")];
        // 7 spaces: "   " twice (left to right), then one space left as text
        assert_eq!(parts(&specials, "       x"), ["#2", "#2", "\" x\""]);
        assert_eq!(parts(&specials, "a    b"), ["\"a\"", "#2", "\" b\""]);
    }

    #[test]
    fn same_special_does_not_overlap_itself() {
        let specials = [(7, "aa")];
        assert_eq!(parts(&specials, "aaa"), ["#7", "\"a\""]);
    }

    #[test]
    fn multibyte_text_stays_on_char_boundaries() {
        let specials = [(5, "<é>")];
        assert_eq!(parts(&specials, "ü<é>ß"), ["\"ü\"", "#5", "\"ß\""]);
    }
}
