//! The safetensors container, read from bytes: an 8-byte little-endian header length, a JSON
//! header `{name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {...}}`, then the
//! data. Every offset and size is checked before anything is read, so a truncated or corrupt
//! file is an error that says what is wrong, never a panic.

use crate::ModelError;
use serde_json::Value;
use std::collections::BTreeMap;

/// One tensor's place in the file.
#[derive(Clone, Debug, PartialEq)]
pub struct TensorInfo {
    pub dtype: String,
    pub shape: Vec<usize>,
    /// Byte range within the data section.
    pub begin: usize,
    pub end: usize,
}

/// A checked safetensors file: its tensors by name, over the file's bytes.
#[derive(Debug)]
pub struct SafeTensors<'a> {
    pub tensors: BTreeMap<String, TensorInfo>,
    data: &'a [u8],
}

fn dtype_size(dtype: &str) -> Option<usize> {
    Some(match dtype {
        "F64" | "I64" | "U64" => 8,
        "F32" | "I32" | "U32" => 4,
        "F16" | "BF16" | "I16" | "U16" => 2,
        "I8" | "U8" | "BOOL" | "F8_E4M3" | "F8_E5M2" => 1,
        _ => return None,
    })
}

impl<'a> SafeTensors<'a> {
    pub fn parse(file: &str, bytes: &'a [u8]) -> Result<SafeTensors<'a>, ModelError> {
        let corrupt = |detail: String| ModelError::Corrupt {
            file: file.to_owned(),
            detail,
        };
        let length: [u8; 8] = bytes
            .get(..8)
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| {
                corrupt(format!(
                    "{} bytes, shorter than the 8-byte header length",
                    bytes.len()
                ))
            })?;
        let length = usize::try_from(u64::from_le_bytes(length))
            .map_err(|_| corrupt("header length does not fit in memory".to_owned()))?;
        let header = bytes.get(8..8usize.saturating_add(length)).ok_or_else(|| {
            corrupt(format!(
                "the header claims {length} bytes, the file has {}",
                bytes.len().saturating_sub(8)
            ))
        })?;
        let data = &bytes[8 + length..];
        let header: Value = serde_json::from_slice(header)
            .map_err(|e| corrupt(format!("the header is not JSON: {e}")))?;
        let entries = header
            .as_object()
            .ok_or_else(|| corrupt("the header is not a JSON object".to_owned()))?;
        let mut tensors = BTreeMap::new();
        for (name, entry) in entries {
            if name == "__metadata__" {
                continue;
            }
            let bad = |what: &str| corrupt(format!("tensor `{name}`: {what}"));
            let dtype = entry
                .get("dtype")
                .and_then(Value::as_str)
                .ok_or_else(|| bad("no dtype"))?;
            let size = dtype_size(dtype).ok_or_else(|| bad(&format!("unknown dtype {dtype}")))?;
            let shape: Vec<usize> = entry
                .get("shape")
                .and_then(Value::as_array)
                .ok_or_else(|| bad("no shape"))?
                .iter()
                .map(|d| d.as_u64().and_then(|d| usize::try_from(d).ok()))
                .collect::<Option<_>>()
                .ok_or_else(|| bad("a dimension is not a size"))?;
            let offsets: Vec<usize> = entry
                .get("data_offsets")
                .and_then(Value::as_array)
                .ok_or_else(|| bad("no data_offsets"))?
                .iter()
                .map(|d| d.as_u64().and_then(|d| usize::try_from(d).ok()))
                .collect::<Option<_>>()
                .ok_or_else(|| bad("an offset is not a size"))?;
            let [begin, end] = offsets[..] else {
                return Err(bad("data_offsets must be [begin, end]"));
            };
            let needed = shape
                .iter()
                .try_fold(size, |acc, &d| acc.checked_mul(d))
                .ok_or_else(|| bad("its size overflows"))?;
            if end < begin || end - begin != needed {
                return Err(bad(&format!(
                    "its bytes [{begin}, {end}) do not hold {dtype} {shape:?} ({needed} bytes)"
                )));
            }
            if end > data.len() {
                return Err(bad(&format!(
                    "its bytes end at {end}, past the file's {} data bytes",
                    data.len()
                )));
            }
            tensors.insert(
                name.clone(),
                TensorInfo {
                    dtype: dtype.to_owned(),
                    shape,
                    begin,
                    end,
                },
            );
        }
        Ok(SafeTensors { tensors, data })
    }

    /// The raw little-endian bytes of a tensor.
    pub fn bytes(&self, name: &str) -> Option<&'a [u8]> {
        let info = self.tensors.get(name)?;
        self.data.get(info.begin..info.end)
    }

    /// Checks that every tensor of `expected` is here with its shape. Tensors the list does not
    /// name are returned (a checkpoint may carry buffers the model does not read).
    pub fn check(
        &self,
        file: &str,
        expected: &[(String, Vec<usize>)],
    ) -> Result<Vec<String>, ModelError> {
        for (name, shape) in expected {
            let info = self
                .tensors
                .get(name)
                .ok_or_else(|| ModelError::MissingTensor {
                    file: file.to_owned(),
                    name: name.clone(),
                })?;
            if &info.shape != shape {
                return Err(ModelError::Shape {
                    file: file.to_owned(),
                    name: name.clone(),
                    expected: shape.clone(),
                    found: info.shape.clone(),
                });
            }
        }
        Ok(self
            .tensors
            .keys()
            .filter(|name| !expected.iter().any(|(e, _)| e == *name))
            .cloned()
            .collect())
    }
}
