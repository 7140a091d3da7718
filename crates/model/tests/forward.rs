//! The burn model against transformers 5.24 / peft 0.21 on the tiny random-weight Idefics3
//! (`scripts/gen_model_fixtures.py`): vision encoder, connector, merged text embeddings, prefill
//! logits and three KV-cached decode steps, without the adapter, with it unmerged and merged.

use burn::prelude::*;
use medhall_model::nn::Quantization;
use medhall_model::safetensors::SafeTensors;
use medhall_model::text::KvCache;
use medhall_model::vlm::{AdapterFiles, AdapterMode, Idefics3, LoadOptions, ModelFiles};
use medhall_model::weights::HostTensor;
use std::path::PathBuf;

const TOLERANCE: f32 = 1e-4;

/// The device under test: burn's CPU backend, or with `MEDHALL_TEST_DEVICE=wgpu` (and the
/// `wgpu` feature) the wgpu backend (Vulkan; lavapipe without a GPU).
fn device() -> Device {
    match std::env::var("MEDHALL_TEST_DEVICE").as_deref() {
        #[cfg(feature = "wgpu")]
        Ok("wgpu") => Device::wgpu(Default::default()),
        Ok("cpu") | Err(_) => Device::flex(),
        Ok(other) => panic!("MEDHALL_TEST_DEVICE={other}: not cpu or wgpu (or no wgpu feature)"),
    }
}

fn fixture(path: &str) -> Vec<u8> {
    let full = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(path);
    std::fs::read(&full).unwrap_or_else(|e| panic!("{}: {e}", full.display()))
}

struct Reference {
    bytes: Vec<u8>,
    json: serde_json::Value,
}

impl Reference {
    fn load() -> Reference {
        Reference {
            bytes: fixture("reference.safetensors"),
            json: serde_json::from_slice(&fixture("reference.json")).expect("reference.json"),
        }
    }

    fn tensor(&self, name: &str) -> HostTensor {
        let st = SafeTensors::parse("reference.safetensors", &self.bytes).expect("parses");
        let shape = st.tensors[name].shape.clone();
        HostTensor::read("reference.safetensors", &st, name, &shape).expect(name)
    }

    fn ids(&self, pointer: &str) -> Vec<u32> {
        self.json
            .pointer(pointer)
            .and_then(|v| v.as_array())
            .unwrap_or_else(|| panic!("{pointer} in reference.json"))
            .iter()
            .map(|v| v.as_u64().expect("an id") as u32)
            .collect()
    }

    fn pixels(&self, device: &Device) -> Tensor<3> {
        let p = self.tensor("pixel_values");
        let shape = [p.shape[2], p.shape[3], p.shape[4]];
        Tensor::from_data(TensorData::new(p.values, shape), device)
    }
}

fn values(t: Tensor<2>) -> Vec<f32> {
    t.into_data().try_to_vec::<f32>().expect("f32 data")
}

/// Largest absolute difference; panics with `what` past the tolerance.
fn assert_close(what: &str, ours: &[f32], theirs: &[f32], tolerance: f32) -> f32 {
    assert_eq!(ours.len(), theirs.len(), "{what}: lengths");
    let max = ours
        .iter()
        .zip(theirs)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    assert!(
        max <= tolerance,
        "{what}: max |ours - transformers| = {max:e} > {tolerance:e}"
    );
    max
}

fn argmax(row: &[f32]) -> u32 {
    let mut best = 0;
    for (i, &v) in row.iter().enumerate() {
        if v > row[best] {
            best = i;
        }
    }
    best as u32
}

fn load(adapter: Option<AdapterMode>, quantization: Quantization) -> Idefics3 {
    let config = fixture("tiny-idefics3/config.json");
    let weights = fixture("tiny-idefics3/model.safetensors");
    let adapter_config = fixture("tiny-lora/adapter_config.json");
    let adapter_weights = fixture("tiny-lora/adapter_model.safetensors");
    let adapter_files = AdapterFiles {
        config: &adapter_config,
        weights: &adapter_weights,
    };
    Idefics3::load(
        &ModelFiles {
            config: &config,
            weights: &weights,
        },
        adapter.map(|mode| (&adapter_files, mode)),
        LoadOptions { quantization },
        &device(),
    )
    .expect("the tiny model loads")
}

/// Prefill plus three decode steps fed with transformers' greedy tokens; compares every logit.
fn check_logits(model: &Idefics3, reference: &Reference, variant: &str) {
    let device = model.device().clone();
    let ids = reference.ids("/input/input_ids");
    let mut cache = KvCache::default();
    let prefill = model
        .prefill(&ids, Some(reference.pixels(&device)), &mut cache)
        .expect("prefill");
    let prefill = values(prefill);
    let expected = reference.tensor(&format!("{variant}.prefill_logits"));
    assert_close(
        &format!("{variant} prefill logits"),
        &prefill,
        &expected.values,
        TOLERANCE,
    );
    let vocab = model.config.text.vocab_size;
    let greedy = reference.ids(&format!("/results/{variant}/greedy_tokens"));
    assert_eq!(argmax(&prefill[prefill.len() - vocab..]), greedy[0]);
    let decode = reference.tensor(&format!("{variant}.decode_logits"));
    for (step, &token) in greedy[..3].iter().enumerate() {
        let logits = values(model.decode(token, &mut cache).expect("decode"));
        assert_close(
            &format!("{variant} decode step {step}"),
            &logits,
            &decode.values[step * vocab..(step + 1) * vocab],
            TOLERANCE,
        );
        assert_eq!(argmax(&logits), greedy[step + 1], "{variant} step {step}");
    }
    assert_eq!(cache.len(), ids.len() + 3);
}

#[test]
fn vision_connector_and_embeddings_match_transformers() {
    let model = load(None, Quantization::None);
    let reference = Reference::load();
    let device = model.device().clone();
    let encoded = model.encode_image(reference.pixels(&device));
    assert_close(
        "vision last hidden state",
        &values(encoded),
        &reference.tensor("vision.last_hidden_state").values,
        TOLERANCE,
    );
    let features = model.image_features(reference.pixels(&device));
    assert_close(
        "connector image features",
        &values(features.clone()),
        &reference.tensor("connector.image_features").values,
        TOLERANCE,
    );
    let ids = reference.ids("/input/input_ids");
    let embeds = model.merge_inputs(&ids, Some(features)).expect("merge");
    assert_close(
        "text inputs_embeds",
        &values(embeds),
        &reference.tensor("text.inputs_embeds").values,
        TOLERANCE,
    );
}

#[test]
fn base_logits_match_transformers_prefill_and_cached_decode() {
    check_logits(&load(None, Quantization::None), &Reference::load(), "base");
}

#[test]
fn unmerged_adapter_matches_peft_and_switches_off_to_the_base() {
    let reference = Reference::load();
    let model = load(Some(AdapterMode::Unmerged), Quantization::None);
    check_logits(&model, &reference, "lora_unmerged");
    assert!(model.set_adapter_enabled(false));
    check_logits(&model, &reference, "base");
    assert!(model.set_adapter_enabled(true));
    check_logits(&model, &reference, "lora_unmerged");
}

#[test]
fn merged_adapter_matches_peft_merge_and_unload() {
    let reference = Reference::load();
    let model = load(Some(AdapterMode::Merged), Quantization::None);
    check_logits(&model, &reference, "lora_merged");
    assert!(
        !model.set_adapter_enabled(false),
        "a merged adapter cannot be switched off"
    );
}

#[test]
fn an_image_token_count_mismatch_is_an_error_not_a_panic() {
    let model = load(None, Quantization::None);
    let reference = Reference::load();
    let mut ids = reference.ids("/input/input_ids");
    ids.remove(10);
    let mut cache = KvCache::default();
    let err = model
        .prefill(&ids, Some(reference.pixels(model.device())), &mut cache)
        .expect_err("15 image tokens for 16 features");
    assert!(err.to_string().contains("15 image tokens"), "{err}");
    let err = model
        .prefill(&[1, 9999], None, &mut cache)
        .expect_err("an id past the vocabulary");
    assert!(err.to_string().contains("9999"), "{err}");
    assert!(model.prefill(&[], None, &mut cache).is_err());
}

#[test]
fn quantized_models_are_smaller_and_stay_close_to_f32() {
    let reference = Reference::load();
    let ids = reference.ids("/input/input_ids");
    let f32_model = load(None, Quantization::None);
    let q8 = load(None, Quantization::Q8);
    assert!(
        q8.bytes() < f32_model.bytes(),
        "q8 {} vs f32 {} bytes",
        q8.bytes(),
        f32_model.bytes()
    );
    let run = |model: &Idefics3| {
        let mut cache = KvCache::default();
        values(
            model
                .prefill(&ids, Some(reference.pixels(model.device())), &mut cache)
                .expect("prefill"),
        )
    };
    let q4 = load(None, Quantization::Q4);
    assert!(q4.bytes() < q8.bytes());
    // The sizes the panel shows before loading are the loaded models' sizes.
    for (model, quantization) in [
        (&f32_model, Quantization::None),
        (&q8, Quantization::Q8),
        (&q4, Quantization::Q4),
    ] {
        assert_eq!(model.config.weight_bytes(quantization), model.bytes());
    }
    let (exact, q8_logits, q4_logits) = (run(&f32_model), run(&q8), run(&q4));
    // Measured: q8 moves the tiny model's logits (magnitudes up to ~3) by at most ~0.1, q4 by
    // more; the bounds are loose, the point is that both run and change something.
    let q8_max = assert_close("q8 vs f32 prefill", &q8_logits, &exact, 0.25);
    let q4_max = assert_close("q4 vs f32 prefill", &q4_logits, &exact, 2.0);
    eprintln!("max |q8 - f32| = {q8_max}, max |q4 - f32| = {q4_max}");
    assert!(
        q8_max > 0.0,
        "q8 changed nothing: the weights were not quantized"
    );
    assert!(q4_max > q8_max, "q4 should be coarser than q8");
}
