//! Tests of the one-encoding rules (docs/links.md, "Rules"): minimal varints, no
//! data after the DEFLATE stream or the fields, the expectation's hash, and the
//! encoder refusing exactly what the decoder refuses (a property test over
//! random runs, edges included, from a fixed-seed generator).

use super::tests::forge;
use super::wire::{base64url_decode, base64url_encode};
use super::*;
use crate::session::{MAX_NEW_TOKENS, MAX_STOPS, MAX_STOP_LEN};

fn base() -> RunLink {
    RunLink {
        spec: "exact-1".into(),
        model: ModelRef {
            id: "m".into(),
            sha256: [7; 32],
            url: None,
        },
        input: Input::Raw(String::new()),
        max_tokens: 4,
        params: SamplingParams::default(),
        stop: vec![],
        expect: None,
    }
}

#[test]
fn bytes_after_the_deflate_stream_are_refused() {
    let s = base().encode().unwrap();
    let mut packed = base64url_decode(&s[3..]).unwrap();
    packed.push(0);
    let t = format!("v1.{}", base64url_encode(&packed));
    assert_eq!(RunLink::decode(&t), Err(LinkError::TrailingCompressed(1)));
    assert!(RunLink::decode(&t)
        .unwrap_err()
        .to_string()
        .contains("after its compressed data"));
}

#[test]
fn bytes_after_the_fields_are_refused() {
    let mut fields = base().unchecked_fields();
    fields.extend_from_slice(b"xyz");
    assert_eq!(
        RunLink::decode(&pack_payload(&fields)),
        Err(LinkError::Trailing(3))
    );
}

#[test]
fn overlong_varints_are_refused() {
    // The last field is the expectation flag, 0: spell it 0x80 0x00.
    let mut fields = base().unchecked_fields();
    assert_eq!(fields.pop(), Some(0));
    fields.extend_from_slice(&[0x80, 0x00]);
    let err = RunLink::decode(&pack_payload(&fields)).unwrap_err();
    assert_eq!(err, LinkError::Overlong("expectation"));
    assert!(
        err.to_string().contains("more bytes than it needs"),
        "{err}"
    );
}

#[test]
fn an_expectation_must_match_its_hash() {
    let mut l = base();
    l.expect = Some(Expectation::of(vec![1, 2, 3]));
    assert_eq!(RunLink::decode(&l.encode().unwrap()).unwrap(), l);
    l.expect.as_mut().unwrap().tokens_hash[0] ^= 1;
    assert_eq!(l.encode(), Err(LinkError::ExpectationHash));
    assert_eq!(RunLink::decode(&forge(&l)), Err(LinkError::ExpectationHash));
}

#[test]
fn an_out_of_vocabulary_expected_id_is_a_divergence() {
    let e = Expectation::of(vec![5, u32::MAX]);
    assert_eq!(
        compare(&e, &[5, 9]),
        Verdict::Diverged {
            index: 1,
            expected: Some(u32::MAX),
            got: Some(9)
        }
    );
}

#[test]
fn the_encoder_refuses_what_the_decoder_refuses() {
    type Edit = Box<dyn Fn(&mut RunLink)>;
    let cases: Vec<(&str, Edit)> = vec![
        ("model id", Box::new(|l| l.model.id = "x".repeat(201))),
        (
            "empty address",
            Box::new(|l| l.model.url = Some(String::new())),
        ),
        (
            "prompt",
            Box::new(|l| l.input = Input::Raw("x".repeat(MAX_TEXT + 1))),
        ),
        (
            "messages",
            Box::new(|l| l.input = Input::Chat(vec![ChatMessage::new("u", "x"); 257])),
        ),
        (
            "total size",
            Box::new(|l| {
                l.input = Input::Chat(vec![ChatMessage::new("u", "x".repeat(MAX_TEXT)); 2])
            }),
        ),
        ("max tokens 0", Box::new(|l| l.max_tokens = 0)),
        (
            "stops",
            Box::new(|l| l.stop = vec!["s".into(); MAX_STOPS + 1]),
        ),
        ("empty stop", Box::new(|l| l.stop = vec![String::new()])),
        (
            "expectation longer than max tokens",
            Box::new(|l| l.expect = Some(Expectation::of(vec![1; 5]))),
        ),
    ];
    for (what, edit) in cases {
        let mut l = base();
        edit(&mut l);
        let err = l.encode().expect_err(what);
        assert!(!err.to_string().is_empty());
        if l.model.url.as_deref() != Some("") {
            assert!(RunLink::decode(&forge(&l)).is_err(), "{what} decoded");
        }
    }
}

/// SplitMix64: a fixed-seed generator, so every run of the test sees the same cases.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    /// A length: mostly small, often at or next to `max`.
    fn len(&mut self, max: usize) -> usize {
        match self.below(24) {
            0..=2 => max,
            3 => max + 1,
            4 => max.saturating_sub(1),
            5 => 0,
            _ => self.below(8) as usize,
        }
    }
    /// Text of exactly `n` bytes, sometimes with multi-byte characters.
    fn text(&mut self, n: usize) -> String {
        let mut s = String::with_capacity(n);
        while s.len() < n {
            let c = match self.below(8) {
                0 if n - s.len() >= 3 => '€',
                1 if n - s.len() >= 2 => 'é',
                2 => '\n',
                _ => (b'a' + self.below(26) as u8) as char,
            };
            s.push(c);
        }
        s
    }
    /// Text of a length from [`Rng::len`].
    fn text_up_to(&mut self, max: usize) -> String {
        let n = self.len(max);
        self.text(n)
    }
    fn u32_edge(&mut self) -> u32 {
        [0, 1, u32::MAX, self.next() as u32, self.below(2000) as u32][self.below(5) as usize]
    }
}

fn random_link(r: &mut Rng) -> RunLink {
    let mut l = base();
    l.spec = r.text_up_to(MAX_SPEC_LEN);
    l.model.id = r.text_up_to(MAX_MODEL_ID_LEN);
    l.model.sha256 = [r.next() as u8; 32];
    l.model.url = match r.below(3) {
        0 => None,
        _ => {
            let n = r.len(MAX_URL_LEN).max(1);
            Some(r.text(n))
        }
    };
    // Big texts are rare: they are what makes a case slow.
    let big = r.below(10) == 0;
    let text = |r: &mut Rng| {
        let n = if big {
            r.len(MAX_TEXT)
        } else {
            r.below(40) as usize
        };
        r.text(n)
    };
    l.input = if r.below(2) == 0 {
        Input::Raw(text(r))
    } else {
        let n = if big {
            r.below(3) as usize
        } else {
            r.len(MAX_MESSAGES)
        };
        let msgs = (0..n)
            .map(|_| {
                let role = r.text_up_to(MAX_ROLE_LEN);
                ChatMessage::new(role, text(r))
            })
            .collect();
        Input::Chat(msgs)
    };
    l.max_tokens = match r.below(16) {
        0..=2 => MAX_NEW_TOKENS,
        3 => MAX_NEW_TOKENS + 1,
        4 => r.below(3) as u32,
        _ => r.below(300) as u32,
    };
    l.params = SamplingParams {
        temperature_milli: r.u32_edge(),
        top_k: r.u32_edge(),
        top_p_micro: r.u32_edge(),
        min_p_micro: r.u32_edge(),
        repeat_penalty_milli: r.u32_edge(),
        repeat_last_n: r.u32_edge(),
        seed: [0, u64::MAX, r.next()][r.below(3) as usize],
    };
    if r.below(4) != 0 {
        l.params = SamplingParams {
            seed: l.params.seed,
            ..SamplingParams::default()
        };
    }
    let n_stop = r.len(MAX_STOPS);
    l.stop = (0..n_stop).map(|_| r.text_up_to(MAX_STOP_LEN)).collect();
    l.expect = match r.below(3) {
        0 => None,
        _ => {
            let n = r
                .len(l.max_tokens as usize)
                .min(MAX_NEW_TOKENS as usize + 1);
            let ids = (0..n).map(|_| r.u32_edge()).collect();
            let mut e = Expectation::of(ids);
            if r.below(20) == 0 {
                e.tokens_hash[31] ^= 0x40;
            }
            Some(e)
        }
    };
    l
}

#[test]
fn anything_encode_accepts_decodes_to_the_same_run_and_nothing_else_does() {
    let mut r = Rng(0x5eed_0f11_04b5);
    let (mut accepted, mut refused) = (0, 0);
    for case in 0..400 {
        let l = random_link(&mut r);
        let forged = RunLink::decode(&forge(&l));
        match l.encode() {
            Ok(text) => {
                accepted += 1;
                assert_eq!(RunLink::decode(&text).as_ref(), Ok(&l), "case {case}");
                assert_eq!(forged, Ok(l), "case {case}");
            }
            Err(e) => {
                refused += 1;
                assert!(
                    forged.is_err(),
                    "case {case}: encode refused ({e}), decode accepted"
                );
            }
        }
    }
    // Both sides of the boundary were exercised.
    assert!(
        accepted >= 40 && refused >= 40,
        "{accepted} accepted, {refused} refused"
    );
}
