#!/usr/bin/env bash
# `core` must stay platform-free: no web crates, no burn, in its dependency tree (native or wasm).
set -euo pipefail
cd "$(dirname "$0")/.."
banned='^(web-sys|js-sys|wasm-bindgen|wasm-bindgen-futures|leptos|leptos_[a-z_]+|gloo|gloo-[a-z-]+|burn|burn-[a-z-]+|reactive_graph)$'
for target in x86_64-unknown-linux-gnu wasm32-unknown-unknown; do
  found=$(cargo tree -p medhall-core -e normal --target "$target" --prefix none --format '{p}' \
    | awk '{print $1}' | sort -u | grep -E "$banned" || true)
  if [ -n "$found" ]; then
    echo "check-core-deps: medhall-core depends on forbidden crates for $target: $found" >&2
    exit 1
  fi
done
echo "check-core-deps: medhall-core has no web-sys/leptos/burn in its tree (native and wasm32)"
