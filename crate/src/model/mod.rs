//! Forward passes of spec `exact-1`, one per architecture, each written once over
//! the [`Executor`](crate::exec::Executor) trait.

pub mod llama;

use crate::exec::{ExecError, WeightView};
use crate::exact::quant::WeightFormat;
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
    #[error("the exact engine does not run the '{0}' architecture yet; use the float engine")]
    Unsupported(String),
    #[error("position {pos} is past the context length {max}")]
    ContextFull { pos: usize, max: usize },
    #[error("token id {id} is outside the vocabulary ({n_vocab} tokens)")]
    BadToken { id: u32, n_vocab: usize },
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
    let bytes = gguf.tensor_bytes(file, name)?;
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
