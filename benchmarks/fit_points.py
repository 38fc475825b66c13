"""A/B of a bounded hyperparameter fit (candidate of strat-22, ``0374a8f``, not adopted) against the
fit on every model point (the product), pre-registered in benchmarks/README.md ("2j. The GP fit at
thousands of trials").

    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 nice -n 19 .venv/bin/python -m benchmarks.fit_points \
        --arm candidate|baseline [--seeds 0 1 2] [--simulated-seeds 0 1]

The candidate arm fits the GP's hyperparameters on a random subset of ``FIT_POINTS`` when a fit sees
more points (drawn from the fit's generator, as ``0374a8f`` did in ``GaussianProcess.fit``), the
posterior on every point; in these runs only the Bayesian objective's GP sees that many (the
ran/failed classifier sees at most 120). Synthetic: four problems of ``broad_problems`` (one each of
the multimodal, crash, integer and valley kinds; none was looked at for this change), ``--rounds``
asks of ``--batch`` through ``Study`` (480 trials by default): the final best loss (a failed trial
counts as none) and the CPU seconds of the asks. Simulated: ``simulated_run.measure`` with
``--simulated-trials`` trials, ASHA and the Bayesian strategy: the job's best value and the
strategy's seconds. One JSON line per run on stdout, all of them in
``benchmarks/results/fit_points_{arm}.json``.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from typing import Any

import numpy as np

from benchmarks import broad_problems, reporting
from hyperstep.strategies import gp
from hyperstep.study import Study

PROBLEMS = ("rastrigin10-shifted", "hartmann6-crash", "levy8-int6", "ellipsoid8-rotated")
FIT_POINTS = 200


def bounded_fit() -> None:
    """Put the candidate in place: ``gp.fit_map`` on at most ``FIT_POINTS`` rows, a random subset."""
    fit_map = gp.fit_map

    def fit_on_a_subset(X: np.ndarray, y: np.ndarray, rng: np.random.Generator, *rest: Any) -> tuple:
        if len(X) > FIT_POINTS:
            keep = np.sort(rng.choice(len(X), FIT_POINTS, replace=False))
            X, y = X[keep], y[keep]
        return fit_map(X, y, rng, *rest)

    gp.fit_map = fit_on_a_subset


def synthetic(name: str, seed: int, rounds: int, batch: int) -> dict[str, Any]:
    """One run of ``rounds`` asks of ``batch`` on the named problem: its final best loss."""
    problem = next(p for p in broad_problems.problems() if p.name == name)
    study = Study(problem.space, strategy="bayesian", seed=seed)
    best, cpu = math.inf, 0.0
    for _ in range(rounds):
        started = time.process_time()
        trials = study.ask(batch, max_trials=rounds * batch)
        cpu += time.process_time() - started
        for trial in trials:
            value = float(problem.true(trial.params))
            if math.isfinite(value):
                best = min(best, value)
                study.tell(trial.id, value)
            else:
                study.tell(trial.id, state="failed")
    return {"problem": name, "seed": seed, "trials": rounds * batch, "best": best, "ask_cpu_seconds": cpu}


def simulated(seed: int, trials: int) -> dict[str, Any]:
    """One simulated ASHA job with the Bayesian strategy: its best value and the strategy's time."""
    from benchmarks.simulated_run import measure

    result = measure(trials, 50, seed, early_stopping="asha", strategy="bayesian")
    keep = ("trials", "best_value", "strategy_seconds", "wall_seconds", "cpu_seconds")
    return {"problem": "simulated-asha", "seed": seed} | {k: result[k] for k in keep}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--arm", choices=("candidate", "baseline"), required=True)
    parser.add_argument("--seeds", nargs="*", type=int, default=[0, 1, 2])
    parser.add_argument("--problems", nargs="*", default=list(PROBLEMS))
    parser.add_argument("--rounds", type=int, default=60)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--simulated-seeds", nargs="*", type=int, default=[0, 1])
    parser.add_argument("--simulated-trials", type=int, default=500)
    args = parser.parse_args(argv)
    if args.arm == "candidate":
        bounded_fit()
    runs = []
    for name in args.problems:
        for seed in args.seeds:
            runs.append(synthetic(name, seed, args.rounds, args.batch) | {"arm": args.arm})
            print(json.dumps(runs[-1]), flush=True)
    for seed in args.simulated_seeds:
        runs.append(simulated(seed, args.simulated_trials) | {"arm": args.arm})
        print(json.dumps(runs[-1]), flush=True)
    path = reporting.RESULTS / f"fit_points_{args.arm}.json"
    path.write_text(json.dumps({"machine": reporting.machine(), "runs": runs}, indent=1) + "\n")


if __name__ == "__main__":
    main()
