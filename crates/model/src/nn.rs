//! The building blocks: linear layers (optionally quantized, optionally with a LoRA adapter),
//! layer norm and RMS norm. Tensors are `[tokens, features]`: the model runs one sequence.

use std::sync::Arc;

use burn::prelude::*;
use burn::tensor::DType;
use burn::tensor::quantization::{QuantScheme, QuantStore, QuantValue, ScaleDtype};
use burn_dispatch::DispatchDevice;

use crate::q8::QuantizedRows;
use crate::weights::HostTensor;

/// How linear weights are stored after loading.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Quantization {
    /// f32, as loaded.
    #[default]
    None,
    /// "q8_0": GGML's Q8_0 layout, int8 weights in blocks of 32 along the input dimension with
    /// one f32 scale a block, and the activations quantized the same way at every product
    /// ([`crate::q8`] says exactly how). On the CPU backend products of up to
    /// [`Q8_INTEGER_ROWS`] rows (decoding) are integer dot products on the codes
    /// ([`crate::q8`]'s kernels) and longer ones f32 products of the dequantized codes; on other
    /// backends burn holds the codes and the same arithmetic runs as float tensor operations
    /// (equal up to float rounding).
    /// Until 2026-11-30 "q8" meant blocks of 32 along the output dimension with f32
    /// activations; runs record "q8_0" now so the two are not confused.
    Q8,
    /// 4-bit symmetric integers, one f32 scale per block of 32 output features (burn's scheme;
    /// f32 activations).
    Q4,
}

impl Quantization {
    /// "q8" still selects q8 (the command line's old spelling); what is recorded is
    /// [`Quantization::name`].
    pub fn parse(text: &str) -> Option<Quantization> {
        match text {
            "none" | "f32" => Some(Quantization::None),
            "q8_0" | "q8" => Some(Quantization::Q8),
            "q4" => Some(Quantization::Q4),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Quantization::None => "none",
            Quantization::Q8 => "q8_0",
            Quantization::Q4 => "q4",
        }
    }

    /// Whether a weight `[input, out]` is quantized: q8's blocks run along the input dimension,
    /// q4's along the output dimension (burn packs q4 values into u32 words along it and
    /// cannot pack a ragged end); a weight whose blocked size 32 does not divide stays f32.
    fn applies(self, input: usize, out: usize) -> bool {
        match self {
            Quantization::None => false,
            Quantization::Q8 => input.is_multiple_of(BLOCK),
            Quantization::Q4 => out.is_multiple_of(BLOCK),
        }
    }

    /// burn's scheme for the tensor it quantizes: blocks of 32 along the last dimension (q4:
    /// the output features of `[in, out]`; q8 off the CPU: the input features of `[out, in]`).
    fn scheme(self) -> Option<QuantScheme> {
        let value = match self {
            Quantization::None => return None,
            Quantization::Q8 => QuantValue::Q8S,
            Quantization::Q4 => QuantValue::Q4S,
        };
        Some(
            QuantScheme::default()
                .with_value(value)
                .per_block([BLOCK as u8], ScaleDtype::F32),
        )
    }

    /// Bytes one weight of `[input, out]` takes when a backend holds its quantized values as
    /// `storage` says (values plus f32 block scales). A formula: [`stored_bytes`] measures.
    pub fn weight_bytes(self, input: usize, out: usize, storage: QuantStorage) -> usize {
        let n = input * out;
        if !self.applies(input, out) {
            return n * 4;
        }
        let scales = n / BLOCK * 4;
        match (self, storage) {
            (Quantization::None, _) => n * 4,
            (Quantization::Q8, _) | (Quantization::Q4, QuantStorage::BytePerValue) => n + scales,
            (Quantization::Q4, QuantStorage::Packed) => n.div_ceil(2) + scales,
        }
    }
}

/// How a backend holds quantized values: burn's wgpu backend packs them into u32 words (two
/// 4-bit values a byte), its CPU backend (flex) unpacks every value, 4-bit ones included, into
/// an i8. So a q4 model is half the size of a q8 one on WebGPU and the same size on the CPU.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QuantStorage {
    Packed,
    BytePerValue,
}

impl QuantStorage {
    /// What `device` does, asked of burn: the storage its quantized tensors report after
    /// quantizing a one-block probe (metadata only: nothing is read back).
    pub fn of(device: &Device) -> QuantStorage {
        let probe = Tensor::<2>::ones([1, BLOCK], device).quantize_dynamic(
            &QuantScheme::default()
                .with_value(QuantValue::Q4S)
                .per_block([BLOCK as u8], ScaleDtype::F32),
        );
        match probe.dtype() {
            DType::QFloat(scheme) if scheme.store == QuantStore::Native => {
                QuantStorage::BytePerValue
            }
            _ => QuantStorage::Packed,
        }
    }
}

const BLOCK: usize = 32;

/// Bytes `tensor`'s data takes as the backend holds it, read from the backend's primitive:
/// the length of flex's buffer (for a quantized tensor, its i8 values plus its f32 block
/// scales; our schemes have no second-level scale), or the size of the wgpu buffer (a
/// quantized tensor's values and scales share one). `None` on a backend this crate does not
/// read; callers then show the nominal size, labelled so.
pub fn stored_bytes<const D: usize>(tensor: &Tensor<D>) -> Option<usize> {
    use burn_dispatch::{BackendTensor, DispatchTensorKind};
    // A clone shares the data (a reference count on flex, a handle on wgpu): nothing is copied.
    // With every backend this crate enables matched, the last arm is unreachable; it is there
    // for a backend another crate in the build switches on.
    #[allow(unreachable_patterns)]
    match tensor.clone().into_dispatch().kind {
        DispatchTensorKind::Flex(BackendTensor::Float(t)) => Some(t.bytes().len()),
        DispatchTensorKind::Flex(BackendTensor::Quantized(q)) => {
            Some(q.tensor().bytes().len() + std::mem::size_of_val(q.scales()))
        }
        // With fusion the tensor is a handle into the fusion stream: its buffer is not known
        // without resolving the stream, which blocks; the size is then not measured.
        #[cfg(all(feature = "wgpu", not(feature = "wgpu-fusion")))]
        DispatchTensorKind::Cube(BackendTensor::Float(t) | BackendTensor::Quantized(t)) => {
            usize::try_from(t.handle.size()).ok()
        }
        _ => None,
    }
}

/// The sum of measured sizes; `None` if any could not be measured.
pub fn total(sizes: impl IntoIterator<Item = Option<usize>>) -> Option<usize> {
    sizes.into_iter().sum()
}

/// A host tensor on the device.
pub fn upload<const D: usize>(host: HostTensor, device: &Device) -> Tensor<D> {
    Tensor::from_data(TensorData::new(host.values, host.shape), device)
}

/// A LoRA adapter on one linear layer: `y += (x · A) · B · scaling`, A `[in, r]`, B `[r, out]`.
#[derive(Clone, Debug)]
pub struct Lora {
    a: Tensor<2>,
    b: Tensor<2>,
    scaling: f32,
}

impl Lora {
    /// From PEFT's `lora_A.weight` `[r, in]` and `lora_B.weight` `[out, r]`.
    pub fn new(lora_a: HostTensor, lora_b: HostTensor, scaling: f32, device: &Device) -> Lora {
        Lora {
            a: upload(lora_a.transposed(), device),
            b: upload(lora_b.transposed(), device),
            scaling,
        }
    }
}

/// How a linear layer holds its weight.
#[derive(Clone, Debug)]
enum Weight {
    /// `[in, out]`: f32, or q4 (burn's blocks along the output dimension).
    Tensor(Tensor<2>),
    /// q8 on the CPU backend: Q8_0 codes `[out, in]` on the host, read by [`crate::q8`].
    Q8Host(Arc<QuantizedRows>),
    /// q8 on another backend: burn's Q8S codes of `[out, in]`, blocks along the last dimension
    /// (the same codes and scales as [`Weight::Q8Host`]).
    Q8Tensor(Tensor<2>),
}

/// Whether `device` is burn's CPU backend (flex), where q8 products run on [`crate::q8`].
pub(crate) fn is_cpu(device: &Device) -> bool {
    matches!(device.as_dispatch(), DispatchDevice::Flex(_))
}

/// q8's activation quantization as tensor operations (for backends other than the CPU):
/// per row, blocks of 32 along the features, `scale = max|v| / 127` (at least the smallest
/// normal float), codes rounded and clamped to ±127, and back to floats as `code * scale`.
fn fake_quantize_activations(x: Tensor<2>) -> Tensor<2> {
    let [rows, input] = x.dims();
    let blocks = x.reshape([rows, input / BLOCK, BLOCK]);
    let scale = blocks
        .clone()
        .abs()
        .max_dim(2)
        .div_scalar(127.0)
        .clamp_min(f32::MIN_POSITIVE);
    blocks
        .mul(scale.clone().recip())
        .round()
        .clamp(-127.0, 127.0)
        .mul(scale)
        .reshape([rows, input])
}

/// A boolean read and set through a shared reference, from any thread (a `Cell` would make
/// every model holding it `!Sync`, and the B.Score encoder runs batches on several threads).
#[derive(Debug, Default)]
pub struct Switch(std::sync::atomic::AtomicBool);

impl Switch {
    pub fn new(on: bool) -> Switch {
        Switch(std::sync::atomic::AtomicBool::new(on))
    }

    pub fn get(&self) -> bool {
        self.0.load(std::sync::atomic::Ordering::Relaxed)
    }

    pub fn set(&self, on: bool) {
        self.0.store(on, std::sync::atomic::Ordering::Relaxed);
    }
}

impl Clone for Switch {
    fn clone(&self) -> Switch {
        Switch::new(self.get())
    }
}

/// `y = x · W (+ bias) (+ LoRA)`, with W stored `[in, out]` (q8: `[out, in]`, see [`Weight`]).
#[derive(Clone, Debug)]
pub struct Linear {
    weight: Weight,
    bias: Option<Tensor<1>>,
    lora: Option<Lora>,
    /// Whether the (unmerged) adapter is applied; switchable at run time through a shared
    /// reference (a loaded model is shared by the requests of a worker).
    pub lora_enabled: Switch,
    input: usize,
    out: usize,
    quantization: Quantization,
}

impl Linear {
    /// From a Hugging Face weight `[out, in]` and optional bias `[out]`.
    pub fn new(weight: HostTensor, bias: Option<HostTensor>, device: &Device) -> Linear {
        let (out, input) = (weight.shape[0], weight.shape[1]);
        Linear {
            weight: Weight::Tensor(upload(weight.transposed(), device)),
            bias: bias.map(|b| upload(b, device)),
            lora: None,
            lora_enabled: Switch::new(false),
            input,
            out,
            quantization: Quantization::None,
        }
    }

    /// Attaches an adapter, applied unmerged (and enabled).
    pub fn attach(&mut self, lora: Lora) {
        self.lora = Some(lora);
        self.lora_enabled.set(true);
    }

    /// Folds the adapter into the weight (`W += A · B · scaling`), as PEFT's `merge_and_unload`.
    /// Must come before quantization (a quantized weight keeps its adapter unmerged).
    pub fn merge(&mut self) {
        let Weight::Tensor(weight) = &self.weight else {
            return;
        };
        if let Some(lora) = self.lora.take() {
            let delta = lora.a.matmul(lora.b).mul_scalar(lora.scaling);
            self.weight = Weight::Tensor(weight.clone().add(delta));
        }
        self.lora_enabled.set(false);
    }

    /// Stores the weight quantized (LoRA factors and biases stay f32): q8 as Q8_0 codes (on the
    /// host for the CPU backend's integer kernels, else as burn's Q8S tensor of `[out, in]`),
    /// q4 with burn's block quantization of `[in, out]`.
    pub fn quantize(&mut self, quantization: Quantization) {
        let Weight::Tensor(weight) = &self.weight else {
            return;
        };
        let Some(scheme) = quantization.scheme() else {
            return;
        };
        if !quantization.applies(self.input, self.out) {
            return;
        }
        self.weight = match quantization {
            Quantization::Q8 if is_cpu(&weight.device()) => {
                // flex reads synchronously, natively and in wasm.
                let Ok(values) = weight.clone().into_data().try_to_vec::<f32>() else {
                    return;
                };
                let transposed = HostTensor {
                    shape: vec![self.input, self.out],
                    values,
                }
                .transposed();
                let Some(codes) = QuantizedRows::quantize(&transposed.values, self.out, self.input)
                else {
                    return;
                };
                Weight::Q8Host(Arc::new(codes))
            }
            Quantization::Q8 => {
                Weight::Q8Tensor(weight.clone().transpose().quantize_dynamic(&scheme))
            }
            _ => Weight::Tensor(weight.clone().quantize_dynamic(&scheme)),
        };
        self.quantization = quantization;
    }

    pub fn has_adapter(&self) -> bool {
        self.lora.is_some()
    }

    /// Parameters of the (unmerged) adapter's two factors; 0 without one.
    pub fn adapter_parameters(&self) -> usize {
        self.lora.as_ref().map_or(0, |l| {
            l.a.shape().num_elements() + l.b.shape().num_elements()
        })
    }

    /// Measured bytes of the weight as stored, its bias and adapter factors ([`stored_bytes`]).
    pub fn stored_bytes(&self) -> Option<usize> {
        let lora = self
            .lora
            .iter()
            .flat_map(|l| [stored_bytes(&l.a), stored_bytes(&l.b)]);
        total(
            [match &self.weight {
                Weight::Tensor(w) | Weight::Q8Tensor(w) => stored_bytes(w),
                Weight::Q8Host(codes) => Some(codes.bytes()),
            }]
            .into_iter()
            .chain(self.bias.iter().map(stored_bytes))
            .chain(lora),
        )
    }

    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        let [rows, _] = x.dims();
        // The enabled adapter with its own handle on `x`. A q8 product on the CPU gets `x` itself
        // unless the adapter needs it too: it then reads (and quantizes) the caller's buffer in
        // place instead of a copy of it. The other products get a handle, as before: moving `x`
        // into them changed burn's fused graph on wgpu (`wgpu-fusion`), where q4's one-row
        // product then gave wrong logits (2.7 off).
        let adapter = self
            .lora
            .as_ref()
            .filter(|_| self.lora_enabled.get())
            .map(|lora| (lora, x.clone()));
        let mut y = match &self.weight {
            // burn 0.22's 4-bit matmul on wgpu panics with more than one row (burn #4492): such
            // products go through an explicitly dequantized weight (what the CPU backend does
            // for every quantized matmul anyway). Decoding (one row) keeps the in-kernel path.
            Weight::Tensor(w) if self.quantization == Quantization::Q4 && rows > 1 => {
                x.clone().matmul(w.clone().dequantize())
            }
            Weight::Tensor(w) => x.clone().matmul(w.clone()),
            Weight::Q8Host(codes) => q8_host_product(codes, x),
            Weight::Q8Tensor(w) => {
                fake_quantize_activations(x.clone()).matmul(w.clone().dequantize().transpose())
            }
        };
        if let Some(bias) = &self.bias {
            y = y.add(bias.clone().unsqueeze_dim(0));
        }
        if let Some((lora, x)) = adapter {
            let delta = x.matmul(lora.a.clone()).matmul(lora.b.clone());
            y = y.add(delta.mul_scalar(lora.scaling));
        }
        y
    }
}

/// Products with at most this many rows (decoding, short prompts) run on [`crate::q8`]'s
/// integer kernels; longer ones (the vision encoder's 1,024 patches, a prompt's prefill) on
/// burn's f32 matmul of the dequantized codes, which is faster there: the same quantized
/// weights and activations, the same result up to float summation order.
pub const Q8_INTEGER_ROWS: usize = 16;

/// `x · Wᵀ` for q8 weights on the CPU: `x` is read from the CPU backend (a synchronous read,
/// immediate on flex) and quantized in blocks; at most [`Q8_INTEGER_ROWS`] rows are multiplied
/// on the codes, longer ones as f32: the activations' quantized values
/// ([`crate::q8::fake_quantize`], in place) times the dequantized weight.
fn q8_host_product(codes: &QuantizedRows, x: Tensor<2>) -> Tensor<2> {
    let device = x.device();
    let [rows, input] = x.dims();
    // Wᵀ `[input, out]`, dequantized in that layout (a transposed view is slower to multiply).
    let weight = || {
        Tensor::<2>::from_data(
            TensorData::new(codes.dequantize_transposed(), [codes.input, codes.rows]),
            &device,
        )
    };
    // Not reached with the model's own shapes; the same arithmetic as tensor operations.
    let as_tensors = |x: Tensor<2>| fake_quantize_activations(x).matmul(weight());
    if input != codes.input || !input.is_multiple_of(crate::q8::BLOCK) {
        return as_tensors(x);
    }
    // `x` moved, not cloned: when nothing else holds it, reading it takes its buffer without a
    // copy (a copy of a 1,024 × 3,072 activation cost 3 to 13 ms).
    let mut data = x.into_data();
    let Ok(values) = data.as_mut_slice::<f32>() else {
        return as_tensors(Tensor::from_data(data, &device));
    };
    if rows <= Q8_INTEGER_ROWS {
        if let Some(a) = QuantizedRows::quantize(values, rows, input) {
            let y = crate::q8::matmul_quantized(codes, &a);
            return Tensor::from_data(TensorData::new(y, [rows, codes.rows]), &device);
        }
        return as_tensors(Tensor::from_data(data, &device));
    }
    crate::q8::fake_quantize(values);
    Tensor::<2>::from_data(data, &device).matmul(weight())
}

/// Layer norm over the last dimension, with weight and bias.
#[derive(Clone, Debug)]
pub struct LayerNorm {
    weight: Tensor<1>,
    bias: Tensor<1>,
    eps: f64,
}

impl LayerNorm {
    pub fn stored_bytes(&self) -> Option<usize> {
        total([stored_bytes(&self.weight), stored_bytes(&self.bias)])
    }

    pub fn new(weight: HostTensor, bias: HostTensor, eps: f64, device: &Device) -> LayerNorm {
        LayerNorm {
            weight: upload(weight, device),
            bias: upload(bias, device),
            eps,
        }
    }

    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        let (var, mean) = x.clone().var_mean_bias(1);
        let normed = x.sub(mean).div(var.add_scalar(self.eps).sqrt());
        normed
            .mul(self.weight.clone().unsqueeze_dim(0))
            .add(self.bias.clone().unsqueeze_dim(0))
    }
}

/// Llama's RMS norm: `w · x / sqrt(mean(x²) + eps)`.
#[derive(Clone, Debug)]
pub struct RmsNorm {
    weight: Tensor<1>,
    eps: f64,
}

impl RmsNorm {
    pub fn stored_bytes(&self) -> Option<usize> {
        stored_bytes(&self.weight)
    }

    pub fn new(weight: HostTensor, eps: f64, device: &Device) -> RmsNorm {
        RmsNorm {
            weight: upload(weight, device),
            eps,
        }
    }

    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        let variance = x.clone().square().mean_dim(1);
        let normed = x.mul(variance.add_scalar(self.eps).sqrt().recip());
        normed.mul(self.weight.clone().unsqueeze_dim(0))
    }
}

/// Softmax attention of `q` `[heads, sq, d]` over `k`, `v` `[heads, sk, d]`, with an optional
/// additive mask `[sq, sk]`.
pub fn attention(
    q: Tensor<3>,
    k: Tensor<3>,
    v: Tensor<3>,
    mask: Option<Tensor<2>>,
    head_dim: usize,
) -> Tensor<3> {
    let [heads, sq, _] = q.dims();
    let sk = k.dims()[1];
    // On the CPU backend a long sequence (the vision encoder's 1,024 patches: 48 MB of scores
    // across its 12 heads) runs in blocks of query rows, so that each block's scores stay in
    // the cache and below glibc's mmap threshold (32 MB; above it every buffer is mapped and
    // zeroed afresh). Each row's softmax sees the whole row either way: the same arithmetic.
    let rows = (ATTENTION_BLOCK_SCORES / (heads * sk).max(1)).max(1);
    if sq > rows && is_cpu(&q.device()) {
        let blocks = (0..sq)
            .step_by(rows)
            .map(|start| {
                let n = rows.min(sq - start);
                attention_block(
                    q.clone().narrow(1, start, n),
                    k.clone(),
                    v.clone(),
                    mask.clone().map(|m| m.narrow(0, start, n)),
                    head_dim,
                )
            })
            .collect();
        return Tensor::cat(blocks, 1);
    }
    attention_block(q, k, v, mask, head_dim)
}

/// Scores a block of attention holds at most on the CPU backend (f32 values: 16 MB; blocks of
/// 1M and 2M scores measured about as fast, the whole 12M slower by 0.35–0.5 s of the vision
/// encoder's 3 s).
const ATTENTION_BLOCK_SCORES: usize = 1 << 22;

fn attention_block(
    q: Tensor<3>,
    k: Tensor<3>,
    v: Tensor<3>,
    mask: Option<Tensor<2>>,
    head_dim: usize,
) -> Tensor<3> {
    let scale = (head_dim as f64).powf(-0.5);
    let scores = q.matmul(k.swap_dims(1, 2));
    let weights = match mask {
        Some(mask) => crate::elementwise::scaled_softmax(
            scores.mul_scalar(scale).add(mask.unsqueeze_dim(0)),
            1.0,
        ),
        None => crate::elementwise::scaled_softmax(scores, scale),
    };
    weights.matmul(v)
}

/// `[tokens, heads * d]` to `[heads, tokens, d]`.
pub fn split_heads(x: Tensor<2>, heads: usize, head_dim: usize) -> Tensor<3> {
    let [tokens, _] = x.dims();
    x.reshape([tokens, heads, head_dim]).swap_dims(0, 1)
}

/// `[heads, tokens, d]` to `[tokens, heads * d]`.
pub fn merge_heads(x: Tensor<3>) -> Tensor<2> {
    let [heads, tokens, d] = x.dims();
    x.swap_dims(0, 1).reshape([tokens, heads * d])
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Distribution;

    /// The CPU backend's blocks of query rows give what one product over all rows gives, with
    /// and without a mask, a ragged last block included.
    #[test]
    fn blocked_attention_equals_one_block() {
        let device = Device::flex();
        let (heads, sq, sk, d) = (2, 2_100, 1_100, 16);
        // Blocks of this many rows: two of them, the second ragged.
        assert!(sq > ATTENTION_BLOCK_SCORES / (heads * sk));
        let random =
            |shape: [usize; 3]| Tensor::<3>::random(shape, Distribution::Normal(0.0, 1.0), &device);
        let (q, k, v) = (
            random([heads, sq, d]),
            random([heads, sk, d]),
            random([heads, sk, d]),
        );
        let mask_values: Vec<f32> = (0..sq * sk)
            .map(|i| {
                if (i * 7) % 5 == 0 {
                    f32::NEG_INFINITY
                } else {
                    0.0
                }
            })
            .collect();
        let mask = Tensor::<2>::from_data(TensorData::new(mask_values, [sq, sk]), &device);
        for mask in [None, Some(mask)] {
            let blocked = attention(q.clone(), k.clone(), v.clone(), mask.clone(), d);
            let whole = attention_block(q.clone(), k.clone(), v.clone(), mask, d);
            assert_eq!(blocked.dims(), [heads, sq, d]);
            let diff = (blocked - whole).abs().max().into_scalar::<f32>();
            assert!(diff <= 1e-6, "blocked attention differs by {diff}");
        }
    }
}
