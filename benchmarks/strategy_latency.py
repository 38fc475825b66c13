"""Latency of one ``suggest(8)`` call against history size, on one core.

Targets (10 dimensions): p95 <= 1 s with 200 trials of history, <= 5 s with 1,000.
Run with one BLAS thread, as a Lambda would have one core:

    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 .venv/bin/python -m benchmarks.strategy_latency

``--conditional`` adds a two-way categorical ``branch`` and makes the second half of the
numeric parameters active only under one of its values (a tree, as ``when`` writes it).
``--objectives 3`` gives every trial three objectives (the quadratic around three centres),
``--constraints 1`` one constraint column (feasible on about two thirds of the cube): issue
10's target is ``ask(8)`` <= 2 s at 200 trials with three objectives on one core.

    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 nice -n 19 .venv/bin/python -m benchmarks.strategy_latency \
        --sizes 200 --repeats 5 --objectives 3 --constraints 1 --conditional
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from hyperstep.space import SearchSpace
from hyperstep.strategies import make_strategy
from hyperstep.strategies.base import History


def history(
    space: SearchSpace, n: int, seed: int, failed: int = 0, objectives: int = 1, constraints: int = 0
) -> History:
    """``n`` completed random trials of a bumpy quadratic, 8 pending, ``failed`` failed
    (snapped onto the tree in a conditional space); with several ``objectives`` the
    quadratic around as many centres, with ``constraints`` as many limits on a sum."""
    from hyperstep.strategies.transforms import Projector

    rng = np.random.default_rng(seed)
    snap = Projector(space) if space.conditional else np.asarray
    X = snap(rng.random((n, space.dim)))
    centres = np.linspace(0.3, 0.7, objectives) if objectives > 1 else [0.3]
    Y = np.column_stack([((X - c) ** 2).sum(1) + 0.3 * np.sin(8 * X[:, 0]) for c in centres])
    G = np.column_stack([X[:, i] + X[:, i + 1] - 1.3 for i in range(constraints)]) if constraints else None
    X_failed, X_pending = snap(rng.random((failed, space.dim))), snap(rng.random((8, space.dim)))
    return History(space, X, Y[:, 0], X_failed, X_pending, seed=seed, Y=Y if objectives > 1 else None, G=G)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--strategy", default="bayesian")
    parser.add_argument("--sizes", nargs="+", type=int, default=[50, 200, 1000])
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--dim", type=int, default=10)
    parser.add_argument("--failed", type=int, default=0, help="failed trials in each history")
    parser.add_argument("--conditional", action="store_true", help="half the parameters under a branch (when)")
    parser.add_argument("--objectives", type=int, default=1, help="objectives per trial (2 or 3: several)")
    parser.add_argument("--constraints", type=int, default=0, help="constraint limits per trial")
    args = parser.parse_args(argv)
    params: list[dict] = [{"name": f"x{i}", "type": "float", "low": 0, "high": 1} for i in range(args.dim)]
    if args.conditional:
        for p in params[args.dim // 2 :]:
            p["when"] = {"branch": ["b"]}
        params.append({"name": "branch", "type": "categorical", "choices": ["a", "b"]})
    space = SearchSpace.model_validate({"parameters": params})
    strategy = make_strategy(args.strategy)
    warm = history(space, 30, 0, objectives=args.objectives, constraints=args.constraints)
    strategy.suggest(warm, 8, np.random.default_rng(0))  # imports, caches
    for n in args.sizes:
        seconds, cpu = [], []
        for rep in range(args.repeats):
            h = history(space, n, rep, args.failed, args.objectives, args.constraints)
            start, start_cpu = time.perf_counter(), time.process_time()
            strategy.suggest(h, 8, np.random.default_rng(rep))
            seconds.append(time.perf_counter() - start)
            cpu.append(time.process_time() - start_cpu)
        s, c = np.array(seconds), np.array(cpu)
        p95 = np.percentile(s, 95)
        print(
            f"{args.strategy} m={args.objectives} c={args.constraints} n={n:5d}:"
            f" median {np.median(s):.2f} s  p95 {p95:.2f} s  max {s.max():.2f} s"
            f"  (CPU time: median {np.median(c):.2f} s, p95 {np.percentile(c, 95):.2f} s)"
        )


if __name__ == "__main__":
    main()
