//! Forward passes of spec `exact-1`, one per architecture, each written once over
//! the [`Executor`](crate::exec::Executor) trait.

pub mod gemma3;
pub mod llama;

use crate::exact::quant::WeightFormat;
use crate::exec::{ExecError, WeightView};
use crate::gguf::{GgufError, GgufModel};
use candle_core::quantized::GgmlDType;
use std::sync::Arc;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum ModelError {
    #[error(transparent)]
    Gguf(#[from] GgufError),
    #[error(transparent)]
    Exec(#[from] ExecError),
    #[error("the exact engine does not run {0} yet; use the float engine")]
    Unsupported(String),
    #[error("position {pos} is past the context length {max}")]
    ContextFull { pos: usize, max: usize },
    #[error("token id {id} is outside the vocabulary ({n_vocab} tokens)")]
    BadToken { id: u32, n_vocab: usize },
    #[error("tensor '{name}' has a non-finite scale (infinity or NaN) in block {block}: the file is corrupt")]
    NonFiniteScale { name: String, block: usize },
    #[error("tensor '{name}' is not a whole number of blocks per row ({cols} columns)")]
    RaggedRows { name: String, cols: usize },
}

/// Checks a forward pass's input (numerics section 8, "Positions"): `tokens` at
/// positions `pos0..` must stay inside the context, and every id inside the
/// vocabulary.
pub(crate) fn check_input(
    pos0: usize,
    tokens: &[u32],
    context_length: usize,
    n_vocab: usize,
) -> Result<(), ModelError> {
    if pos0 + tokens.len() > context_length {
        return Err(ModelError::ContextFull {
            pos: pos0 + tokens.len(),
            max: context_length,
        });
    }
    match tokens.iter().find(|&&t| t as usize >= n_vocab) {
        Some(&id) => Err(ModelError::BadToken { id, n_vocab }),
        None => Ok(()),
    }
}

/// The numeric spec a model runs under: `exact-2` for gemma3 or for any tensor
/// in a format exact-1 does not define, else `exact-1` (whose every run replays
/// identically under exact-2, a strict superset).
pub fn spec_of(gguf: &GgufModel) -> &'static str {
    use crate::exact::{SPEC_EXACT_1, SPEC_EXACT_2};
    if gguf.config.architecture() != crate::gguf::Architecture::Llama {
        return SPEC_EXACT_2;
    }
    let exact_2 = gguf.content.tensor_infos.values().any(|t| {
        matches!(
            t.ggml_dtype,
            GgmlDType::Q4_0
                | GgmlDType::Q5_0
                | GgmlDType::Q5_1
                | GgmlDType::Q4K
                | GgmlDType::Q5K
                | GgmlDType::Q6K
        )
    });
    if exact_2 {
        SPEC_EXACT_2
    } else {
        SPEC_EXACT_1
    }
}

/// A quantized matrix of the file as a [`WeightView`].
pub(crate) fn weight_view(
    gguf: &GgufModel,
    file: &Arc<Vec<u8>>,
    name: &str,
) -> Result<WeightView, ModelError> {
    let info = gguf.tensor_info(name)?;
    let format = match info.ggml_dtype {
        GgmlDType::Q4_1 => WeightFormat::Q4_1,
        GgmlDType::Q8_0 => WeightFormat::Q8_0,
        GgmlDType::Q4_0 => WeightFormat::Q4_0,
        GgmlDType::Q5_0 => WeightFormat::Q5_0,
        GgmlDType::Q5_1 => WeightFormat::Q5_1,
        GgmlDType::Q4K => WeightFormat::Q4K,
        GgmlDType::Q5K => WeightFormat::Q5K,
        GgmlDType::Q6K => WeightFormat::Q6K,
        other => {
            return Err(ExecError::UnsupportedWeight {
                name: name.to_string(),
                dtype: format!("{other:?}"),
            }
            .into())
        }
    };
    let dims = info.shape.dims();
    let (rows, cols) = (dims[0], dims[1]);
    if cols % format.block_elems() != 0 {
        return Err(ModelError::RaggedRows {
            name: name.to_string(),
            cols,
        });
    }
    let bytes = gguf.tensor_bytes(file, name)?;
    check_scales(name, format, bytes)?;
    let offset = bytes.as_ptr() as usize - file.as_ptr() as usize;
    Ok(WeightView {
        name: name.to_string(),
        format,
        rows,
        cols,
        file: file.clone(),
        offset,
    })
}

/// Rejects blocks whose f16 scales are infinite or NaN (exponent field 31): spec
/// exact-1 only defines finite scales.
fn check_scales(name: &str, format: WeightFormat, bytes: &[u8]) -> Result<(), ModelError> {
    let scale_offsets = format.scale_offsets();
    for (block, b) in bytes.chunks_exact(format.block_bytes()).enumerate() {
        for &o in scale_offsets {
            if (b[o + 1] >> 2) & 0x1f == 0x1f {
                return Err(ModelError::NonFiniteScale {
                    name: name.to_string(),
                    block,
                });
            }
        }
    }
    Ok(())
}

/// An f32 vector tensor (norm weights) as raw bit patterns.
pub(crate) fn f32_bits(gguf: &GgufModel, file: &[u8], name: &str) -> Result<Vec<u32>, ModelError> {
    let info = gguf.tensor_info(name)?;
    if info.ggml_dtype != GgmlDType::F32 {
        return Err(ExecError::UnsupportedWeight {
            name: name.to_string(),
            dtype: format!("{:?}", info.ggml_dtype),
        }
        .into());
    }
    let bytes = gguf.tensor_bytes(file, name)?;
    Ok(bytes
        .chunks_exact(4)
        .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect())
}
