#!/usr/bin/env bash
# Creates HEBO's own virtualenv (default .hebo-venv) for the `hebo` anchor of the benchmarks.
# HEBO 0.3.6 needs numpy < 1.25, so it cannot share .venv. The pins are those that install
# without pip backtracking for many minutes (shared/FIELD-NOTES.md), except torch: by default
# a CPU build of torch (TORCH, default 2.13.0, a CPU wheel on this machine) replaces the
# pinned torch==2.3.1 and its several GB of CUDA wheels. TORCH=2.3.1 restores the pin.
set -euo pipefail
VENV=${1:-.hebo-venv}
PYTHON=${PYTHON:-python3.11}
TORCH=${TORCH:-2.13.0}
"$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --upgrade pip
"$VENV/bin/pip" install --quiet "torch==$TORCH"
"$VENV/bin/pip" install --quiet hebo==0.3.6 numpy==1.24.4 scipy==1.11.4 pandas==2.0.3 pymoo==0.6.0 GPy==1.13.2 \
    gpytorch==1.11 scikit-learn==1.3.2 catboost==1.2.5 disjoint-set "torch==$TORCH"
"$VENV/bin/python" - <<'PY'
import numpy as np
import pandas as pd
from hebo.design_space.design_space import DesignSpace
from hebo.optimizers.hebo import HEBO

space = DesignSpace().parse([{"name": "x", "type": "num", "lb": -1.0, "ub": 1.0}])
opt = HEBO(space, scramble_seed=0)
for _ in range(3):
    frame = opt.suggest(n_suggestions=2)
    opt.observe(frame, (frame[["x"]].to_numpy() ** 2).reshape(-1, 1))
print("HEBO works:", float(opt.y.min()))
PY
