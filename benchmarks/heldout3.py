"""The third held-out set (``heldout3_problems``): capabilities never measured against anchors.

Each kind runs its own budget (``heldout3_problems.budget``). Scores are Bayesmark's
normalized score per kind (``scoring.score``: 100 = best any method found, 0 = random
search's expected best) and per problem; the headline is the mean of kinds. On a
constrained problem a method is told every trial's constraint values (hyperstep as the
trial's metrics under ``constraints``, Optuna TPE through ``constraints_func``) and is
scored on its feasible trials only (an infeasible one is NaN: no progress).

Every suggestion is checked against the space (``fresh.invalid``); an invalid one, an
exception or a run past ``--run-timeout`` is counted per method and printed.

    nice -n 19 .venv/bin/python -m benchmarks.heldout3 --seeds 5 --only constrained --name h3_con
    .venv/bin/python -m benchmarks.heldout3 --merge benchmarks/results/h3_con.json ... --methods --name heldout3
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import time
from pathlib import Path
from typing import Any

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402

import hyperstep  # noqa: E402
from benchmarks import fresh, heldout3_problems, reporting  # noqa: E402
from benchmarks.broad import _checkpoint, merge  # noqa: E402
from benchmarks.broad_problems import Params, Problem  # noqa: E402
from benchmarks.heldout3_problems import ConstrainedProblem  # noqa: E402
from benchmarks.optimizers import FACTORIES, BatchOptimizer, HyperstepOptimizer, OptunaTPE, run_batches  # noqa: E402

DEFAULT_METHODS = ["hyperstep", "random", "optuna-tpe"]


def _metrics(problem: ConstrainedProblem, params: Params) -> dict[str, float]:
    return {f"g{i}": float(v) for i, v in enumerate(problem.g(params))}


class ConstrainedHyperstep(HyperstepOptimizer):
    """hyperstep with the problem's constraints (``g{i} <= 0`` on the metrics each trial is told with)."""

    def __init__(self, problem: ConstrainedProblem, seed: int) -> None:
        n = len(problem.g(problem.space.decode(np.full(problem.space.dim, 0.5))))
        constraints = [{"metric": f"g{i}", "max": 0.0} for i in range(n)]
        self.problem = problem
        self.study = hyperstep.Study(problem.space, goal="minimize", seed=seed, constraints=constraints)
        self._pending: list[str] = []
        self._params: list[Params] = []

    def ask(self, n: int) -> list[Params]:
        self._params = super().ask(n)
        return self._params

    def tell(self, losses: list[float | None]) -> None:
        for tid, params, loss in zip(self._pending, self._params, losses):
            if loss is None:
                self.study.tell(tid, None, state="failed")
            else:
                self.study.tell(tid, float(loss), metrics=_metrics(self.problem, params))


class ConstrainedTPE(OptunaTPE):
    """Optuna's multivariate TPE (constant liar) with ``constraints_func`` reading each trial's ``g``."""

    def __init__(self, problem: ConstrainedProblem, seed: int) -> None:
        import optuna

        super().__init__(problem.space, seed)
        self.problem = problem
        self.study.sampler = optuna.samplers.TPESampler(
            multivariate=True, constant_liar=True, seed=seed, constraints_func=lambda t: t.user_attrs["g"]
        )

    def tell(self, losses: list[float | None]) -> None:
        for trial in self._pending:
            trial.set_user_attr("g", list(_metrics(self.problem, trial.params).values()))
        super().tell(losses)


def optimizer(problem: Problem, method: str, seed: int) -> BatchOptimizer:
    """The method's optimizer; on a constrained problem one told the constraints (random search ignores them)."""
    if isinstance(problem, ConstrainedProblem) and method in ("hyperstep", "optuna-tpe"):
        return {"hyperstep": ConstrainedHyperstep, "optuna-tpe": ConstrainedTPE}[method](problem, seed)
    return FACTORIES[method](problem.space, seed)


def run_one(problem: Problem, method: str, seed: int, timeout: int) -> dict[str, Any]:
    """One run: the losses to score ``(rounds, batch)`` (NaN where infeasible), optimizer seconds, defects."""
    rounds, batch = heldout3_problems.budget(problem.kind)
    scored: list[float] = []

    def objective(params: Params) -> float:
        value = problem.f(params)
        ok = not isinstance(problem, ConstrainedProblem) or problem.feasible(params)
        scored.append(value if ok else math.nan)
        return value

    checked = fresh.Checked(optimizer(problem, method, seed), problem.space)
    signal.signal(signal.SIGALRM, fresh._alarm)
    signal.alarm(timeout)
    try:
        _, spent = run_batches(checked, objective, rounds, batch)
    except fresh.RunTimeout:
        return {"error": f"no result within {timeout} s", "defects": checked.problems}
    except Exception as exc:  # any failure of an optimizer is what this benchmark looks for
        return {"error": f"{type(exc).__name__}: {exc}", "defects": checked.problems}
    finally:
        signal.alarm(0)
    return {"losses": np.array(scored).reshape(rounds, batch), "seconds": spent, "defects": checked.problems}


def markdown(scores: dict[str, Any], config: dict[str, Any], defects: dict[str, list[str]]) -> str:
    head, row = fresh.record_head("Third held-out set", scores, config, heldout3_problems.budget)
    feasible = [row(p, by) for p, by in scores["feasible_share"].items()]
    return (
        head
        + "\n\n## Constrained problems: share of feasible trials (mean over seeds)\n\n"
        + reporting.table(["problem", *row.methods], feasible)
        + fresh.crashes_section(defects)
    )


def infeasible_at_clip(by_method: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """A constrained problem's losses with every infeasible trial (NaN) at the clip level: the median
    of random search's feasible losses.

    Scoring counts a method's failed trial as the clip value already, but random search's reference
    (``scoring.baseline``) leaves failures out of its pool: with most random draws infeasible it is
    the best of ``m`` *feasible* draws, far better than random search does (and NaN when fewer
    draws are feasible than the budget). Copies of the median keep it the median, so the clip
    level is unchanged and the reference counts an infeasible draw as no better than a median one.
    """
    random = by_method["random"]
    clip = float(np.median(random[np.isfinite(random)]))
    return {m: np.where(np.isfinite(a), a, clip) for m, a in by_method.items()}


def score(losses: dict[str, dict[str, np.ndarray]], kinds: dict[str, str]) -> dict[str, Any]:
    """``fresh.score_kinds`` over this set's kinds (constrained problems: ``infeasible_at_clip``), and the
    feasible share of each constrained run."""
    at_clip = {
        p: infeasible_at_clip(by) if kinds[p] == "constrained" and "random" in by else by for p, by in losses.items()
    }
    out = fresh.score_kinds(at_clip, kinds, {}, heldout3_problems.KINDS)
    out["feasible_share"] = {
        p: {m: float(np.isfinite(a).mean()) for m, a in by.items()}
        for p, by in losses.items()
        if kinds[p] == "constrained"
    }
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--methods", nargs="*", default=None, choices=sorted(FACTORIES))
    parser.add_argument("--only", nargs="+", default=None, help="problems whose name or kind contains one of these")
    parser.add_argument("--name", default="heldout3", help="results file name (benchmarks/results/NAME.md/.json)")
    parser.add_argument("--merge", nargs="+", default=[], help="earlier results JSON files whose methods join")
    parser.add_argument("--run-timeout", type=int, default=1800, help="seconds one run may take before it is a hang")
    args = parser.parse_args(argv)
    methods = DEFAULT_METHODS if args.methods is None else args.methods
    seeds = list(range(args.first_seed, args.first_seed + args.seeds))
    chosen = [
        p for p in heldout3_problems.problems() if not args.only or any(s in p.name or s in p.kind for s in args.only)
    ]
    start = time.perf_counter()
    losses, _, defects = fresh.run_grid(chosen, methods, seeds, args.name, run_one, args.run_timeout)
    merged = merge(losses, {}, args.merge, len(seeds), args.first_seed)
    for name in args.merge:
        for method, lines in json.loads(Path(name).read_text()).get("defects", {}).items():
            defects.setdefault(method, []).extend(lines)
    _checkpoint(args.name, losses, {}, seeds, {"defects": defects}, suffix="")
    if not any("random" in by for by in losses.values()):
        print("no random search to score against; raw losses in", reporting.RESULTS / f"{args.name}.json")
        return
    scores = score(losses, {p.name: p.kind for p in chosen})
    config = {
        "n_problems": len(chosen),
        "problems": [p.name for p in chosen],
        "seeds": seeds,
        "methods": methods,
        "wall_seconds": time.perf_counter() - start,
        "machine": reporting.machine(),
        "merged": merged,
    }
    data = json.loads((reporting.RESULTS / f"{args.name}.json").read_text())
    data.update({"config": config, "scores": scores})
    text = markdown(scores, config, defects)
    reporting.write_final(args.name, text, data)


if __name__ == "__main__":
    main()
