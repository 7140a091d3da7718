//! The building blocks: linear layers (optionally quantized, optionally with a LoRA adapter),
//! layer norm and RMS norm. Tensors are `[tokens, features]`: the model runs one sequence.

use burn::prelude::*;
use burn::tensor::DType;
use burn::tensor::quantization::{QuantScheme, QuantStore, QuantValue, ScaleDtype};

use crate::weights::HostTensor;

/// How linear weights are stored after loading.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Quantization {
    /// f32, as loaded.
    #[default]
    None,
    /// 8-bit symmetric integers, one f32 scale per block of 32 output features.
    Q8,
    /// 4-bit symmetric integers, one f32 scale per block of 32 output features.
    Q4,
}

impl Quantization {
    pub fn parse(text: &str) -> Option<Quantization> {
        match text {
            "none" | "f32" => Some(Quantization::None),
            "q8" => Some(Quantization::Q8),
            "q4" => Some(Quantization::Q4),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Quantization::None => "none",
            Quantization::Q8 => "q8",
            Quantization::Q4 => "q4",
        }
    }

    /// The scheme for a weight whose last (output) dimension is `out`: blocks of 32 along it.
    /// A weight whose output size 32 does not divide stays f32 (burn packs quantized values
    /// into u32 words along that dimension and cannot pack a ragged end).
    fn scheme(self, out: usize) -> Option<QuantScheme> {
        let value = match self {
            Quantization::None => return None,
            Quantization::Q8 => QuantValue::Q8S,
            Quantization::Q4 => QuantValue::Q4S,
        };
        out.is_multiple_of(BLOCK).then(|| {
            QuantScheme::default()
                .with_value(value)
                .per_block([BLOCK as u8], ScaleDtype::F32)
        })
    }

    /// Bytes one weight of `[input, out]` takes when a backend holds its quantized values as
    /// `storage` says (values plus f32 block scales). A formula: [`stored_bytes`] measures.
    pub fn weight_bytes(self, input: usize, out: usize, storage: QuantStorage) -> usize {
        let n = input * out;
        if self.scheme(out).is_none() {
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
        #[cfg(feature = "wgpu")]
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

/// `y = x · W (+ bias) (+ LoRA)`, with W stored `[in, out]`.
#[derive(Clone, Debug)]
pub struct Linear {
    weight: Tensor<2>,
    bias: Option<Tensor<1>>,
    lora: Option<Lora>,
    /// Whether the (unmerged) adapter is applied; switchable at run time through a shared
    /// reference (a loaded model is shared by the requests of a worker).
    pub lora_enabled: std::cell::Cell<bool>,
    out: usize,
    quantization: Quantization,
}

impl Linear {
    /// From a Hugging Face weight `[out, in]` and optional bias `[out]`.
    pub fn new(weight: HostTensor, bias: Option<HostTensor>, device: &Device) -> Linear {
        let out = weight.shape[0];
        Linear {
            weight: upload(weight.transposed(), device),
            bias: bias.map(|b| upload(b, device)),
            lora: None,
            lora_enabled: std::cell::Cell::new(false),
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
    /// Must come before quantization.
    pub fn merge(&mut self) {
        if let Some(lora) = self.lora.take() {
            let delta = lora.a.matmul(lora.b).mul_scalar(lora.scaling);
            self.weight = self.weight.clone().add(delta);
        }
        self.lora_enabled.set(false);
    }

    /// Stores the weight quantized (burn's block quantization; LoRA factors and biases stay f32).
    pub fn quantize(&mut self, quantization: Quantization) {
        if let Some(scheme) = quantization.scheme(self.out) {
            self.weight = self.weight.clone().quantize_dynamic(&scheme);
            self.quantization = quantization;
        }
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
            [stored_bytes(&self.weight)]
                .into_iter()
                .chain(self.bias.iter().map(stored_bytes))
                .chain(lora),
        )
    }

    pub fn forward(&self, x: Tensor<2>) -> Tensor<2> {
        let [rows, _] = x.dims();
        // burn 0.22's 4-bit matmul on wgpu panics with more than one row (burn #4492): such
        // products go through an explicitly dequantized weight (what the CPU backend does for
        // every quantized matmul anyway). Decoding (one row) keeps the in-kernel path.
        let weight = if self.quantization == Quantization::Q4 && rows > 1 {
            self.weight.clone().dequantize()
        } else {
            self.weight.clone()
        };
        let mut y = x.clone().matmul(weight);
        if let Some(bias) = &self.bias {
            y = y.add(bias.clone().unsqueeze_dim(0));
        }
        if let (Some(lora), true) = (&self.lora, self.lora_enabled.get()) {
            let delta = x.matmul(lora.a.clone()).matmul(lora.b.clone());
            y = y.add(delta.mul_scalar(lora.scaling));
        }
        y
    }
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
    let scale = (head_dim as f64).powf(-0.5);
    let mut scores = q.matmul(k.swap_dims(1, 2)).mul_scalar(scale);
    if let Some(mask) = mask {
        scores = scores.add(mask.unsqueeze_dim(0));
    }
    burn::tensor::activation::softmax(scores, 2).matmul(v)
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
