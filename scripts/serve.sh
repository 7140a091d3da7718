#!/usr/bin/env bash
# Builds the app (release, offline) and serves it at http://127.0.0.1:8080/ .
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
source scripts/env.sh
exec trunk serve --release --offline "$@"
