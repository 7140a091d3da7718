//! The vision-language model of MedHall Lens' quick model check: SmolVLM (Idefics3: a SigLIP
//! vision encoder, a pixel-shuffle connector, a Llama-style decoder) with a PEFT LoRA adapter.
//!
//! What exists so far is what every later part stands on, tested against checkpoints written by
//! Hugging Face transformers and peft (`tests/fixtures`, made by `scripts/gen_model_fixtures.py`):
//! reading `config.json` in both the transformers 4 and 5 layouts, the explicit list of tensors
//! (names and shapes) a configuration implies, validating a safetensors checkpoint against it
//! from its bytes (the browser hands bytes, not paths), and validating a LoRA adapter against
//! its base model. The burn modules, quantization, tokenizer and generation are not written yet.
//!
//! It must not depend on web crates: the worker that runs it in the browser is glue around it.

pub mod adapter;
pub mod config;
pub mod safetensors;

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
}
