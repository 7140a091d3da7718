//! What the model crate's integration tests share: their fixtures and the device under test.
//! Each test binary compiles this module and uses a part of it.
#![allow(dead_code)]

use burn::prelude::*;
use std::path::PathBuf;

/// A file under `tests/fixtures/`; a missing fixture fails the test naming it.
pub fn fixture(path: &str) -> Vec<u8> {
    let full = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(path);
    std::fs::read(&full).unwrap_or_else(|e| panic!("{}: {e}", full.display()))
}

/// The device under test: burn's CPU backend, or with `MEDHALL_TEST_DEVICE=wgpu` (and the
/// `wgpu` feature) the wgpu backend (Vulkan; lavapipe without a GPU).
pub fn device() -> Device {
    match std::env::var("MEDHALL_TEST_DEVICE").as_deref() {
        #[cfg(feature = "wgpu")]
        Ok("wgpu") => Device::wgpu(Default::default()),
        Ok("cpu") | Err(_) => Device::flex(),
        Ok(other) => panic!("MEDHALL_TEST_DEVICE={other}: not cpu or wgpu (or no wgpu feature)"),
    }
}

/// The tiny random-weight Idefics3 fixture, with the adapter in `tests/fixtures/<folder>` when
/// one is named.
pub fn tiny_model(
    adapter: Option<(&str, medhall_model::vlm::AdapterMode)>,
    quantization: medhall_model::nn::Quantization,
    device: &Device,
) -> medhall_model::vlm::Idefics3 {
    use medhall_model::vlm::{AdapterFiles, Idefics3, LoadOptions, ModelFiles};
    let config = fixture("tiny-idefics3/config.json");
    let weights = fixture("tiny-idefics3/model.safetensors");
    let adapter = adapter.map(|(folder, mode)| {
        let config = fixture(&format!("{folder}/adapter_config.json"));
        let weights = fixture(&format!("{folder}/adapter_model.safetensors"));
        (config, weights, mode)
    });
    let files = adapter
        .as_ref()
        .map(|(config, weights, mode)| (AdapterFiles { config, weights }, *mode));
    Idefics3::load(
        &ModelFiles {
            config: &config,
            weights: &weights,
        },
        files.as_ref().map(|(files, mode)| (files, *mode)),
        LoadOptions { quantization },
        device,
    )
    .expect("the tiny model loads")
}
