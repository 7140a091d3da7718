//! Reading checkpoint tensors as f32 host data, whatever their stored float type.

use crate::ModelError;
use crate::safetensors::SafeTensors;

/// A tensor's values as f32 with its shape. Checkpoints store f32, bf16 or f16 (SmolVLM's
/// published weights are bf16); every value is widened exactly.
pub struct HostTensor {
    pub shape: Vec<usize>,
    pub values: Vec<f32>,
}

impl HostTensor {
    /// Reads `name` from `checkpoint` and checks its shape.
    pub fn read(
        file: &str,
        checkpoint: &SafeTensors<'_>,
        name: &str,
        shape: &[usize],
    ) -> Result<HostTensor, ModelError> {
        let info = checkpoint
            .tensors
            .get(name)
            .ok_or_else(|| ModelError::MissingTensor {
                file: file.to_owned(),
                name: name.to_owned(),
            })?;
        if info.shape != shape {
            return Err(ModelError::Shape {
                file: file.to_owned(),
                name: name.to_owned(),
                expected: shape.to_vec(),
                found: info.shape.clone(),
            });
        }
        let bytes = checkpoint.bytes(name).ok_or_else(|| ModelError::Corrupt {
            file: file.to_owned(),
            detail: format!("tensor `{name}` lies outside the data"),
        })?;
        let values = widen(&info.dtype, bytes).ok_or_else(|| ModelError::Field {
            file: file.to_owned(),
            field: name.to_owned(),
            message: format!(
                "dtype {} is not a float type this loader reads (F32, BF16, F16)",
                info.dtype
            ),
        })?;
        Ok(HostTensor {
            shape: shape.to_vec(),
            values,
        })
    }

    /// A `[rows, cols]` matrix transposed to `[cols, rows]` (Hugging Face linear weights are
    /// `[out, in]`; the model multiplies `x · W` with `W` as `[in, out]`).
    pub fn transposed(self) -> HostTensor {
        let [rows, cols] = self.shape[..] else {
            return self;
        };
        let mut values = vec![0.0f32; rows * cols];
        for (r, row) in self.values.chunks_exact(cols).enumerate() {
            for (c, &v) in row.iter().enumerate() {
                values[c * rows + r] = v;
            }
        }
        HostTensor {
            shape: vec![cols, rows],
            values,
        }
    }
}

fn widen(dtype: &str, bytes: &[u8]) -> Option<Vec<f32>> {
    match dtype {
        "F32" => Some(
            bytes
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect(),
        ),
        "BF16" => Some(
            bytes
                .chunks_exact(2)
                .map(|b| f32::from_bits(u32::from(u16::from_le_bytes([b[0], b[1]])) << 16))
                .collect(),
        ),
        "F16" => Some(
            bytes
                .chunks_exact(2)
                .map(|b| f16_to_f32(u16::from_le_bytes([b[0], b[1]])))
                .collect(),
        ),
        _ => None,
    }
}

/// IEEE half to single, exact (subnormals, infinities and NaN included).
fn f16_to_f32(h: u16) -> f32 {
    let sign = u32::from(h >> 15) << 31;
    let exponent = u32::from((h >> 10) & 0x1f);
    let mantissa = u32::from(h & 0x3ff);
    let bits = match (exponent, mantissa) {
        (0, 0) => sign,
        (0, m) => {
            // Subnormal: value = m * 2^-24, renormalised.
            let shift = m.leading_zeros() - 21;
            let m = (m << shift) & 0x3ff;
            sign | ((127 - 15 + 1 - shift) << 23) | (m << 13)
        }
        (0x1f, m) => sign | 0x7f80_0000 | (m << 13),
        (e, m) => sign | ((e + 127 - 15) << 23) | (m << 13),
    };
    f32::from_bits(bits)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn half_floats_widen_exactly() {
        assert_eq!(f16_to_f32(0x3c00), 1.0);
        assert_eq!(f16_to_f32(0xc000), -2.0);
        assert_eq!(f16_to_f32(0x7bff), 65504.0);
        assert_eq!(f16_to_f32(0x0001), 2f32.powi(-24));
        assert_eq!(f16_to_f32(0x03ff), 1023.0 * 2f32.powi(-24));
        assert!(f16_to_f32(0x7c00).is_infinite());
        assert!(f16_to_f32(0x7e00).is_nan());
        assert_eq!(widen("BF16", &[0x80, 0x3f]), Some(vec![1.0]));
        assert_eq!(widen("I64", &[0; 8]), None);
    }

    #[test]
    fn transpose_moves_rows_to_columns() {
        let t = HostTensor {
            shape: vec![2, 3],
            values: vec![1., 2., 3., 4., 5., 6.],
        }
        .transposed();
        assert_eq!(t.shape, vec![3, 2]);
        assert_eq!(t.values, vec![1., 4., 2., 5., 3., 6.]);
    }
}
