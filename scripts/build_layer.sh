#!/usr/bin/env bash
# Build the Lambda layer into build/layer (or $1) with the project's virtualenv pip; the
# work is done by layers/hyperstep/build_layer.sh, which `sam build` runs as well.
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHON=${PYTHON:-$PWD/.venv/bin/python}
exec layers/hyperstep/build_layer.sh "${1:-build/layer}"
