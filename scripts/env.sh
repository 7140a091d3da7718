# Sourced by the scripts: tools on PATH and the reference stack's location.
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export PATH="$root/node_modules/.bin:$HOME/.cargo/bin:$PATH"
export MEDHALL_REFERENCE_PYTHON="$root/.cache/pyref/venv/bin/python"
export NLTK_DATA="$root/.cache/pyref/nltk_data"
export TRUNK_OFFLINE=true TRUNK_SKIP_VERSION_CHECK=true
