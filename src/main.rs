//! Mounts the app; everything else is in the library.

#[cfg(target_arch = "wasm32")]
fn main() {
    console_error_panic_hook::set_once();
    leptos::mount::mount_to_body(medhall_lens::App);
}

#[cfg(not(target_arch = "wasm32"))]
fn main() {
    eprintln!("the MedHall Lens page runs in a browser: `bash scripts/serve.sh` (see README)");
    std::process::exit(2);
}
