# hyperstep: two commands do everything on a fresh machine with Python 3.11, 3.12 or 3.13.
#   make demo  - virtualenv, install, run a real tuning job locally, print the best trial
#   make test  - virtualenv, dev dependencies, all tests (among them: the Lambda layer built
#                for this machine into build/, cached, and every handler run from it in
#                CPython 3.12, found on PATH, in pyenv or as $HYPERSTEP_LAMBDA_PYTHON)
#   make bench - the quick benchmarks (benchmarks/README.md)
# The first of python3, python3.13, python3.12, python3.11 on PATH that is a supported Python
# (python3 may be an older one beside them); set PYTHON=/path/to/python to choose.
SUPPORTED := import sys; sys.exit(not (3, 11) <= sys.version_info[:2] <= (3, 13))
PYTHON ?= $(firstword $(foreach p,python3 python3.13 python3.12 python3.11,$(shell $(p) -c '$(SUPPORTED)' >/dev/null 2>&1 && echo $(p))) python3)
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint bench chaos venv clean

$(BIN)/python:
	@$(PYTHON) -c '$(SUPPORTED)' 2>/dev/null || { echo "hyperstep needs Python 3.11, 3.12 or 3.13: $(PYTHON) is $$(command -v $(PYTHON) >/dev/null && $(PYTHON) -V 2>&1 || echo not found); set PYTHON=/path/to/python3.12" >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml setup.py
	$(BIN)/pip install --quiet -e ".[dev]"
	@touch $@

venv: $(STAMP)

demo: $(STAMP)
	$(BIN)/hyperstep validate examples/svm-breast-cancer/spec.yaml
	$(BIN)/hyperstep run examples/svm-breast-cancer/spec.yaml

# The npm asl-validator checks statemachine/tuning.asl.json (cfn-lint does not read it).
ASL_VALIDATOR := .tools/node_modules/.bin/asl-validator
$(ASL_VALIDATOR):
	@if command -v npm >/dev/null; then npm install --silent --no-save --no-audit --no-fund --prefix .tools asl-validator@4; \
	else echo "npm not found: the asl-validator test will be skipped"; fi

test: $(STAMP) $(ASL_VALIDATOR)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest

# Quick benchmarks (about 15-30 min on 2 cores): optimizer quality against Optuna TPE and
# random search, suggestion latency, orchestration cost. Results go to benchmarks/results/.
BENCH_STAMP := $(VENV)/.bench-installed
$(BENCH_STAMP): $(STAMP)
	$(BIN)/pip install --quiet -e ".[dev,bench]"
	@touch $@

bench: $(BENCH_STAMP)
	$(BIN)/python -m benchmarks.bayesmark_suite --quick
	$(BIN)/python -m benchmarks.synthetic --quick
	$(BIN)/python -m benchmarks.latency --quick
	$(BIN)/python -m benchmarks.orchestration_cost --trials 40 --parallel 4

# The fault-injection run (issue 7: 1,000 trials across SageMaker and Batch under moto with
# duplicated, late and lost events, failing trials, throttled launches and retried tasks), then
# the API fuzz's full run; each exits non-zero on any lost, double-counted, overrun or stuck
# trial, or any undocumented answer.
chaos: $(STAMP)
	$(BIN)/python -m benchmarks.chaos
	$(BIN)/python -m benchmarks.api_fuzz --examples 20000

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

clean:
	rm -rf $(VENV) .hyperstep runs reports build .tools *.egg-info

# The Lambda layer (arm64, CPython 3.12 wheels) in build/layer and build/layer.zip;
# set LAYER_ARCH=x86_64 or BYTECODE_PYTHON=/path/to/python3.12 as needed.
.PHONY: layer layer-size
layer: $(STAMP)
	PYTHON=$(BIN)/python scripts/build_layer.sh build/layer

layer-size:
	@test -d build/layer/python || { echo "no layer yet: run make layer"; exit 1; }
	@echo "unzipped: $$(( $$(du -sb build/layer/python | cut -f1) / 1048576 )) MiB (limit 250 MB with the function)"
	@echo "zipped:   $$(( $$(stat -c %s build/layer.zip) / 1048576 )) MiB"

# Anchors that need more than .[bench]: Optuna's GPSampler needs torch (CPU build, benchmarks
# only, never a hyperstep dependency); HEBO needs its own virtualenv (benchmarks/hebo_venv.sh).
.PHONY: bench-gp hebo-venv
bench-gp: $(BENCH_STAMP)
	$(BIN)/pip install --quiet torch==2.13.0

hebo-venv: .hebo-venv/.installed
.hebo-venv/.installed: benchmarks/hebo_venv.sh
	benchmarks/hebo_venv.sh .hebo-venv
	@touch $@
