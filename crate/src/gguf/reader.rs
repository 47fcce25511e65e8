//! A bounded reader of the GGUF container (ggml `docs/gguf.md`, versions 2 and 3):
//! header, typed metadata (nested arrays included), tensor table, alignment and
//! the start of the tensor data.
//!
//! It replaces candle's `gguf_file::Content::read`, which divides by a zero
//! `general.alignment` and allocates from counts the file declares. Here every
//! count, length, size and offset is a u64 checked against the bytes left and a
//! named limit ([`super::limits`]) before anything is allocated; every tensor's
//! byte size is a checked u64 product that must lie wholly inside the file and fit
//! the address space; duplicate keys and tensor names are refused. What it builds
//! is candle's own [`Content`] (its fields are public), so the float reference
//! reads the same file through candle only after this validation.
//!
//! Strings are read as candle reads them (trailing NULs dropped, invalid UTF-8
//! replaced), so metadata means the same to both readers.

use super::limits::*;
use super::GgufError;
use candle_core::quantized::gguf_file::{Content, TensorInfo, Value, VersionedMagic};
use candle_core::quantized::GgmlDType;
use std::collections::HashMap;

/// The alignment of tensor data when the file has no `general.alignment`.
const DEFAULT_ALIGNMENT: u64 = 32;

/// Reads a whole GGUF file held in memory, with this machine's address space.
pub fn read(bytes: &[u8]) -> Result<Content, GgufError> {
    read_with_address_limit(bytes, usize::MAX as u64)
}

/// [`read`], refusing any tensor whose element count or byte size exceeds
/// `address_limit` (`usize::MAX` here; tests pass `u32::MAX` to check what a
/// wasm32 build does).
pub fn read_with_address_limit(bytes: &[u8], address_limit: u64) -> Result<Content, GgufError> {
    if bytes.len() < 4 || &bytes[..4] != b"GGUF" {
        return Err(GgufError::NotGguf);
    }
    let mut r = Cursor {
        buf: bytes,
        pos: 4,
        values: 0,
    };
    let version = r.u32("version")?;
    let magic = match version {
        2 => VersionedMagic::GgufV2,
        3 => VersionedMagic::GgufV3,
        v => return Err(GgufError::UnsupportedVersion(v)),
    };
    let n_tensors = r.u64("tensor count")?;
    limit("tensor count", n_tensors, MAX_TENSORS, "MAX_TENSORS")?;
    let n_kv = r.u64("metadata key count")?;
    limit(
        "metadata key count",
        n_kv,
        MAX_METADATA_KEYS,
        "MAX_METADATA_KEYS",
    )?;
    // Each key/value pair takes at least 13 bytes, each tensor entry 24.
    r.fits(n_kv, 13, "metadata")?;
    let mut metadata = HashMap::with_capacity(n_kv as usize);
    for _ in 0..n_kv {
        let key = r.string("metadata key")?;
        let ty = r.u32("metadata value type")?;
        let value = r.value(ty, 0)?;
        if metadata.insert(key.clone(), value).is_some() {
            return Err(GgufError::Duplicate {
                what: "metadata keys",
                name: key,
            });
        }
    }
    r.fits(n_tensors, 24, "tensor table")?;
    let mut infos = Vec::with_capacity(n_tensors as usize);
    for _ in 0..n_tensors {
        infos.push(r.tensor_info(address_limit)?);
    }
    let header_end = r.pos as u64;
    limit(
        "header size",
        header_end,
        MAX_HEADER_BYTES,
        "MAX_HEADER_BYTES",
    )?;
    let alignment = alignment(&metadata)?;
    // A multiple of a power of two no larger than 2^16, just past a header no
    // larger than 2^28: no overflow.
    let data_offset = header_end.div_ceil(alignment) * alignment;
    let file_size = bytes.len() as u64;
    let mut tensor_infos = HashMap::with_capacity(infos.len());
    for (name, info, size) in infos {
        check_placement(&name, &info, size, alignment, data_offset, file_size)?;
        if tensor_infos.insert(name.clone(), info).is_some() {
            return Err(GgufError::Duplicate {
                what: "tensors",
                name,
            });
        }
    }
    Ok(Content {
        magic,
        metadata,
        tensor_infos,
        tensor_data_offset: data_offset,
    })
}

fn limit(what: &str, value: u64, max: u64, name: &'static str) -> Result<(), GgufError> {
    if value > max {
        return Err(GgufError::Limit {
            what: what.to_string(),
            value,
            limit: max,
            name,
        });
    }
    Ok(())
}

/// `general.alignment`: a power of two no larger than [`MAX_ALIGNMENT`].
fn alignment(metadata: &HashMap<String, Value>) -> Result<u64, GgufError> {
    let a = match metadata.get("general.alignment") {
        None => return Ok(DEFAULT_ALIGNMENT),
        Some(Value::U8(v)) => u64::from(*v),
        Some(Value::U16(v)) => u64::from(*v),
        Some(Value::U32(v)) => u64::from(*v),
        Some(Value::U64(v)) => *v,
        Some(Value::I8(v)) => u64::try_from(*v).unwrap_or(0),
        Some(Value::I16(v)) => u64::try_from(*v).unwrap_or(0),
        Some(Value::I32(v)) => u64::try_from(*v).unwrap_or(0),
        Some(Value::I64(v)) => u64::try_from(*v).unwrap_or(0),
        Some(_) => {
            return Err(GgufError::BadMetadata {
                key: "general.alignment".into(),
                reason: "not an integer".into(),
            })
        }
    };
    if a == 0 || !a.is_power_of_two() || a > MAX_ALIGNMENT {
        return Err(GgufError::BadAlignment(a));
    }
    Ok(a)
}

/// A tensor's data must start at an aligned offset and end inside the file.
fn check_placement(
    name: &str,
    info: &TensorInfo,
    size: u64,
    alignment: u64,
    data_offset: u64,
    file_size: u64,
) -> Result<(), GgufError> {
    if !info.offset.is_multiple_of(alignment) {
        return Err(GgufError::malformed(format!(
            "tensor '{name}' starts at offset {}, not a multiple of the alignment {alignment}",
            info.offset
        )));
    }
    let end = data_offset
        .checked_add(info.offset)
        .and_then(|s| s.checked_add(size));
    match end {
        Some(end) if end <= file_size => Ok(()),
        _ => Err(GgufError::TensorOutOfBounds {
            name: name.to_string(),
            end: data_offset.saturating_add(info.offset).saturating_add(size),
            file_size,
        }),
    }
}

/// The ggml type with GGUF code `code` (ggml.h `enum ggml_type`), among those candle reads.
fn dtype(code: u32) -> Option<GgmlDType> {
    use GgmlDType::*;
    Some(match code {
        0 => F32,
        1 => F16,
        2 => Q4_0,
        3 => Q4_1,
        6 => Q5_0,
        7 => Q5_1,
        8 => Q8_0,
        9 => Q8_1,
        10 => Q2K,
        11 => Q3K,
        12 => Q4K,
        13 => Q5K,
        14 => Q6K,
        15 => Q8K,
        30 => BF16,
        _ => return None,
    })
}

/// Bytes of a tensor of `elems` elements of `dtype`, as a checked u64.
pub(crate) fn tensor_size(elems: u64, dtype: GgmlDType) -> Option<u64> {
    let block = dtype.block_size() as u64;
    if !elems.is_multiple_of(block) {
        return None;
    }
    (elems / block).checked_mul(dtype.type_size() as u64)
}

struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
    /// Metadata values read so far (array elements included).
    values: u64,
}

impl Cursor<'_> {
    fn remaining(&self) -> u64 {
        (self.buf.len() - self.pos) as u64
    }

    fn take(&mut self, n: u64, what: &str) -> Result<&[u8], GgufError> {
        if n > self.remaining() {
            return Err(GgufError::malformed(format!(
                "it ends inside the {what} (byte {} of {})",
                self.pos,
                self.buf.len()
            )));
        }
        let start = self.pos;
        self.pos += n as usize;
        Ok(&self.buf[start..self.pos])
    }

    fn array<const N: usize>(&mut self, what: &str) -> Result<[u8; N], GgufError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N as u64, what)?);
        Ok(a)
    }

    fn u32(&mut self, what: &str) -> Result<u32, GgufError> {
        Ok(u32::from_le_bytes(self.array(what)?))
    }

    fn u64(&mut self, what: &str) -> Result<u64, GgufError> {
        Ok(u64::from_le_bytes(self.array(what)?))
    }

    /// `count` items of at least `min_size` bytes each must fit in what is left.
    fn fits(&self, count: u64, min_size: u64, what: &str) -> Result<(), GgufError> {
        match count.checked_mul(min_size) {
            Some(n) if n <= self.remaining() => Ok(()),
            _ => Err(GgufError::malformed(format!(
                "its {what} declares {count} entries, more than its {} remaining bytes can hold",
                self.remaining()
            ))),
        }
    }

    fn string(&mut self, what: &str) -> Result<String, GgufError> {
        let len = self.u64(what)?;
        limit(
            &format!("{what} length"),
            len,
            MAX_STRING_LEN,
            "MAX_STRING_LEN",
        )?;
        let mut b = self.take(len, what)?;
        while let [rest @ .., 0] = b {
            b = rest;
        }
        Ok(String::from_utf8_lossy(b).into_owned())
    }

    /// One metadata value of GGUF type code `ty` (`gguf_metadata_value_type`).
    fn value(&mut self, ty: u32, depth: u32) -> Result<Value, GgufError> {
        self.values += 1;
        limit(
            "number of metadata values",
            self.values,
            MAX_METADATA_VALUES,
            "MAX_METADATA_VALUES",
        )?;
        const V: &str = "metadata value";
        Ok(match ty {
            0 => Value::U8(self.array::<1>(V)?[0]),
            1 => Value::I8(i8::from_le_bytes(self.array(V)?)),
            2 => Value::U16(u16::from_le_bytes(self.array(V)?)),
            3 => Value::I16(i16::from_le_bytes(self.array(V)?)),
            4 => Value::U32(self.u32(V)?),
            5 => Value::I32(i32::from_le_bytes(self.array(V)?)),
            6 => Value::F32(f32::from_le_bytes(self.array(V)?)),
            7 => match self.array::<1>(V)?[0] {
                0 => Value::Bool(false),
                1 => Value::Bool(true),
                b => return Err(GgufError::malformed(format!("a boolean has the value {b}"))),
            },
            8 => Value::String(self.string("metadata string")?),
            9 => {
                limit(
                    "metadata array nesting depth",
                    u64::from(depth) + 1,
                    u64::from(MAX_ARRAY_DEPTH),
                    "MAX_ARRAY_DEPTH",
                )?;
                let elem_ty = self.u32("array element type")?;
                let len = self.u64("array length")?;
                limit("metadata array length", len, MAX_ARRAY_LEN, "MAX_ARRAY_LEN")?;
                self.fits(len, min_value_size(elem_ty)?, "metadata array")?;
                let mut items = Vec::with_capacity(len as usize);
                for _ in 0..len {
                    items.push(self.value(elem_ty, depth + 1)?);
                }
                Value::Array(items)
            }
            10 => Value::U64(self.u64(V)?),
            11 => Value::I64(i64::from_le_bytes(self.array(V)?)),
            12 => Value::F64(f64::from_le_bytes(self.array(V)?)),
            t => {
                return Err(GgufError::malformed(format!(
                    "unknown metadata value type {t}"
                )))
            }
        })
    }

    /// One tensor table entry, with its byte size.
    fn tensor_info(&mut self, address_limit: u64) -> Result<(String, TensorInfo, u64), GgufError> {
        let name = self.string("tensor name")?;
        let n_dims = self.u32("tensor dimension count")?;
        limit(
            &format!("tensor '{name}' dimension count"),
            u64::from(n_dims),
            u64::from(MAX_TENSOR_DIMS),
            "MAX_TENSOR_DIMS",
        )?;
        let mut dims = Vec::with_capacity(n_dims as usize);
        let mut elems: u64 = 1;
        for _ in 0..n_dims {
            let d = self.u64("tensor dimensions")?;
            if d == 0 {
                return Err(GgufError::malformed(format!(
                    "tensor '{name}' has a dimension of 0"
                )));
            }
            limit(&format!("tensor '{name}' dimension"), d, MAX_DIM, "MAX_DIM")?;
            // Up to 4 dimensions of up to 2^24: the product may overflow u64 (an error);
            // it is compared with the address space below.
            elems = elems.checked_mul(d).ok_or_else(|| {
                GgufError::malformed(format!("tensor '{name}' has more than 2^64 elements"))
            })?;
            dims.push(d as usize);
        }
        let code = self.u32("tensor type")?;
        let dtype = dtype(code).ok_or_else(|| GgufError::UnsupportedType {
            name: name.clone(),
            dtype: format!("ggml type {code}"),
        })?;
        let offset = self.u64("tensor offset")?;
        // As ggml requires: rows (the innermost dimension) are whole blocks.
        let row = dims.first().copied().unwrap_or(1) as u64;
        if !row.is_multiple_of(dtype.block_size() as u64) {
            return Err(GgufError::malformed(format!(
                "tensor '{name}' has rows of {row} elements, not a whole number of {dtype:?} blocks of {}",
                dtype.block_size()
            )));
        }
        let size = tensor_size(elems, dtype).ok_or_else(|| {
            GgufError::malformed(format!(
                "tensor '{name}' has {elems} elements, not a whole number of {:?} blocks",
                dtype
            ))
        })?;
        if elems > address_limit || size > address_limit {
            return Err(GgufError::Limit {
                what: format!("tensor '{name}' size in bytes"),
                value: size.max(elems),
                limit: address_limit,
                name: "the address space",
            });
        }
        // GGUF lists dimensions innermost first; candle's shapes are outermost first.
        dims.reverse();
        let info = TensorInfo {
            ggml_dtype: dtype,
            shape: candle_core::Shape::from(dims),
            offset,
        };
        Ok((name, info, size))
    }
}

/// The fewest bytes a value of type `ty` takes in the file.
fn min_value_size(ty: u32) -> Result<u64, GgufError> {
    Ok(match ty {
        0 | 1 | 7 => 1,
        2 | 3 => 2,
        4..=6 => 4,
        10..=12 => 8,
        8 => 8,
        9 => 12,
        t => {
            return Err(GgufError::malformed(format!(
                "unknown metadata value type {t}"
            )))
        }
    })
}
