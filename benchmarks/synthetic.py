"""Synthetic test functions: final simple regret after 16 rounds of 8, against anchors.

Continuous: Branin (2-d), Hartmann-6, Ackley-10, Levy-10, Rosenbrock-10 on their usual
domains (Surjanovic & Bingham's Virtual Library of Simulation Experiments). Mixed: the
10-d Ackley, Levy and Rosenbrock with their first five dimensions integer and a
categorical ``c`` that adds a penalty (0 for "a", then growing), so the optimum is still
known and reachable. Regret = best value found - known minimum; the table shows the
median over seeds and whether hyperstep's median is lower than Optuna TPE's.

    .venv/bin/python -m benchmarks.synthetic --quick     # 3 seeds
    .venv/bin/python -m benchmarks.synthetic             # 10 seeds
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from benchmarks import reporting
from benchmarks.optimizers import FACTORIES, default_methods, run_batches
from hyperstep.space import SearchSpace

HARTMANN_A = np.array(
    [[10, 3, 17, 3.5, 1.7, 8], [0.05, 10, 17, 0.1, 8, 14], [3, 3.5, 1.7, 10, 17, 8], [17, 8, 0.05, 10, 0.1, 14]]
)
HARTMANN_P = 1e-4 * np.array(
    [
        [1312, 1696, 5569, 124, 8283, 5886],
        [2329, 4135, 8307, 3736, 1004, 9991],
        [2348, 1451, 3522, 2883, 3047, 6650],
        [4047, 8828, 8732, 5743, 1091, 381],
    ]
)
HARTMANN_ALPHA = np.array([1.0, 1.2, 3.0, 3.2])
PENALTY = {"a": 0.0, "b": 1.0, "c": 2.0, "d": 4.0}


def branin(x: np.ndarray) -> float:
    a, b, c, r, s, t = 1.0, 5.1 / (4 * np.pi**2), 5 / np.pi, 6.0, 10.0, 1 / (8 * np.pi)
    return float(a * (x[1] - b * x[0] ** 2 + c * x[0] - r) ** 2 + s * (1 - t) * np.cos(x[0]) + s)


def hartmann6(x: np.ndarray) -> float:
    return float(-np.sum(HARTMANN_ALPHA * np.exp(-np.sum(HARTMANN_A * (x - HARTMANN_P) ** 2, axis=1))))


def ackley(x: np.ndarray) -> float:
    d = x.size
    return float(-20 * np.exp(-0.2 * np.sqrt(np.sum(x**2) / d)) - np.exp(np.sum(np.cos(2 * np.pi * x)) / d) + 20 + np.e)


def levy(x: np.ndarray) -> float:
    w = 1 + (x - 1) / 4
    middle = np.sum((w[:-1] - 1) ** 2 * (1 + 10 * np.sin(np.pi * w[:-1] + 1) ** 2))
    last = (w[-1] - 1) ** 2 * (1 + np.sin(2 * np.pi * w[-1]) ** 2)
    return float(np.sin(np.pi * w[0]) ** 2 + middle + last)


def rosenbrock(x: np.ndarray) -> float:
    return float(np.sum(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2))


@dataclass(frozen=True)
class TestFunction:
    """A named function over a search space with a known minimum value."""

    name: str
    space: SearchSpace
    f: Callable[[np.ndarray], float]
    f_min: float
    penalty_scale: float = 0.0

    def __call__(self, params: dict[str, Any]) -> float:
        x = np.array([float(params[f"x{i}"]) for i in range(sum(1 for k in params if k.startswith("x")))])
        extra = self.penalty_scale * PENALTY[params["c"]] if "c" in params else 0.0
        return self.f(x) + extra


def _space(bounds: list[tuple[float, float]], n_int: int = 0, categorical: bool = False) -> SearchSpace:
    params: list[dict[str, Any]] = []
    for i, (lo, hi) in enumerate(bounds):
        kind = "int" if i < n_int else "float"
        cast = int if kind == "int" else float
        params.append(
            {
                "name": f"x{i}",
                "type": kind,
                "low": cast(np.ceil(lo) if i < n_int else lo),
                "high": cast(np.floor(hi) if i < n_int else hi),
            }
        )
    if categorical:
        params.append({"name": "c", "type": "categorical", "choices": list(PENALTY)})
    return SearchSpace.model_validate({"parameters": params})


def functions() -> list[TestFunction]:
    """The eight benchmark functions, continuous then mixed."""
    return [
        TestFunction("branin", _space([(-5, 10), (0, 15)]), branin, 0.397887357729738),
        TestFunction("hartmann6", _space([(0, 1)] * 6), hartmann6, -3.32236801141551),
        TestFunction("ackley10", _space([(-32.768, 32.768)] * 10), ackley, 0.0),
        TestFunction("levy10", _space([(-10, 10)] * 10), levy, 0.0),
        TestFunction("rosenbrock10", _space([(-5, 10)] * 10), rosenbrock, 0.0),
        TestFunction("ackley10-mixed", _space([(-32.768, 32.768)] * 10, 5, True), ackley, 0.0, 1.0),
        TestFunction("levy10-mixed", _space([(-10, 10)] * 10, 5, True), levy, 0.0, 5.0),
        TestFunction("rosenbrock10-mixed", _space([(-5, 10)] * 10, 5, True), rosenbrock, 0.0, 100.0),
    ]


def final_regret(losses: np.ndarray, f_min: float) -> np.ndarray:
    """Simple regret per run: best finite loss of the run minus the known minimum."""
    best = np.min(np.where(np.isfinite(losses), losses, np.inf).reshape(losses.shape[0], -1), axis=1)
    return np.maximum(best - f_min, 0.0)


def summarize(regrets: dict[str, dict[str, np.ndarray]], ours: str = "hyperstep", rival: str = "optuna-tpe") -> dict:
    """Median regret per function and method, and on which functions ``ours`` beats ``rival``."""
    medians = {fn: {m: float(np.median(r)) for m, r in by.items()} for fn, by in regrets.items()}
    wins = {fn: med[ours] < med[rival] for fn, med in medians.items() if ours in med and rival in med}
    share = sum(wins.values()) / len(wins) if wins else float("nan")
    return {"median_regret": medians, "beats_tpe": wins, "share_beating_tpe": share}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="3 seeds instead of 10")
    parser.add_argument("--seeds", type=int, default=None)
    parser.add_argument("--methods", nargs="+", default=None, choices=sorted(FACTORIES))
    parser.add_argument("--only", nargs="+", default=None, help="functions whose name contains any of these")
    parser.add_argument("--rounds", type=int, default=16)
    parser.add_argument("--batch", type=int, default=8)
    args = parser.parse_args(argv)
    methods = args.methods or default_methods()
    seeds = list(range(args.seeds or (3 if args.quick else 10)))
    fns = [f for f in functions() if not args.only or any(s in f.name for s in args.only)]

    start = time.perf_counter()
    regrets: dict[str, dict[str, np.ndarray]] = {}
    seconds = dict.fromkeys(methods, 0.0)
    for fn in fns:
        regrets[fn.name] = {}
        for method in methods:
            runs = []
            for seed in seeds:
                losses, spent = run_batches(FACTORIES[method](fn.space, seed), fn, args.rounds, args.batch)
                runs.append(final_regret(losses[None], fn.f_min)[0])
                seconds[method] += spent
            regrets[fn.name][method] = np.array(runs)
            print(f"{fn.name:20s} {method:11s} median regret {np.median(runs):.4g}", flush=True)
    summary = summarize(regrets)
    config = {
        "mode": "quick" if args.quick else "full",
        "methods": methods,
        "seeds": seeds,
        "rounds": args.rounds,
        "batch": args.batch,
        "wall_seconds": time.perf_counter() - start,
        "machine": reporting.machine(),
    }
    rows = [
        [fn, *[med[m] for m in methods], "yes" if summary["beats_tpe"].get(fn) else "no"]
        for fn, med in summary["median_regret"].items()
    ]
    m = config["machine"]
    text = (
        f"# Synthetic functions ({config['mode']})\n\n{m['date_utc']}, {m['cpus']} CPUs; seeds {seeds}, "
        f"{args.rounds} rounds x batch {args.batch}, wall time {config['wall_seconds']:.0f} s.\n\n"
        "Median final simple regret over seeds (lower is better).\n\n"
        + reporting.table(["function", *methods, "hyperstep < TPE"], rows)
        + f"\n\nhyperstep beats TPE on {sum(summary['beats_tpe'].values())}/{len(summary['beats_tpe'])} functions "
        f"({100 * summary['share_beating_tpe']:.0f}%; target >= 80%).\n\n"
        + reporting.table(
            ["method", "optimizer s / run"], [[k, v / (len(fns) * len(seeds))] for k, v in seconds.items()]
        )
    )
    data = {
        "config": config,
        **summary,
        "regrets": {f: {k: v.tolist() for k, v in by.items()} for f, by in regrets.items()},
        "optimizer_seconds": seconds,
    }
    paths = reporting.write("synthetic_quick" if args.quick else "synthetic", text, data)
    print(text)
    print("wrote", *paths)


if __name__ == "__main__":
    main()
