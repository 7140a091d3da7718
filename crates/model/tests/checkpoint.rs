//! The configuration, checkpoint and adapter checks against files written by transformers 5.24
//! and peft 0.21 (`scripts/gen_model_fixtures.py`), and against broken copies of them.

use medhall_model::ModelError;
use medhall_model::adapter::{LoraConfig, TargetModules, check_adapter};
use medhall_model::config::Idefics3Config;
use medhall_model::safetensors::SafeTensors;

mod common;
use common::fixture;

fn tiny() -> Idefics3Config {
    Idefics3Config::from_json("config.json", &fixture("tiny-idefics3/config.json"))
        .expect("the tiny config parses")
}

#[test]
fn tiny_config_reads_the_transformers_5_layout() {
    let config = tiny();
    assert_eq!(config.text.hidden_size, 64);
    assert_eq!(config.text.head_dim, 16);
    assert_eq!(
        (
            config.text.num_attention_heads,
            config.text.num_key_value_heads
        ),
        (4, 2)
    );
    assert_eq!(config.text.rope_theta, 100_000.0, "from rope_parameters");
    assert!(!config.text.tie_word_embeddings);
    assert_eq!(
        (config.vision.image_size, config.vision.patch_size),
        (64, 4)
    );
    assert_eq!(config.scale_factor, 4);
    assert_eq!(config.image_token_id, 338);
    // 16x16 patches, shuffled by 4: 16 image tokens, as the fixture's prompt has.
    assert_eq!(config.image_tokens(), 16);
}

#[test]
fn the_tensor_list_is_exactly_the_tiny_checkpoint() {
    let config = tiny();
    let bytes = fixture("tiny-idefics3/model.safetensors");
    let checkpoint = SafeTensors::parse("model.safetensors", &bytes).expect("valid safetensors");
    let expected = config.tensors();
    assert_eq!(expected.len(), 59);
    let extra = checkpoint
        .check("model.safetensors", &expected)
        .expect("every tensor present with its shape");
    assert!(extra.is_empty(), "unexpected tensors: {extra:?}");
    assert_eq!(config.parameters(), 185_568);
    let lm_head = checkpoint.bytes("lm_head.weight").expect("lm_head bytes");
    assert_eq!(lm_head.len(), 340 * 64 * 4);
}

#[test]
fn smolvlm_256m_config_reads_the_transformers_4_layout_and_counts_its_parameters() {
    let config = Idefics3Config::from_json(
        "smolvlm-256m-config.json",
        &fixture("smolvlm-256m-config.json"),
    )
    .expect("parses");
    assert_eq!(
        config.text.rope_theta, 100_000.0,
        "from text_config.rope_theta"
    );
    assert_eq!(
        (config.text.hidden_size, config.text.num_hidden_layers),
        (576, 30)
    );
    assert_eq!(config.image_tokens(), 64);
    // The published checkpoint's counts (see tests/fixtures/README.md).
    assert_eq!(config.tensors().len(), 471);
    assert_eq!(config.parameters(), 256_484_928);
}

#[test]
fn broken_checkpoints_say_what_is_wrong() {
    let config = tiny();
    let bytes = fixture("tiny-idefics3/model.safetensors");
    let truncated = &bytes[..bytes.len() - 100];
    let error = SafeTensors::parse("model.safetensors", truncated).expect_err("truncated");
    assert!(
        matches!(&error, ModelError::Corrupt { file, detail } if file == "model.safetensors" && detail.contains("past the file")),
        "{error}"
    );
    for cut in [0, 7, 8, 200] {
        assert!(
            SafeTensors::parse("x", &bytes[..cut]).is_err(),
            "cut at {cut}"
        );
    }
    // A configuration the checkpoint was not made for: the first mismatch is named.
    let mut other = config.clone();
    other.text.intermediate_size = 256;
    let checkpoint = SafeTensors::parse("model.safetensors", &bytes).expect("valid");
    let error = checkpoint
        .check("model.safetensors", &other.tensors())
        .expect_err("shapes differ");
    assert!(
        matches!(error, ModelError::Shape { ref name, .. } if name.ends_with("mlp.gate_proj.weight")),
        "{error}"
    );
    other = config.clone();
    other.text.num_hidden_layers = 3;
    let error = checkpoint
        .check("model.safetensors", &other.tensors())
        .expect_err("a layer is missing");
    assert!(
        matches!(error, ModelError::MissingTensor { ref name, .. } if name.starts_with("model.text_model.layers.2.")),
        "{error}"
    );
}

#[test]
fn wrong_configs_are_errors_that_name_the_field() {
    let text = String::from_utf8(fixture("tiny-idefics3/config.json")).expect("utf-8");
    let cases = [
        (text.replace("\"idefics3\"", "\"llava\""), "model_type"),
        (
            text.replace("\"num_key_value_heads\": 2", "\"num_key_value_heads\": 3"),
            "num_key_value_heads",
        ),
        (
            text.replace("\"scale_factor\": 4", "\"scale_factor\": 5"),
            "scale_factor",
        ),
        (
            text.replace("\"hidden_size\": 64", "\"hidden_size\": \"64\""),
            "text_config.hidden_size",
        ),
    ];
    for (json, field) in cases {
        let error = Idefics3Config::from_json("config.json", json.as_bytes()).expect_err(field);
        assert!(error.to_string().contains(field), "{field}: {error}");
    }
    let error = Idefics3Config::from_json("config.json", b"{").expect_err("not JSON");
    assert!(matches!(error, ModelError::Json { .. }));
}

#[test]
fn the_adapter_fits_its_base_and_not_another() {
    let config = LoraConfig::from_json(
        "adapter_config.json",
        &fixture("tiny-lora/adapter_config.json"),
    )
    .expect("parses");
    assert_eq!(
        (config.r, config.lora_alpha, config.scaling()),
        (4, 8.0, 2.0)
    );
    assert!(matches!(config.target_modules, TargetModules::Pattern(_)));
    let bytes = fixture("tiny-lora/adapter_model.safetensors");
    let adapter = SafeTensors::parse("adapter_model.safetensors", &bytes).expect("valid");
    let base = tiny().tensors();
    let layers = check_adapter("adapter_model.safetensors", &adapter, &config, &base)
        .expect("fits the tiny model");
    // Seven projections in each of the two text layers.
    assert_eq!(layers.len(), 14);
    assert!(
        layers
            .iter()
            .any(|l| l.base_weight == "model.text_model.layers.1.mlp.down_proj.weight")
    );

    // The same adapter against a wider model: the first layer that does not fit is named.
    let mut wider = tiny();
    wider.text.hidden_size = 96;
    wider.text.head_dim = 24;
    let error = check_adapter(
        "adapter_model.safetensors",
        &adapter,
        &config,
        &wider.tensors(),
    )
    .expect_err("another model");
    assert!(
        matches!(error, ModelError::Adapter { ref message, .. } if message.contains("model.text_model.layers.0.")),
        "{error}"
    );
    let list = br#"{"peft_type": "LORA", "r": 8, "lora_alpha": 16, "use_rslora": true, "target_modules": ["q_proj", "v_proj"]}"#;
    let listed = LoraConfig::from_json("adapter_config.json", list).expect("a list of names");
    assert_eq!(
        listed.target_modules,
        TargetModules::Names(vec!["q_proj".into(), "v_proj".into()])
    );
    assert!((listed.scaling() - 16.0 / 8f64.sqrt()).abs() < 1e-12);
    assert!(LoraConfig::from_json("a.json", br#"{"peft_type": "IA3", "r": 1}"#).is_err());
}

#[test]
fn truncations_and_corruptions_never_panic() {
    let bytes = fixture("tiny-lora/adapter_model.safetensors");
    let header = usize::try_from(u64::from_le_bytes(bytes[..8].try_into().expect("8 bytes")))
        .expect("small");
    // Every cut through the header and the start of the data.
    for cut in 0..(header + 64).min(bytes.len()) {
        let _ = SafeTensors::parse("a", &bytes[..cut]);
    }
    // Every single-byte change in the header.
    let mut copy = bytes.clone();
    for at in 0..(header + 8).min(copy.len()) {
        let original = copy[at];
        for value in [0u8, b'"', b'9', 0xff] {
            copy[at] = value;
            if let Ok(parsed) = SafeTensors::parse("a", &copy) {
                for name in parsed.tensors.keys() {
                    let _ = parsed.bytes(name);
                }
            }
        }
        copy[at] = original;
    }
}
