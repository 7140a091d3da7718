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
