//! The model-check Web Worker of MedHall Lens: glue only. It receives
//! `medhall_model_check::model_protocol` requests (JSON text, with image bytes beside `Generate` and
//! `Logits`), picks WebGPU or burn's CPU backend, downloads model files through the Cache API,
//! runs `medhall-model`, and posts tokens, answers and errors back.

// Pure arithmetic, so its tests run natively.
#[cfg(any(target_arch = "wasm32", test))]
mod capacity;
#[cfg(target_arch = "wasm32")]
mod fetch;
#[cfg(target_arch = "wasm32")]
mod worker;

// The one-thread build starts its message loop as soon as the wasm is instantiated.
#[cfg(all(target_arch = "wasm32", not(feature = "threads")))]
fn main() {
    worker::start();
}

// The threaded build (feature `threads`, scripts/build-threaded.sh): its JS entry first starts
// rayon's pool (`initThreadPool`, from wasm-bindgen-rayon), then calls `start`, so that no request
// reaches rayon before the pool exists (rayon would then try to start its own global pool with
// `std::thread`, and `initThreadPool` could no longer install one).
#[cfg(all(target_arch = "wasm32", feature = "threads"))]
fn main() {}

#[cfg(all(target_arch = "wasm32", feature = "threads"))]
pub use wasm_bindgen_rayon::init_thread_pool;

/// Starts the message loop (threaded build: called by its JS entry once the pool runs).
#[cfg(all(target_arch = "wasm32", feature = "threads"))]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn start() {
    worker::start();
}

#[cfg(not(target_arch = "wasm32"))]
fn main() {
    eprintln!(
        "medhall-model-worker runs inside a browser Web Worker; build it with Trunk (see README)."
    );
    std::process::exit(2);
}
