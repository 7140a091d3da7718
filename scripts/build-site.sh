#!/usr/bin/env bash
# Builds the page as a static site: one folder to upload to any static host (GitHub Pages, an
# institute's web server, an S3 bucket), at the host's root or under any sub-path such as
# https://example.org/medhall-lens/ . Every URL in the build is relative, so the same folder works
# wherever it is put; nothing runs on the server.
#
# Usage: bash scripts/build-site.sh [OUT_DIR]      (default: dist)
#
# What the host must do: serve the files as they are, with `.wasm` as `application/wasm` (most
# hosts do; GitHub Pages does), `.js` as JavaScript and `.json`/`.jsonl` as anything. No special
# headers (no COOP/COEP), no rewrites, no server code. Open the folder's index.html by its
# directory URL with the trailing slash (…/medhall-lens/).
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-dist}
MEDHALL_SETUP=site bash scripts/setup.sh
source scripts/env.sh
trunk build --release --offline --dist "$out"
# GitHub Pages would otherwise run Jekyll, which drops files and folders starting with `_`.
touch "$out/.nojekyll"
test -s "$out/index.html" && ls "$out"/*.wasm >/dev/null
echo "build-site: $out/ is the site ($(du -sh "$out" | cut -f1)); upload its contents" >&2
