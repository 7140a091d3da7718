//! The SigLIP vision encoder of Idefics3 and the pixel-shuffle connector, as transformers'
//! `Idefics3VisionTransformer` and `Idefics3Connector` compute them for a full (unpadded) image.

use burn::prelude::*;

use crate::ModelError;
use crate::config::Idefics3Config;
use crate::nn::{
    LayerNorm, Linear, attention, merge_heads, split_heads, stored_bytes, total, upload,
};
use crate::safetensors::SafeTensors;
use crate::weights::HostTensor;

struct EncoderLayer {
    layer_norm1: LayerNorm,
    q_proj: Linear,
    k_proj: Linear,
    v_proj: Linear,
    out_proj: Linear,
    layer_norm2: LayerNorm,
    fc1: Linear,
    fc2: Linear,
}

impl EncoderLayer {
    fn linears(&self) -> [&Linear; 6] {
        [
            &self.q_proj,
            &self.k_proj,
            &self.v_proj,
            &self.out_proj,
            &self.fc1,
            &self.fc2,
        ]
    }

    /// With their module names below the layer (the names a PEFT adapter uses).
    fn linears_mut(&mut self) -> [(&'static str, &mut Linear); 6] {
        [
            ("self_attn.q_proj", &mut self.q_proj),
            ("self_attn.k_proj", &mut self.k_proj),
            ("self_attn.v_proj", &mut self.v_proj),
            ("self_attn.out_proj", &mut self.out_proj),
            ("mlp.fc1", &mut self.fc1),
            ("mlp.fc2", &mut self.fc2),
        ]
    }
}

/// The connector's linear layer as the checkpoint names it.
const PROJECTION: &str = "model.connector.modality_projection.proj";

pub struct Vision {
    /// The patch convolution as a matrix `[channels * patch * patch, hidden]`.
    patch_weight: Tensor<2>,
    patch_bias: Tensor<1>,
    position_embedding: Tensor<2>,
    layers: Vec<EncoderLayer>,
    post_layernorm: LayerNorm,
    projection: Linear,
    hidden: usize,
    heads: usize,
    channels: usize,
    image_size: usize,
    patch: usize,
    scale_factor: usize,
}

/// Reads a checkpoint's tensors by transformers' names.
pub struct Reader<'a, 'b> {
    pub file: &'a str,
    pub checkpoint: &'a SafeTensors<'b>,
    pub device: &'a Device,
}

impl Reader<'_, '_> {
    pub fn host(&self, name: &str, shape: &[usize]) -> Result<HostTensor, ModelError> {
        HostTensor::read(self.file, self.checkpoint, name, shape)
    }

    pub fn linear(
        &self,
        prefix: &str,
        out: usize,
        input: usize,
        bias: bool,
    ) -> Result<Linear, ModelError> {
        let weight = self.host(&format!("{prefix}.weight"), &[out, input])?;
        let bias = if bias {
            Some(self.host(&format!("{prefix}.bias"), &[out])?)
        } else {
            None
        };
        Ok(Linear::new(weight, bias, self.device))
    }

    pub fn layer_norm(&self, prefix: &str, size: usize, eps: f64) -> Result<LayerNorm, ModelError> {
        Ok(LayerNorm::new(
            self.host(&format!("{prefix}.weight"), &[size])?,
            self.host(&format!("{prefix}.bias"), &[size])?,
            eps,
            self.device,
        ))
    }
}

impl Vision {
    pub fn load(config: &Idefics3Config, r: &Reader<'_, '_>) -> Result<Vision, ModelError> {
        let v = &config.vision;
        let vp = "model.vision_model";
        let (h, eps) = (v.hidden_size, v.layer_norm_eps);
        let conv = r.host(
            &format!("{vp}.embeddings.patch_embedding.weight"),
            &[h, v.num_channels, v.patch_size, v.patch_size],
        )?;
        let patch_weight = HostTensor {
            shape: vec![h, v.num_channels * v.patch_size * v.patch_size],
            values: conv.values,
        }
        .transposed();
        let patches = (v.image_size / v.patch_size).pow(2);
        let mut layers = Vec::with_capacity(v.num_hidden_layers);
        for i in 0..v.num_hidden_layers {
            let l = format!("{vp}.encoder.layers.{i}");
            layers.push(EncoderLayer {
                layer_norm1: r.layer_norm(&format!("{l}.layer_norm1"), h, eps)?,
                q_proj: r.linear(&format!("{l}.self_attn.q_proj"), h, h, true)?,
                k_proj: r.linear(&format!("{l}.self_attn.k_proj"), h, h, true)?,
                v_proj: r.linear(&format!("{l}.self_attn.v_proj"), h, h, true)?,
                out_proj: r.linear(&format!("{l}.self_attn.out_proj"), h, h, true)?,
                layer_norm2: r.layer_norm(&format!("{l}.layer_norm2"), h, eps)?,
                fc1: r.linear(&format!("{l}.mlp.fc1"), v.intermediate_size, h, true)?,
                fc2: r.linear(&format!("{l}.mlp.fc2"), h, v.intermediate_size, true)?,
            });
        }
        let shuffled = h * config.scale_factor * config.scale_factor;
        Ok(Vision {
            patch_weight: upload(patch_weight, r.device),
            patch_bias: upload(
                r.host(&format!("{vp}.embeddings.patch_embedding.bias"), &[h])?,
                r.device,
            ),
            position_embedding: upload(
                r.host(
                    &format!("{vp}.embeddings.position_embedding.weight"),
                    &[patches, h],
                )?,
                r.device,
            ),
            layers,
            post_layernorm: r.layer_norm(&format!("{vp}.post_layernorm"), h, eps)?,
            projection: r.linear(PROJECTION, config.text.hidden_size, shuffled, false)?,
            hidden: h,
            heads: v.num_attention_heads,
            channels: v.num_channels,
            image_size: v.image_size,
            patch: v.patch_size,
            scale_factor: config.scale_factor,
        })
    }

    /// Every linear layer with its module name in the checkpoint (the names a PEFT adapter
    /// uses): the encoder layers' attention and MLP projections, then the connector's.
    pub fn named_linears_mut(&mut self) -> impl Iterator<Item = (String, &mut Linear)> {
        self.layers
            .iter_mut()
            .enumerate()
            .flat_map(|(i, layer)| {
                layer.linears_mut().map(|(name, linear)| {
                    (
                        format!("model.vision_model.encoder.layers.{i}.{name}"),
                        linear,
                    )
                })
            })
            .chain(std::iter::once((
                PROJECTION.to_owned(),
                &mut self.projection,
            )))
    }

    /// Every linear layer that has an adapter.
    pub fn adapted(&self) -> impl Iterator<Item = &Linear> {
        self.layers
            .iter()
            .flat_map(EncoderLayer::linears)
            .chain(std::iter::once(&self.projection))
            .filter(|l| l.has_adapter())
    }

    pub fn linears_mut(&mut self) -> impl Iterator<Item = &mut Linear> {
        self.layers
            .iter_mut()
            .flat_map(|layer| layer.linears_mut().map(|(_, linear)| linear))
            .chain(std::iter::once(&mut self.projection))
    }

    /// Measured bytes of every tensor ([`crate::nn::stored_bytes`]).
    pub fn stored_bytes(&self) -> Option<usize> {
        let layers = self.layers.iter().flat_map(|l| {
            [
                l.layer_norm1.stored_bytes(),
                l.layer_norm2.stored_bytes(),
                l.q_proj.stored_bytes(),
                l.k_proj.stored_bytes(),
                l.v_proj.stored_bytes(),
                l.out_proj.stored_bytes(),
                l.fc1.stored_bytes(),
                l.fc2.stored_bytes(),
            ]
        });
        total(
            [
                stored_bytes(&self.patch_weight),
                stored_bytes(&self.patch_bias),
                stored_bytes(&self.position_embedding),
                self.post_layernorm.stored_bytes(),
                self.projection.stored_bytes(),
            ]
            .into_iter()
            .chain(layers),
        )
    }

    /// Checks that `pixels` is one image as the encoder reads it, `[channels, size, size]`
    /// with config.json's `num_channels` and `image_size`: the patch reshape below would
    /// panic on anything else.
    pub fn check_pixels(&self, pixels: &Tensor<3>) -> Result<(), ModelError> {
        let expected = [self.channels, self.image_size, self.image_size];
        if pixels.dims() != expected {
            return Err(ModelError::Input(format!(
                "the image tensor is {:?}, the vision encoder needs {expected:?} (config.json's vision_config: num_channels, image_size)",
                pixels.dims()
            )));
        }
        Ok(())
    }

    /// The encoder's last hidden state `[patches, hidden]` of one image `[channels, size, size]`
    /// (checked by [`Vision::check_pixels`]).
    pub fn encode(&self, pixels: Tensor<3>) -> Tensor<2> {
        let (c, s, p) = (self.channels, self.image_size, self.patch);
        let side = s / p;
        // Conv2d with stride = kernel = patch: each patch (c, kh, kw) times the kernel matrix;
        // patches in row-major order, as `flatten(2).transpose(1, 2)` gives.
        let patches: Tensor<2> = pixels
            .reshape([c, side, p, side, p])
            .permute([1, 3, 0, 2, 4])
            .reshape([side * side, c * p * p]);
        let mut x = patches
            .matmul(self.patch_weight.clone())
            .add(self.patch_bias.clone().unsqueeze_dim(0))
            .add(self.position_embedding.clone());
        let head_dim = self.hidden / self.heads;
        for layer in &self.layers {
            let h = layer.layer_norm1.forward(x.clone());
            let q = split_heads(layer.q_proj.forward(h.clone()), self.heads, head_dim);
            let k = split_heads(layer.k_proj.forward(h.clone()), self.heads, head_dim);
            let v = split_heads(layer.v_proj.forward(h), self.heads, head_dim);
            let attended = merge_heads(attention(q, k, v, None, head_dim));
            x = x.add(layer.out_proj.forward(attended));
            let h = layer.layer_norm2.forward(x.clone());
            let h = layer
                .fc2
                .forward(crate::elementwise::gelu_tanh(layer.fc1.forward(h)));
            x = x.add(h);
        }
        self.post_layernorm.forward(x)
    }

    /// The connector: pixel shuffle by `scale_factor`, then the projection into the text
    /// model's width. `[patches, hidden]` to `[patches / scale², text_hidden]`.
    pub fn connect(&self, encoded: Tensor<2>) -> Tensor<2> {
        let [seq, d] = encoded.dims();
        let side = self.image_size / self.patch;
        let f = self.scale_factor;
        let x: Tensor<3> = encoded.reshape([side, side / f, d * f]);
        let x = x.swap_dims(0, 1).reshape([side / f, side / f, d * f * f]);
        let x: Tensor<2> = x.swap_dims(0, 1).reshape([seq / (f * f), d * f * f]);
        self.projection.forward(x)
    }
}
