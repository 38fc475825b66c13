"""Screen a change to the multi-fidelity methods fast: per seed, the compute each method needs to
reach full-fidelity Bayesian's final best (issue 9's criterion 1 before the median), and its best.

The benchmark (``benchmarks.early_stopping``) prints only medians over seeds; runs are
deterministic for a seed, so a seed-by-seed table shows exactly which runs a change moved.
Full fidelity's traces are kept in ``--full`` (a JSON file) and reused: a change guarded to the
multi-fidelity path leaves them as they are, so a screen runs only the methods asked.

    nice -n 19 python -m benchmarks.early_stopping_screen --only crossing-6d --methods "model-based hyperband"
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

from benchmarks.early_stopping import FULL, METHODS, best_at, compute_to_reach  # noqa: E402
from benchmarks.learning_curves import problems  # noqa: E402


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", required=True, help="problems")
    parser.add_argument("--methods", nargs="+", required=True, choices=[m for m in METHODS if m != FULL])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--trials", type=int, default=50)
    parser.add_argument("--full", type=Path, default=Path("/tmp/early_stopping_full.json"), help="full fidelity traces")
    args = parser.parse_args(argv)
    every = problems()
    print("| problem | method | seed | target | reach | best |\n|---|---|---|---|---|---|")
    for name in args.only:
        problem = every[name]
        problem.load()
        budget = args.trials * problem.max_resource
        for seed in args.seeds:
            key = f"{name}/{seed}/{args.trials}"
            full = json.loads(args.full.read_text()) if args.full.exists() else {}
            if key not in full:
                full[key] = METHODS[FULL](problem, budget, seed)
                args.full.write_text(json.dumps(full))
            target = best_at(full[key], budget)
            for method in args.methods:
                trace = METHODS[method](problem, budget, seed)
                reach = compute_to_reach(trace, target) / budget
                print(
                    f"| {name} | {method} | {seed} | {target:.6g} | {reach:.3f} | {best_at(trace, budget):.6g} |",
                    flush=True,
                )
        problem.save()


if __name__ == "__main__":
    main()
