//! The messages between the page and its model worker (the quick in-browser model check). Like
//! the scoring worker's [`crate::protocol`], they travel as JSON text; an image travels beside a
//! `Generate` message as its bytes.

use serde::{Deserialize, Serialize};

/// Bumped when a message changes shape; the worker states it in `Ready`.
pub const MODEL_PROTOCOL_VERSION: u32 = 1;

/// Where a model's (or adapter's) files are: a folder URL holding the Hugging Face file names.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelSource {
    /// The folder, ending in `/` (e.g. a Hub `resolve/main/` URL).
    pub base_url: String,
}

/// Page → model worker.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ModelRequest {
    /// Picks the backend: WebGPU when asked and available, otherwise the CPU backend (and says
    /// why). Answered by `Ready`.
    Init { prefer_gpu: bool },
    /// Fetches (or takes from the Cache API) and loads a model and an optional adapter.
    Load {
        job: u32,
        model: ModelSource,
        adapter: Option<ModelSource>,
        /// "none", "q8" or "q4".
        quantization: String,
        merge: bool,
    },
    /// Answers a question about the image sent beside the message.
    Generate {
        job: u32,
        question: String,
        image_name: String,
        max_new_tokens: u32,
        adapter_enabled: bool,
    },
    /// Diagnostics and tests: the prefill logits (every position, flattened) of the chat prompt
    /// for `question` about the image sent beside the message.
    Logits { job: u32, question: String },
    /// Stops a running `Generate` after its current token.
    Cancel { job: u32 },
    /// Deletes every cached model file.
    ClearCache,
}

/// Model worker → page.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ModelEvent {
    /// Posted once the worker's code has loaded: requests sent before it are lost, so the page
    /// waits for it.
    Started {
        version: u32,
    },
    Ready {
        version: u32,
        /// "webgpu" or "cpu".
        backend: String,
        /// The WebGPU adapter's description, when there is one.
        adapter_info: Option<String>,
        /// Why the CPU backend is used although WebGPU was asked for.
        fallback_reason: Option<String>,
    },
    Progress {
        job: u32,
        file: String,
        loaded: u64,
        total: Option<u64>,
        cached: bool,
    },
    Loaded {
        job: u32,
        weight_bytes: u64,
        load_ms: f64,
        /// Files fetched from the network (the rest came from the cache).
        network_files: u32,
        cached_files: u32,
        /// Why a downloaded file could not be stored in the cache (quota, private mode), if so.
        cache_error: Option<String>,
    },
    Token {
        job: u32,
        text: String,
    },
    Answer {
        job: u32,
        answer: String,
        prompt_tokens: u32,
        generated_tokens: u32,
        time_to_first_token_ms: f64,
        tokens_per_s: Option<f64>,
    },
    Logits {
        job: u32,
        /// The prompt's token ids.
        ids: Vec<u32>,
        /// `[ids.len(), vocab]`, row-major.
        values: Vec<f32>,
    },
    CacheCleared {
        files: u32,
    },
    Error {
        job: Option<u32>,
        message: String,
    },
}

/// Files a model folder is read from, in load order; `optional` ones may be absent (404).
pub const MODEL_FILES: &[(&str, bool)] = &[
    ("config.json", false),
    ("tokenizer.json", false),
    ("processor_config.json", true),
    ("preprocessor_config.json", true),
    ("generation_config.json", true),
    ("chat_template.jinja", true),
    ("chat_template.json", true),
    ("model.safetensors", false),
];

/// Files an adapter folder is read from.
pub const ADAPTER_FILES: &[(&str, bool)] = &[
    ("adapter_config.json", false),
    ("adapter_model.safetensors", false),
];

/// A benchmark question as the model is asked it: LLaVA's `<image>` marker removed (the chat
/// template places the image), surrounding whitespace trimmed.
pub fn question_text(question: &str) -> String {
    question
        .replace("\n<image>", "")
        .replace("<image>", "")
        .trim()
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_image_marker_is_removed_from_questions() {
        assert_eq!(
            question_text("Is there a mass?\n<image>"),
            "Is there a mass?"
        );
        assert_eq!(question_text("<image>\nDescribe it. "), "Describe it.");
        assert_eq!(question_text("No marker"), "No marker");
    }

    #[test]
    fn messages_round_trip_as_tagged_json() {
        let request = ModelRequest::Load {
            job: 3,
            model: ModelSource {
                base_url: "https://example.org/m/".into(),
            },
            adapter: None,
            quantization: "q8".into(),
            merge: false,
        };
        let text = serde_json::to_string(&request).expect("serialises");
        assert!(text.starts_with(r#"{"type":"load","job":3"#), "{text}");
        assert_eq!(
            serde_json::from_str::<ModelRequest>(&text).expect("parses"),
            request
        );
        let event: ModelEvent = serde_json::from_str(
            r#"{"type":"answer","job":1,"answer":"<b>x</b>","prompt_tokens":90,"generated_tokens":3,"time_to_first_token_ms":12.5,"tokens_per_s":null}"#,
        )
        .expect("parses");
        assert!(matches!(
            event,
            ModelEvent::Answer {
                tokens_per_s: None,
                ..
            }
        ));
        assert!(serde_json::from_str::<ModelRequest>(r#"{"type":"nope"}"#).is_err());
    }
}
