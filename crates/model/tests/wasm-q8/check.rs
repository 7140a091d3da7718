//! q8's kernels built for wasm32 on their own (`scripts/check_q8_wasm.sh` compiles
//! `crates/model/src/q8.rs` with this file by plain rustc, once with `+simd128` and once
//! without, and runs both in Node): the kernel each build picks must equal the scalar reference
//! bit for bit, and the script prints both kernels' time for one decode-sized product.

#[path = "../../src/q8.rs"]
#[allow(dead_code)]
mod q8;
use q8::{BLOCK, QuantizedRows, matmul_quantized, matmul_reference};

fn next(state: &mut u64) -> f32 {
    *state = state
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    ((*state >> 40) as f32 / (1u64 << 23) as f32) - 1.0
}

fn quantize(rows: usize, input: usize, state: &mut u64) -> QuantizedRows {
    let values: Vec<f32> = (0..rows * input)
        .map(|i| next(state) * (1 + i % 7) as f32)
        .collect();
    QuantizedRows::quantize(&values, rows, input).unwrap_or_else(|| unreachable!())
}

/// How many outputs differ from the scalar reference over shapes with block counts that are
/// not multiples of four, one row and several.
#[unsafe(no_mangle)]
pub extern "C" fn mismatches() -> u32 {
    let mut state = 1u64;
    let mut bad = 0;
    for (rows, out, blocks) in [
        (1, 1, 1),
        (1, 7, 2),
        (3, 17, 18),
        (1, 130, 18),
        (5, 64, 9),
        (16, 40, 24),
    ] {
        let w = quantize(out, blocks * BLOCK, &mut state);
        let x = quantize(rows, blocks * BLOCK, &mut state);
        let (ours, reference) = (matmul_quantized(&w, &x), matmul_reference(&w, &x));
        bad += ours
            .iter()
            .zip(&reference)
            .filter(|(a, b)| a.to_bits() != b.to_bits())
            .count() as u32;
    }
    bad
}

/// Milliseconds are measured in JS around this: `repeats` products of one row with a
/// 1536 x 576 weight (SmolVLM-256M's gate projection) by the kernel (0) or the reference (1).
#[unsafe(no_mangle)]
pub extern "C" fn products(reference: u32, repeats: u32) -> f32 {
    let mut state = 2u64;
    let (w, x) = (
        quantize(1536, 576, &mut state),
        quantize(1, 576, &mut state),
    );
    let mut sum = 0.0;
    for _ in 0..repeats {
        let y = if reference == 1 {
            matmul_reference(&w, &x)
        } else {
            matmul_quantized(&w, &x)
        };
        sum += y[0];
    }
    sum
}
