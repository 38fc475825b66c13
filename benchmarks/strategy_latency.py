"""Latency of one ``suggest(8)`` call against history size, on one core.

Targets (10 dimensions): p95 <= 1 s with 200 trials of history, <= 5 s with 1,000.
Run with one BLAS thread, as a Lambda would have one core:

    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 .venv/bin/python -m benchmarks.strategy_latency

``--conditional`` adds a two-way categorical ``branch`` and makes the second half of the
numeric parameters active only under one of its values (a tree, as ``when`` writes it).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from hyperstep.space import SearchSpace
from hyperstep.strategies import make_strategy
from hyperstep.strategies.base import History


def history(space: SearchSpace, n: int, seed: int, failed: int = 0) -> History:
    """``n`` completed random trials of a bumpy quadratic, 8 pending, ``failed`` failed
    (snapped onto the tree in a conditional space)."""
    from hyperstep.strategies.transforms import Projector

    rng = np.random.default_rng(seed)
    snap = Projector(space) if space.conditional else np.asarray
    X = snap(rng.random((n, space.dim)))
    y = ((X - 0.3) ** 2).sum(1) + 0.3 * np.sin(8 * X[:, 0])
    return History(space, X, y, snap(rng.random((failed, space.dim))), snap(rng.random((8, space.dim))), seed=seed)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--strategy", default="bayesian")
    parser.add_argument("--sizes", nargs="+", type=int, default=[50, 200, 1000])
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--dim", type=int, default=10)
    parser.add_argument("--failed", type=int, default=0, help="failed trials in each history")
    parser.add_argument("--conditional", action="store_true", help="half the parameters under a branch (when)")
    args = parser.parse_args(argv)
    params: list[dict] = [{"name": f"x{i}", "type": "float", "low": 0, "high": 1} for i in range(args.dim)]
    if args.conditional:
        for p in params[args.dim // 2 :]:
            p["when"] = {"branch": ["b"]}
        params.append({"name": "branch", "type": "categorical", "choices": ["a", "b"]})
    space = SearchSpace.model_validate({"parameters": params})
    strategy = make_strategy(args.strategy)
    strategy.suggest(history(space, 30, 0), 8, np.random.default_rng(0))  # imports, caches
    for n in args.sizes:
        seconds, cpu = [], []
        for rep in range(args.repeats):
            h = history(space, n, rep, args.failed)
            start, start_cpu = time.perf_counter(), time.process_time()
            strategy.suggest(h, 8, np.random.default_rng(rep))
            seconds.append(time.perf_counter() - start)
            cpu.append(time.process_time() - start_cpu)
        s, c = np.array(seconds), np.array(cpu)
        p95 = np.percentile(s, 95)
        print(
            f"{args.strategy} n={n:5d}: median {np.median(s):.2f} s  p95 {p95:.2f} s  max {s.max():.2f} s"
            f"  (CPU time: median {np.median(c):.2f} s, p95 {np.percentile(c, 95):.2f} s)"
        )


if __name__ == "__main__":
    main()
