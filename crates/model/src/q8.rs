//! The q8 scheme's products on the CPU: weights in GGML's Q8_0 layout, activations quantized
//! the same way, integer dot products.
//!
//! Semantics (what [`matmul_reference`] computes, and what every kernel here must equal exactly):
//! - **Blocks.** A weight `[out, in]` (Hugging Face's layout) is cut into blocks of [`BLOCK`] = 32
//!   consecutive values along the input dimension; `in` must be a multiple of 32 (a weight whose
//!   input size is not stays f32: the loader's rule). An activation row `[in]` is cut the same
//!   way.
//! - **Quantizing a block** `v` (weights once at load, activations at every product):
//!   `scale = max|v| / 127` in f32 (a zero block gets `f32::MIN_POSITIVE`, so every code is 0),
//!   `code = round(v * (1 / scale))` rounded half away from zero, clamped to ±127. This is
//!   burn-flex 0.22.1's symmetric `quantize_dynamic` arithmetic (its `2·max / 254` is the same
//!   float as `max / 127`), so weight codes and scales are bit-identical to what burn and
//!   `scripts/quant_reference.py` produce for the same blocks. Scales are f32 (GGML stores f16).
//! - **Product.** `y[r, o] = Σ_b s_b · (w_scale[o, b] · x_scale[r, b])` with
//!   `s_b = Σ_i w_code[o, b, i] · x_code[r, b, i]` an exact i32 sum (|s_b| ≤ 32·127² < 2²⁴, so
//!   also exact as f32), and the blocks added in order in f32, each term computed as
//!   `(s_b as f32) * (w_scale * x_scale)` (no fused multiply-add).
//!
//! The kernels: AVX2 on x86-64 (detected at run time through `pulp`, which does the
//! target-feature switch so this crate keeps `unsafe_code` forbidden), wasm SIMD128 when the
//! build enables `+simd128`, and a portable loop otherwise (NEON machines use it, as compiled).
//! Natively with the `native-cpu` feature the output features are split over rayon's pool.

/// Values per block along the input dimension.
pub const BLOCK: usize = 32;

/// A block's scale from its largest magnitude: `max / 127`, or the smallest normal float for a
/// zero block (every code 0).
#[inline(always)]
fn block_scale(max: f32) -> f32 {
    let scale = max / 127.0;
    if scale > 0.0 {
        scale
    } else {
        f32::MIN_POSITIVE
    }
}

/// Quantizes one block (at most [`BLOCK`] values) into `codes`; returns its scale.
pub fn quantize_block(values: &[f32], codes: &mut [i8]) -> f32 {
    let scale = block_scale(values.iter().fold(0.0f32, |m, v| m.max(v.abs())));
    let inverse = 1.0 / scale;
    for (code, &v) in codes.iter_mut().zip(values) {
        // `as` saturates and maps NaN to 0: a non-finite input gives codes, not a panic.
        *code = (v * inverse).round().clamp(-127.0, 127.0) as i8;
    }
    scale
}

/// `x.round()` (half away from zero) as operations that vectorise (`round` is a libm call per
/// value): `trunc`, and one more unit where the dropped part is at least a half. Equal to
/// `round` for every input, the sign of a zero included.
#[inline(always)]
fn round_half_away(x: f32) -> f32 {
    let t = x.trunc();
    let step = if (x - t).abs() >= 0.5 { 1.0f32 } else { 0.0 };
    t + step.copysign(x)
}

/// Each block of 32 values of `values` (rows of a multiple of [`BLOCK`]) replaced by what its
/// codes stand for, `code * scale`: the same floats as [`QuantizedRows::quantize`] followed by
/// [`QuantizedRows::dequantize`], without the codes in between (the f32 product of the long
/// activations needs only these values). Vectorised, and natively in parallel.
pub fn fake_quantize(values: &mut [f32]) {
    #[inline(always)]
    fn blocks(values: &mut [f32]) {
        for block in values.chunks_exact_mut(BLOCK) {
            let mut max = [0.0f32; 8];
            for chunk in block.chunks_exact(8) {
                for (m, v) in max.iter_mut().zip(chunk) {
                    *m = m.max(v.abs());
                }
            }
            let scale = block_scale(max.iter().fold(0.0f32, |a, &b| a.max(b)));
            let inverse = 1.0 / scale;
            for v in block.iter_mut() {
                let r = round_half_away(*v * inverse);
                // `as i8` in `quantize_block` maps NaN to the code 0, and an integer code has
                // no negative zero (`+ 0.0` turns -0 into 0 and changes nothing else).
                let r = if r.is_nan() {
                    0.0
                } else {
                    r.clamp(-127.0, 127.0) + 0.0
                };
                *v = r * scale;
            }
        }
    }
    /// `blocks` with the widest SIMD the CPU has (x86-64: AVX2 through `pulp`): called inside
    /// the closure, not passed as a function item, so that its loop is compiled in that context
    /// (through a function item's `Fn::call` shim it was not, and `trunc` was a libm call).
    #[inline(always)]
    fn vectorized(values: &mut [f32]) {
        #[cfg(target_arch = "x86_64")]
        if let Some(simd) = pulp::x86::V3::try_new() {
            return simd.vectorize(
                #[inline(always)]
                || blocks(values),
            );
        }
        blocks(values)
    }
    #[cfg(feature = "native-cpu")]
    {
        use rayon::prelude::*;
        const PART: usize = BLOCK * 1024;
        if values.len() > PART && rayon::current_num_threads() > 1 {
            values.par_chunks_mut(PART).for_each(vectorized);
            return;
        }
    }
    vectorized(values)
}

/// Rows of `input` values quantized in blocks: codes `[rows, input]`, scales
/// `[rows, input / BLOCK]`.
#[derive(Clone, PartialEq)]
pub struct QuantizedRows {
    pub rows: usize,
    pub input: usize,
    pub codes: Vec<i8>,
    pub scales: Vec<f32>,
}

impl std::fmt::Debug for QuantizedRows {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "QuantizedRows {{ rows: {}, input: {} }}",
            self.rows, self.input
        )
    }
}

impl QuantizedRows {
    /// Quantizes `values` `[rows, input]` (row-major). `None` unless `input` is a positive
    /// multiple of [`BLOCK`] and `values` holds `rows * input` values.
    pub fn quantize(values: &[f32], rows: usize, input: usize) -> Option<QuantizedRows> {
        if input == 0 || !input.is_multiple_of(BLOCK) || values.len() != rows * input {
            return None;
        }
        let mut codes = vec![0i8; values.len()];
        let scales = values
            .chunks_exact(BLOCK)
            .zip(codes.chunks_exact_mut(BLOCK))
            .map(|(v, c)| quantize_block(v, c))
            .collect();
        Some(QuantizedRows {
            rows,
            input,
            codes,
            scales,
        })
    }

    /// The values the codes stand for, `[rows, input]`: `code * scale` (in parallel natively).
    pub fn dequantize(&self) -> Vec<f32> {
        const SPAN: usize = BLOCK * 4096;
        let mut values = vec![0.0f32; self.codes.len()];
        let fill = |(values, (codes, scales)): (&mut [f32], (&[i8], &[f32]))| {
            for ((v, c), &s) in values
                .chunks_exact_mut(BLOCK)
                .zip(codes.chunks_exact(BLOCK))
                .zip(scales)
            {
                for (v, &c) in v.iter_mut().zip(c) {
                    *v = f32::from(c) * s;
                }
            }
        };
        #[cfg(feature = "native-cpu")]
        {
            use rayon::prelude::*;
            values
                .par_chunks_mut(SPAN)
                .zip(
                    self.codes
                        .par_chunks(SPAN)
                        .zip(self.scales.par_chunks(SPAN / BLOCK)),
                )
                .for_each(fill);
        }
        #[cfg(not(feature = "native-cpu"))]
        values
            .chunks_mut(SPAN)
            .zip(
                self.codes
                    .chunks(SPAN)
                    .zip(self.scales.chunks(SPAN / BLOCK)),
            )
            .for_each(fill);
        values
    }

    /// The values the codes stand for, transposed: `[input, rows]` (row-major), the layout in
    /// which an f32 product `x · Wᵀ` reads the weight fastest (measured on the CPU backend, 2
    /// threads: a transposed view of `[rows, input]` made the vision MLP's products 12–24%
    /// slower and the text MLP's down projection over a 92-token prompt 2.8×). The same values
    /// as [`QuantizedRows::dequantize`], in parallel natively over blocks of the input.
    pub fn dequantize_transposed(&self) -> Vec<f32> {
        let (rows, blocks) = (self.rows, self.blocks());
        let mut values = vec![0.0f32; self.codes.len()];
        if rows == 0 {
            // No bands (and a chunk size of 0 is not allowed).
            return values;
        }
        // `band`: the result's rows for input block `b`, `[BLOCK, rows]`, written `TILE` weight
        // rows at a time: their blocks dequantized into `tile`, then each of the block's `BLOCK`
        // positions written as `TILE` consecutive values.
        const TILE: usize = 8;
        let fill = |(b, band): (usize, &mut [f32])| {
            let mut tile = [[0.0f32; BLOCK]; TILE];
            for r0 in (0..rows).step_by(TILE) {
                let n = TILE.min(rows - r0);
                for (k, t) in tile.iter_mut().enumerate().take(n) {
                    let r = r0 + k;
                    let scale = self.scales[r * blocks + b];
                    let codes = &self.codes[r * self.input + b * BLOCK..][..BLOCK];
                    for (v, &c) in t.iter_mut().zip(codes) {
                        *v = f32::from(c) * scale;
                    }
                }
                for j in 0..BLOCK {
                    let out = &mut band[j * rows + r0..][..n];
                    for (k, v) in out.iter_mut().enumerate() {
                        *v = tile[k][j];
                    }
                }
            }
        };
        #[cfg(feature = "native-cpu")]
        {
            use rayon::prelude::*;
            values
                .par_chunks_mut(BLOCK * rows)
                .enumerate()
                .for_each(fill);
        }
        #[cfg(not(feature = "native-cpu"))]
        values.chunks_mut(BLOCK * rows).enumerate().for_each(fill);
        values
    }

    /// Bytes held: one per code, four per scale.
    pub fn bytes(&self) -> usize {
        self.codes.len() + self.scales.len() * 4
    }

    fn blocks(&self) -> usize {
        self.input / BLOCK
    }

    fn row(&self, r: usize) -> (&[i8], &[f32]) {
        let b = self.blocks();
        (
            &self.codes[r * self.input..(r + 1) * self.input],
            &self.scales[r * b..(r + 1) * b],
        )
    }
}

/// `x · Wᵀ` for a Q8_0 weight `weight` `[out, in]` and f32 activations `x` `[rows, in]`
/// (row-major): `[rows, out]`, computed as the module's semantics say with the fastest kernel
/// this machine has. `None` if the shapes do not fit.
pub fn matmul(weight: &QuantizedRows, x: &[f32], rows: usize) -> Option<Vec<f32>> {
    let x = QuantizedRows::quantize(x, rows, weight.input)?;
    Some(matmul_quantized(weight, &x))
}

/// The product for already quantized activations (same input size as `weight`).
pub fn matmul_quantized(weight: &QuantizedRows, x: &QuantizedRows) -> Vec<f32> {
    debug_assert_eq!(weight.input, x.input);
    let out = weight.rows;
    let mut y = vec![0.0f32; x.rows * out];
    // Output features in chunks; each chunk fills its columns of every row.
    let chunk = chunk_size(out, x.rows * weight.input);
    let columns = |start: usize| -> Vec<f32> {
        let end = (start + chunk).min(out);
        let mut local = vec![0.0f32; x.rows * (end - start)];
        kernel::run(weight, x, start..end, &mut local);
        local
    };
    let starts: Vec<usize> = (0..out).step_by(chunk.max(1)).collect();
    #[cfg(feature = "native-cpu")]
    let parts: Vec<Vec<f32>> = {
        use rayon::prelude::*;
        starts.par_iter().map(|&s| columns(s)).collect()
    };
    #[cfg(not(feature = "native-cpu"))]
    let parts: Vec<Vec<f32>> = starts.iter().map(|&s| columns(s)).collect();
    for (&start, part) in starts.iter().zip(&parts) {
        let width = part.len() / x.rows.max(1);
        for r in 0..x.rows {
            y[r * out + start..r * out + start + width]
                .copy_from_slice(&part[r * width..(r + 1) * width]);
        }
    }
    y
}

/// Output features per task: a few tasks per thread, none smaller than ~64 K multiply-adds.
fn chunk_size(out: usize, per_feature: usize) -> usize {
    #[cfg(feature = "native-cpu")]
    let threads = rayon::current_num_threads();
    #[cfg(not(feature = "native-cpu"))]
    let threads = 1;
    let by_threads = out.div_ceil(threads * 4);
    let by_work = (1usize << 16).div_ceil(per_feature.max(1));
    by_threads.max(by_work).clamp(1, out.max(1))
}

/// The semantics, written plainly: scalar integer sums, blocks added in order.
pub fn matmul_reference(weight: &QuantizedRows, x: &QuantizedRows) -> Vec<f32> {
    let mut y = vec![0.0f32; x.rows * weight.rows];
    for r in 0..x.rows {
        let (xc, xs) = x.row(r);
        for o in 0..weight.rows {
            let (wc, ws) = weight.row(o);
            let mut acc = 0.0f32;
            for b in 0..ws.len() {
                let mut sum = 0i32;
                for i in b * BLOCK..(b + 1) * BLOCK {
                    sum += i32::from(wc[i]) * i32::from(xc[i]);
                }
                acc += sum as f32 * (ws[b] * xs[b]);
            }
            y[r * weight.rows + o] = acc;
        }
    }
    y
}

/// The kernel name this machine uses (reported by the benchmark).
pub fn kernel_name() -> &'static str {
    kernel::name()
}

/// The portable kernel: per block an integer sum (a loop the compiler vectorizes where it can),
/// then the block terms in order.
#[inline(always)]
#[cfg_attr(
    all(target_arch = "wasm32", target_feature = "simd128"),
    allow(dead_code)
)]
fn dot_portable(wc: &[i8], ws: &[f32], xc: &[i8], xs: &[f32]) -> f32 {
    let mut acc = 0.0f32;
    for ((w, x), (&sw, &sx)) in wc
        .chunks_exact(BLOCK)
        .zip(xc.chunks_exact(BLOCK))
        .zip(ws.iter().zip(xs))
    {
        let sum: i32 = w
            .iter()
            .zip(x)
            .map(|(&a, &b)| i32::from(a) * i32::from(b))
            .sum();
        acc += sum as f32 * (sw * sx);
    }
    acc
}

/// Fills `local` `[rows, columns.len()]` with the products of `x`'s rows and the weight rows
/// `columns`, one dot product at a time through `dot`.
#[inline(always)]
fn fill(
    weight: &QuantizedRows,
    x: &QuantizedRows,
    columns: std::ops::Range<usize>,
    local: &mut [f32],
    dot: impl Fn(&[i8], &[f32], &[i8], &[f32]) -> f32,
) {
    let width = columns.len();
    for (j, o) in columns.enumerate() {
        let (wc, ws) = weight.row(o);
        for r in 0..x.rows {
            let (xc, xs) = x.row(r);
            local[r * width + j] = dot(wc, ws, xc, xs);
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod kernel {
    use super::{BLOCK, QuantizedRows, dot_portable, fill};
    use core::arch::x86_64::{__m128, __m128i, __m256i};
    use pulp::bytemuck::cast;
    use pulp::x86::V3;

    pub fn name() -> &'static str {
        if V3::is_available() {
            "avx2"
        } else {
            "portable"
        }
    }

    pub fn run(
        weight: &QuantizedRows,
        x: &QuantizedRows,
        columns: std::ops::Range<usize>,
        local: &mut [f32],
    ) {
        match V3::try_new() {
            Some(simd) => simd.vectorize(|| {
                fill(weight, x, columns, local, |a, b, c, d| {
                    dot(simd, a, b, c, d)
                })
            }),
            None => fill(weight, x, columns, local, dot_portable),
        }
    }

    /// 32 products of signed codes summed into eight i32 lanes: `maddubs` multiplies unsigned
    /// by signed bytes, so `|w|` times `x` carrying `w`'s sign (codes are never -128, so `|w|`
    /// fits); pairs of i16 (|·| ≤ 2·127² < 2¹⁵, no saturation) then add into i32.
    #[inline(always)]
    fn block(simd: V3, w: &[i8], x: &[i8]) -> __m256i {
        let w: [i8; BLOCK] = w.try_into().unwrap_or([0; BLOCK]);
        let x: [i8; BLOCK] = x.try_into().unwrap_or([0; BLOCK]);
        let (w, x): (__m256i, __m256i) = (cast(w), cast(x));
        let pairs = simd.avx2._mm256_maddubs_epi16(
            simd.avx2._mm256_abs_epi8(w),
            simd.avx2._mm256_sign_epi8(x, w),
        );
        simd.avx2
            ._mm256_madd_epi16(pairs, simd.avx._mm256_set1_epi16(1))
    }

    /// Four blocks' integer sums in one vector (integer adds: exact in any order).
    #[inline(always)]
    fn sums4(simd: V3, parts: [__m256i; 4]) -> __m128i {
        let h01 = simd.avx2._mm256_hadd_epi32(parts[0], parts[1]);
        let h23 = simd.avx2._mm256_hadd_epi32(parts[2], parts[3]);
        let h = simd.avx2._mm256_hadd_epi32(h01, h23);
        simd.sse2._mm_add_epi32(
            simd.avx2._mm256_extracti128_si256::<0>(h),
            simd.avx2._mm256_extracti128_si256::<1>(h),
        )
    }

    /// The four terms `(s_b as f32) * (w_scale * x_scale)`, each rounded as the reference
    /// rounds it.
    #[inline(always)]
    fn terms4(simd: V3, sums: __m128i, sw: [f32; 4], sx: [f32; 4]) -> [f32; 4] {
        let scales = simd
            .sse
            ._mm_mul_ps(cast::<[f32; 4], __m128>(sw), cast::<[f32; 4], __m128>(sx));
        cast(simd.sse._mm_mul_ps(simd.sse2._mm_cvtepi32_ps(sums), scales))
    }

    /// One output value: four blocks at a time, their integer sums reduced together, then the
    /// four terms added in order (as [`super::matmul_reference`] does); a last group of fewer
    /// than four blocks is padded with zero sums that are not added.
    #[inline(always)]
    fn dot(simd: V3, wc: &[i8], ws: &[f32], xc: &[i8], xs: &[f32]) -> f32 {
        let blocks = ws.len();
        let full = blocks / 4 * 4;
        let mut acc = 0.0f32;
        let at = |b: usize| {
            let i = b * BLOCK;
            block(simd, &wc[i..i + BLOCK], &xc[i..i + BLOCK])
        };
        let four = |v: &[f32], b: usize| -> [f32; 4] { v[b..b + 4].try_into().unwrap_or([0.0; 4]) };
        let mut b = 0;
        while b < full {
            let sums = sums4(simd, [at(b), at(b + 1), at(b + 2), at(b + 3)]);
            let terms = terms4(simd, sums, four(ws, b), four(xs, b));
            acc += terms[0];
            acc += terms[1];
            acc += terms[2];
            acc += terms[3];
            b += 4;
        }
        let n = blocks - full;
        if n > 0 {
            let zero = simd.avx._mm256_setzero_si256();
            let part = |k: usize| if k < n { at(full + k) } else { zero };
            let sums = sums4(simd, [part(0), part(1), part(2), part(3)]);
            let (mut sw, mut sx) = ([0.0f32; 4], [0.0f32; 4]);
            sw[..n].copy_from_slice(&ws[full..]);
            sx[..n].copy_from_slice(&xs[full..]);
            for t in &terms4(simd, sums, sw, sx)[..n] {
                acc += t;
            }
        }
        acc
    }
}

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod kernel {
    use super::{BLOCK, QuantizedRows, fill};
    use core::arch::wasm32::*;

    pub fn name() -> &'static str {
        "simd128"
    }

    pub fn run(
        weight: &QuantizedRows,
        x: &QuantizedRows,
        columns: std::ops::Range<usize>,
        local: &mut [f32],
    ) {
        fill(weight, x, columns, local, dot);
    }

    #[inline(always)]
    fn bytes16(v: &[i8]) -> v128 {
        i8x16(
            v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], v[9], v[10], v[11], v[12], v[13],
            v[14], v[15],
        )
    }

    /// 32 products summed into four i32 lanes: bytes widened to i16, then `i32x4.dot_i16x8`.
    #[inline(always)]
    fn block(w: &[i8], x: &[i8]) -> v128 {
        let mut acc = i32x4_splat(0);
        for half in [0, 16] {
            let (w, x) = (bytes16(&w[half..half + 16]), bytes16(&x[half..half + 16]));
            acc = i32x4_add(
                acc,
                i32x4_dot_i16x8(i16x8_extend_low_i8x16(w), i16x8_extend_low_i8x16(x)),
            );
            acc = i32x4_add(
                acc,
                i32x4_dot_i16x8(i16x8_extend_high_i8x16(w), i16x8_extend_high_i8x16(x)),
            );
        }
        acc
    }

    #[inline(always)]
    fn dot(wc: &[i8], ws: &[f32], xc: &[i8], xs: &[f32]) -> f32 {
        let mut acc = 0.0f32;
        for (b, (&sw, &sx)) in ws.iter().zip(xs).enumerate() {
            let i = b * BLOCK;
            let v = block(&wc[i..i + BLOCK], &xc[i..i + BLOCK]);
            let sum = i32x4_extract_lane::<0>(v)
                + i32x4_extract_lane::<1>(v)
                + i32x4_extract_lane::<2>(v)
                + i32x4_extract_lane::<3>(v);
            acc += sum as f32 * (sw * sx);
        }
        acc
    }
}

#[cfg(not(any(
    target_arch = "x86_64",
    all(target_arch = "wasm32", target_feature = "simd128")
)))]
mod kernel {
    use super::{QuantizedRows, dot_portable, fill};

    pub fn name() -> &'static str {
        "portable"
    }

    pub fn run(
        weight: &QuantizedRows,
        x: &QuantizedRows,
        columns: std::ops::Range<usize>,
        local: &mut [f32],
    ) {
        fill(weight, x, columns, local, dot_portable);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A seeded generator (SplitMix64) for test data.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        }

        /// Uniform in [-1, 1), times a per-call magnitude so blocks get different scales.
        fn values(&mut self, n: usize, magnitude: f32) -> Vec<f32> {
            (0..n)
                .map(|_| ((self.next() >> 40) as f32 / (1u64 << 23) as f32 - 1.0) * magnitude)
                .collect()
        }
    }

    #[test]
    fn blocks_quantize_as_written() {
        let mut codes = [0i8; 4];
        // max 2.54: scale 0.02, codes v / 0.02 rounded half away from zero.
        let scale = quantize_block(&[2.54, -1.27, 0.01, -0.03], &mut codes);
        assert_eq!(scale, 2.54f32 / 127.0);
        assert_eq!(codes, [127, -64, 1, -2]);
        // A zero block: the smallest normal scale, every code 0.
        let scale = quantize_block(&[0.0; 4], &mut codes);
        assert_eq!((scale, codes), (f32::MIN_POSITIVE, [0; 4]));
        // Non-finite values give codes, not a panic.
        quantize_block(&[f32::NAN, f32::INFINITY, 1.0, -1.0], &mut codes);
        // Exactly half a step rounds away from zero (Rust's f32::round, burn's rounding).
        let scale = quantize_block(&[127.0, 0.5, -0.5, -127.0], &mut codes);
        assert_eq!((scale, codes), (1.0, [127, 1, -1, -127]));
    }

    /// The fused quantize-and-dequantize of long activations gives, bit for bit, what
    /// quantizing to codes and dequantizing gives: random blocks at several magnitudes (large
    /// enough to run in parallel parts natively), exact halves of a step, zeros of both signs,
    /// a zero block, NaN and infinities.
    #[test]
    fn fake_quantize_equals_codes_then_values() {
        let mut rng = Rng(11);
        let mut values = Vec::new();
        for magnitude in [1e-3, 1.0, 7.5, 300.0] {
            values.extend(rng.values(40_000 * BLOCK / 4, magnitude));
        }
        values.extend([127.0, 0.5, -0.5, 1.5, -1.5, 2.5, -2.5, 0.0, -0.0, -0.25]);
        values.extend([0.499_999_97, -0.499_999_97, 126.5, -126.5]);
        values.resize(values.len().next_multiple_of(BLOCK), -0.0);
        values.extend([0.0; BLOCK]);
        let mut special = vec![0.25; BLOCK];
        special[3] = f32::NAN;
        values.extend(&special);
        special[3] = f32::INFINITY;
        values.extend(&special);
        special[3] = f32::NEG_INFINITY;
        values.extend(&special);
        let rows = values.len() / BLOCK;
        let expected = QuantizedRows::quantize(&values, rows, BLOCK)
            .expect("fits")
            .dequantize();
        let mut fused = values.clone();
        fake_quantize(&mut fused);
        for (i, (f, e)) in fused.iter().zip(&expected).enumerate() {
            assert_eq!(
                f.to_bits(),
                e.to_bits(),
                "value {i} ({}): {f} against {e}",
                values[i]
            );
        }
    }

    #[test]
    fn shapes_that_do_not_fit_are_refused() {
        assert!(QuantizedRows::quantize(&[0.0; 48], 1, 48).is_none());
        assert!(QuantizedRows::quantize(&[0.0; 64], 3, 32).is_none());
        assert!(QuantizedRows::quantize(&[], 1, 0).is_none());
        let w = QuantizedRows::quantize(&[0.5; 64], 2, 32).expect("fits");
        assert!(matmul(&w, &[0.0; 48], 1).is_none());
        assert_eq!(w.bytes(), 64 + 2 * 4);
    }

    #[test]
    fn dequantize_transposed_is_the_transpose_of_dequantize() {
        for (rows, input) in [(1, 32), (3, 64), (40, 96), (7, 160)] {
            let values: Vec<f32> = (0..rows * input)
                .map(|i| ((i * 37 % 101) as f32 - 50.0) * 0.013)
                .collect();
            let q = QuantizedRows::quantize(&values, rows, input).expect("quantizable");
            let (plain, transposed) = (q.dequantize(), q.dequantize_transposed());
            assert_eq!(transposed.len(), rows * input);
            for r in 0..rows {
                for i in 0..input {
                    assert_eq!(
                        transposed[i * rows + r].to_bits(),
                        plain[r * input + i].to_bits(),
                        "rows {rows}, input {input}: ({r}, {i})"
                    );
                }
            }
        }
    }

    #[test]
    fn dequantized_weights_stay_within_half_a_step() {
        let mut rng = Rng(7);
        let values = rng.values(4 * 96, 3.0);
        let q = QuantizedRows::quantize(&values, 4, 96).expect("fits");
        for ((v, d), s) in values
            .iter()
            .zip(q.dequantize())
            .zip(q.scales.iter().flat_map(|&s| [s; BLOCK]))
        {
            assert!((v - d).abs() <= s * 0.5 * 1.0001, "{v} {d} {s}");
        }
    }

    /// The kernel this machine picks, on random shapes (block counts that are not multiples of
    /// four, one row and several, outputs not a multiple of the chunk), equals the scalar
    /// reference exactly, and both stay close to the float product of the dequantized values.
    #[test]
    fn kernel_equals_the_reference_exactly() {
        let mut rng = Rng(42);
        for (rows, out, blocks) in [
            (1, 1, 1),
            (1, 7, 2),
            (1, 33, 3),
            (2, 5, 5),
            (3, 17, 18),
            (1, 130, 18),
            (5, 64, 9),
            (1, 300, 48),
            (16, 40, 24),
        ] {
            let input = blocks * BLOCK;
            // Per-block magnitudes from 1e-3 to 10 and a zero block when there are several.
            let mut w = Vec::new();
            for _ in 0..out * blocks {
                let magnitude = 10f32.powf((rng.next() % 5) as f32 - 3.0);
                w.extend(rng.values(BLOCK, magnitude));
            }
            let mut x = rng.values(rows * input, 2.0);
            if blocks > 1 {
                x[..BLOCK].fill(0.0);
            }
            let wq = QuantizedRows::quantize(&w, out, input).expect("fits");
            let xq = QuantizedRows::quantize(&x, rows, input).expect("fits");
            let expected = matmul_reference(&wq, &xq);
            let ours = matmul(&wq, &x, rows).expect("fits");
            assert_eq!(
                ours.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                expected.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                "{} kernel, rows {rows} out {out} blocks {blocks}",
                kernel_name()
            );
            // The float product of the dequantized values (what a fake quantization computes).
            let (wd, xd) = (wq.dequantize(), xq.dequantize());
            for r in 0..rows {
                for o in 0..out {
                    let exact: f64 = (0..input)
                        .map(|i| f64::from(wd[o * input + i]) * f64::from(xd[r * input + i]))
                        .sum();
                    let scale: f64 = (0..input)
                        .map(|i| {
                            (f64::from(wd[o * input + i]) * f64::from(xd[r * input + i])).abs()
                        })
                        .sum();
                    let got = f64::from(ours[r * out + o]);
                    assert!(
                        (got - exact).abs() <= 1e-6 * scale + 1e-30,
                        "rows {rows} out {out} blocks {blocks}: {got} vs {exact}"
                    );
                }
            }
        }
    }

    #[test]
    fn the_portable_kernel_equals_the_reference_too() {
        let mut rng = Rng(3);
        let (rows, out, blocks) = (3, 11, 7);
        let wq =
            QuantizedRows::quantize(&rng.values(out * blocks * BLOCK, 1.0), out, blocks * BLOCK)
                .expect("fits");
        let xq = QuantizedRows::quantize(
            &rng.values(rows * blocks * BLOCK, 1.0),
            rows,
            blocks * BLOCK,
        )
        .expect("fits");
        let mut local = vec![0.0f32; rows * out];
        fill(&wq, &xq, 0..out, &mut local, dot_portable);
        assert_eq!(local, matmul_reference(&wq, &xq));
    }
}
