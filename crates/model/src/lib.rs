//! The vision-language model of MedHall Lens' quick model check: SmolVLM (Idefics3: a SigLIP
//! vision encoder, a pixel-shuffle connector, a Llama-style decoder) with a PEFT LoRA adapter.
//!
//! Written once against burn's tensors on a runtime `Device` (`Device::flex()` on the CPU,
//! natively and in wasm; wgpu natively and WebGPU in the browser with the `wgpu` feature), and
//! tested against checkpoints and reference logits written by Hugging Face transformers and peft
//! (`tests/fixtures`, made by `scripts/gen_model_fixtures.py`):
//! - [`config`]: `config.json` in the transformers 4 and 5 layouts and the explicit tensor name
//!   and shape map; [`safetensors`] and [`weights`]: checkpoints from bytes (the browser hands
//!   bytes, not paths), f32/bf16/f16;
//! - [`vision`], [`text`], [`vlm`]: the SigLIP encoder, pixel-shuffle connector and Llama decoder
//!   with its KV cache; [`adapter`] and [`nn`]: PEFT LoRA adapters, unmerged (switchable) or
//!   merged, and the quantized linear weights (q8_0: GGML's Q8_0 layout with int8 activations,
//!   on the CPU through [`q8`]'s integer kernels; q4: burn's block quantization);
//! - [`image`] and [`prompt`]: the Idefics3 image processor (Pillow's resize, bit for bit) and
//!   the tokenizer with SmolVLM's chat template; [`generate`]: greedy or seeded sampling with a
//!   KV cache, stop tokens, streaming callback and timings.
//!
//! It must not depend on web crates (the worker that runs it in the browser is glue around it),
//! nor on the domain crate (`medhall-core`): of ours it uses only `medhall-metrics` (B.Score's
//! matching and signature, Python's whitespace, the seeded generator).

pub mod adapter;
pub mod bertscore;
pub mod config;
pub mod elementwise;
pub mod generate;
pub mod gpu;
pub mod image;
pub mod nn;
pub mod prompt;
pub mod q8;
pub mod roberta;
pub mod roberta_tokenizer;
pub mod safetensors;
pub mod text;
pub mod vision;
pub mod vlm;
pub mod weights;

/// Everything that can be wrong with a model's files, each naming the file and what is wrong.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ModelError {
    #[error("{file}: not valid JSON: {message}")]
    Json { file: String, message: String },
    #[error("{file}: missing or unusable field `{field}`: {message}")]
    Field {
        file: String,
        field: String,
        message: String,
    },
    #[error("{file}: truncated or corrupt safetensors: {detail}")]
    Corrupt { file: String, detail: String },
    #[error("{file}: tensor `{name}` is missing")]
    MissingTensor { file: String, name: String },
    #[error("{file}: tensor `{name}` has shape {found:?}, the configuration needs {expected:?}")]
    Shape {
        file: String,
        name: String,
        expected: Vec<usize>,
        found: Vec<usize>,
    },
    #[error("{file}: {message}")]
    Adapter { file: String, message: String },
    #[error("{0}")]
    Input(String),
    #[error("{file}: not a usable image: {message}")]
    Image { file: String, message: String },
}
