use super::wire::base64url_encode;
use super::*;

/// The link text of `l` with a valid checksum, whether or not `encode` would accept it.
pub(super) fn forge(l: &RunLink) -> String {
    pack_payload(&l.unchecked_fields())
}

fn sample(n_tokens: usize) -> RunLink {
    let ids: Vec<u32> = (0..n_tokens as u32)
        .map(|i| (i * 7919 + 13) % 49152)
        .collect();
    let bytes: Vec<u8> = ids.iter().flat_map(|t| t.to_le_bytes()).collect();
    let hash = parse_sha256(&crate::hash::sha256_hex(&bytes)).unwrap();
    RunLink {
        spec: "exact-1".into(),
        model: ModelRef {
            id: "smollm2-135m-instruct-q4_1".into(),
            sha256: parse_sha256(
                "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
            )
            .unwrap(),
            url: None,
        },
        input: Input::Chat(vec![ChatMessage {
            role: "user".into(),
            content: "Explain in one sentence why the sky is blue.".into(),
        }]),
        max_tokens: 128,
        params: SamplingParams {
            temperature_milli: 700,
            seed: 1234567890123,
            ..SamplingParams::default()
        },
        stop: vec!["\n\n".into()],
        expect: Some(Expectation {
            token_ids: ids,
            tokens_hash: hash,
        }),
    }
}

#[test]
fn round_trips() {
    let link = sample(128);
    let s = link.encode().unwrap();
    assert!(s.starts_with("v1."));
    assert_eq!(RunLink::decode(&s).unwrap(), link);
    assert_eq!(
        RunLink::decode(&format!("https://example.org/verbatim/#{s}")).unwrap(),
        link
    );
    let raw = RunLink {
        input: Input::Raw("Once upon a time".into()),
        expect: None,
        stop: vec![],
        ..link
    };
    assert_eq!(RunLink::decode(&raw.encode().unwrap()).unwrap(), raw);
}

#[test]
fn a_typical_link_is_under_1000_characters() {
    let s = sample(128).encode().unwrap();
    assert!(s.len() <= 1000, "{} characters", s.len());
}

#[test]
fn every_truncation_is_an_error_not_a_panic() {
    let s = sample(40).encode().unwrap();
    for len in 0..s.len() {
        assert!(RunLink::decode(&s[..len]).is_err(), "cut at {len}");
    }
}

#[test]
fn changed_characters_never_become_another_run() {
    let link = sample(40);
    let s = link.encode().unwrap();
    let bytes = s.as_bytes();
    for i in 3..bytes.len() {
        for b in [b'A', b'z', b'-', b'9'] {
            let mut m = bytes.to_vec();
            if m[i] == b {
                continue;
            }
            m[i] = b;
            let t = String::from_utf8(m).unwrap();
            // A change either fails to decode or (where DEFLATE ignores the bits) decodes
            // to the very same run; it never silently becomes another run.
            if let Ok(decoded) = RunLink::decode(&t) {
                assert_eq!(decoded, link, "flip at {i} decoded to a different run");
            }
        }
    }
}

#[test]
fn hostile_and_unknown_links_have_clear_errors() {
    assert_eq!(RunLink::decode("hello"), Err(LinkError::NotALink));
    assert!(matches!(RunLink::decode("v9.AAAA"), Err(LinkError::UnknownVersion(v)) if v == "9"));
    assert!(matches!(
        RunLink::decode("v1.<script>"),
        Err(LinkError::BadCharacter { .. })
    ));
    // A zip bomb: 10 MB of zeros compresses to a few KB.
    let bomb = miniz_oxide::deflate::compress_to_vec(&vec![0u8; 10 << 20], 10);
    assert_eq!(
        RunLink::decode(&format!("v1.{}", base64url_encode(&bomb))),
        Err(LinkError::TooLarge)
    );
    // Absurd settings inside an otherwise valid link.
    let mut l = sample(4);
    l.params.top_p_micro = 7_000_000;
    assert!(matches!(
        RunLink::decode(&forge(&l)),
        Err(LinkError::InvalidSettings(_))
    ));
    let mut l = sample(4);
    l.max_tokens = 1_000_000_000;
    assert!(matches!(
        RunLink::decode(&forge(&l)),
        Err(LinkError::OutOfRange {
            what: "max tokens",
            ..
        })
    ));
    for e in [LinkError::Corrupt, LinkError::Truncated("prompt")] {
        assert!(!e.to_string().is_empty());
    }
}

#[test]
fn verdicts_name_the_first_divergence() {
    let e = sample(5).expect.unwrap();
    assert_eq!(compare(&e, &e.token_ids), Verdict::Exact { tokens: 5 });
    let mut got = e.token_ids.clone();
    got[3] += 1;
    assert_eq!(
        compare(&e, &got),
        Verdict::Diverged {
            index: 3,
            expected: Some(e.token_ids[3]),
            got: Some(e.token_ids[3] + 1)
        }
    );
    assert_eq!(
        compare(&e, &got[..2]),
        Verdict::Diverged {
            index: 2,
            expected: Some(e.token_ids[2]),
            got: None
        }
    );
}

#[test]
fn the_json_view_round_trips() {
    let link = sample(16);
    let view = LinkView::from(&link);
    assert_eq!(view.run.temperature.as_deref(), Some("0.7"));
    assert_eq!(view.run.seed.as_deref(), Some("1234567890123"));
    let json = serde_json::to_string(&view).unwrap();
    let back: LinkView = serde_json::from_str(&json).unwrap();
    assert_eq!(RunLink::try_from(&back).unwrap(), link);
}
