"""The Bayesian strategy in 40 and 50 dimensions (strat-16, part 2): every round's suggest time and
the best found after 100 trials, against random search and Optuna TPE.

A Suggest Lambda asks for up to ``max_parallel`` trials a round; here 4 a round for 25 rounds,
one BLAS thread (as in a Lambda), each ``ask`` timed on its own. Problems: Levy-40 on [-10, 10]
and Rosenbrock-50 on [-5, 10], both shifted by fixed constants so the optimum (0) is neither at
the centre nor on a Sobol' point.

    nice -n 19 .venv/bin/python -m benchmarks.high_dim --seeds 0 1 2 --name s16_high_dim
"""

from __future__ import annotations

import argparse
import os
import time
from typing import Any

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402

from benchmarks import fresh, reporting  # noqa: E402
from benchmarks.broad_problems import Params, Problem, _floats, _names, _space, _vector, levy, rosenbrock  # noqa: E402
from benchmarks.optimizers import FACTORIES, BatchOptimizer, run_batches  # noqa: E402

ROUNDS, BATCH = 25, 4
METHODS = ("hyperstep", "random", "optuna-tpe")


def _shifted(name: str, d: int, lo: float, hi: float, g: Any, spread: float) -> Problem:
    names = _names("x", d)
    shift = np.random.default_rng(16).uniform(-spread, spread, d)
    return Problem(name, "high-dim", _space(_floats(names, lo, hi)), lambda p: g(_vector(p, names) - shift))


def problems() -> list[Problem]:
    """Levy's optimum is at 1 and Rosenbrock's at 1: shifted, at ``1 + shift``, inside the box."""
    return [
        _shifted("levy40-shifted", 40, -10.0, 10.0, levy, 4.0),
        _shifted("rosenbrock50-shifted", 50, -5.0, 10.0, rosenbrock, 2.0),
    ]


class Timed(BatchOptimizer):
    """An optimizer whose every ``ask`` is timed (``seconds``, one per round)."""

    def __init__(self, inner: BatchOptimizer) -> None:
        self.inner, self.seconds = inner, []

    def ask(self, n: int) -> list[Params]:
        start = time.process_time()
        out = self.inner.ask(n)
        self.seconds.append(time.process_time() - start)
        return out

    def tell(self, losses: list[float | None]) -> None:
        self.inner.tell(losses)

    def plan(self, trials: int) -> None:
        self.inner.plan(trials)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    parser.add_argument("--name", default="s16_high_dim")
    args = parser.parse_args(argv)
    runs: list[dict[str, Any]] = []
    for problem in problems():
        for method in args.methods:
            for seed in args.seeds:
                timed = Timed(FACTORIES[method](problem.space, seed))
                checked = fresh.Checked(timed, problem.space)
                losses, _ = run_batches(checked, problem.f, ROUNDS, BATCH)
                best = np.minimum.accumulate(np.nanmin(losses, axis=1))
                runs.append(
                    {
                        "problem": problem.name,
                        "method": method,
                        "seed": seed,
                        "best_by_round": best.tolist(),
                        "ask_cpu_seconds": timed.seconds,
                        "defects": checked.problems,
                    }
                )
                print(f"{problem.name} {method} seed {seed}: best {best[-1]:.4g}, worst ask {max(timed.seconds):.2f} s")
    reporting.write(args.name, markdown(runs, args.seeds), {"machine": reporting.machine(), "runs": runs})


def markdown(runs: list[dict[str, Any]], seeds: list[int]) -> str:
    m = reporting.machine()
    rows = []
    for name in dict.fromkeys(r["problem"] for r in runs):
        for method in dict.fromkeys(r["method"] for r in runs):
            mine = [r for r in runs if r["problem"] == name and r["method"] == method]
            asks = np.array([s for r in mine for s in r["ask_cpu_seconds"]])
            rows.append(
                [
                    name,
                    method,
                    float(np.median([r["best_by_round"][9] for r in mine])),
                    float(np.median([r["best_by_round"][-1] for r in mine])),
                    float(np.median(asks)),
                    float(np.percentile(asks, 95)),
                    float(asks.max()),
                ]
            )
    header = ["problem", "method", "median best @40", "median best @100", "ask s median", "ask s p95", "ask s max"]
    defects = {"all": [f"{r['method']} {r['problem']} seed {r['seed']}: {x}" for r in runs for x in r["defects"]]}
    return (
        f"# The Bayesian strategy in 40-50 dimensions (strat-16)\n\n{m['date_utc']}, commit {m['hyperstep_commit']}, "
        f"seeds {seeds}, {ROUNDS} rounds of {BATCH}, one BLAS thread; ask time is the process CPU time of one "
        "`ask(4)` (what one Suggest round's strategy costs), over every round of every seed.\n\n"
        + reporting.table(header, rows)
        + fresh.crashes_section(defects)
    )


if __name__ == "__main__":
    main()
