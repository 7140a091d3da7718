//! A LoRA adapter on every linear layer (SigLIP encoder, connector and text model) against peft
//! 0.21 on the tiny model (`scripts/gen_lora_all_fixture.py`): unmerged, switched off, merged, and
//! with q8_0 weights.

use burn::prelude::*;
use medhall_model::generate::{GenerationOptions, Sampling, generate};
use medhall_model::image::{ImageSettings, decode, preprocess};
use medhall_model::nn::Quantization;
use medhall_model::text::KvCache;
use medhall_model::vlm::{AdapterFiles, AdapterMode, Idefics3, LoadOptions, ModelFiles};
use serde_json::Value;

mod common;
use common::{device, fixture, tiny_model};

const TOLERANCE: f32 = 1e-4;

fn reference() -> Value {
    serde_json::from_slice(&fixture("lora_all_reference.json")).expect("reference JSON")
}

fn u32s(v: &Value) -> Vec<u32> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|x| x.as_u64().expect("id") as u32)
        .collect()
}

fn load(adapter: Option<AdapterMode>, quantization: Quantization) -> Idefics3 {
    tiny_model(
        adapter.map(|mode| ("tiny-lora-all", mode)),
        quantization,
        &device(),
    )
}

fn pixels(model: &Idefics3) -> Tensor<3> {
    let settings = ImageSettings::from_json(
        "processor_config.json",
        &fixture("tiny-idefics3/processor_config.json"),
    )
    .expect("settings");
    let image = decode("fixture-image.png", &fixture("fixture-image.png")).expect("png");
    let values = preprocess("fixture-image.png", &image, &settings).expect("preprocesses");
    Tensor::from_data(TensorData::new(values, [3, 64, 64]), model.device())
}

/// The prefill logits at the reference's positions, `(position, row)`.
fn logits(model: &Idefics3, reference: &Value) -> Vec<(usize, Vec<f32>)> {
    let ids = u32s(&reference["input_ids"]);
    let all = model
        .prefill(&ids, Some(pixels(model)), &mut KvCache::default())
        .expect("prefill");
    let [_, vocab] = all.dims();
    let values = all
        .into_data()
        .try_into_vec_as::<f32>()
        .expect("f32 logits");
    u32s(&reference["positions"])
        .into_iter()
        .map(|p| {
            let p = p as usize;
            (p, values[p * vocab..(p + 1) * vocab].to_vec())
        })
        .collect()
}

fn expected(reference: &Value, variant: &str, position: usize) -> Vec<f32> {
    reference[variant]["logits"][position.to_string()]
        .as_array()
        .expect("a logits row")
        .iter()
        .map(|v| v.as_f64().expect("number") as f32)
        .collect()
}

fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// Compares our logits with peft's for `variant` and returns the largest difference.
fn check(model: &Idefics3, reference: &Value, variant: &str) -> f32 {
    let mut worst = 0.0f32;
    for (position, row) in logits(model, reference) {
        let diff = max_diff(&row, &expected(reference, variant, position));
        assert!(
            diff <= TOLERANCE,
            "{variant}: position {position}: max |ours - peft| = {diff:e}"
        );
        worst = worst.max(diff);
    }
    worst
}

fn greedy(model: &Idefics3, reference: &Value) -> Vec<u32> {
    let generation = pollster::block_on(generate(
        model,
        &u32s(&reference["input_ids"]),
        &[pixels(model)],
        &[],
        GenerationOptions {
            max_new_tokens: 4,
            sampling: Sampling::Greedy,
        },
        &|| 0.0,
        &mut |_| true,
    ))
    .expect("generates");
    generation.tokens
}

#[test]
fn the_adapter_covers_the_vision_encoder_the_connector_and_the_text_model() {
    let reference = reference();
    let parts = &reference["adapter"]["adapted_by_part"];
    assert!(parts["vision_encoder"].as_u64() > Some(0));
    assert_eq!(parts["connector"].as_u64(), Some(1));
    // Names as users write them: a plain list, not a pattern.
    assert!(reference["adapter"]["target_modules"].is_array());
}

#[test]
fn an_unmerged_adapter_on_every_linear_layer_matches_peft_and_switches_off() {
    let reference = reference();
    let model = load(Some(AdapterMode::Unmerged), Quantization::None);
    let diff = check(&model, &reference, "lora_unmerged");
    println!("unmerged adapter: logits within {diff:.2e} of peft's");
    assert_eq!(
        greedy(&model, &reference),
        u32s(&reference["lora_unmerged"]["greedy_tokens"])
    );
    assert!(model.set_adapter_enabled(false));
    check(&model, &reference, "base");
    assert_eq!(
        greedy(&model, &reference),
        u32s(&reference["base"]["greedy_tokens"])
    );
    assert!(model.set_adapter_enabled(true));
    check(&model, &reference, "lora_unmerged");
}

#[test]
fn a_merged_adapter_on_every_linear_layer_matches_peft_merge_and_unload() {
    let reference = reference();
    let model = load(Some(AdapterMode::Merged), Quantization::None);
    let diff = check(&model, &reference, "lora_merged");
    println!("merged adapter: logits within {diff:.2e} of peft's");
    assert_eq!(
        greedy(&model, &reference),
        u32s(&reference["lora_merged"]["greedy_tokens"])
    );
    assert!(!model.set_adapter_enabled(false));
    // Merged into the weights: the same bytes as the base model.
    let base = load(None, Quantization::None);
    assert_eq!(model.stored_bytes(), base.stored_bytes());
}

#[test]
fn the_adapter_factors_of_every_layer_are_counted() {
    let base = load(None, Quantization::None)
        .stored_bytes()
        .expect("measured");
    let unmerged = load(Some(AdapterMode::Unmerged), Quantization::None);
    // r 4: each adapted layer adds A [in, 4] and B [4, out] in f32. Vision (hidden 32, MLP 128,
    // 2 layers): q, k, v, out (32→32), fc1 (32→128), fc2 (128→32); connector 512→64; text
    // (2 layers): q (64→64), k, v (64→32), o (64→64), gate, up (64→128), down (128→64).
    let vision: usize = [(32, 32), (32, 32), (32, 32), (32, 32), (32, 128), (128, 32)]
        .iter()
        .map(|(i, o)| 4 * (i + o))
        .sum();
    let text: usize = [
        (64, 64),
        (64, 32),
        (64, 32),
        (64, 64),
        (64, 128),
        (64, 128),
        (128, 64),
    ]
    .iter()
    .map(|(i, o)| 4 * (i + o))
    .sum();
    let connector = 4 * (512 + 64);
    let adapter = (2 * vision + connector + 2 * text) * 4;
    assert_eq!(unmerged.stored_bytes(), Some(base + adapter));
    assert_eq!(unmerged.nominal_bytes(), base + adapter);
}

#[test]
fn q8_weights_keep_the_vision_adapter() {
    // q8_0 quantizes the base weights only; the adapter's f32 factors stay, on vision layers
    // too: its logits are close to the f32 adapted model's and far from the base model's.
    let reference = reference();
    let model = load(Some(AdapterMode::Unmerged), Quantization::Q8);
    let ours = logits(&model, &reference);
    let (mut to_adapted, mut to_base) = (0.0f32, 0.0f32);
    for (position, row) in &ours {
        to_adapted = to_adapted.max(max_diff(
            row,
            &expected(&reference, "lora_unmerged", *position),
        ));
        to_base = to_base.max(max_diff(row, &expected(&reference, "base", *position)));
    }
    println!(
        "q8_0 with the adapter: {to_adapted:.3} from peft's f32 logits, {to_base:.3} from the base's"
    );
    assert!(to_adapted < 0.5, "{to_adapted}");
    assert!(to_base > 4.0 * to_adapted, "{to_base} vs {to_adapted}");
    // Switching it off reaches the q8_0 base model.
    assert!(model.set_adapter_enabled(false));
    let base = load(None, Quantization::Q8);
    for ((_, off), (_, q8_base)) in logits(&model, &reference)
        .iter()
        .zip(logits(&base, &reference))
    {
        assert!(max_diff(off, &q8_base) <= 1e-5);
    }
}

/// A safetensors file of zero-filled f32 tensors.
fn safetensors(tensors: &[(&str, [usize; 2])]) -> Vec<u8> {
    let mut header = serde_json::Map::new();
    let mut offset = 0;
    for (name, shape) in tensors {
        let bytes = shape[0] * shape[1] * 4;
        header.insert(
            (*name).to_owned(),
            serde_json::json!({"dtype": "F32", "shape": shape, "data_offsets": [offset, offset + bytes]}),
        );
        offset += bytes;
    }
    let header = Value::Object(header).to_string();
    let mut out = (header.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(header.as_bytes());
    out.resize(out.len() + offset, 0);
    out
}

#[test]
fn an_adapter_on_a_layer_that_is_not_linear_is_refused_by_name() {
    // The vision encoder's position embedding is a 2-D weight but not a linear layer.
    let module = "base_model.model.model.vision_model.embeddings.position_embedding";
    let weights = safetensors(&[
        (&format!("{module}.lora_A.weight"), [4, 32]),
        (&format!("{module}.lora_B.weight"), [256, 4]),
    ]);
    let config = br#"{"peft_type": "LORA", "r": 4, "lora_alpha": 8, "target_modules": ["position_embedding"]}"#;
    let model_config = fixture("tiny-idefics3/config.json");
    let model_weights = fixture("tiny-idefics3/model.safetensors");
    let err = Idefics3::load(
        &ModelFiles {
            config: &model_config,
            weights: &model_weights,
        },
        Some((
            &AdapterFiles {
                config,
                weights: &weights,
            },
            AdapterMode::Unmerged,
        )),
        LoadOptions::default(),
        &device(),
    )
    .err()
    .expect("refused");
    let message = err.to_string();
    assert!(
        message.contains("1 of its 1 adapted layers are not linear layers of the model")
            && message.contains("model.vision_model.embeddings.position_embedding"),
        "{message}"
    );
}
