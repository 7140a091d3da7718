//! The scoring Web Worker of MedHall Lens: glue only. It receives `medhall_app::protocol`
//! requests (JSON text, with a `File` beside load requests), streams files and URLs into a
//! `medhall_app::session::Session`, scores in slices so cancel requests get through, and posts
//! events back. Parsing, metrics and statistics all live in `medhall-core`; the WordNet table is
//! linked here, never into the page's own wasm.
//!
//! It must not depend on leptos or on the model crate (the model check has its own worker).

#[cfg(target_arch = "wasm32")]
mod stream;
#[cfg(target_arch = "wasm32")]
mod worker;

#[cfg(target_arch = "wasm32")]
fn main() {
    worker::start();
}

#[cfg(not(target_arch = "wasm32"))]
fn main() {
    eprintln!("medhall-worker runs inside a browser Web Worker; build it with Trunk (see README).");
    std::process::exit(2);
}
