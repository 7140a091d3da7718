//! The messages between the page and its model worker (the quick in-browser model check). Like
//! the scoring worker's `medhall_app::protocol`, they travel as JSON text; an image travels beside a
//! `Generate` message as its bytes.

use serde::{Deserialize, Serialize};

/// Bumped when a message changes shape; the worker states it in `Ready`.
pub const MODEL_PROTOCOL_VERSION: u32 = 4;

/// Where a model's (or adapter's) files come from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "from", rename_all = "snake_case")]
pub enum ModelSource {
    /// A folder URL holding the Hugging Face file names, e.g. a Hub `resolve/main/` URL.
    Url { base_url: String },
    /// Files the user dropped or picked. Their bytes travel beside the `Load` message (its
    /// `files` array): the model's names first, then the adapter's, each in this order.
    Files { names: Vec<String> },
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
        /// "none", "q8_0" (or its old spelling "q8") or "q4".
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
        /// One tile (faster): the whole image as one square for the vision encoder, even when
        /// the model's processor config splits images into tiles plus a global image.
        #[serde(default)]
        one_tile: bool,
    },
    /// Diagnostics and tests: the prefill logits (every position, flattened) of the chat prompt
    /// for `question` about the image sent beside the message.
    Logits { job: u32, question: String },
    /// The model's weight size in each quantization, from its `config.json` alone (answered by
    /// `Sizes`), so the choice can be shown with its memory size before the weights download.
    Sizes { job: u32, model: ModelSource },
    /// Stops a running `Generate` after its current token.
    Cancel { job: u32 },
    /// Deletes every cached model file.
    ClearCache,
    /// Fetches (or takes from the Cache API, or from the dropped files) and loads a RoBERTa
    /// folder for B.Score, answered by `BertScoreLoaded`. `model_name`: as bert_score would
    /// know the model (`FacebookAI/roberta-large`), for the default layer and the signature;
    /// `layer`: absent means bert_score's default for that name.
    BertScoreLoad {
        job: u32,
        model: ModelSource,
        model_name: String,
        layer: Option<u32>,
        batch_size: u32,
    },
    /// Scores pairs with the loaded model: `pairs[i]` = (bert_score's candidate, its
    /// reference), matched in chunks of the batch size in this order; `done[i]` marks pairs
    /// already kept (a chunk whose pairs are all done is skipped). Answered by
    /// `BertScoreProgress` and one `BertScoreChunk` per chunk as it completes, then
    /// `BertScoreDone`. `Cancel` stops it after the current encoder batch.
    BertScore {
        job: u32,
        pairs: Vec<(String, String)>,
        done: Vec<bool>,
    },
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
        /// A `Cancel` stopped it: the answer may be cut short.
        #[serde(default)]
        cancelled: bool,
        /// Images the vision encoder saw: the tiles and the global image, or 1.
        #[serde(default = "one")]
        image_tiles: u32,
        /// Where the time went (absent from workers before it was added).
        #[serde(default)]
        timings: Option<AnswerTimings>,
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
    /// Weight bytes by quantization name ("none", "q8_0", "q4"), adapter not included.
    Sizes {
        job: u32,
        bytes: Vec<(String, u64)>,
    },
    Error {
        job: Option<u32>,
        message: String,
    },
    BertScoreLoaded {
        job: u32,
        /// `medhall_metrics::signature::bertscore_signature` of this model, layer and batch size.
        signature: String,
        layer: u32,
        max_tokens: u32,
        load_ms: f64,
        network_files: u32,
        cached_files: u32,
        cache_error: Option<String>,
        /// Set when sentences are cut at another length than bert_score would cut them.
        length_note: Option<String>,
        /// The device's largest storage buffer (WebGPU), which can split encoder batches.
        buffer_limit: Option<u64>,
    },
    BertScoreProgress {
        job: u32,
        sentences_done: u32,
        sentences_total: u32,
    },
    BertScoreChunk {
        job: u32,
        /// Index of the chunk's first pair.
        start: u32,
        f1: Vec<f32>,
    },
    BertScoreDone {
        job: u32,
        cancelled: bool,
        sentences: u32,
        truncated: u32,
        empty_candidates: u32,
        empty_references: u32,
    },
}

fn one() -> u32 {
    1
}

/// Where one answer's time went, ms: each stage in order (a stage's time ends when its output
/// is read back, so on WebGPU it is work done, not only queued).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AnswerTimings {
    /// Decoding the image file and cutting it into the encoder's tiles (or one tile).
    pub preprocessing_ms: f64,
    /// The vision encoder, over every tile and the global image.
    pub vision_ms: f64,
    /// The connector (pixel shuffle and projection).
    pub connector_ms: f64,
    /// The text model over the prompt, to the first token.
    pub prefill_ms: f64,
    /// Each later token's decoding step.
    pub decode_ms: Vec<f64>,
    /// On WebGPU: the GPU kernels launched for the images, for the prefill and for each later
    /// token's step; `None` and empty on the CPU (and from workers before these fields).
    #[serde(default)]
    pub image_kernels: Option<usize>,
    #[serde(default)]
    pub prefill_kernels: Option<usize>,
    #[serde(default)]
    pub decode_kernels: Vec<usize>,
}

impl AnswerTimings {
    /// One line for a person: each stage's time, and the decoding steps' count, mean and
    /// slowest (the first steps of a run are often slower while the caches warm).
    pub fn summary(&self) -> String {
        let time = |ms: f64| {
            if ms >= 1000.0 {
                format!("{:.1} s", ms / 1000.0)
            } else {
                format!("{ms:.0} ms")
            }
        };
        let mut text = format!(
            "image preprocessing {}, vision encoder {}, connector {}, prefill {}",
            time(self.preprocessing_ms),
            time(self.vision_ms),
            time(self.connector_ms),
            time(self.prefill_ms)
        );
        let steps = self.decode_ms.len();
        if steps > 0 {
            let total: f64 = self.decode_ms.iter().sum();
            let slowest = self.decode_ms.iter().copied().fold(0.0, f64::max);
            text.push_str(&format!(
                ", {steps} decoding step{} (mean {}, slowest {})",
                if steps == 1 { "" } else { "s" },
                time(total / steps as f64),
                time(slowest)
            ));
        } else {
            text.push_str(", no decoding step after the first token");
        }
        if let (Some(image), Some(prefill)) = (self.image_kernels, self.prefill_kernels) {
            text.push_str(&format!("; GPU kernels: images {image}, prefill {prefill}"));
            if let Some(mean) = self.kernels_per_decoding_step() {
                text.push_str(&format!(", {mean:.0} a decoding step"));
            }
        }
        text
    }

    /// The mean number of GPU kernels a decoding step launched (`None` on the CPU or without a
    /// decoding step).
    pub fn kernels_per_decoding_step(&self) -> Option<f64> {
        let steps = self.decode_kernels.len();
        (steps > 0).then(|| self.decode_kernels.iter().sum::<usize>() as f64 / steps as f64)
    }
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

/// Files a RoBERTa folder is read from for B.Score: `vocab.json` + `merges.txt` or
/// `tokenizer.json` (the load says which are missing).
pub const BERTSCORE_FILES: &[(&str, bool)] = &[
    ("config.json", false),
    ("tokenizer_config.json", true),
    ("vocab.json", true),
    ("merges.txt", true),
    ("tokenizer.json", true),
    ("model.safetensors", false),
];

/// The model's name as bert_score would know it, from a folder URL: a Hugging Face
/// `…/<owner>/<name>/resolve/<revision>/` URL gives `<owner>/<name>`, another URL its last
/// path segment.
pub fn model_name_of_url(url: &str) -> String {
    let path = url
        .split(['?', '#'])
        .next()
        .unwrap_or(url)
        .split_once("://")
        .map_or(url, |(_, rest)| rest);
    let segments: Vec<&str> = path.split('/').skip(1).filter(|s| !s.is_empty()).collect();
    if let Some(at) = segments.iter().position(|s| *s == "resolve")
        && at >= 2
    {
        return format!("{}/{}", segments[at - 2], segments[at - 1]);
    }
    segments
        .last()
        .map_or_else(String::new, |s| (*s).to_owned())
}

/// Files an adapter folder is read from.
pub const ADAPTER_FILES: &[(&str, bool)] = &[
    ("adapter_config.json", false),
    ("adapter_model.safetensors", false),
];

/// Matches files the user gave (by base name, so a picked folder's paths work) to the file names
/// a model or adapter is read from: `(wanted name, index into given)` in `wanted`'s order.
/// Files that are not wanted (a README, a tokenizer config) are ignored; a missing required file
/// or a name given twice is an error that lists what was given.
pub fn match_files(
    given: &[String],
    wanted: &[(&'static str, bool)],
) -> Result<Vec<(&'static str, usize)>, String> {
    let base = |path: &str| path.rsplit(['/', '\\']).next().unwrap_or(path).to_owned();
    let listed = || given.iter().map(|g| base(g)).collect::<Vec<_>>().join(", ");
    let mut found = Vec::new();
    for &(name, optional) in wanted {
        let hits: Vec<usize> = (0..given.len())
            .filter(|&i| base(&given[i]) == name)
            .collect();
        match hits.as_slice() {
            [] if optional => {}
            [] => {
                return Err(format!(
                    "{name} is missing among the files given ({})",
                    listed()
                ));
            }
            [i] => found.push((name, *i)),
            _ => return Err(format!("{name} was given {} times", hits.len())),
        }
    }
    Ok(found)
}

/// The weights the model-check panel preselects on the backend the worker reported (`"cpu"`
/// or `"webgpu"`, as in `Ready`), with the reason it shows beside the choice. `device_memory_gb`
/// is the browser's `navigator.deviceMemory` where it has one (Chromium: a rough figure, at
/// most 8).
///
/// - CPU backend: q8_0. Its integer kernels read a quarter of f32's bytes a token; in the
///   browser's CPU fallback this build decoded at 26–41 tokens/s against f32's 24–28, with the
///   first token about a second later (10–11 s against 9 s) (README, `bench_model_browser.mjs`,
///   real-size random-weight SmolVLM-256M, 2026-12-01): about as fast for an answer of 50 to 100
///   tokens, in a quarter of the memory. f32 gives the checkpoint's own answers (q8_0 agrees on
///   about 95% of tokens), so the reason says so.
/// - WebGPU: f32. There burn dequantizes quantized weights for every product, so quantization
///   adds work instead of saving it; but q8_0 where the device reports under 4 GB of memory
///   (f32 SmolVLM-256M is about 1 GB of weights). Not measured on a GPU yet: say so.
pub fn preselected_weights(backend: &str, device_memory_gb: Option<f64>) -> (&'static str, String) {
    match (backend, device_memory_gb) {
        ("webgpu", Some(gb)) if gb < 4.0 => (
            "q8_0",
            format!(
                "q8_0 preselected: this device reports {gb} GB of memory, and f32 weights take about four times as much."
            ),
        ),
        ("webgpu", _) => (
            "none",
            "f32 preselected: on WebGPU quantized weights are expanded to f32 for every product, so they save memory, not time (not yet measured on a GPU).".to_owned(),
        ),
        _ => (
            "q8_0",
            "q8_0 preselected: on the CPU its 8-bit kernels decode faster than f32 (26–41 against 24–28 tokens/s, measured in this browser build) in a quarter of the memory; its first token comes about a second later, and f32 gives the model's exact answers.".to_owned(),
        ),
    }
}

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
    fn model_names_come_from_hub_urls_or_the_last_segment() {
        assert_eq!(
            model_name_of_url("https://huggingface.co/FacebookAI/roberta-large/resolve/main/"),
            "FacebookAI/roberta-large"
        );
        assert_eq!(
            model_name_of_url("http://127.0.0.1:8000/models/roberta-large/?x=1"),
            "roberta-large"
        );
        assert_eq!(
            model_name_of_url("http://127.0.0.1:8000/fixture"),
            "fixture"
        );
    }

    #[test]
    fn given_files_are_matched_by_base_name() {
        let given = vec![
            "lora/README.md".to_owned(),
            "lora/adapter_model.safetensors".to_owned(),
            "lora/adapter_config.json".to_owned(),
        ];
        assert_eq!(
            match_files(&given, ADAPTER_FILES),
            Ok(vec![
                ("adapter_config.json", 2),
                ("adapter_model.safetensors", 1)
            ])
        );
        let error = match_files(&given[..2], ADAPTER_FILES).expect_err("config missing");
        assert_eq!(
            error,
            "adapter_config.json is missing among the files given (README.md, adapter_model.safetensors)"
        );
        let twice = vec![
            "a/adapter_config.json".to_owned(),
            "b\\adapter_config.json".to_owned(),
        ];
        assert_eq!(
            match_files(&twice, ADAPTER_FILES),
            Err("adapter_config.json was given 2 times".to_owned())
        );
        // Optional files may be absent.
        let model = vec![
            "config.json".into(),
            "tokenizer.json".into(),
            "model.safetensors".into(),
        ];
        assert_eq!(match_files(&model, MODEL_FILES).map(|m| m.len()), Ok(3));
    }

    #[test]
    fn messages_round_trip_as_tagged_json() {
        let request = ModelRequest::Load {
            job: 3,
            model: ModelSource::Url {
                base_url: "https://example.org/m/".into(),
            },
            adapter: Some(ModelSource::Files {
                names: vec!["adapter_config.json".into()],
            }),
            quantization: "q8".into(),
            merge: false,
        };
        let text = serde_json::to_string(&request).expect("serialises");
        assert!(
            text.starts_with(r#"{"type":"load","job":3,"model":{"from":"url","#),
            "{text}"
        );
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

    #[test]
    fn weights_are_preselected_by_backend_and_memory() {
        assert_eq!(preselected_weights("cpu", None).0, "q8_0");
        assert_eq!(preselected_weights("cpu", Some(16.0)).0, "q8_0");
        assert_eq!(preselected_weights("webgpu", None).0, "none");
        assert_eq!(preselected_weights("webgpu", Some(8.0)).0, "none");
        let (weights, why) = preselected_weights("webgpu", Some(2.0));
        assert_eq!(weights, "q8_0");
        assert!(why.contains("2 GB"), "{why}");
    }

    #[test]
    fn answer_timings_travel_and_read_as_one_line() {
        let timings = AnswerTimings {
            preprocessing_ms: 12.4,
            vision_ms: 41_300.0,
            connector_ms: 310.0,
            prefill_ms: 5_020.0,
            decode_ms: vec![250.0, 180.0, 200.0],
            image_kernels: None,
            prefill_kernels: None,
            decode_kernels: Vec::new(),
        };
        let event = ModelEvent::Answer {
            job: 2,
            answer: "a".into(),
            prompt_tokens: 900,
            generated_tokens: 4,
            time_to_first_token_ms: 46_600.0,
            tokens_per_s: Some(5.0),
            cancelled: false,
            image_tiles: 13,
            timings: Some(timings.clone()),
        };
        let text = serde_json::to_string(&event).expect("serialises");
        assert_eq!(
            serde_json::from_str::<ModelEvent>(&text).expect("parses"),
            event
        );
        assert_eq!(
            timings.summary(),
            "image preprocessing 12 ms, vision encoder 41.3 s, connector 310 ms, prefill 5.0 s, 3 decoding steps (mean 210 ms, slowest 250 ms)"
        );
        let none = AnswerTimings {
            decode_ms: Vec::new(),
            ..timings.clone()
        };
        assert!(
            none.summary()
                .ends_with("no decoding step after the first token")
        );
        assert_eq!(none.kernels_per_decoding_step(), None);
        // On WebGPU the kernel counts follow, the decoding steps' as a mean.
        let gpu = AnswerTimings {
            image_kernels: Some(2_400),
            prefill_kernels: Some(610),
            decode_kernels: vec![600, 601, 605],
            ..timings.clone()
        };
        assert!(
            gpu.summary().ends_with(
                "slowest 250 ms); GPU kernels: images 2400, prefill 610, 602 a decoding step"
            ),
            "{}",
            gpu.summary()
        );
        assert_eq!(gpu.kernels_per_decoding_step(), Some(602.0));
        // A worker from before these fields: its timings still read.
        let old = r#"{"preprocessing_ms":1.0,"vision_ms":2.0,"connector_ms":3.0,"prefill_ms":4.0,"decode_ms":[5.0]}"#;
        let read: AnswerTimings = serde_json::from_str(old).expect("reads");
        assert_eq!(read.decode_kernels, Vec::<usize>::new());
    }
}
