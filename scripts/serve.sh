#!/usr/bin/env bash
# Builds the app (release, offline) and serves it at http://127.0.0.1:8080/ .
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
source scripts/env.sh
# No autoreload: Trunk writes its reload script into the page as it serves it, after the build's
# post_build hook has hashed the inline scripts for the CSP, so the browser would refuse it.
exec trunk serve --release --offline --no-autoreload "$@"
