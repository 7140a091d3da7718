//! Element-wise kernels for burn's CPU backend (flex): exact GELU (RoBERTa), tanh GELU (SigLIP)
//! and softmax over the last dimension (attention).
//!
//! flex computes these one value at a time through libm (`erff`, `expf`, `expm1f` for `tanhf`)
//! on one thread. Profiled natively (2026-11-30, 2 threads): 7% of a B.Score run in `erff`, and
//! 23% of SmolVLM's time to first token in `expf` (softmax over SigLIP's 1,024 × 1,024 scores
//! per head) and `expm1f`/`tanhf` (GELU), while the matrix products around them use every core.
//! Here the same functions are plain float arithmetic that the compiler vectorises (AVX2 natively,
//! picked at run time through `pulp`; wasm SIMD in the browser), split over rayon's pool natively
//! with the `native-cpu` feature.
//!
//! Accuracy (tested below against f64): `exp` within 2 units in the last place on the range
//! used; `erf` is the Abramowitz–Stegun 7.1.26 approximation that PyTorch's own vectorised CPU
//! `erf` (AVX2 `Vectorized<float>::erf`, with fused multiply-adds; so also its exact GELU, the
//! one `bert_score` runs) uses, absolute error below 7e-7 (the approximation's 1.5e-7 plus float
//! rounding, measured 5.8e-7); `tanh` absolute error below 3e-7. Inputs below about -87.3 give
//! `exp` exactly 0, as a masked score (`finfo.min` or -inf) must.
//!
//! Other backends (wgpu, WebGPU) keep burn's own operations.

use burn::prelude::*;
use burn::tensor::DType;

use burn_dispatch::DispatchDevice;

/// ln 2 in two parts (Cody–Waite): `n · LN2_HI` is exact for the `n` that occur.
const LN2_HI: f32 = 0.693_359_4;
const LN2_LO: f32 = -2.121_944_4e-4;
/// 1.5 · 2²³: adding and subtracting it rounds a float below 2²² to the nearest integer.
const ROUND: f32 = 12_582_912.0;
/// Below this `e^y` is under the smallest normal float: 0.
const EXP_LOW: f32 = -87.336_54;
/// Above this `e^y` would overflow 2¹²⁷ in the scaling below (e^88 < f32::MAX).
const EXP_HIGH: f32 = 88.0;

/// `e^y` for `y` ≤ 88 (larger inputs give e^88), 0 below [`EXP_LOW`] (and for NaN).
#[inline(always)]
pub fn exp(y: f32) -> f32 {
    let underflow = y.is_nan() || y < EXP_LOW;
    let y = y.clamp(EXP_LOW, EXP_HIGH);
    let shifted = y * std::f32::consts::LOG2_E + ROUND;
    let n = shifted - ROUND;
    let r = y - n * LN2_HI - n * LN2_LO;
    // Cephes' expf polynomial on |r| ≤ ln2/2.
    let mut p = 1.987_569_2e-4_f32;
    p = p * r + 1.398_199_9e-3;
    p = p * r + 8.333_452e-3;
    p = p * r + 4.166_579_6e-2;
    p = p * r + 0.166_666_65;
    p = p * r + 0.5;
    let e = p * r * r + r + 1.0;
    // 2ⁿ from the bits: `shifted` is ROUND + n with n in its low mantissa bits, so the integer
    // difference of the two bit patterns is n (|n| ≤ 127 here). Integer arithmetic on the bits
    // vectorises; `n as i32` would not (Rust's saturating float-to-int cast is scalar code).
    let n_bits = shifted.to_bits().wrapping_sub(ROUND.to_bits());
    let scale = f32::from_bits(n_bits.wrapping_add(127) << 23);
    if underflow { 0.0 } else { e * scale }
}

/// `erf(x)`: Abramowitz and Stegun 7.1.26, as PyTorch's vectorised CPU kernels compute it.
#[inline(always)]
pub fn erf(x: f32) -> f32 {
    let a = x.abs();
    let t = 1.0 / (0.327_591_1 * a + 1.0);
    let mut r = 1.061_405_4_f32;
    r = r * t - 1.453_152_1;
    r = r * t + 1.421_413_8;
    r = r * t - 0.284_496_74;
    r = r * t + 0.254_829_6;
    let y = 1.0 - r * t * exp(-(a * a));
    y.copysign(x)
}

/// `tanh(z)` as `1 - 2 / (e^{2|z|} + 1)` with the sign of `z`.
#[inline(always)]
pub fn tanh(z: f32) -> f32 {
    let e = exp(2.0 * z.abs());
    (1.0 - 2.0 / (e + 1.0)).copysign(z)
}

/// The exact GELU, `x/2 · (1 + erf(x/√2))` (PyTorch's `gelu`, RoBERTa's `hidden_act: gelu`).
#[inline(always)]
fn gelu_erf_value(x: f32) -> f32 {
    x * 0.5 * (1.0 + erf(x * std::f32::consts::FRAC_1_SQRT_2))
}

/// `x/2 · (1 + tanh(√(2/π) · (x + 0.044715 x³)))` (`gelu_pytorch_tanh`, SigLIP's).
#[inline(always)]
fn gelu_tanh_value(x: f32) -> f32 {
    const SQRT_2_OVER_PI: f32 = 0.797_884_6;
    let inner = SQRT_2_OVER_PI * (x + 0.044_715 * (x * x * x));
    0.5 * x * (1.0 + tanh(inner))
}

#[inline(always)]
fn gelu_erf_slice(values: &mut [f32]) {
    for v in values {
        *v = gelu_erf_value(*v);
    }
}

#[inline(always)]
fn gelu_tanh_slice(values: &mut [f32]) {
    for v in values {
        *v = gelu_tanh_value(*v);
    }
}

/// Softmax of each row of `values` (rows of `width`), after multiplying by `scale`. Each pass is
/// a map or a reduction over eight independent lanes, so that the compiler vectorises it (a
/// single running sum or maximum would have to stay in order).
#[inline(always)]
fn softmax_rows(values: &mut [f32], width: usize, scale: f32) {
    const LANES: usize = 8;
    for row in values.chunks_exact_mut(width) {
        let mut max = [f32::NEG_INFINITY; LANES];
        let mut chunks = row.chunks_exact_mut(LANES);
        for chunk in &mut chunks {
            for (m, v) in max.iter_mut().zip(chunk.iter_mut()) {
                *v *= scale;
                *m = m.max(*v);
            }
        }
        for v in chunks.into_remainder() {
            *v *= scale;
            max[0] = max[0].max(*v);
        }
        let max = max.iter().fold(f32::NEG_INFINITY, |a, &b| a.max(b));
        for v in row.iter_mut() {
            *v = exp(*v - max);
        }
        let mut sum = [0.0f32; LANES];
        let mut chunks = row.chunks_exact(LANES);
        for chunk in &mut chunks {
            for (s, v) in sum.iter_mut().zip(chunk) {
                *s += *v;
            }
        }
        let sum = sum.iter().sum::<f32>() + chunks.remainder().iter().sum::<f32>();
        let inverse = 1.0 / sum;
        for v in row.iter_mut() {
            *v *= inverse;
        }
    }
}

/// Runs `kernel` with the widest SIMD the CPU has (x86-64: AVX2 and FMA when present). Kernels
/// are closures marked `#[inline(always)]`, so that their loops are compiled inside the SIMD
/// context: a function item passed as `impl Fn` is called through its `Fn::call` shim, which
/// the compiler may leave outside it (then `trunc` is a libm call per value, and nothing is
/// vectorised).
#[inline(always)]
fn vectorized(kernel: impl FnOnce()) {
    #[cfg(target_arch = "x86_64")]
    if let Some(simd) = pulp::x86::V3::try_new() {
        return simd.vectorize(kernel);
    }
    kernel()
}

/// Applies `kernel` to `values` in parts of whole rows of `width` (natively with `native-cpu`:
/// the parts in parallel on rayon's pool).
fn for_parts(values: &mut [f32], width: usize, kernel: impl Fn(&mut [f32]) + Sync) {
    #[cfg(feature = "native-cpu")]
    {
        use rayon::prelude::*;
        const PART_VALUES: usize = 1 << 15;
        if values.len() > PART_VALUES && rayon::current_num_threads() > 1 {
            let rows = (PART_VALUES / width.max(1)).max(1);
            values.par_chunks_mut(rows * width.max(1)).for_each(|part| {
                vectorized(
                    #[inline(always)]
                    || kernel(part),
                )
            });
            return;
        }
    }
    let _ = width;
    vectorized(
        #[inline(always)]
        || kernel(values),
    );
}

fn is_cpu_f32<const D: usize>(x: &Tensor<D>) -> bool {
    matches!(x.device().as_dispatch(), DispatchDevice::Flex(_)) && x.dtype() == DType::F32
}

/// `x` read to the host, changed in place by `kernel` (rows of the last dimension), and put
/// back: on flex both are copies in memory, a small part of the kernels' time. `fallback` (the
/// same function as burn operations) is not reached: `is_cpu_f32` checked the element type.
fn on_host<const D: usize>(
    x: Tensor<D>,
    kernel: impl Fn(&mut [f32]) + Sync,
    fallback: impl FnOnce(Tensor<D>) -> Tensor<D>,
) -> Tensor<D> {
    let device = x.device();
    let width = x.dims()[D - 1];
    let mut data = x.into_data();
    match data.as_mut_slice::<f32>() {
        Ok(values) => {
            for_parts(values, width, kernel);
            Tensor::from_data(data, &device)
        }
        Err(_) => fallback(Tensor::from_data(data, &device)),
    }
}

/// The exact GELU (`burn::tensor::activation::gelu`).
pub fn gelu_erf<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    if is_cpu_f32(&x) {
        on_host(
            x,
            // Not the function item itself: see `vectorized`.
            #[allow(clippy::redundant_closure)]
            #[inline(always)]
            |part| gelu_erf_slice(part),
            burn::tensor::activation::gelu,
        )
    } else {
        burn::tensor::activation::gelu(x)
    }
}

/// The tanh GELU (`gelu_pytorch_tanh`).
pub fn gelu_tanh<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    if is_cpu_f32(&x) {
        on_host(
            x,
            // Not the function item itself: see `vectorized`.
            #[allow(clippy::redundant_closure)]
            #[inline(always)]
            |part| gelu_tanh_slice(part),
            gelu_tanh_ops,
        )
    } else {
        gelu_tanh_ops(x)
    }
}

/// The tanh GELU as burn operations, x³ as two products: burn's `gelu_approximate` takes
/// `powf_scalar(3.0)`, a scalar `powf` per value on flex.
fn gelu_tanh_ops<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    let sqrt_2_over_pi = (2.0 / std::f64::consts::PI).sqrt();
    let cube = x.clone() * x.clone() * x.clone();
    let tanh = ((x.clone() + cube * 0.044715) * sqrt_2_over_pi).tanh();
    x * (tanh + 1.0) * 0.5
}

/// `softmax(x · scale)` over the last dimension.
pub fn scaled_softmax<const D: usize>(x: Tensor<D>, scale: f64) -> Tensor<D> {
    let ops = move |x: Tensor<D>| {
        let x = if scale == 1.0 { x } else { x.mul_scalar(scale) };
        burn::tensor::activation::softmax(x, D - 1)
    };
    if is_cpu_f32(&x) {
        let width = x.dims()[D - 1];
        let factor = scale as f32;
        on_host(
            x,
            #[inline(always)]
            move |part| softmax_rows(part, width, factor),
            ops,
        )
    } else {
        ops(x)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// erf in f64: its Taylor series up to |x| = 3 (cancellation leaves about 1e-12), beyond
    /// that 1 - erfc from erfc's asymptotic series (its first seven terms: error far below
    /// 1e-12 there).
    fn erf64(x: f64) -> f64 {
        let a = x.abs();
        if a > 3.0 {
            let mut term = 1.0;
            let mut sum = 1.0;
            for n in 1..7 {
                term *= -((2 * n - 1) as f64) / (2.0 * a * a);
                sum += term;
            }
            let erfc = (-a * a).exp() / (a * std::f64::consts::PI.sqrt()) * sum;
            return (1.0 - erfc).copysign(x);
        }
        let mut term = x;
        let mut sum = x;
        for n in 1..200 {
            term *= -x * x / n as f64;
            sum += term / (2 * n + 1) as f64;
        }
        sum * 2.0 / std::f64::consts::PI.sqrt()
    }

    fn grid(low: f32, high: f32, steps: usize) -> impl Iterator<Item = f32> {
        (0..=steps).map(move |i| low + (high - low) * i as f32 / steps as f32)
    }

    #[test]
    fn exp_within_two_ulp() {
        for y in grid(-87.3, 88.0, 200_001) {
            let want = (y as f64).exp();
            let got = exp(y) as f64;
            let ulp = (want as f32).abs() * f32::EPSILON;
            assert!(
                (got - want).abs() <= 2.0 * ulp as f64,
                "exp({y}) = {got}, want {want}"
            );
        }
        assert_eq!(exp(-88.0), 0.0);
        assert_eq!(exp(f32::MIN), 0.0);
        assert_eq!(exp(f32::NEG_INFINITY), 0.0);
        assert_eq!(exp(0.0), 1.0);
    }

    #[test]
    fn erf_and_tanh_absolute_error() {
        let (mut worst_erf, mut worst_tanh) = (0.0f64, 0.0f64);
        for x in grid(-6.0, 6.0, 240_001) {
            worst_erf = worst_erf.max((erf(x) as f64 - erf64(x as f64)).abs());
            worst_tanh = worst_tanh.max((tanh(x) as f64 - (x as f64).tanh()).abs());
        }
        assert!(worst_erf < 7e-7, "erf: largest absolute error {worst_erf}");
        assert!(
            worst_tanh < 3e-7,
            "tanh: largest absolute error {worst_tanh}"
        );
        assert!(erf(0.0).abs() < 1e-7);
        assert_eq!(tanh(100.0), 1.0);
        assert_eq!(tanh(-100.0), -1.0);
    }

    #[test]
    fn gelu_both_forms_against_f64() {
        for x in grid(-12.0, 12.0, 48_001) {
            let x64 = x as f64;
            let want = x64 * 0.5 * (1.0 + erf64(x64 / 2f64.sqrt()));
            let got = gelu_erf_value(x) as f64;
            assert!((got - want).abs() <= 4e-7 * x64.abs().max(1.0), "gelu({x})");
            let inner = (2.0 / std::f64::consts::PI).sqrt() * (x64 + 0.044715 * x64.powi(3));
            let want = 0.5 * x64 * (1.0 + inner.tanh());
            let got = gelu_tanh_value(x) as f64;
            assert!(
                (got - want).abs() <= 3e-7 * x64.abs().max(1.0),
                "gelu_tanh({x})"
            );
        }
    }

    #[test]
    fn tensor_kernels_match_burn_on_the_cpu() {
        let device = Device::flex();
        let mut state = 7u64;
        let values: Vec<f32> = (0..3 * 5 * 333)
            .map(|_| {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((state >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * 12.0
            })
            .collect();
        let x = Tensor::<3>::from_data(TensorData::new(values, [3, 5, 333]), &device);
        let close = |a: Tensor<3>, b: Tensor<3>, tolerance: f32| {
            let a = a.into_data().try_into_vec::<f32>().unwrap_or_default();
            let b = b.into_data().try_into_vec::<f32>().unwrap_or_default();
            assert_eq!(a.len(), 3 * 5 * 333);
            let worst = a
                .iter()
                .zip(&b)
                .map(|(x, y)| (x - y).abs())
                .fold(0.0, f32::max);
            assert!(worst <= tolerance, "largest difference {worst}");
        };
        close(
            gelu_erf(x.clone()),
            burn::tensor::activation::gelu(x.clone()),
            2e-6,
        );
        close(
            gelu_tanh(x.clone()),
            burn::tensor::activation::gelu_approximate(x.clone()),
            4e-6,
        );
        close(
            scaled_softmax(x.clone(), 0.125),
            burn::tensor::activation::softmax(x.clone().mul_scalar(0.125), 2),
            1e-7,
        );
        // A masked score gives exactly 0, and each row sums to 1.
        let masked = x
            .clone()
            .slice([0..1, 0..1, 0..4])
            .add_scalar(f32::MIN as f64);
        let row = Tensor::cat(vec![masked, x.slice([0..1, 0..1, 4..333])], 2);
        let p = scaled_softmax(row, 1.0)
            .into_data()
            .try_into_vec::<f32>()
            .unwrap_or_default();
        assert_eq!(&p[..4], &[0.0; 4]);
        assert!((p.iter().sum::<f32>() - 1.0).abs() < 1e-5);
    }
}
