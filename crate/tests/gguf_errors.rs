//! Malformed model files, built in memory, give typed errors with clear messages
//! (never panics): not GGUF, truncated, unknown architecture, missing tensor,
//! wrong shape, non-finite block scale.

use candle_core::quantized::gguf_file::{self, Value};
use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::{Device, Tensor};
use std::io::Cursor;
use std::sync::Arc;
use verbatim::engine::ExactModel;
use verbatim::gguf::{GgufError, GgufModel};
use verbatim::model::ModelError;

const E: usize = 32;
const FF: usize = 64;
const VOCAB: usize = 8;

fn q(rows: usize, cols: usize, dtype: GgmlDType) -> QTensor {
    let v: Vec<f32> = (0..rows * cols)
        .map(|i| ((i * 37 % 17) as f32 - 8.0) / 16.0)
        .collect();
    let t = Tensor::from_vec(v, (rows, cols), &Device::Cpu).unwrap();
    QTensor::quantize(&t, dtype).unwrap()
}

fn norm() -> QTensor {
    let t = Tensor::ones(E, candle_core::DType::F32, &Device::Cpu).unwrap();
    QTensor::quantize(&t, GgmlDType::F32).unwrap()
}

/// A tiny llama GGUF: `arch`, with `skip` left out and `reshape` given a wrong shape.
fn tiny(arch: &str, skip: Option<&str>, wrong: Option<&str>) -> Vec<u8> {
    tiny_in(arch, skip, wrong, GgmlDType::Q4_1, GgmlDType::Q4_1)
}

/// [`tiny`] with the layer matrices in `layer` blocks and `ffn_gate` in `gate`.
fn tiny_in(
    arch: &str,
    skip: Option<&str>,
    wrong: Option<&str>,
    layer: GgmlDType,
    gate: GgmlDType,
) -> Vec<u8> {
    let md: Vec<(&str, Value)> = vec![
        ("general.architecture", Value::String(arch.into())),
        ("llama.embedding_length", Value::U32(E as u32)),
        ("llama.block_count", Value::U32(1)),
        ("llama.attention.head_count", Value::U32(2)),
        ("llama.attention.head_count_kv", Value::U32(1)),
        ("llama.feed_forward_length", Value::U32(FF as u32)),
        ("llama.context_length", Value::U32(64)),
        ("llama.vocab_size", Value::U32(VOCAB as u32)),
        ("llama.attention.layer_norm_rms_epsilon", Value::F32(1e-5)),
        ("llama.rope.freq_base", Value::F32(10000.0)),
    ];
    let kv = E / 2;
    let mut tensors: Vec<(String, QTensor)> = vec![
        ("token_embd.weight".into(), q(VOCAB, E, GgmlDType::Q8_0)),
        ("output_norm.weight".into(), norm()),
        ("blk.0.attn_norm.weight".into(), norm()),
        ("blk.0.attn_q.weight".into(), q(E, E, layer)),
        ("blk.0.attn_k.weight".into(), q(kv, E, layer)),
        ("blk.0.attn_v.weight".into(), q(kv, E, layer)),
        ("blk.0.attn_output.weight".into(), q(E, E, layer)),
        ("blk.0.ffn_norm.weight".into(), norm()),
        ("blk.0.ffn_gate.weight".into(), q(FF, E, gate)),
        ("blk.0.ffn_up.weight".into(), q(FF, E, layer)),
        ("blk.0.ffn_down.weight".into(), q(E, FF, layer)),
    ];
    tensors.retain(|(n, _)| Some(n.as_str()) != skip);
    for (n, t) in tensors.iter_mut() {
        if Some(n.as_str()) == wrong {
            *t = q(FF, FF, GgmlDType::Q4_1);
        }
    }
    let md_refs: Vec<(&str, &Value)> = md.iter().map(|(k, v)| (*k, v)).collect();
    let t_refs: Vec<(&str, &QTensor)> = tensors.iter().map(|(k, v)| (k.as_str(), v)).collect();
    let mut out = Cursor::new(Vec::new());
    gguf_file::write(&mut out, &md_refs, &t_refs).unwrap();
    out.into_inner()
}

#[test]
fn a_well_formed_tiny_model_runs_on_the_exact_engine() {
    let bytes = tiny("llama", None, None);
    let g = GgufModel::parse(&bytes).unwrap();
    let mut m = ExactModel::load_cpu(&g, &Arc::new(bytes)).unwrap();
    let logits = m.forward(&[1, 2, 3]).unwrap();
    assert_eq!(logits.len(), VOCAB);
    let again = {
        m.reset();
        m.forward(&[1, 2, 3]).unwrap()
    };
    assert_eq!(logits, again);
}

#[test]
fn not_gguf() {
    let err = GgufModel::parse(b"PK\x03\x04 this is a zip file")
        .err()
        .unwrap();
    assert!(matches!(err, GgufError::NotGguf));
    assert!(err.to_string().contains("not a GGUF model file"));
}

#[test]
fn truncated_files_are_errors_at_every_length() {
    let bytes = tiny("llama", None, None);
    // Cut inside the header, inside the tensor table, and inside the tensor data.
    for len in [0, 3, 4, 10, 24, 100, 600, bytes.len() / 2, bytes.len() - 1] {
        match GgufModel::parse(&bytes[..len]) {
            Err(e) => assert!(!e.to_string().is_empty()),
            Ok(_) => panic!("a file cut to {len} of {} bytes parsed", bytes.len()),
        }
    }
    let err = GgufModel::parse(&bytes[..bytes.len() - 1]).err().unwrap();
    assert!(matches!(err, GgufError::TensorOutOfBounds { .. }), "{err}");
    assert!(err.to_string().contains("truncated"), "{err}");
}

#[test]
fn unknown_architecture() {
    let err = GgufModel::parse(&tiny("mamba", None, None)).err().unwrap();
    assert!(matches!(err, GgufError::UnknownArchitecture(ref a) if a == "mamba"));
    assert!(err.to_string().contains("'mamba'"));
}

#[test]
fn missing_tensor() {
    let err = GgufModel::parse(&tiny("llama", Some("blk.0.ffn_up.weight"), None))
        .err()
        .unwrap();
    assert!(
        matches!(err, GgufError::MissingTensor(ref n) if n == "blk.0.ffn_up.weight"),
        "{err}"
    );
}

#[test]
fn wrong_shape() {
    let err = GgufModel::parse(&tiny("llama", None, Some("blk.0.attn_q.weight")))
        .err()
        .unwrap();
    match err {
        GgufError::WrongShape {
            name,
            expected,
            found,
        } => {
            assert_eq!(name, "blk.0.attn_q.weight");
            assert_eq!(expected, vec![E, E]);
            assert_eq!(found, vec![FF, FF]);
        }
        other => panic!("{other}"),
    }
}

#[test]
fn non_finite_scale_is_refused_by_the_exact_engine() {
    let mut bytes = tiny("llama", None, None);
    let g = GgufModel::parse(&bytes).unwrap();
    let range = g
        .tensor_bytes(&bytes, "blk.0.ffn_gate.weight")
        .unwrap()
        .as_ptr() as usize
        - bytes.as_ptr() as usize;
    // Block 0's f16 scale `d`: set the exponent field to 31 (infinity).
    bytes[range] = 0x00;
    bytes[range + 1] = 0x7c;
    let g = GgufModel::parse(&bytes).unwrap();
    let err = ExactModel::load_cpu(&g, &Arc::new(bytes)).err().unwrap();
    assert!(
        matches!(err, ModelError::NonFiniteScale { ref name, block: 0 } if name == "blk.0.ffn_gate.weight"),
        "{err}"
    );
}

#[test]
fn exact_2_block_formats_run_on_the_exact_engine() {
    for dtype in [GgmlDType::Q4_0, GgmlDType::Q5_0, GgmlDType::Q5_1] {
        let bytes = tiny_in("llama", None, None, dtype, dtype);
        let g = GgufModel::parse(&bytes).unwrap();
        let mut m = ExactModel::load_cpu(&g, &Arc::new(bytes)).unwrap();
        assert_eq!(m.forward(&[1, 2, 3]).unwrap().len(), VOCAB);
    }
}

#[test]
fn an_unsupported_block_format_is_named() {
    let bytes = tiny_in("llama", None, None, GgmlDType::Q4_1, GgmlDType::F16);
    let g = GgufModel::parse(&bytes).unwrap();
    let err = ExactModel::load_cpu(&g, &Arc::new(bytes)).err().unwrap();
    let msg = err.to_string();
    assert!(
        msg.contains("'blk.0.ffn_gate.weight'") && msg.contains("F16"),
        "{msg}"
    );
}
