#!/usr/bin/env bash
# Build the hyperstep Lambda layer for the Lambda platform and report its size.
#
#   layers/hyperstep/build_layer.sh OUT_DIR      (scripts/build_layer.sh, `make layer`,
#                                                 and `sam build` through ./Makefile)
#   LAYER_ARCH=x86_64 layers/hyperstep/build_layer.sh build/layer-x86_64
#
# Installs requirements.txt (next to this script) as manylinux_2_28 binary wheels for
# CPython $LAYER_PYTHON (default 3.12) on $LAYER_ARCH (default arm64), without compiling
# .pyc files with the host's Python, into OUT_DIR/python; copies the library (./hyperstep)
# next to them; drops what a Lambda never imports (test suites, caches) and what the
# runtime already has (boto3, botocore and their dependencies); precompiles bytecode with
# the runtime's Python version; zips it to OUT_DIR.zip (LAYER_ZIP=0: no zip). Fails when
# the unzipped layer exceeds Lambda's 250 MB limit (function and layers together).
set -euo pipefail
SRC=$(cd "$(dirname "$0")" && pwd)

OUT=${1:?usage: build_layer.sh OUT_DIR}
ARCH=${LAYER_ARCH:-arm64}
PYVER=${LAYER_PYTHON:-3.12}
PYTHON=${PYTHON:-python3}
LIMIT_BYTES=262144000 # 250 MB

case "$ARCH" in
  arm64) MACHINE=aarch64 ;;
  x86_64) MACHINE=x86_64 ;;
  *) echo "LAYER_ARCH must be arm64 or x86_64, not $ARCH" >&2; exit 2 ;;
esac

rm -rf "$OUT" "$OUT.zip"
mkdir -p "$OUT/python"

"$PYTHON" -m pip install --quiet --disable-pip-version-check \
  --platform "manylinux_2_28_$MACHINE" --platform "manylinux2014_$MACHINE" \
  --only-binary=:all: --python-version "$PYVER" --implementation cp --no-compile \
  --target "$OUT/python" -r "$SRC/requirements.txt"

# The library itself (the layer's python/ is on sys.path in Lambda).
mkdir -p "$OUT/python/hyperstep"
(cd "$SRC" && find hyperstep -name '*.py' -o -name '*.json' | grep -v __pycache__) |
  while read -r file; do
    mkdir -p "$OUT/python/$(dirname "$file")"
    cp "$SRC/$file" "$OUT/python/$file"
  done

# Provided by the Lambda Python runtime: shipping them would only shadow its versions.
for pkg in boto3 botocore s3transfer jmespath dateutil urllib3 six; do
  rm -rf "$OUT/python/$pkg" "$OUT/python/$pkg".py "$OUT/python/$pkg"-*.dist-info
done
rm -rf "$OUT/python"/python_dateutil-*.dist-info "$OUT/python/bin"
# Test suites and caches: never imported by a function.
find "$OUT/python" -depth -type d \( -name tests -o -name __pycache__ \) -exec rm -rf {} +

# Bytecode for the runtime's Python: /opt is read-only in Lambda, so without shipped .pyc
# files every cold start compiles every module it imports (scripts/cold_import.py:
# `import app` of the suggest function took 2.1 s CPU without, 1.3 s with). unchecked-hash:
# valid whatever the mtimes after unzipping. Needs Python $PYVER (BYTECODE_PYTHON, default
# python$PYVER on PATH); LAYER_COMPILE=0 skips it.
# python$PYVER on PATH may be a pyenv shim that fails when that version is not selected:
# then take pyenv's newest $PYVER.x.
is_pyver() { "$1" -c "import sys; sys.exit(sys.version_info[:2] != tuple(map(int, '$PYVER'.split('.'))))" 2>/dev/null; }
if [ -z "${BYTECODE_PYTHON:-}" ]; then
  BYTECODE_PYTHON=python$PYVER
  if ! is_pyver "$BYTECODE_PYTHON" && command -v pyenv >/dev/null; then
    for candidate in $(ls -d "$(pyenv root)/versions/$PYVER".*/bin/python 2>/dev/null | sort -V -r); do
      if is_pyver "$candidate"; then BYTECODE_PYTHON=$candidate; break; fi
    done
  fi
fi
if [ "${LAYER_COMPILE:-1}" = 1 ]; then
  if "$BYTECODE_PYTHON" -c "import sys; sys.exit(sys.version_info[:2] != tuple(map(int, '$PYVER'.split('.'))))" 2>/dev/null; then
    "$BYTECODE_PYTHON" -m compileall -q -j 0 --invalidation-mode unchecked-hash "$OUT/python" >/dev/null
  else
    echo "no Python $PYVER (set BYTECODE_PYTHON): the layer ships without .pyc files (slower cold starts)" >&2
  fi
fi

if [ "${LAYER_ZIP:-1}" = 1 ]; then
"$PYTHON" - "$OUT" <<'EOF'
import os, sys, zipfile
out = sys.argv[1]
root = os.path.join(out, "python")
with zipfile.ZipFile(out + ".zip", "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
    for folder, _, files in os.walk(root):
        for name in sorted(files):
            path = os.path.join(folder, name)
            zf.write(path, os.path.relpath(path, out))
EOF
fi

UNZIPPED=$(du -sb "$OUT/python" | cut -f1)
ZIPPED=$([ -f "$OUT.zip" ] && stat -c %s "$OUT.zip" || echo 0)
echo "layer $OUT ($ARCH, CPython $PYVER): unzipped $((UNZIPPED / 1048576)) MiB ($UNZIPPED bytes), zipped $((ZIPPED / 1048576)) MiB ($ZIPPED bytes)"
du -sm "$OUT/python"/* | sort -rn | head -8
if [ "$UNZIPPED" -ge "$LIMIT_BYTES" ]; then
  echo "the layer exceeds Lambda's 250 MB unzipped limit" >&2
  exit 1
fi
