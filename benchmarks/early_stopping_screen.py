"""Screening a scheduler lever on the early-stopping benchmark (issue 9, round nine): per seed.

``benchmarks.early_stopping`` reports medians over seeds and runs full-fidelity Bayesian
optimization again in every run; to see exactly which seeds a lever changes (the runs are
deterministic for a seed), this runs a few methods per problem, keeps each seed's reach
(the compute fraction to full fidelity's final best of the same seed) and best value, and
caches full fidelity's traces (they do not depend on the scheduler) across code versions.
Run it from a snapshot of each version; results accumulate in ``OUT/TAG-PROBLEM.json``.

    python -m benchmarks.early_stopping_screen run TAG PROBLEM METHOD...
    python -m benchmarks.early_stopping_screen table        # every stored result, per seed
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from pathlib import Path

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402

from benchmarks.early_stopping import FULL, METHODS, best_at, compute_to_reach  # noqa: E402
from benchmarks.learning_curves import problems  # noqa: E402

OUT = Path(os.environ.get("SCREEN_OUT", "/tmp/es9a"))
SEEDS = 3
TRIALS = 50


def run(tag: str, name: str, methods: list[str]) -> None:
    problem = problems()[name]
    problem.load()
    budget = TRIALS * problem.max_resource
    out = OUT / "screen" / f"{tag}-{name}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    results = json.loads(out.read_text()) if out.exists() else {}
    for seed in range(SEEDS):
        cached = OUT / "ff" / f"{name}-{seed}.json"
        cached.parent.mkdir(parents=True, exist_ok=True)
        if not cached.exists():
            cached.write_text(json.dumps(METHODS[FULL](problem, budget, seed)))
        target = json.loads(cached.read_text())[-1][1]
        for method in methods:
            key = f"{method}|{seed}"
            if key in results:
                continue
            start = time.time()
            trace = METHODS[method](problem, budget, seed)
            results[key] = {
                "reach": compute_to_reach(trace, target) / budget,
                "best": best_at(trace, budget),
                "target": target,
                "s": time.time() - start,
            }
            out.write_text(json.dumps(results, indent=0))
            print(tag, name, key, results[key], flush=True)
    problem.save()


def table() -> None:
    rows: dict[tuple[str, str], dict[str, dict[int, dict[str, float]]]] = {}
    for path in sorted((OUT / "screen").glob("*.json")):
        tag, name = path.stem.split("-", 1)
        for key, value in json.loads(path.read_text()).items():
            method, seed = key.rsplit("|", 1)
            rows.setdefault((name, method), {}).setdefault(tag, {})[int(seed)] = value
    for (name, method), tags in sorted(rows.items()):
        for tag, seeds in sorted(tags.items()):
            per = " ".join(
                f"s{s}:{(str(round(v['reach'], 3)) if math.isfinite(v['reach']) else '-'):>5}/{v['best']:.6f}"
                for s, v in sorted(seeds.items())
            )
            median = ""
            if len(seeds) == SEEDS:
                reach = float(np.median([v["reach"] for v in seeds.values()]))
                median = f"median reach {reach:.3f} best {float(np.median([v['best'] for v in seeds.values()])):.6f}"
            print(f"{name:14} {method[:28]:28} {tag:4} {per}  {median}")


if __name__ == "__main__":
    if sys.argv[1] == "table":
        table()
    else:
        run(sys.argv[2], sys.argv[3], sys.argv[4:])
