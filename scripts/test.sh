#!/usr/bin/env bash
# All the tests: formatting, lints (native and wasm), unit and parity tests (the parity tests
# compare every sample with the Python reference libraries, on ../shared/medhalltune when it is
# there), the crate graph rule, and a release build of the app with Trunk.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
source scripts/env.sh
# In this script the reference stack is required (setup.sh installs it): a parity test that
# cannot run fails. The real data (../shared/medhalltune) is required only with
# MEDHALL_REQUIRE_DATA=1 (.ci/run sets it); otherwise tests that need it print SKIPPED.
export MEDHALL_REQUIRE_REFERENCE=1

step() { echo "== [$((SECONDS / 60))m$((SECONDS % 60))s] $*" >&2; }

step "rustfmt"
cargo fmt --all -- --check
step "clippy (native)"
cargo clippy --workspace --all-targets --locked -- -D warnings
step "clippy (wasm32: metrics, core, charts, model, app and worker, with the wasm bans)"
CLIPPY_CONF_DIR=scripts/clippy_wasm cargo clippy --locked --target wasm32-unknown-unknown -p medhall-metrics -p medhall-core -p medhall-app -p medhall-model-check -p medhall-charts -p medhall-model -p medhall-lens -p medhall-worker -p medhall-model-worker -- -D warnings -D clippy::disallowed_methods
step "the crate graph (scripts/check-core-deps.sh: ARCHITECTURE.md's arrows, nothing back up)"
bash scripts/check-core-deps.sh
step "q8 kernels in wasm (simd128 and portable) against the scalar reference, in Node"
bash scripts/check_q8_wasm.sh
step "tests (optimised profile: the parity tests score thousands of samples)"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
cargo test --workspace --profile test-fast --locked -- --show-output 2>&1 | tee "$log"
passed=$(grep -oE '^test result: [A-Za-z]+\. [0-9]+ passed; [0-9]+ failed' "$log" | awk '{p += $4; f += $6} END {print p + 0}')
failed=$(grep -oE '^test result: [A-Za-z]+\. [0-9]+ passed; [0-9]+ failed' "$log" | awk '{p += $4; f += $6} END {print f + 0}')
skipped=$(grep -c "SKIPPED" "$log" || true)
step "app build (scripts/build-site.sh: the documented site build, into dist/)"
bash scripts/build-site.sh dist >/dev/null
test -s dist/index.html && ls dist/*.wasm >/dev/null
echo "app build: dist/ ok ($(du -sh dist | cut -f1))" >&2
step "end-to-end tests (built dist/ under a sub-path, headless Chromium)"
e2e_log=$(mktemp)
trap 'rm -f "$log" "$e2e_log"' EXIT
e2e_status=0
MEDHALL_BIN="$PWD/target/test-fast/medhall" node --test tests/e2e/ 2>&1 | tee "$e2e_log" || e2e_status=$?
e2e_pass=$(grep -oE '^# pass [0-9]+' "$e2e_log" | awk '{s += $3} END {print s + 0}')
e2e_fail=$(grep -oE '^# fail [0-9]+' "$e2e_log" | awk '{s += $3} END {print s + 0}')
e2e_skip=$(grep -oE '^# skipped [0-9]+' "$e2e_log" | awk '{s += $3} END {print s + 0}')
passed=$((passed + e2e_pass))
failed=$((failed + e2e_fail))
skipped=$((skipped + e2e_skip))
if [ "$e2e_status" -ne 0 ] && [ "$e2e_fail" -eq 0 ]; then failed=$((failed + 1)); fi
# One closing line for the whole run (cargo's last line is a doc-test summary with no tests).
echo "tests: $passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
