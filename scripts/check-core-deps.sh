#!/usr/bin/env bash
# `core` must stay platform-free: no web crates, no burn, in its dependency tree (native or wasm);
# and its direct dependencies are exactly the list below, which ARCHITECTURE.md's crate table
# states (both are checked, so neither can drift).
set -euo pipefail
cd "$(dirname "$0")/.."
allowed="serde serde_json csv-core thiserror hashbrown url"
banned='^(web-sys|js-sys|wasm-bindgen|wasm-bindgen-futures|leptos|leptos_[a-z_]+|gloo|gloo-[a-z-]+|burn|burn-[a-z-]+|reactive_graph)$'
for target in x86_64-unknown-linux-gnu wasm32-unknown-unknown; do
  found=$(cargo tree -p medhall-core -e normal --target "$target" --prefix none --format '{p}' \
    | awk '{print $1}' | sort -u | grep -E "$banned" || true)
  if [ -n "$found" ]; then
    echo "check-core-deps: medhall-core depends on forbidden crates for $target: $found" >&2
    exit 1
  fi
  direct=$(cargo tree -p medhall-core -e normal --target "$target" --depth 1 --prefix none --format '{p}' \
    | awk 'NR > 1 {print $1}' | sort -u | tr '\n' ' ' | sed 's/ $//')
  expected=$(echo "$allowed" | tr ' ' '\n' | sort -u | tr '\n' ' ' | sed 's/ $//')
  if [ "$direct" != "$expected" ]; then
    echo "check-core-deps: medhall-core's direct dependencies for $target are '$direct'; this script and ARCHITECTURE.md allow '$expected'" >&2
    exit 1
  fi
done
row=$(grep -E '^\| `crates/core`' ARCHITECTURE.md || true)
for dep in $allowed; do
  if ! grep -qF "$dep" <<<"$row"; then
    echo "check-core-deps: ARCHITECTURE.md's crates/core row does not list $dep" >&2
    exit 1
  fi
done
echo "check-core-deps: medhall-core has no web-sys/leptos/burn in its tree (native and wasm32); its direct dependencies are the ones ARCHITECTURE.md lists: $allowed"
