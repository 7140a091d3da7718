//! `config.json` of an Idefics3 checkpoint (SmolVLM), and the tensors it implies.
//!
//! transformers 4 checkpoints (SmolVLM's published files) put `rope_theta` in `text_config`;
//! transformers 5 writes `text_config.rope_parameters.rope_theta`. Both are read.

use crate::ModelError;
use crate::nn::{QuantStorage, Quantization};
use serde_json::Value;

#[derive(Clone, Debug, PartialEq)]
pub struct VisionConfig {
    pub hidden_size: usize,
    pub intermediate_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub num_channels: usize,
    pub image_size: usize,
    pub patch_size: usize,
    pub layer_norm_eps: f64,
}

#[derive(Clone, Debug, PartialEq)]
pub struct TextConfig {
    pub hidden_size: usize,
    pub intermediate_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub num_key_value_heads: usize,
    pub head_dim: usize,
    pub vocab_size: usize,
    pub rms_norm_eps: f64,
    pub rope_theta: f64,
    pub tie_word_embeddings: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Idefics3Config {
    pub vision: VisionConfig,
    pub text: TextConfig,
    /// Pixel-shuffle factor of the connector: `scale_factor²` patches become one image token.
    pub scale_factor: usize,
    pub image_token_id: u32,
}

struct Reader<'a> {
    file: &'a str,
}

impl Reader<'_> {
    fn error(&self, field: &str, message: &str) -> ModelError {
        ModelError::Field {
            file: self.file.to_owned(),
            field: field.to_owned(),
            message: message.to_owned(),
        }
    }

    fn object<'v>(&self, value: &'v Value, field: &str) -> Result<&'v Value, ModelError> {
        value
            .get(field)
            .filter(|v| v.is_object())
            .ok_or_else(|| self.error(field, "expected an object"))
    }

    fn count(&self, value: &Value, path: &str, field: &str) -> Result<usize, ModelError> {
        let name = format!("{path}{field}");
        let number = value
            .get(field)
            .and_then(Value::as_u64)
            .ok_or_else(|| self.error(&name, "expected a positive integer"))?;
        match usize::try_from(number) {
            Ok(n) if n > 0 => Ok(n),
            _ => Err(self.error(&name, "expected a positive integer")),
        }
    }

    fn float(&self, value: &Value, path: &str, field: &str) -> Result<f64, ModelError> {
        value
            .get(field)
            .and_then(Value::as_f64)
            .filter(|x| x.is_finite() && *x > 0.0)
            .ok_or_else(|| self.error(&format!("{path}{field}"), "expected a positive number"))
    }
}

impl Idefics3Config {
    /// Parses `config.json`; `file` names it in errors.
    pub fn from_json(file: &str, bytes: &[u8]) -> Result<Idefics3Config, ModelError> {
        let root: Value = serde_json::from_slice(bytes).map_err(|e| ModelError::Json {
            file: file.to_owned(),
            message: e.to_string(),
        })?;
        let r = Reader { file };
        if let Some(kind) = root.get("model_type").and_then(Value::as_str)
            && kind != "idefics3"
        {
            return Err(r.error(
                "model_type",
                &format!("`{kind}` is not an Idefics3 (SmolVLM) model"),
            ));
        }
        let vision = r.object(&root, "vision_config")?;
        let text = r.object(&root, "text_config")?;
        let v = "vision_config.";
        let t = "text_config.";
        let vision = VisionConfig {
            hidden_size: r.count(vision, v, "hidden_size")?,
            intermediate_size: r.count(vision, v, "intermediate_size")?,
            num_hidden_layers: r.count(vision, v, "num_hidden_layers")?,
            num_attention_heads: r.count(vision, v, "num_attention_heads")?,
            num_channels: vision
                .get("num_channels")
                .map_or(Ok(3), |_| r.count(vision, v, "num_channels"))?,
            image_size: r.count(vision, v, "image_size")?,
            patch_size: r.count(vision, v, "patch_size")?,
            layer_norm_eps: r.float(vision, v, "layer_norm_eps")?,
        };
        let hidden_size = r.count(text, t, "hidden_size")?;
        let num_attention_heads = r.count(text, t, "num_attention_heads")?;
        let head_dim = match text.get("head_dim") {
            Some(_) => r.count(text, t, "head_dim")?,
            None => hidden_size / num_attention_heads,
        };
        let rope_theta = if let Some(parameters) = text.get("rope_parameters") {
            r.float(parameters, "text_config.rope_parameters.", "rope_theta")?
        } else if text.get("rope_theta").is_some() {
            r.float(text, t, "rope_theta")?
        } else {
            r.float(&root, "", "rope_theta")?
        };
        let text = TextConfig {
            hidden_size,
            intermediate_size: r.count(text, t, "intermediate_size")?,
            num_hidden_layers: r.count(text, t, "num_hidden_layers")?,
            num_attention_heads,
            num_key_value_heads: match text.get("num_key_value_heads") {
                Some(_) => r.count(text, t, "num_key_value_heads")?,
                None => num_attention_heads,
            },
            head_dim,
            vocab_size: r.count(text, t, "vocab_size")?,
            rms_norm_eps: r.float(text, t, "rms_norm_eps")?,
            rope_theta,
            tie_word_embeddings: text
                .get("tie_word_embeddings")
                .or_else(|| root.get("tie_word_embeddings"))
                .and_then(Value::as_bool)
                .unwrap_or(false),
        };
        if !text
            .num_attention_heads
            .is_multiple_of(text.num_key_value_heads)
        {
            return Err(r.error(
                "text_config.num_key_value_heads",
                "must divide num_attention_heads (grouped-query attention)",
            ));
        }
        // The image processor produces RGB (three planes); another channel count could never
        // take its output.
        if vision.num_channels != 3 {
            return Err(r.error(
                "vision_config.num_channels",
                &format!(
                    "is {}, but images are RGB: the model must take 3 channels",
                    vision.num_channels
                ),
            ));
        }
        if !vision
            .hidden_size
            .is_multiple_of(vision.num_attention_heads)
        {
            return Err(r.error(
                "vision_config.num_attention_heads",
                "must divide vision_config.hidden_size",
            ));
        }
        // Rotary embeddings turn pairs of dimensions: an odd head_dim leaves one unpaired.
        if !text.head_dim.is_multiple_of(2) {
            return Err(r.error("text_config.head_dim", "must be even (rotary embeddings)"));
        }
        if !vision.image_size.is_multiple_of(vision.patch_size) {
            return Err(r.error("vision_config.patch_size", "must divide image_size"));
        }
        let scale_factor = r.count(&root, "", "scale_factor")?;
        let side = vision.image_size / vision.patch_size;
        if !side.is_multiple_of(scale_factor) {
            return Err(r.error(
                "scale_factor",
                "must divide the patch grid's side (image_size / patch_size)",
            ));
        }
        let image_token_id = root
            .get("image_token_id")
            .and_then(Value::as_u64)
            .and_then(|id| u32::try_from(id).ok())
            .ok_or_else(|| r.error("image_token_id", "expected a token id"))?;
        if image_token_id as usize >= text.vocab_size {
            return Err(r.error(
                "image_token_id",
                "must be inside the vocabulary (text_config.vocab_size)",
            ));
        }
        Ok(Idefics3Config {
            vision,
            text,
            scale_factor,
            image_token_id,
        })
    }

    /// Image tokens per image (one image, no splitting): the patch grid after pixel shuffle.
    pub fn image_tokens(&self) -> usize {
        let side = self.vision.image_size / self.vision.patch_size / self.scale_factor;
        side * side
    }

    /// Every tensor of the checkpoint, with its shape, under transformers' names. This list is
    /// the name map: the loader reads exactly these and nothing else.
    pub fn tensors(&self) -> Vec<(String, Vec<usize>)> {
        let (v, t) = (&self.vision, &self.text);
        let mut out = Vec::new();
        let mut add = |name: String, shape: &[usize]| out.push((name, shape.to_vec()));
        let vp = "model.vision_model";
        add(
            format!("{vp}.embeddings.patch_embedding.weight"),
            &[v.hidden_size, v.num_channels, v.patch_size, v.patch_size],
        );
        add(
            format!("{vp}.embeddings.patch_embedding.bias"),
            &[v.hidden_size],
        );
        let patches = (v.image_size / v.patch_size).pow(2);
        add(
            format!("{vp}.embeddings.position_embedding.weight"),
            &[patches, v.hidden_size],
        );
        for i in 0..v.num_hidden_layers {
            let l = format!("{vp}.encoder.layers.{i}");
            for norm in ["layer_norm1", "layer_norm2"] {
                add(format!("{l}.{norm}.weight"), &[v.hidden_size]);
                add(format!("{l}.{norm}.bias"), &[v.hidden_size]);
            }
            add(
                format!("{l}.mlp.fc1.weight"),
                &[v.intermediate_size, v.hidden_size],
            );
            add(format!("{l}.mlp.fc1.bias"), &[v.intermediate_size]);
            add(
                format!("{l}.mlp.fc2.weight"),
                &[v.hidden_size, v.intermediate_size],
            );
            add(format!("{l}.mlp.fc2.bias"), &[v.hidden_size]);
            for projection in ["q_proj", "k_proj", "v_proj", "out_proj"] {
                add(
                    format!("{l}.self_attn.{projection}.weight"),
                    &[v.hidden_size, v.hidden_size],
                );
                add(format!("{l}.self_attn.{projection}.bias"), &[v.hidden_size]);
            }
        }
        add(format!("{vp}.post_layernorm.weight"), &[v.hidden_size]);
        add(format!("{vp}.post_layernorm.bias"), &[v.hidden_size]);
        add(
            "model.connector.modality_projection.proj.weight".to_owned(),
            &[
                t.hidden_size,
                v.hidden_size * self.scale_factor * self.scale_factor,
            ],
        );
        let tp = "model.text_model";
        add(
            format!("{tp}.embed_tokens.weight"),
            &[t.vocab_size, t.hidden_size],
        );
        let (q, kv) = (
            t.num_attention_heads * t.head_dim,
            t.num_key_value_heads * t.head_dim,
        );
        for i in 0..t.num_hidden_layers {
            let l = format!("{tp}.layers.{i}");
            add(format!("{l}.input_layernorm.weight"), &[t.hidden_size]);
            add(
                format!("{l}.post_attention_layernorm.weight"),
                &[t.hidden_size],
            );
            add(format!("{l}.self_attn.q_proj.weight"), &[q, t.hidden_size]);
            add(format!("{l}.self_attn.k_proj.weight"), &[kv, t.hidden_size]);
            add(format!("{l}.self_attn.v_proj.weight"), &[kv, t.hidden_size]);
            add(format!("{l}.self_attn.o_proj.weight"), &[t.hidden_size, q]);
            add(
                format!("{l}.mlp.gate_proj.weight"),
                &[t.intermediate_size, t.hidden_size],
            );
            add(
                format!("{l}.mlp.up_proj.weight"),
                &[t.intermediate_size, t.hidden_size],
            );
            add(
                format!("{l}.mlp.down_proj.weight"),
                &[t.hidden_size, t.intermediate_size],
            );
        }
        add(format!("{tp}.norm.weight"), &[t.hidden_size]);
        if !t.tie_word_embeddings {
            add("lm_head.weight".to_owned(), &[t.vocab_size, t.hidden_size]);
        }
        out
    }

    /// The base model's weight bytes once loaded with `quantization` on WebGPU (4-bit values
    /// packed two a byte), from the config alone, so the choice can be shown with its size
    /// before anything large is downloaded. [`Idefics3Config::weight_bytes_stored`] for
    /// another backend's storage.
    pub fn weight_bytes(&self, quantization: Quantization) -> usize {
        self.weight_bytes_stored(quantization, QuantStorage::Packed)
    }

    /// The base model's weight bytes once loaded with `quantization` on a backend that holds
    /// quantized values as `storage` says (`QuantStorage::of(device)`). A formula; what
    /// `Idefics3::stored_bytes` measures after loading must equal it (tests/forward.rs).
    pub fn weight_bytes_stored(&self, quantization: Quantization, storage: QuantStorage) -> usize {
        // The linear layers the loader quantizes (transformers' names end so; their shape is
        // [out, in]); everything else stays f32.
        const LINEAR: [&str; 12] = [
            "q_proj.weight",
            "k_proj.weight",
            "v_proj.weight",
            "out_proj.weight",
            "o_proj.weight",
            "fc1.weight",
            "fc2.weight",
            "gate_proj.weight",
            "up_proj.weight",
            "down_proj.weight",
            "modality_projection.proj.weight",
            "lm_head.weight",
        ];
        self.tensors()
            .iter()
            .map(|(name, shape)| match shape.as_slice() {
                [out, input] if LINEAR.iter().any(|l| name.ends_with(l)) => {
                    quantization.weight_bytes(*input, *out, storage)
                }
                _ => shape.iter().product::<usize>() * 4,
            })
            .sum()
    }

    /// Parameter count of [`Idefics3Config::tensors`].
    pub fn parameters(&self) -> usize {
        self.tensors()
            .iter()
            .map(|(_, shape)| shape.iter().product::<usize>())
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TINY: &str = include_str!("../tests/fixtures/tiny-idefics3/config.json");

    fn error_of(json: &str) -> String {
        match Idefics3Config::from_json("config.json", json.as_bytes()) {
            Ok(_) => panic!("accepted: {json}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn shapes_the_model_cannot_run_are_refused_naming_the_field() {
        assert!(Idefics3Config::from_json("config.json", TINY.as_bytes()).is_ok());
        let four_channels = TINY.replace("\"num_channels\": 3", "\"num_channels\": 4");
        assert_eq!(
            error_of(&four_channels),
            "config.json: missing or unusable field `vision_config.num_channels`: is 4, but images are RGB: the model must take 3 channels"
        );
        // 32 is not a multiple of 3 heads.
        let heads = TINY.replace("\"num_attention_heads\": 2", "\"num_attention_heads\": 3");
        assert!(
            error_of(&heads).contains("`vision_config.num_attention_heads`"),
            "{}",
            error_of(&heads)
        );
        let odd_head_dim = TINY.replace("\"head_dim\": 16", "\"head_dim\": 15");
        assert!(error_of(&odd_head_dim).contains("`text_config.head_dim`: must be even"));
        let image_token = TINY.replace("\"image_token_id\": 338", "\"image_token_id\": 340");
        assert!(error_of(&image_token).contains("`image_token_id`"));
    }

    #[test]
    fn four_bit_weights_take_a_byte_a_value_where_the_backend_unpacks_them() {
        let config = Idefics3Config::from_json("config.json", TINY.as_bytes()).expect("parses");
        let size = |q, storage| config.weight_bytes_stored(q, storage);
        let (packed, bytes) = (QuantStorage::Packed, QuantStorage::BytePerValue);
        // The tiny model's lm_head (340 x 64) has blocks along its 64 inputs for q8 but
        // stays f32 for q4 (340 outputs); every other weight is quantized by both.
        let lm_head = 340 * 64;
        assert_eq!(
            size(Quantization::Q4, bytes),
            size(Quantization::Q8, bytes) - lm_head / 32 * 36 + lm_head * 4
        );
        assert!(size(Quantization::Q4, packed) < size(Quantization::Q8, packed));
        assert_eq!(size(Quantization::None, packed), config.parameters() * 4);
        assert_eq!(
            config.weight_bytes(Quantization::Q4),
            size(Quantization::Q4, packed)
        );
    }
}
