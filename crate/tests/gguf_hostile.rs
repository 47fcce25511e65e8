//! Hostile GGUF files (issue 16), built byte by byte in the test: each gets a
//! typed error naming what is wrong (and the limit it breaks), never a panic, a
//! huge allocation or a long loop.

use candle_core::quantized::gguf_file::{self, Value};
use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::{Device, Tensor};
use std::io::Cursor;
use std::time::Instant;
use verbatim::gguf::limits::*;
use verbatim::gguf::{read_content, read_with_address_limit, GgufError, GgufModel};

/// A GGUF file written field by field (little-endian, version 3 unless told).
struct G(Vec<u8>);

impl G {
    fn new(version: u32, n_tensors: u64, n_kv: u64) -> Self {
        let mut g = G(b"GGUF".to_vec());
        g.u32(version).u64(n_tensors).u64(n_kv);
        g
    }
    fn u32(&mut self, v: u32) -> &mut Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    fn u64(&mut self, v: u64) -> &mut Self {
        self.0.extend_from_slice(&v.to_le_bytes());
        self
    }
    fn str(&mut self, s: &str) -> &mut Self {
        self.u64(s.len() as u64);
        self.0.extend_from_slice(s.as_bytes());
        self
    }
    /// A metadata pair with a u32 value (type 4).
    fn kv_u32(&mut self, key: &str, v: u32) -> &mut Self {
        self.str(key).u32(4).u32(v)
    }
    /// A tensor table entry.
    fn tensor(&mut self, name: &str, dims: &[u64], dtype: u32, offset: u64) -> &mut Self {
        self.str(name).u32(dims.len() as u32);
        for &d in dims {
            self.u64(d);
        }
        self.u32(dtype).u64(offset)
    }
    fn bytes(&self) -> &[u8] {
        &self.0
    }
}

fn err(bytes: &[u8]) -> GgufError {
    let t = Instant::now();
    let e = read_content(bytes).expect_err("a hostile file was read");
    assert!(t.elapsed().as_secs() < 2, "took {:?}", t.elapsed());
    e
}

fn limit_name(e: &GgufError) -> &'static str {
    match e {
        GgufError::Limit { name, .. } => name,
        other => panic!("expected a limit error, got: {other}"),
    }
}

#[test]
fn alignment_zero_is_refused_not_a_division_by_zero() {
    let mut g = G::new(3, 0, 1);
    g.kv_u32("general.alignment", 0);
    assert_eq!(g.bytes().len(), 57);
    let e = err(g.bytes());
    assert!(matches!(e, GgufError::BadAlignment(0)), "{e}");
    assert!(e.to_string().contains("power of two"), "{e}");
    assert!(GgufModel::parse(g.bytes()).is_err());
    for bad in [3, 48, 1 << 20] {
        let mut g = G::new(3, 0, 1);
        g.kv_u32("general.alignment", bad);
        assert!(matches!(err(g.bytes()), GgufError::BadAlignment(a) if a == bad as u64));
    }
}

#[test]
fn versions_other_than_2_and_3_are_refused() {
    for v in [0, 1, 4, 0x0300_0000] {
        let e = err(G::new(v, 0, 0).bytes());
        assert!(
            matches!(e, GgufError::UnsupportedVersion(x) if x == v),
            "{e}"
        );
    }
    assert!(read_content(G::new(2, 0, 0).bytes()).is_ok());
}

#[test]
fn counts_are_checked_against_limits_and_the_file_before_allocating() {
    let e = err(G::new(3, u64::MAX, 0).bytes());
    assert_eq!(limit_name(&e), "MAX_TENSORS");
    assert!(e.to_string().contains("MAX_TENSORS"), "{e}");
    assert_eq!(
        limit_name(&err(G::new(3, 0, 1 << 40).bytes())),
        "MAX_METADATA_KEYS"
    );
    // Within the limits but more than the file can hold.
    let e = err(G::new(3, MAX_TENSORS, 0).bytes());
    assert!(e.to_string().contains("remaining bytes"), "{e}");
    let e = err(G::new(3, 0, MAX_METADATA_KEYS).bytes());
    assert!(e.to_string().contains("remaining bytes"), "{e}");
}

#[test]
fn strings_and_arrays_are_bounded() {
    let mut g = G::new(3, 0, 1);
    g.u64(1 << 40).u64(0);
    assert_eq!(limit_name(&err(g.bytes())), "MAX_STRING_LEN");
    let mut g = G::new(3, 0, 1);
    g.str("a").u32(8).u64(MAX_STRING_LEN + 1);
    assert_eq!(limit_name(&err(g.bytes())), "MAX_STRING_LEN");
    // An array of 2^40 u32s, and one of a million in a tiny file.
    let mut g = G::new(3, 0, 1);
    g.str("a").u32(9).u32(4).u64(1 << 40);
    assert_eq!(limit_name(&err(g.bytes())), "MAX_ARRAY_LEN");
    let mut g = G::new(3, 0, 1);
    g.str("a").u32(9).u32(4).u64(1 << 20);
    assert!(err(g.bytes()).to_string().contains("remaining bytes"));
    // Arrays nested deeper than the limit.
    let mut g = G::new(3, 0, 1);
    g.str("a").u32(9);
    for _ in 0..=MAX_ARRAY_DEPTH {
        g.u32(9).u64(1);
    }
    g.u32(4).u64(1).u32(7);
    assert_eq!(limit_name(&err(g.bytes())), "MAX_ARRAY_DEPTH");
    // Unknown value types and booleans other than 0 and 1.
    let mut g = G::new(3, 0, 1);
    g.str("a").u32(13).u32(0);
    assert!(err(g.bytes())
        .to_string()
        .contains("unknown metadata value type 13"));
    let mut g = G::new(3, 0, 1);
    g.str("a").u32(7);
    g.0.push(2);
    assert!(err(g.bytes()).to_string().contains("boolean"));
}

#[test]
fn duplicate_keys_and_tensors_are_refused() {
    let mut g = G::new(3, 0, 2);
    g.kv_u32("k", 1).kv_u32("k", 2);
    assert!(matches!(err(g.bytes()), GgufError::Duplicate { name, .. } if name == "k"));
    let mut g = G::new(3, 2, 0);
    g.tensor("t", &[32], 0, 0).tensor("t", &[32], 0, 128);
    g.0.resize(4096, 0);
    assert!(matches!(err(g.bytes()), GgufError::Duplicate { name, .. } if name == "t"));
}

#[test]
fn tensor_entries_are_checked() {
    let one = |dims: &[u64], dtype: u32, offset: u64| {
        let mut g = G::new(3, 1, 0);
        g.tensor("t", dims, dtype, offset);
        g.0.resize(4096, 0);
        err(g.bytes())
    };
    assert_eq!(limit_name(&one(&[1; 5], 0, 0)), "MAX_TENSOR_DIMS");
    assert_eq!(limit_name(&one(&[1 << 25], 0, 0)), "MAX_DIM");
    assert!(one(&[0], 0, 0).to_string().contains("dimension of 0"));
    assert!(one(&[1 << 24; 4], 0, 0).to_string().contains("2^64"));
    assert!(matches!(
        one(&[32], 99, 0),
        GgufError::UnsupportedType { .. }
    ));
    assert!(one(&[33], 8, 0).to_string().contains("whole number"));
    // 256 elements of Q4_K are one block, but not as 8 rows of 32.
    assert!(one(&[32, 8], 12, 0).to_string().contains("rows of 32"));
    assert!(one(&[32], 0, 4).to_string().contains("alignment"));
    assert!(matches!(
        one(&[1 << 20], 0, 0),
        GgufError::TensorOutOfBounds { .. }
    ));
    assert!(matches!(
        one(&[32], 0, u64::MAX - 31),
        GgufError::TensorOutOfBounds { .. }
    ));
}

fn q(rows: usize, cols: usize) -> QTensor {
    let t = Tensor::zeros((rows, cols), candle_core::DType::F32, &Device::Cpu).unwrap();
    QTensor::quantize(&t, GgmlDType::F32).unwrap()
}

/// A llama header with `block_count` layers and (only) a `token_embd` of `rows` x `cols`.
fn llama(block_count: u32, e: u32, vocab: u32, embd: Option<(u64, u64)>) -> Vec<u8> {
    llama_with(block_count, e, vocab, embd, 10000.0)
}

fn llama_with(
    block_count: u32,
    e: u32,
    vocab: u32,
    embd: Option<(u64, u64)>,
    rope_base: f32,
) -> Vec<u8> {
    let md: Vec<(&str, Value)> = vec![
        ("llama.rope.freq_base", Value::F32(rope_base)),
        ("general.architecture", Value::String("llama".into())),
        ("llama.embedding_length", Value::U32(e)),
        ("llama.block_count", Value::U32(block_count)),
        ("llama.attention.head_count", Value::U32(2)),
        ("llama.feed_forward_length", Value::U32(64)),
        ("llama.context_length", Value::U32(64)),
        ("llama.vocab_size", Value::U32(vocab)),
        ("llama.attention.layer_norm_rms_epsilon", Value::F32(1e-5)),
    ];
    let md_refs: Vec<(&str, &Value)> = md.iter().map(|(k, v)| (*k, v)).collect();
    let t = q(8, 32);
    let mut out = Cursor::new(Vec::new());
    gguf_file::write(&mut out, &md_refs, &[("output_norm.weight", &t)]).unwrap();
    let mut bytes = out.into_inner();
    if let Some((rows, cols)) = embd {
        // Rewrite the one tensor entry as token_embd of the given shape, Q8_0
        // (same name length as "output_norm.weight" would change the layout, so
        // patch dims and type in place: they follow the name).
        let name = b"output_norm.weight";
        let at = bytes.windows(name.len()).position(|w| w == name).unwrap();
        let new = b"token_embd.weight\0";
        bytes[at..at + name.len()].copy_from_slice(new);
        let dims = at + name.len() + 4;
        bytes[dims..dims + 8].copy_from_slice(&cols.to_le_bytes());
        bytes[dims + 8..dims + 16].copy_from_slice(&rows.to_le_bytes());
        bytes[dims + 16..dims + 20].copy_from_slice(&8u32.to_le_bytes());
    }
    bytes
}

#[test]
fn a_huge_layer_count_is_refused_before_listing_tensors() {
    let t = Instant::now();
    let e = GgufModel::parse(&llama(16_777_216, 32, 8, None))
        .err()
        .unwrap();
    assert_eq!(limit_name(&e), "MAX_LAYERS");
    assert!(e.to_string().contains("llama.block_count"), "{e}");
    // Within the limit, but far more layers than the table has tensors.
    let e = GgufModel::parse(&llama(1000, 32, 8, None)).err().unwrap();
    assert!(
        e.to_string()
            .contains("1000 layers need at least 9002 tensors"),
        "{e}"
    );
    assert!(t.elapsed().as_millis() < 500, "{:?}", t.elapsed());
}

#[test]
fn tensor_sizes_are_u64_and_fit_the_address_space() {
    // n_embd = n_vocab = 65536: token_embd has 2^32 elements, 4.5 GB as Q8_0.
    let bytes = llama(1, 65536, 65536, Some((65536, 65536)));
    let info = &read_with_address_limit(&bytes, u64::MAX).err().unwrap();
    assert!(
        matches!(info, GgufError::TensorOutOfBounds { end, .. } if *end > 4 << 30),
        "{info}"
    );
    assert!(matches!(
        GgufModel::parse(&bytes),
        Err(GgufError::TensorOutOfBounds { .. })
    ));
    // What a wasm32 build (usize = u32) sees: refused, not wrapped to a small size.
    let e = read_with_address_limit(&bytes, u32::MAX as u64)
        .err()
        .unwrap();
    assert_eq!(limit_name(&e), "the address space");
    assert!(e.to_string().contains("token_embd.weight"), "{e}");
}

#[test]
fn model_dimensions_name_their_limit() {
    let e = GgufModel::parse(&llama(1, 1 << 25, 8, None)).err().unwrap();
    assert_eq!(limit_name(&e), "MAX_DIM");
    assert!(e.to_string().contains("llama.embedding_length"), "{e}");
    let e = GgufModel::parse(&llama(1, 32, u32::MAX, None))
        .err()
        .unwrap();
    assert_eq!(limit_name(&e), "MAX_VOCAB");
}

#[test]
fn the_total_number_of_metadata_values_is_bounded() {
    // Three arrays of MAX_ARRAY_LEN bytes: each within its limit, together over
    // MAX_METADATA_VALUES.
    let n = MAX_ARRAY_LEN;
    let mut g = G::new(3, 0, 3);
    for key in ["a", "b", "c"] {
        g.str(key).u32(9).u32(0).u64(n);
        g.0.resize(g.0.len() + n as usize, 1);
    }
    assert!(3 * n > MAX_METADATA_VALUES);
    assert_eq!(limit_name(&err(g.bytes())), "MAX_METADATA_VALUES");
}

#[test]
fn a_rope_base_below_one_is_refused() {
    let e = GgufModel::parse(&llama_with(1, 32, 8, None, 0.5))
        .err()
        .unwrap();
    assert!(e.to_string().contains("llama.rope.freq_base"), "{e}");
    assert!(e.to_string().contains("below 1"), "{e}");
}
