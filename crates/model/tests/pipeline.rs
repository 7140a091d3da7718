//! From image bytes and a question to generated tokens, against the processor, tokenizer and
//! `generate` outputs transformers recorded for the tiny fixture.

use burn::prelude::*;
use medhall_model::config::Idefics3Config;
use medhall_model::generate::{
    GenerationOptions, Pause, Sampling, StopReason, Timings, generate, generate_pausing,
};
use medhall_model::image::{ImageSettings, Rgb8, TileGrid, decode, preprocess};
use medhall_model::nn::Quantization;
use medhall_model::prompt::Prompter;
use medhall_model::safetensors::SafeTensors;
use medhall_model::vlm::Idefics3;
use medhall_model::weights::HostTensor;

mod common;
use common::fixture;

fn reference_json() -> serde_json::Value {
    serde_json::from_slice(&fixture("reference.json")).expect("reference.json")
}

fn ids(json: &serde_json::Value, pointer: &str) -> Vec<u32> {
    json.pointer(pointer)
        .and_then(|v| v.as_array())
        .unwrap_or_else(|| panic!("{pointer}"))
        .iter()
        .map(|v| v.as_u64().expect("id") as u32)
        .collect()
}

fn settings() -> ImageSettings {
    ImageSettings::from_json(
        "processor_config.json",
        &fixture("tiny-idefics3/processor_config.json"),
    )
    .expect("processor settings")
}

fn prompter() -> Prompter {
    Prompter::new(
        &fixture("tiny-idefics3/tokenizer.json"),
        Some(&fixture("tiny-idefics3/processor_config.json")),
        16,
        Some(&fixture("tiny-idefics3/generation_config.json")),
        Some(&fixture("tiny-idefics3/chat_template.jinja")),
    )
    .expect("prompter")
}

#[test]
fn image_preprocessing_reproduces_the_pil_processor() {
    let image = decode("fixture-image.png", &fixture("fixture-image.png")).expect("png");
    assert_eq!((image.width, image.height), (40, 30));
    let ours = preprocess("fixture-image.png", &image, &settings()).expect("preprocesses");
    let bytes = fixture("reference.safetensors");
    let st = SafeTensors::parse("reference.safetensors", &bytes).expect("parses");
    let expected = HostTensor::read(
        "reference.safetensors",
        &st,
        "pixel_values",
        &[1, 1, 3, 64, 64],
    )
    .expect("pixel_values");
    assert_eq!(ours.len(), expected.values.len());
    let differing = ours
        .iter()
        .zip(&expected.values)
        .filter(|(a, b)| a != b)
        .count();
    assert_eq!(differing, 0, "pixels differing from the processor's");
}

#[test]
fn the_chat_prompt_tokenizes_as_the_processor_does() {
    let json = reference_json();
    let p = prompter();
    assert!(p.template_matches());
    assert_eq!(p.image_seq_len, 16);
    let question = json
        .pointer("/input/messages/0/content/1/text")
        .and_then(|v| v.as_str())
        .expect("question");
    assert_eq!(
        Prompter::chat(question, true),
        json["input"]["prompt"].as_str().expect("prompt")
    );
    assert_eq!(
        p.encode_question(question, Some(TileGrid::default()))
            .expect("encodes"),
        ids(&json, "/input/input_ids")
    );
    assert!(p.stop_ids.contains(&339), "<end_of_utterance> stops");
}

/// The tiny fixture model, f32, on the CPU.
fn tiny_model() -> Idefics3 {
    common::tiny_model(None, Quantization::None, &Device::flex())
}

#[test]
fn greedy_generation_from_bytes_gives_transformers_tokens() {
    let json = reference_json();
    let model = tiny_model();
    let p = prompter();
    let image = decode("fixture-image.png", &fixture("fixture-image.png")).expect("png");
    let pixels = preprocess("fixture-image.png", &image, &settings()).expect("preprocesses");
    let pixels = Tensor::<3>::from_data(TensorData::new(pixels, [3, 64, 64]), model.device());
    let prompt = p
        .encode_question("What is shown in this image?", Some(TileGrid::default()))
        .expect("ids");
    let mut streamed = Vec::new();
    // A clock that advances 10 ms per reading: start, the vision encoder's and the connector's
    // start and end, the prefill's start, the first token, each later step's start and end,
    // the end.
    let ticks = std::cell::Cell::new(0.0);
    let clock = || {
        ticks.set(ticks.get() + 10.0);
        ticks.get()
    };
    let generation = pollster::block_on(generate(
        &model,
        &prompt,
        std::slice::from_ref(&pixels),
        &p.stop_ids,
        GenerationOptions {
            max_new_tokens: 4,
            sampling: Sampling::Greedy,
        },
        &clock,
        &mut |t| {
            streamed.push(t);
            true
        },
    ))
    .expect("generates");
    assert_eq!(generation.tokens, ids(&json, "/results/base/greedy_tokens"));
    assert_eq!(streamed, generation.tokens);
    assert_eq!(generation.stop, StopReason::MaxTokens);
    assert_eq!(generation.prompt_tokens, 44);
    assert_eq!(generation.time_to_first_token_ms, 60.0);
    assert_eq!(generation.total_ms, 130.0);
    // 3 tokens after the first in 70 ms (the first token's reading to the end's).
    assert_eq!(generation.decode_tokens_per_s, Some(3.0 / 0.07));
    assert_eq!(
        generation.timings,
        Timings {
            vision_ms: 10.0,
            connector_ms: 10.0,
            prefill_ms: 10.0,
            decode_ms: vec![10.0; 3],
            // The CPU backend launches no GPU kernels: nothing is counted.
            image_kernels: None,
            prefill_kernels: None,
            decode_kernels: Vec::new(),
        }
    );

    // A cancel that arrives while the image is being encoded stops before the prefill.
    let pauses = std::cell::Cell::new(0);
    let stopped = pollster::block_on(generate_pausing(
        &model,
        &prompt,
        std::slice::from_ref(&pixels),
        &p.stop_ids,
        GenerationOptions::default(),
        &clock,
        &mut |_| panic!("no token after a cancel during the image"),
        &|| -> Pause {
            pauses.set(pauses.get() + 1);
            Box::pin(std::future::ready(false))
        },
    ))
    .expect("stops");
    assert_eq!(stopped.stop, StopReason::Cancelled);
    assert!(stopped.tokens.is_empty());
    assert_eq!(pauses.get(), 1);
    assert_eq!(stopped.timings.prefill_ms, 0.0);
    assert_eq!(stopped.timings.vision_ms, 10.0);

    // Sampling: seeded, so repeatable; a callback returning false cancels.
    let sample = |seed| {
        pollster::block_on(generate(
            &model,
            &prompt,
            std::slice::from_ref(&pixels),
            &p.stop_ids,
            GenerationOptions {
                max_new_tokens: 6,
                sampling: Sampling::Sample {
                    temperature: 1.0,
                    top_k: 0,
                    top_p: 1.0,
                    seed,
                },
            },
            &|| 0.0,
            &mut |_| true,
        ))
        .expect("samples")
        .tokens
    };
    assert_eq!(sample(5), sample(5));
    let cancelled = pollster::block_on(generate(
        &model,
        &prompt,
        &[pixels],
        &p.stop_ids,
        GenerationOptions::default(),
        &|| 0.0,
        &mut |_| false,
    ))
    .expect("runs");
    assert_eq!(cancelled.stop, StopReason::Cancelled);
    assert_eq!(cancelled.tokens.len(), 1);
}

#[test]
fn corrupt_images_and_settings_are_errors() {
    let png = fixture("fixture-image.png");
    let err = decode("scan.png", &png[..png.len() / 2]).expect_err("truncated png");
    assert!(
        err.to_string().starts_with("scan.png: not a usable image"),
        "{err}"
    );
    assert!(decode("x.jpg", b"not an image").is_err());
    assert!(decode("empty", b"").is_err());
    let err = ImageSettings::from_json("processor_config.json", br#"{"image_processor": {}}"#)
        .expect_err("no sizes");
    assert!(
        err.to_string()
            .starts_with("processor_config.json: missing or unusable field"),
        "{err}"
    );
    let no_size = br#"{"image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5]}"#;
    let err = ImageSettings::from_json("preprocessor_config.json", no_size).expect_err("no size");
    assert!(err.to_string().contains("`size`"), "{err}");
    assert!(ImageSettings::from_json("p.json", b"{").is_err());
    assert!(Prompter::new(b"{}", None, 16, None, None).is_err());
    let tokenizer = fixture("tiny-idefics3/tokenizer.json");
    let err = Prompter::new(&tokenizer, Some(br#"{"image_seq_len": 0}"#), 16, None, None)
        .err()
        .map(|e| e.to_string());
    assert_eq!(
        err.as_deref(),
        Some(
            "processor_config.json: missing or unusable field `image_seq_len`: needs a positive integer"
        )
    );
}

fn tiny_config() -> Idefics3Config {
    Idefics3Config::from_json("config.json", &fixture("tiny-idefics3/config.json")).expect("config")
}

#[test]
fn an_image_the_processor_does_not_resize_is_an_error_unless_it_is_the_model_size() {
    // tiny-idefics3-inconsistent: the tiny model with do_resize false.
    let processor = fixture("tiny-idefics3-inconsistent/processor_config.json");
    let settings =
        ImageSettings::for_model(Some(&processor), None, &tiny_config()).expect("consistent sizes");
    assert!(!settings.do_resize);
    let image = decode("fixture-image.png", &fixture("fixture-image.png")).expect("png");
    let err = preprocess("fixture-image.png", &image, &settings).expect_err("40×30 is not 64×64");
    assert_eq!(
        err.to_string(),
        "fixture-image.png: not a usable image: it is 40×30, but processor_config.json sets do_resize to false and the model needs 64×64 (max_image_size)"
    );
    // An image already at the model's size is used as it is: rescaled and normalised only.
    let square = Rgb8 {
        width: 64,
        height: 64,
        pixels: (0..64 * 64 * 3).map(|i| (i % 251) as u8).collect(),
    };
    let values = preprocess("square.png", &square, &settings).expect("64×64 needs no resize");
    assert_eq!(values.len(), 3 * 64 * 64);
    // Channel 1 of pixel 5 is byte 16: (16 / 255 - 0.5) / 0.5.
    let expected = ((f64::from(16u8) * settings.rescale_factor) as f32 - 0.5) / 0.5;
    assert_eq!(values[64 * 64 + 5], expected);
}

#[test]
fn image_settings_come_from_the_right_file_and_must_fit_the_vision_encoder() {
    let config = tiny_config();
    let processor = fixture("tiny-idefics3/processor_config.json");
    let settings = ImageSettings::for_model(Some(&processor), None, &config).expect("settings");
    assert_eq!(settings.file, "processor_config.json");
    assert_eq!(settings.max_image_size, 64);
    // An older snapshot: processor_config.json without the settings, preprocessor_config.json
    // with them at the top level.
    let root: serde_json::Value = serde_json::from_slice(&processor).expect("JSON");
    let old_processor = br#"{"image_seq_len": 16}"#;
    let preprocessor = serde_json::to_vec(&root["image_processor"]).expect("JSON");
    let settings = ImageSettings::for_model(Some(old_processor), Some(&preprocessor), &config)
        .expect("from preprocessor_config.json");
    assert_eq!(settings.file, "preprocessor_config.json");
    let err = ImageSettings::for_model(Some(old_processor), None, &config).expect_err("none");
    assert!(
        err.to_string().contains("no image-processor settings"),
        "{err}"
    );
    let err = ImageSettings::for_model(None, None, &config).expect_err("no files");
    assert!(
        err.to_string().contains("no image-processor settings"),
        "{err}"
    );
    // max_image_size must be the encoder's image_size, in either file.
    let mut small = root.clone();
    small["image_processor"]["max_image_size"]["longest_edge"] = 32.into();
    let bytes = serde_json::to_vec(&small).expect("JSON");
    let err = ImageSettings::for_model(Some(&bytes), None, &config).expect_err("32 vs 64");
    assert_eq!(
        err.to_string(),
        "processor_config.json: missing or unusable field `image_processor.max_image_size.longest_edge`: is 32, but config.json's vision_config.image_size is 64: the vision encoder takes 64×64 images"
    );
    let bytes = serde_json::to_vec(&small["image_processor"]).expect("JSON");
    let err = ImageSettings::for_model(None, Some(&bytes), &config).expect_err("32 vs 64");
    assert!(
        err.to_string().starts_with(
            "preprocessor_config.json: missing or unusable field `max_image_size.longest_edge`: is 32"
        ),
        "{err}"
    );
}

#[test]
fn pixels_of_the_wrong_shape_are_an_error_not_a_panic() {
    let model = tiny_model();
    let prompt = prompter()
        .encode_question("What is shown?", Some(TileGrid::default()))
        .expect("ids");
    for shape in [[3, 30, 40], [3, 32, 32], [4, 64, 64]] {
        let pixels = Tensor::<3>::zeros(shape, model.device());
        let mut cache = medhall_model::text::KvCache::default();
        let err = model
            .prefill(&prompt, Some(pixels), &mut cache)
            .expect_err("not [3, 64, 64]");
        assert!(
            err.to_string()
                .contains("the vision encoder needs [3, 64, 64]"),
            "{err}"
        );
    }
}
