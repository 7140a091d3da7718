//! Idefics3 (SmolVLM) put together: loading from `config.json` and safetensors bytes, an
//! optional PEFT LoRA adapter (unmerged and switchable, or merged), quantization on load, and
//! the forward passes generation needs (prefill with an image's tiles, then one token at a time).

use burn::prelude::*;

use crate::ModelError;
use crate::adapter::{LoraConfig, check_adapter};
use crate::config::Idefics3Config;
use crate::image::EncoderImages;
use crate::nn::{Linear, Lora, QuantStorage, Quantization, total};
use crate::safetensors::SafeTensors;
use crate::text::{KvCache, Text};
use crate::vision::{Reader, Vision};
use crate::weights::HostTensor;

/// A model's files as bytes (the browser hands bytes; the CLI reads them from a folder).
pub struct ModelFiles<'a> {
    pub config: &'a [u8],
    pub weights: &'a [u8],
}

/// An adapter's files as bytes.
pub struct AdapterFiles<'a> {
    pub config: &'a [u8],
    pub weights: &'a [u8],
}

/// How to apply an adapter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AdapterMode {
    /// Kept as separate low-rank factors; [`Idefics3::set_adapter_enabled`] switches it.
    Unmerged,
    /// Folded into the base weights before quantization; cannot be switched off.
    Merged,
}

#[derive(Clone, Copy, Debug, Default)]
pub struct LoadOptions {
    pub quantization: Quantization,
}

pub struct Idefics3 {
    pub config: Idefics3Config,
    vision: Vision,
    text: Text,
    device: Device,
    adapter: Option<AdapterMode>,
    quantization: Quantization,
    /// Measured once the weights are final (after the adapter and quantization).
    stored_bytes: Option<usize>,
}

impl Idefics3 {
    /// Loads the base model, then the adapter if any, then quantizes the linear weights.
    pub fn load(
        files: &ModelFiles<'_>,
        adapter: Option<(&AdapterFiles<'_>, AdapterMode)>,
        options: LoadOptions,
        device: &Device,
    ) -> Result<Idefics3, ModelError> {
        let config = Idefics3Config::from_json("config.json", files.config)?;
        let file = "model.safetensors";
        let checkpoint = SafeTensors::parse(file, files.weights)?;
        let reader = Reader {
            file,
            checkpoint: &checkpoint,
            device,
        };
        let mut model = Idefics3 {
            vision: Vision::load(&config, &reader)?,
            text: Text::load(&config.text, &reader)?,
            config,
            device: device.clone(),
            adapter: None,
            quantization: options.quantization,
            stored_bytes: None,
        };
        if let Some((files, mode)) = adapter {
            model.attach_adapter(files, mode)?;
        }
        model.quantize(options.quantization);
        model.stored_bytes = total([model.vision.stored_bytes(), model.text.stored_bytes()]);
        Ok(model)
    }

    fn attach_adapter(
        &mut self,
        files: &AdapterFiles<'_>,
        mode: AdapterMode,
    ) -> Result<(), ModelError> {
        let file = "adapter_model.safetensors";
        let lora = LoraConfig::from_json("adapter_config.json", files.config)?;
        let weights = SafeTensors::parse(file, files.weights)?;
        let layers = check_adapter(file, &weights, &lora, &self.config.tensors())?;
        let scaling = lora.scaling() as f32;
        let mut attached = 0;
        let linears = self
            .vision
            .named_linears_mut()
            .chain(self.text.named_linears_with_head_mut());
        for (module, linear) in linears {
            let base_weight = format!("{module}.weight");
            let Some(layer) = layers.iter().find(|l| l.base_weight == base_weight) else {
                continue;
            };
            let a_shape = weights.tensors[&layer.lora_a].shape.clone();
            let b_shape = weights.tensors[&layer.lora_b].shape.clone();
            let a = HostTensor::read(file, &weights, &layer.lora_a, &a_shape)?;
            let b = HostTensor::read(file, &weights, &layer.lora_b, &b_shape)?;
            linear.attach(Lora::new(a, b, scaling, &self.device));
            if mode == AdapterMode::Merged {
                linear.merge();
            }
            attached += 1;
        }
        if attached != layers.len() {
            let names = self.linear_names();
            let outside: Vec<&str> = layers
                .iter()
                .map(|l| l.base_weight.trim_end_matches(".weight"))
                .filter(|module| !names.iter().any(|n| n == module))
                .take(3)
                .collect();
            return Err(ModelError::Adapter {
                file: file.to_owned(),
                message: format!(
                    "{} of its {} adapted layers are not linear layers of the model (e.g. {})",
                    layers.len() - attached,
                    layers.len(),
                    outside.join(", ")
                ),
            });
        }
        self.adapter = Some(mode);
        Ok(())
    }

    /// Module names of every linear layer an adapter can adapt.
    fn linear_names(&mut self) -> Vec<String> {
        self.vision
            .named_linears_mut()
            .map(|(n, _)| n)
            .chain(self.text.named_linears_with_head_mut().map(|(n, _)| n))
            .collect()
    }

    /// Every linear layer that has an (unmerged) adapter: vision encoder, connector, text model
    /// and LM head.
    fn adapted(&self) -> impl Iterator<Item = &Linear> {
        self.vision
            .adapted()
            .chain(self.text.adapted())
            .chain(self.text.lm_head().filter(|l| l.has_adapter()))
    }

    fn quantize(&mut self, quantization: Quantization) {
        if quantization == Quantization::None {
            return;
        }
        for linear in self.vision.linears_mut() {
            linear.quantize(quantization);
        }
        for (_, linear) in self.text.named_linears_mut() {
            linear.quantize(quantization);
        }
        if let Some(head) = self.text.lm_head_mut() {
            head.quantize(quantization);
        }
    }

    pub fn adapter(&self) -> Option<AdapterMode> {
        self.adapter
    }

    /// Switches an unmerged adapter on or off (a merged one cannot be switched off).
    pub fn set_adapter_enabled(&self, enabled: bool) -> bool {
        if self.adapter != Some(AdapterMode::Unmerged) {
            return false;
        }
        for linear in self.adapted() {
            linear.lora_enabled.set(enabled);
        }
        true
    }

    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Bytes the weights (and adapter factors) take as the device holds them, measured once
    /// at load from burn's tensor primitives ([`crate::nn::stored_bytes`]); `None` on a
    /// backend whose storage this crate does not read (flex and wgpu are read).
    pub fn stored_bytes(&self) -> Option<usize> {
        self.stored_bytes
    }

    /// What the weights should take by the formula from config.json
    /// ([`Idefics3Config::weight_bytes_stored`] for this device's storage) plus the adapter's
    /// f32 factors: a nominal figure, for where [`Idefics3::stored_bytes`] has none.
    pub fn nominal_bytes(&self) -> usize {
        let storage = QuantStorage::of(&self.device);
        let adapter: usize = self.adapted().map(|l| l.adapter_parameters() * 4).sum();
        self.config.weight_bytes_stored(self.quantization, storage) + adapter
    }

    /// The vision encoder's last hidden state `[patches, hidden]` for one preprocessed image
    /// `[channels, size, size]` (values as the image processor leaves them).
    pub fn encode_image(&self, pixels: Tensor<3>) -> Result<Tensor<2>, ModelError> {
        self.vision.check_pixels(&pixels)?;
        Ok(self.vision.encode(pixels))
    }

    /// Image features in the text model's width `[image_tokens, hidden]`.
    pub fn image_features(&self, pixels: Tensor<3>) -> Result<Tensor<2>, ModelError> {
        Ok(self.vision.connect(self.encode_image(pixels)?))
    }

    /// The processor's images as the encoder's input, one `[3, side, side]` tensor each, in
    /// order.
    pub fn image_tensors(&self, images: &EncoderImages) -> Vec<Tensor<3>> {
        let side = images.side;
        (0..images.count())
            .map(|i| {
                Tensor::from_data(
                    TensorData::new(images.image(i).to_vec(), [3, side, side]),
                    &self.device,
                )
            })
            .collect()
    }

    /// The text embeddings of `ids` with every `<image>` token replaced, in order, by a row of
    /// `features` (transformers' `inputs_merger`).
    pub fn merge_inputs(
        &self,
        ids: &[u32],
        features: Option<Tensor<2>>,
    ) -> Result<Tensor<2>, ModelError> {
        let image_token = self.config.image_token_id;
        let slots = ids.iter().filter(|&&i| i == image_token).count();
        let available = features.as_ref().map_or(0, |f| f.dims()[0]);
        if slots != available {
            return Err(ModelError::Input(format!(
                "the prompt has {slots} image tokens but the images give {available} features"
            )));
        }
        let text = self.text.embed(ids, &self.device);
        let Some(features) = features else {
            return Ok(text);
        };
        let mut parts = Vec::new();
        let (mut start, mut used) = (0, 0);
        while start < ids.len() {
            let is_image = ids[start] == image_token;
            let len = ids[start..]
                .iter()
                .take_while(|&&i| (i == image_token) == is_image)
                .count();
            parts.push(if is_image {
                used += len;
                features.clone().narrow(0, used - len, len)
            } else {
                text.clone().narrow(0, start, len)
            });
            start += len;
        }
        Ok(Tensor::cat(parts, 0))
    }

    /// Runs `embeds` through the decoder after what `cache` holds; logits `[tokens, vocab]`.
    pub fn forward_embeds(&self, embeds: Tensor<2>, cache: &mut KvCache) -> Tensor<2> {
        self.text.forward(embeds, cache)
    }

    /// Prefill: the prompt `ids` with one image `pixels` (if the prompt has image tokens).
    pub fn prefill(
        &self,
        ids: &[u32],
        pixels: Option<Tensor<3>>,
        cache: &mut KvCache,
    ) -> Result<Tensor<2>, ModelError> {
        self.prefill_images(ids, &pixels.into_iter().collect::<Vec<_>>(), cache)
    }

    /// Prefill: the prompt `ids` with `images` (an image's tiles then its global image, in the
    /// order the prompt's image tokens take them; none for a prompt without image tokens).
    pub fn prefill_images(
        &self,
        ids: &[u32],
        images: &[Tensor<3>],
        cache: &mut KvCache,
    ) -> Result<Tensor<2>, ModelError> {
        self.check_prompt(ids)?;
        let features = images
            .iter()
            .map(|pixels| self.image_features(pixels.clone()))
            .collect::<Result<Vec<_>, _>>()?;
        self.prefill_features(ids, features, cache)
    }

    /// A prompt the model can take: not empty, every id inside the vocabulary.
    pub fn check_prompt(&self, ids: &[u32]) -> Result<(), ModelError> {
        if ids.is_empty() {
            return Err(ModelError::Input("the prompt is empty".to_owned()));
        }
        if let Some(&bad) = ids
            .iter()
            .find(|&&i| i as usize >= self.config.text.vocab_size)
        {
            return Err(ModelError::Input(format!(
                "token id {bad} is outside the vocabulary ({})",
                self.config.text.vocab_size
            )));
        }
        Ok(())
    }

    /// The connector (pixel shuffle, projection) over one image's encoder output:
    /// `[patches, hidden]` to `[image_tokens, text_hidden]`.
    pub fn connect(&self, encoded: Tensor<2>) -> Tensor<2> {
        self.vision.connect(encoded)
    }

    /// Prefill from the images' features (one `[image_tokens, hidden]` each, in the order the
    /// prompt's image tokens take them): the text model over the whole prompt.
    pub fn prefill_features(
        &self,
        ids: &[u32],
        features: Vec<Tensor<2>>,
        cache: &mut KvCache,
    ) -> Result<Tensor<2>, ModelError> {
        self.check_prompt(ids)?;
        let features = (!features.is_empty()).then(|| Tensor::cat(features, 0));
        let embeds = self.merge_inputs(ids, features)?;
        Ok(self.text.forward(embeds, cache))
    }

    /// One decode step: the logits `[1, vocab]` after `token`.
    pub fn decode(&self, token: u32, cache: &mut KvCache) -> Result<Tensor<2>, ModelError> {
        if token as usize >= self.config.text.vocab_size {
            return Err(ModelError::Input(format!(
                "token id {token} is outside the vocabulary"
            )));
        }
        let embeds = self.text.embed(&[token], &self.device);
        Ok(self.text.forward(embeds, cache))
    }
}
