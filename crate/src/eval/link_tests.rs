//! Eval links: round trip, verdicts, and hostile links refused with clear errors.

use super::*;
use crate::eval::score::ContinuationScore;

fn item(id: u32, lls: &[i64], pred: u32) -> ItemResult {
    ItemResult {
        id,
        gold: Some(0),
        scores: lls
            .iter()
            .map(|&l| ContinuationScore {
                loglik_q16: l,
                greedy: false,
                tokens: 2,
            })
            .collect(),
        pred,
        pred_norm: pred,
        words: None,
        bytes: None,
    }
}

fn items() -> Vec<ItemResult> {
    (0..20)
        .map(|i| item(i, &[-100 - i as i64, -200, -50 * i as i64], i % 3))
        .collect()
}

fn link(items: &[ItemResult]) -> EvalLink {
    EvalLink {
        spec: "exact-1".into(),
        score_spec: "score-1".into(),
        model: ModelRef {
            id: "smollm2-135m-instruct-q4_1".into(),
            sha256: [7; 32],
            url: None,
        },
        task: TaskRef {
            name: "arc_easy".into(),
            version: 1,
            items_sha256: [9; 32],
            output_type: OutputType::MultipleChoice,
        },
        limit: Some(20),
        expect: Some(expectation(items, OutputType::MultipleChoice)),
    }
}

#[test]
fn round_trips_and_is_compact() {
    let l = link(&items());
    let text = l.encode();
    assert!(text.starts_with("e1."), "{text}");
    assert!(text.len() < 400, "{} characters", text.len());
    assert_eq!(EvalLink::decode(&text).unwrap(), l);
    assert_eq!(
        EvalLink::decode(&format!("http://127.0.0.1:8080/#{text}")).unwrap(),
        l
    );
    assert!(is_eval_link(&format!("https://x/#{text}")));
    assert!(!is_eval_link("https://x/#v1.abc"));
    let e = l.expect.as_ref().unwrap();
    assert_eq!(e.items.len(), 20);
    assert_eq!(e.correct, 7); // pred 0 = gold 0 for i % 3 == 0
    let no_expect = EvalLink {
        expect: None,
        limit: None,
        ..l
    };
    assert_eq!(EvalLink::decode(&no_expect.encode()).unwrap(), no_expect);
}

#[test]
fn verdicts_name_the_first_differing_item() {
    let its = items();
    let e = expectation(&its, OutputType::MultipleChoice);
    assert_eq!(
        compare(&e, &its, OutputType::MultipleChoice),
        EvalVerdict::Exact { items: 20 }
    );
    let mut other = its.clone();
    other[17].pred = 1;
    match compare(&e, &other, OutputType::MultipleChoice) {
        EvalVerdict::ItemDiffers { id, expected, got } => {
            assert_eq!((id, expected.choice, got.choice), (17, 2, 1));
        }
        v => panic!("{v:?}"),
    }
    // Same choice, different log-likelihood: the digest names the item.
    let mut other = its.clone();
    other[4].scores[1].loglik_q16 -= 1;
    let got = compare(&e, &other, OutputType::MultipleChoice);
    assert!(
        matches!(
            got,
            EvalVerdict::ItemDiffers { id: 4, .. } | EvalVerdict::HashDiffers
        ),
        "{got:?}"
    );
    // A replay that stopped early or scored fewer items is not exact.
    assert_eq!(
        compare(&e, &its[..19], OutputType::MultipleChoice),
        EvalVerdict::HashDiffers
    );
}

#[test]
fn hostile_links_get_clear_errors() {
    let text = link(&items()).encode();
    let err = |s: &str| EvalLink::decode(s).unwrap_err();
    assert_eq!(err("hello"), EvalLinkError::NotALink);
    assert_eq!(err("v1.AAAA"), EvalLinkError::NotALink);
    assert_eq!(err("e9.AAAA"), EvalLinkError::UnknownVersion("9".into()));
    assert!(matches!(
        err(&format!("{text}!")),
        EvalLinkError::Wire(LinkError::BadCharacter { .. })
    ));
    // Cut short (at a length whose last character is canonical, and one that is not).
    for cut in [&text[..text.len() - 12], &text[..text.len() - 13]] {
        let e = err(cut);
        assert!(
            matches!(
                e,
                EvalLinkError::Wire(
                    LinkError::Corrupt
                        | LinkError::Truncated(_)
                        | LinkError::Checksum
                        | LinkError::Malformed("base64 text")
                )
            ),
            "{e:?}"
        );
        assert!(e.to_string().contains("link"), "{e}");
    }
    // A valid wire with a changed byte fails the checksum.
    let raw = {
        let body = text.strip_prefix("e1.").unwrap();
        let packed = crate::replay::wire::base64url_decode(body).unwrap();
        let mut raw = miniz_oxide::inflate::decompress_to_vec(&packed).unwrap();
        raw[10] ^= 1;
        raw
    };
    let packed = miniz_oxide::deflate::compress_to_vec(&raw, 10);
    let tampered = format!("e1.{}", crate::replay::wire::base64url_encode(&packed));
    assert_eq!(err(&tampered), EvalLinkError::Wire(LinkError::Checksum));
    // A payload that inflates past the limit.
    let mut big = vec![0u8; MAX_EVAL_PAYLOAD + 10];
    big[0] = b'V';
    let packed = miniz_oxide::deflate::compress_to_vec(&big, 10);
    let bomb = format!("e1.{}", crate::replay::wire::base64url_encode(&packed));
    assert_eq!(err(&bomb), EvalLinkError::Wire(LinkError::TooLarge));
    assert!(err("e1.").to_string().contains("link"));
    // Bytes after the DEFLATE stream's final block are refused, not ignored.
    let body = text.strip_prefix("e1.").unwrap();
    let mut packed = crate::replay::wire::base64url_decode(body).unwrap();
    packed.push(0x42);
    let padded = format!("e1.{}", crate::replay::wire::base64url_encode(&packed));
    assert_eq!(err(&padded), EvalLinkError::Trailing);
}
