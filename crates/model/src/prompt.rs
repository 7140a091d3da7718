//! The tokenizer (Hugging Face `tokenizers`, from `tokenizer.json` bytes) and SmolVLM's chat
//! template with the Idefics3 processor's image-token expansion, for one image or for tiles and
//! a global image.

use serde_json::Value;
use tokenizers::Tokenizer;

use crate::ModelError;
use crate::image::TileGrid;

/// SmolVLM's published chat template (the tiny fixture's `chat_template.jinja` is the same).
/// The prompt is built by [`Prompter::chat`] rather than by a Jinja engine; a model whose
/// template differs is reported by [`Prompter::template_matches`].
pub const SMOLVLM_TEMPLATE: &str = "<|im_start|>{% for message in messages %}{{message['role'] | capitalize}}{% if message['content'][0]['type'] == 'image' %}{{':'}}{% else %}{{': '}}{% endif %}{% for line in message['content'] %}{% if line['type'] == 'text' %}{{line['text']}}{% elif line['type'] == 'image' %}{{ '<image>' }}{% endif %}{% endfor %}<end_of_utterance>\n{% endfor %}{% if add_generation_prompt %}{{ 'Assistant:' }}{% endif %}";

pub struct Prompter {
    tokenizer: Tokenizer,
    /// Image tokens per image (`image_seq_len` of `processor_config.json`).
    pub image_seq_len: usize,
    /// Ids that end generation: the generation config's `eos_token_id`(s) and
    /// `<end_of_utterance>`.
    pub stop_ids: Vec<u32>,
    template: Option<String>,
}

impl Prompter {
    /// From `tokenizer.json`, the processor config (`processor_config.json`, for
    /// `image_seq_len`; without it, or without that key, `default_image_seq_len`, which the
    /// model's config implies), optionally `generation_config.json` and the model's chat
    /// template text (`chat_template.jinja`, or `chat_template.json`).
    pub fn new(
        tokenizer_json: &[u8],
        processor_config: Option<&[u8]>,
        default_image_seq_len: usize,
        generation_config: Option<&[u8]>,
        chat_template: Option<&[u8]>,
    ) -> Result<Prompter, ModelError> {
        let tokenizer = Tokenizer::from_bytes(tokenizer_json).map_err(|e| ModelError::Json {
            file: "tokenizer.json".to_owned(),
            message: e.to_string(),
        })?;
        let mut image_seq_len = default_image_seq_len;
        if let Some(bytes) = processor_config {
            let processor: Value = serde_json::from_slice(bytes).map_err(|e| ModelError::Json {
                file: "processor_config.json".to_owned(),
                message: e.to_string(),
            })?;
            if let Some(value) = processor.get("image_seq_len") {
                image_seq_len = value
                    .as_u64()
                    .and_then(|n| usize::try_from(n).ok())
                    .filter(|&n| n > 0)
                    .ok_or_else(|| ModelError::Field {
                        file: "processor_config.json".to_owned(),
                        field: "image_seq_len".to_owned(),
                        message: "needs a positive integer".to_owned(),
                    })?;
            }
        }
        let mut stop_ids = Vec::new();
        if let Some(bytes) = generation_config {
            let generation: Value =
                serde_json::from_slice(bytes).map_err(|e| ModelError::Json {
                    file: "generation_config.json".to_owned(),
                    message: e.to_string(),
                })?;
            match generation.get("eos_token_id") {
                Some(Value::Number(n)) => stop_ids.extend(n.as_u64().map(|n| n as u32)),
                Some(Value::Array(ids)) => {
                    stop_ids.extend(ids.iter().filter_map(Value::as_u64).map(|n| n as u32))
                }
                _ => {}
            }
        }
        for token in ["<end_of_utterance>", "<|im_end|>"] {
            if let Some(id) = tokenizer.token_to_id(token)
                && !stop_ids.contains(&id)
            {
                stop_ids.push(id);
            }
        }
        let template = chat_template.map(|bytes| {
            let text = String::from_utf8_lossy(bytes).into_owned();
            // chat_template.json holds {"chat_template": "..."}.
            serde_json::from_str::<Value>(&text)
                .ok()
                .and_then(|v| {
                    v.get("chat_template")
                        .and_then(Value::as_str)
                        .map(str::to_owned)
                })
                .unwrap_or(text)
        });
        Ok(Prompter {
            tokenizer,
            image_seq_len,
            stop_ids,
            template,
        })
    }

    /// Whether the model's chat template is SmolVLM's (or none was given).
    pub fn template_matches(&self) -> bool {
        self.template
            .as_deref()
            .is_none_or(|t| t.trim_end() == SMOLVLM_TEMPLATE.trim_end())
    }

    /// The chat prompt for one user turn: an image (if any) then the question, and the
    /// assistant's generation prompt.
    pub fn chat(question: &str, image: bool) -> String {
        let image = if image { "<image>" } else { "" };
        let separator = if image.is_empty() { ": " } else { ":" };
        format!("<|im_start|>User{separator}{image}{question}<end_of_utterance>\nAssistant:")
    }

    /// The processor's expansion of each `<image>` for an image cut into `grid`: without
    /// splitting, the global image's tokens between `<fake_token_around_image>` markers; with
    /// it, each tile's `<fake_token_around_image><row_r_col_c>` and image tokens, a line break
    /// after each row, then a line break and the global image as without splitting.
    pub fn expand_images(&self, prompt: &str, grid: TileGrid) -> String {
        const AROUND: &str = "<fake_token_around_image>";
        let image_tokens = "<image>".repeat(self.image_seq_len);
        let mut tokens = String::new();
        for row in 1..=grid.rows {
            for col in 1..=grid.cols {
                tokens.push_str(&format!("{AROUND}<row_{row}_col_{col}>{image_tokens}"));
            }
            tokens.push('\n');
        }
        if grid.rows > 0 {
            tokens.push('\n');
        }
        tokens.push_str(&format!("{AROUND}<global-img>{image_tokens}{AROUND}"));
        prompt.replace("<image>", &tokens)
    }

    /// Token ids of a question about one image cut into `image`'s grid (or about none), ready
    /// for prefill.
    pub fn encode_question(
        &self,
        question: &str,
        image: Option<TileGrid>,
    ) -> Result<Vec<u32>, ModelError> {
        let chat = Prompter::chat(question, image.is_some());
        let prompt = match image {
            Some(grid) => self.expand_images(&chat, grid),
            None => chat,
        };
        self.encode(&prompt)
    }

    pub fn encode(&self, text: &str) -> Result<Vec<u32>, ModelError> {
        self.tokenizer
            .encode(text, true)
            .map(|e| e.get_ids().to_vec())
            .map_err(|e| ModelError::Input(format!("tokenizer: {e}")))
    }

    /// Text of generated ids, special tokens skipped.
    pub fn decode(&self, ids: &[u32]) -> Result<String, ModelError> {
        self.tokenizer
            .decode(ids, true)
            .map_err(|e| ModelError::Input(format!("tokenizer: {e}")))
    }
}
