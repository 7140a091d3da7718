#!/usr/bin/env bash
# Builds the threaded variant of the model worker (issue 31, a feasibility spike): the same crate
# with its `threads` feature (wasm-bindgen-rayon; burn's flex backend, gemm and our q8/element-wise
# kernels on rayon's pool, as `native-cpu` has them natively), for browsers whose page is
# cross-origin isolated (COOP/COEP headers). The default one-thread build (Trunk, stable Rust,
# .cargo/config.toml's flags) is untouched and stays what the page loads.
#
# Usage: bash scripts/build-threaded.sh [OUT_DIR]      (default: dist-threaded)
#        bash scripts/build-threaded.sh --one-thread OUT_DIR
#   --one-thread: the default one-thread model worker (stable, .cargo/config.toml's flags, the same
#   cargo command Trunk runs) in the same ES-module layout, for scripts/bench_threads_browser.mjs
#   to compare with; it writes no model-worker-threaded.js.
#
# Needs: a nightly toolchain with rust-src and the wasm32 target (`rustup toolchain install
# nightly`, `rustup component add rust-src --toolchain nightly`, `rustup target add
# wasm32-unknown-unknown --toolchain nightly`), wasm-bindgen 0.2.130 on PATH (scripts/setup.sh).
# MEDHALL_WASM_OPT=1 also runs npm's wasm-opt -Oz (as Trunk does for the page's build).
#
# What it writes to OUT_DIR: medhall-model-worker.js and _bg.wasm (wasm-bindgen --target web, an
# ES module; wasm-bindgen-rayon's worker helper under snippets/), and model-worker-threaded.js,
# the module worker to start (`new Worker(URL, { type: 'module' })`): it instantiates the wasm,
# starts the pool with navigator.hardwareConcurrency threads (`?threads=N` in its URL overrides),
# then the worker's message loop, which speaks the same protocol as the one-thread worker.
set -euo pipefail
cd "$(dirname "$0")/.."
one_thread=0
if [ "${1:-}" = --one-thread ]; then
  one_thread=1
  shift
fi
out=${1:-dist-threaded}
source scripts/env.sh

if [ "$one_thread" = 1 ]; then
  cargo build -p medhall-model-worker --bin medhall-model-worker \
    --target wasm32-unknown-unknown --profile wasm-release
  mkdir -p "$out"
  wasm-bindgen --target web --out-dir "$out" \
    "${CARGO_TARGET_DIR:-target}/wasm32-unknown-unknown/wasm-release/medhall-model-worker.wasm"
  if [ "${MEDHALL_WASM_OPT:-0}" = 1 ]; then
    wasm-opt -Oz "$out/medhall-model-worker_bg.wasm" -o "$out/medhall-model-worker_bg.wasm"
  fi
  ls -l "$out"
  exit 0
fi

if ! rustup run nightly rustc --version >/dev/null 2>&1; then
  echo "build-threaded: no nightly toolchain (rustup toolchain install nightly)" >&2
  exit 2
fi
# Its own target folder: these flags differ from the one-thread build's, and sharing one folder
# would rebuild everything on each switch.
target_dir="${CARGO_TARGET_DIR:-target}/threaded"
# RUSTFLAGS replaces .cargo/config.toml's target rustflags, so getrandom's cfg and +simd128 are
# repeated here. +atomics needs std rebuilt with it (build-std). The memory's maximum: 4 GiB
# (wasm32's limit; wasm-ld's default for shared memory is smaller), so that a real-size model fits.
export RUSTFLAGS='--cfg getrandom_backend="wasm_js" -C target-feature=+atomics,+bulk-memory,+mutable-globals,+simd128 -C link-arg=--max-memory=4294967296'
# The linker must be told to make the memory shared and imported (rustc 1.97-nightly does not do
# it for wasm32-unknown-unknown: without these the memory is private, wasm-bindgen emits no thread
# support, and posting the memory to a pool worker fails with "#<Memory> could not be cloned"),
# and to export the TLS symbols wasm-bindgen's thread set-up calls. Given to the binary only
# (`cargo rustc`): link arguments change nothing in the dependencies, and a change of RUSTFLAGS
# would rebuild them all (std included).
link_args=()
for a in --shared-memory --import-memory --export=__wasm_init_tls \
  --export=__tls_size --export=__tls_align --export=__tls_base; do
  link_args+=(-C "link-arg=$a")
done
cargo +nightly rustc -p medhall-model-worker --bin medhall-model-worker --no-default-features --features threads \
  --target wasm32-unknown-unknown --profile wasm-release --target-dir "$target_dir" \
  -Z build-std=panic_abort,std -- "${link_args[@]}"
mkdir -p "$out"
wasm-bindgen --target web --out-dir "$out" \
  "$target_dir/wasm32-unknown-unknown/wasm-release/medhall-model-worker.wasm"
if [ "${MEDHALL_WASM_OPT:-0}" = 1 ]; then
  wasm-opt -Oz --enable-threads --enable-bulk-memory --enable-mutable-globals --enable-simd \
    --enable-nontrapping-float-to-int --enable-sign-ext --enable-reference-types \
    "$out/medhall-model-worker_bg.wasm" -o "$out/medhall-model-worker_bg.wasm"
fi
cat >"$out/model-worker-threaded.js" <<'EOF'
// The threaded model worker (scripts/build-threaded.sh): a module worker. Needs a cross-origin
// isolated page (crossOriginIsolated, for SharedArrayBuffer); rayon's threads are nested workers.
import init, { initThreadPool, start } from './medhall-model-worker.js';

const asked = Number(new URL(self.location.href).searchParams.get('threads'));
const threads = asked > 0 ? asked : (navigator.hardwareConcurrency || 1);
await init();
await initThreadPool(threads);
start();
EOF
ls -l "$out"
