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

#[cfg(target_arch = "wasm32")]
fn main() {
    worker::start();
}

#[cfg(not(target_arch = "wasm32"))]
fn main() {
    eprintln!(
        "medhall-model-worker runs inside a browser Web Worker; build it with Trunk (see README)."
    );
    std::process::exit(2);
}
