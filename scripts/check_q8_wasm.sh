#!/usr/bin/env bash
# q8's integer kernels in wasm (crates/model/src/q8.rs): compiled on their own by plain rustc for
# wasm32, with `+simd128` (the SIMD128 kernel) and without (the portable loop), and run in Node:
# each must equal the scalar reference bit for bit. Prints each kernel's time for one
# decode-sized product beside the reference's (timings are informative, not checked).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
for build in simd128 plain; do
  flags=()
  [ "$build" = simd128 ] && flags=(-C target-feature=+simd128)
  rustc --edition 2024 --crate-type cdylib --crate-name q8_wasm_check --target wasm32-unknown-unknown \
    -O "${flags[@]}" crates/model/tests/wasm-q8/check.rs -o "$out/$build.wasm"
done
node - "$out" <<'JS'
const fs = require('node:fs');
const dir = process.argv[2];
let failed = false;
for (const build of ['simd128', 'plain']) {
  const { exports } = new WebAssembly.Instance(new WebAssembly.Module(fs.readFileSync(`${dir}/${build}.wasm`)), {});
  const bad = exports.mismatches();
  const time = (reference) => {
    const repeats = 100;
    const start = performance.now();
    exports.products(reference, repeats);
    return (performance.now() - start) / repeats;
  };
  time(0);
  const [kernel, reference] = [time(0), time(1)];
  console.log(`q8 in wasm (${build}): ${bad} outputs differ from the reference; one row x 1536x576: kernel ${kernel.toFixed(2)} ms, scalar reference ${reference.toFixed(2)} ms`);
  failed ||= bad !== 0;
}
process.exit(failed ? 1 : 0);
JS
