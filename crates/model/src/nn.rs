//! The building blocks: linear layers (optionally quantized, optionally with a LoRA adapter),
//! layer norm and RMS norm. Tensors are `[tokens, features]`: the model runs one sequence.

use burn::prelude::*;
use burn::tensor::quantization::{QuantScheme, QuantValue, ScaleDtype};

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

    /// Bytes one weight of `[input, out]` takes in this storage (values plus scales).
    pub fn weight_bytes(self, input: usize, out: usize) -> usize {
        let n = input * out;
        if self.scheme(out).is_none() {
            return n * 4;
        }
        let scales = n / BLOCK * 4;
        match self {
            Quantization::None => n * 4,
            Quantization::Q8 => n + scales,
            Quantization::Q4 => n.div_ceil(2) + scales,
        }
    }
}

const BLOCK: usize = 32;

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
    input: usize,
    out: usize,
    quantization: Quantization,
}

impl Linear {
    /// From a Hugging Face weight `[out, in]` and optional bias `[out]`.
    pub fn new(weight: HostTensor, bias: Option<HostTensor>, device: &Device) -> Linear {
        let (out, input) = (weight.shape[0], weight.shape[1]);
        Linear {
            weight: upload(weight.transposed(), device),
            bias: bias.map(|b| upload(b, device)),
            lora: None,
            lora_enabled: std::cell::Cell::new(false),
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

    /// Bytes the weight takes as stored, plus f32 bias and adapter factors.
    pub fn bytes(&self) -> usize {
        let lora = self.lora.as_ref().map_or(0, |l| {
            (l.a.shape().num_elements() + l.b.shape().num_elements()) * 4
        });
        self.quantization.weight_bytes(self.input, self.out)
            + self.bias.as_ref().map_or(0, |_| self.out * 4)
            + lora
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
