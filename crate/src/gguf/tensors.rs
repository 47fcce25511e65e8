//! The tensors each architecture needs, with the shapes its configuration implies
//! (names follow llama.cpp's `LLM_TENSOR_NAMES`; shapes are listed outermost first,
//! the reverse of GGUF's `ne` order, as candle reports them).

use super::{GgufError, ModelConfig};
use candle_core::quantized::gguf_file::{Content, TensorInfo};
use candle_core::quantized::GgmlDType;

/// One tensor the forward pass reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorSpec {
    pub name: String,
    pub shape: Vec<usize>,
    /// False for tensors the architecture can do without (a tied output head).
    pub required: bool,
}

fn spec(name: impl Into<String>, shape: &[usize]) -> TensorSpec {
    TensorSpec {
        name: name.into(),
        shape: shape.to_vec(),
        required: true,
    }
}

/// Every tensor `config` needs, in file-independent order.
pub fn expected_tensors(config: &ModelConfig) -> Vec<TensorSpec> {
    let mut v = Vec::new();
    match config {
        ModelConfig::Llama(c) => {
            let (e, kv) = (c.n_embd, c.n_head_kv * c.head_dim);
            v.push(spec("token_embd.weight", &[c.n_vocab, e]));
            v.push(spec("output_norm.weight", &[e]));
            v.push(TensorSpec {
                required: false,
                ..spec("output.weight", &[c.n_vocab, e])
            });
            for i in 0..c.n_layer {
                let p = |s: &str| format!("blk.{i}.{s}.weight");
                v.push(spec(p("attn_norm"), &[e]));
                v.push(spec(p("attn_q"), &[c.n_head * c.head_dim, e]));
                v.push(spec(p("attn_k"), &[kv, e]));
                v.push(spec(p("attn_v"), &[kv, e]));
                v.push(spec(p("attn_output"), &[e, c.n_head * c.head_dim]));
                v.push(spec(p("ffn_norm"), &[e]));
                v.push(spec(p("ffn_gate"), &[c.n_ff, e]));
                v.push(spec(p("ffn_up"), &[c.n_ff, e]));
                v.push(spec(p("ffn_down"), &[e, c.n_ff]));
            }
        }
        ModelConfig::Gemma3(c) => {
            let (e, hd) = (c.n_embd, c.head_dim);
            let (q, kv) = (c.n_head * hd, c.n_head_kv * hd);
            v.push(spec("token_embd.weight", &[c.n_vocab, e]));
            v.push(spec("output_norm.weight", &[e]));
            v.push(TensorSpec {
                required: false,
                ..spec("output.weight", &[c.n_vocab, e])
            });
            for i in 0..c.n_layer {
                let p = |s: &str| format!("blk.{i}.{s}.weight");
                v.push(spec(p("attn_norm"), &[e]));
                v.push(spec(p("attn_q"), &[q, e]));
                v.push(spec(p("attn_k"), &[kv, e]));
                v.push(spec(p("attn_v"), &[kv, e]));
                v.push(spec(p("attn_q_norm"), &[hd]));
                v.push(spec(p("attn_k_norm"), &[hd]));
                v.push(spec(p("attn_output"), &[e, q]));
                v.push(spec(p("post_attention_norm"), &[e]));
                v.push(spec(p("ffn_norm"), &[e]));
                v.push(spec(p("ffn_gate"), &[c.n_ff, e]));
                v.push(spec(p("ffn_up"), &[c.n_ff, e]));
                v.push(spec(p("ffn_down"), &[e, c.n_ff]));
                v.push(spec(p("post_ffw_norm"), &[e]));
            }
        }
    }
    v
}

/// Byte offset (from the start of the file) and length of a tensor's data, as
/// checked u64s (the element count is a u64 product: no usize that wraps on wasm32).
pub(crate) fn byte_range(info: &TensorInfo, data_offset: u64) -> Option<(u64, u64)> {
    let elems = info
        .shape
        .dims()
        .iter()
        .try_fold(1u64, |n, &d| n.checked_mul(d as u64))?;
    let len = super::reader::tensor_size(elems, info.ggml_dtype)?;
    Some((data_offset.checked_add(info.offset)?, len))
}

/// How many tensors `config` names (the optional output head included), computed
/// before the list is built.
fn expected_count(config: &ModelConfig) -> u64 {
    let per_layer = match config {
        ModelConfig::Llama(_) => 9,
        ModelConfig::Gemma3(_) => 13,
    };
    3 + per_layer * config.n_layer() as u64
}

fn supported(dtype: GgmlDType) -> bool {
    use GgmlDType::*;
    matches!(
        dtype,
        F32 | F16 | Q4_0 | Q4_1 | Q5_0 | Q5_1 | Q8_0 | Q4K | Q5K | Q6K | Q8K
    )
}

/// Checks presence, shape, type and bounds of every tensor `config` needs.
pub(crate) fn validate(
    content: &Content,
    config: &ModelConfig,
    file_size: u64,
) -> Result<(), GgufError> {
    // The configuration bounds the layers (limits::MAX_LAYERS); a file that
    // declares more layers than its table has tensors for is refused before the
    // expected list is built.
    // (Each layer has several tensors: more layers than tensors is hopeless, and the
    // list built below stays within a small multiple of the table's size.)
    let table = content.tensor_infos.len() as u64;
    if config.n_layer() as u64 > table {
        return Err(GgufError::malformed(format!(
            "its {} layers need at least {} tensors; its table has {table}",
            config.n_layer(),
            expected_count(config) - 1
        )));
    }
    for t in expected_tensors(config) {
        let Some(info) = content.tensor_infos.get(&t.name) else {
            if t.required {
                return Err(GgufError::MissingTensor(t.name));
            }
            continue;
        };
        if info.shape.dims() != t.shape.as_slice() {
            return Err(GgufError::WrongShape {
                name: t.name,
                expected: t.shape,
                found: info.shape.dims().to_vec(),
            });
        }
        if !supported(info.ggml_dtype) {
            return Err(GgufError::UnsupportedType {
                name: t.name,
                dtype: format!("{:?}", info.ggml_dtype),
            });
        }
        let (start, len) = byte_range(info, content.tensor_data_offset).ok_or_else(|| {
            GgufError::malformed(format!(
                "tensor '{}' has {} elements, not a whole number of blocks",
                t.name,
                info.shape.elem_count()
            ))
        })?;
        let end = start.saturating_add(len);
        if end > file_size {
            return Err(GgufError::TensorOutOfBounds {
                name: t.name,
                end,
                file_size,
            });
        }
    }
    Ok(())
}
