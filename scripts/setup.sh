#!/usr/bin/env bash
# Installs everything the app build and the tests need, idempotently: fast when all is present.
# Nothing here downloads a binary from outside the package registries (see ../shared/TOOLCHAIN.md).
set -euo pipefail
cd "$(dirname "$0")/.."

log() { echo "setup: $*" >&2; }

rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy
rustup component list --installed 2>/dev/null | grep -q '^rustfmt' || rustup component add rustfmt
rustup target list --installed | grep -q '^wasm32-unknown-unknown$' || rustup target add wasm32-unknown-unknown

if ! trunk --version 2>/dev/null | grep -q '0.21.14'; then
  # Trunk only orchestrates the build (cargo, wasm-bindgen, wasm-opt, hashing a few files), so it
  # is built without its TLS features (it never downloads here: TRUNK_OFFLINE) and unoptimised,
  # without fat LTO: 2.5 min on 2 cores instead of 7 (its release profile: fat LTO, one unit).
  log "installing trunk 0.21.14 (about 3 minutes on 2 cores)"
  CARGO_PROFILE_RELEASE_OPT_LEVEL=0 CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 \
    cargo install trunk --version 0.21.14 --locked --no-default-features
fi
if ! wasm-bindgen --version 2>/dev/null | grep -q '0.2.130'; then
  log "installing wasm-bindgen-cli 0.2.130"
  # No --locked: its lock file pins a webpki-roots version the registry no longer has. Without
  # TLS (it downloads nothing here) and at opt-level 1: 102 s cold instead of 127 s, and it
  # processes the model worker's 20 MB wasm in 1.7 s instead of 1.6 s.
  CARGO_PROFILE_RELEASE_OPT_LEVEL=1 CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 \
    cargo install wasm-bindgen-cli --version 0.2.130 --no-default-features
fi
if ! node_modules/.bin/wasm-opt --version 2>/dev/null | grep -q 'version 132' \
  || ! grep -q '"version": "1.65.1"' node_modules/playwright-core/package.json 2>/dev/null \
  || ! grep -q '"version": "4.14.1"' node_modules/axe-core/package.json 2>/dev/null; then
  log "installing npm tools (binaryen 132's wasm-opt, playwright-core, axe-core)"
  npm install --no-audit --no-fund --loglevel=error
fi
# `MEDHALL_SETUP=site` (scripts/build-site.sh) stops here: building the page needs nothing more.
if [ "${MEDHALL_SETUP:-all}" = site ]; then
  exit 0
fi
# The browser for the end-to-end tests (driven by playwright-core; never `playwright install`).
if ! command -v chromium >/dev/null 2>&1; then
  log "installing chromium (apt)"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi

# The Python reference stack for the parity tests and the benchmark.
bash scripts/setup-reference.sh

cargo fetch --locked >/dev/null
