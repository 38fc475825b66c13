"""Synthetic test functions, 16 rounds x batch 8: a quick check of the optimizers' quality.

Runs hyperstep strategies (and Optuna TPE, multivariate with constant liar, when
installed) through the public ask/tell API on Branin, Hartmann-6, Ackley-10, Levy-10
and Rosenbrock-10, and prints the median and mean best value over seeds.

    .venv/bin/python -m benchmarks.quick_synthetic --methods bayesian random optuna --seeds 5
    .venv/bin/python -m benchmarks.quick_synthetic --methods 'bayesian:{"acquisition": "ei"}'  # with options
"""

from __future__ import annotations

import argparse
import json
import math
import time
from collections.abc import Callable

import numpy as np

from hyperstep.space import SearchSpace
from hyperstep.study import Study

A6 = np.array(
    [[10, 3, 17, 3.5, 1.7, 8], [0.05, 10, 17, 0.1, 8, 14], [3, 3.5, 1.7, 10, 17, 8], [17, 8, 0.05, 10, 0.1, 14]]
)
P6 = 1e-4 * np.array(
    [
        [1312, 1696, 5569, 124, 8283, 5886],
        [2329, 4135, 8307, 3736, 1004, 9991],
        [2348, 1451, 3522, 2883, 3047, 6650],
        [4047, 8828, 8732, 5743, 1091, 381],
    ]
)
ALPHA6 = np.array([1.0, 1.2, 3.0, 3.2])


def branin(x: np.ndarray) -> float:
    b, c, t = 5.1 / (4 * math.pi**2), 5 / math.pi, 1 / (8 * math.pi)
    return float((x[1] - b * x[0] ** 2 + c * x[0] - 6) ** 2 + 10 * (1 - t) * math.cos(x[0]) + 10)


def hartmann6(x: np.ndarray) -> float:
    return -float(ALPHA6 @ np.exp(-(A6 * (x - P6) ** 2).sum(1)))


def ackley(x: np.ndarray) -> float:
    d = len(x)
    return float(-20 * np.exp(-0.2 * np.sqrt((x**2).sum() / d)) - np.exp(np.cos(2 * np.pi * x).sum() / d) + 20 + np.e)


def levy(x: np.ndarray) -> float:
    w = 1 + (x - 1) / 4
    middle = ((w[:-1] - 1) ** 2 * (1 + 10 * np.sin(np.pi * w[:-1] + 1) ** 2)).sum()
    return float(np.sin(np.pi * w[0]) ** 2 + middle + (w[-1] - 1) ** 2 * (1 + np.sin(2 * np.pi * w[-1]) ** 2))


def rosenbrock(x: np.ndarray) -> float:
    return float((100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2).sum())


PROBLEMS: dict[str, tuple[Callable[[np.ndarray], float], list[tuple[float, float]]]] = {
    "branin": (branin, [(-5, 10), (0, 15)]),
    "hartmann6": (hartmann6, [(0, 1)] * 6),
    "ackley10": (ackley, [(-32.768, 32.768)] * 10),
    "levy10": (levy, [(-10, 10)] * 10),
    "rosenbrock10": (rosenbrock, [(-5, 10)] * 10),
}


def run_hyperstep(strategy: str, problem: str, seed: int, rounds: int, batch: int) -> tuple[float, float]:
    """Best value found and seconds spent asking."""
    strategy, _, options = strategy.partition(":")
    f, bounds = PROBLEMS[problem]
    params = [{"name": f"x{i}", "type": "float", "low": lo, "high": hi} for i, (lo, hi) in enumerate(bounds)]
    space = SearchSpace.model_validate({"parameters": params})
    study = Study(space, strategy=strategy, seed=seed, strategy_options=json.loads(options or "{}"))
    best, spent = math.inf, 0.0
    for _ in range(rounds):
        start = time.perf_counter()
        trials = study.ask(batch, max_trials=rounds * batch)
        spent += time.perf_counter() - start
        for trial in trials:
            value = f(np.array([trial.params[f"x{i}"] for i in range(len(bounds))]))
            best = min(best, value)
            study.tell(trial.id, value)
    return best, spent


def run_optuna(problem: str, seed: int, rounds: int, batch: int) -> tuple[float, float]:
    """Optuna TPE (multivariate, constant liar) on the same problem."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    f, bounds = PROBLEMS[problem]
    sampler = optuna.samplers.TPESampler(multivariate=True, constant_liar=True, seed=seed)
    study = optuna.create_study(sampler=sampler)
    dists = {f"x{i}": optuna.distributions.FloatDistribution(lo, hi) for i, (lo, hi) in enumerate(bounds)}
    best, spent = math.inf, 0.0
    for _ in range(rounds):
        start = time.perf_counter()
        trials = [study.ask(dists) for _ in range(batch)]
        spent += time.perf_counter() - start
        for trial in trials:
            value = f(np.array([trial.params[f"x{i}"] for i in range(len(bounds))]))
            best = min(best, value)
            study.tell(trial, value)
    return best, spent


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--methods", nargs="+", default=["bayesian", "random"])
    parser.add_argument("--problems", nargs="+", default=list(PROBLEMS), choices=list(PROBLEMS))
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=16)
    parser.add_argument("--batch", type=int, default=8)
    args = parser.parse_args(argv)
    for problem in args.problems:
        for method in args.methods:
            runs = [
                run_optuna(problem, seed, args.rounds, args.batch)
                if method == "optuna"
                else run_hyperstep(method, problem, seed, args.rounds, args.batch)
                for seed in range(args.seeds)
            ]
            best = np.array([r[0] for r in runs])
            ask_s = np.mean([r[1] for r in runs])
            print(
                f"{problem:13s} {method:13s} median {np.median(best):11.4f} mean {best.mean():11.4f} "
                f"ask s/run {ask_s:.1f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
