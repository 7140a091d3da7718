#!/usr/bin/env bash
# The judge runner's throughput: 200 samples at concurrency 32 against a local OpenAI-compatible
# server that answers each request in 1 s (crates/cli/tests/judge.rs, `throughput_benchmark`).
# Prints ours beside the bound the concurrency allows (ceil(200/32) = 7 s); the target is < 10 s.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
cargo test --profile test-fast -p medhall-cli --test judge throughput_benchmark -- --ignored --nocapture 2>&1 \
  | grep -E '^judge throughput|test result|panicked'
