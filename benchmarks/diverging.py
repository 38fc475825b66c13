"""Diverging objectives (strat-21): huge finite values beside the optimum, as a learning rate past its
stability limit gives, judged on the newkinds set and held-out problems written before any run.

Pre-registration: ``results/s21_cliff_prereg.md``. Harness, budgets and anchors are newkinds'
(``newkinds.Plan``). Both candidates read a value as diverged by one rule (``diverged``) and change
nothing where no value is: they run only on ``CHANGED``; elsewhere the report reuses the default's runs
(a run is the default's until the first ask whose history holds a diverged value: ``first_diverged``).

    nice -n 19 .venv/bin/python -m benchmarks.diverging run --out /tmp/s21/a.jsonl --seeds 200 201
    .venv/bin/python -m benchmarks.diverging report /tmp/s21/*.jsonl --name s21_cliff
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

import numpy as np

from benchmarks import newkinds
from benchmarks.broad_problems import Params, Problem, _floats, _ints, _names, _rotation, _space, _vector
from benchmarks.newkinds_problems import GROUPS as NEWKINDS_GROUPS
from benchmarks.newkinds_problems import problems as newkinds_problems
from benchmarks.optimizers import FACTORIES
from hyperstep.strategies import bayesian
from hyperstep.strategies.base import History

DIVERGED_RATIO = 1e3
"""A value is diverged when it exceeds the median by this many times the median's scale
(``max(|median|, median - best)``): 1e3 separates cliff6-lr's 1e4..1e12 from its values of order 1."""
SEEDS = tuple(range(200, 210))
HELDOUT = ["cliff3-lr-batch", "cliff6-lr-batch"]
FAILED = ["cliff3-lr-batch-nan"]
GROUPS = {**NEWKINDS_GROUPS, "cliff-heldout": HELDOUT, "failed-heldout": FAILED}
CHANGED = ("cliff6-lr", "svr4-linnerud", *HELDOUT)
"""Where a diverged value appears in the default's runs of the design data (cliff6-lr; svr4-linnerud's
sigmoid kernel at large C reaches 1e7-1e8) and the held-out finite cliffs. NaN is a failure, never a value."""
CANDIDATES = ("hyperstep-failed", "hyperstep-capped")


def diverged(y: np.ndarray) -> np.ndarray:
    """Mask of the values more than ``DIVERGED_RATIO`` times the median's scale above the median."""
    y = np.asarray(y, dtype=float)
    if len(y) == 0:
        return np.zeros(0, dtype=bool)
    m = float(np.median(y))
    ref = max(abs(m), m - float(y.min()))
    return y - m > DIVERGED_RATIO * ref if ref > 0 else np.zeros(len(y), dtype=bool)


def first_diverged(losses: list[float], batch: int) -> int | None:
    """The first ask (a multiple of ``batch`` trials told) whose history holds a diverged value, or None:
    until then a candidate's run is the default's (failed trials, NaN, are not values)."""
    y = np.asarray(losses, dtype=float)
    for told in range(batch, len(y), batch):
        seen = y[:told][np.isfinite(y[:told])]
        if diverged(seen).any():
            return told
    return None


def as_failed(history: History) -> History:
    """Candidate ``failed``: diverged trials leave the objective's model and count as failed trials
    (the ran/failed classifier and the failure rules, ``bayesian.py``'s step 3)."""
    bad = diverged(history.y) if history.Y is None else np.zeros(len(history.y), dtype=bool)
    if not bad.any():
        return history
    G = None if history.G is None else history.G[~bad]
    X_failed = np.vstack([history.X_failed, history.X[bad]])
    return replace(history, X=history.X[~bad], y=history.y[~bad], G=G, X_failed=X_failed)


def capped(history: History) -> History:
    """Candidate ``capped``: diverged values are replaced by the worst value that did not diverge
    (as failures enter the warp), and stay in the objective's model."""
    bad = diverged(history.y) if history.Y is None else np.zeros(len(history.y), dtype=bool)
    if not bad.any():
        return history
    return replace(history, y=np.where(bad, history.y[~bad].max(), history.y))


@contextmanager
def seen_as(transform: Callable[[History], History]) -> Iterator[None]:
    """While the block runs, the Bayesian strategy proposes from ``transform(history)``."""
    default = bayesian.BayesianOptimization.propose

    def propose(self: Any, history: History, n: int, rng: np.random.Generator) -> Any:
        return default(self, transform(history), n, rng)

    bayesian.BayesianOptimization.propose = propose  # type: ignore[method-assign]
    try:
        yield
    finally:
        bayesian.BayesianOptimization.propose = default  # type: ignore[method-assign]


class Failed(newkinds.Patched):
    patch = staticmethod(lambda: seen_as(as_failed))


class Capped(newkinds.Patched):
    patch = staticmethod(lambda: seen_as(capped))


FACTORIES["hyperstep-failed"] = Failed
FACTORIES["hyperstep-capped"] = Capped


def lr_batch(dim: int, nan: bool = False) -> Problem:
    """A learning rate whose stable limit grows with the square root of the batch size and shrinks
    with ``1 - momentum`` (the effective step); the best rate is half the limit; past it the loss
    diverges to 1e2..1e11 (NaN with ``nan``). ``dim`` 6 adds a rotated 3-d quadratic."""
    names = _names("x", dim - 3)
    rot = _rotation(max(dim - 3, 1), 2101)[: dim - 3, : dim - 3]  # 0 x 0 in three dimensions
    centre = np.random.default_rng(2102).uniform(-0.5, 0.5, dim - 3)

    def f(p: Params) -> float:
        lr, batch, mom = math.log10(p["lr"]), float(p["batch"]), float(p["momentum"])
        limit = math.log10(0.5) + 0.5 * math.log10(batch / 256.0) + math.log10(1.0 - mom)
        if lr > limit:
            return math.nan if nan else 1e2 * 10.0 ** min(9.0, 12.0 * (lr - limit))
        z = rot @ (_vector(p, names) - centre)
        rest = float(np.sum(np.array([1.0, 0.4, 0.1][: len(z)]) * z * z))
        shape = 0.3 * (math.log2(batch) - 7.0) ** 2 / 9.0 + 2.0 * (mom - 0.9) ** 2
        return (lr - limit + math.log10(2.0)) ** 2 + shape + rest

    space = _space(
        _floats(["lr"], 1e-5, 1.0, "log"),
        _ints(["batch"], 16, 1024, "log"),
        _floats(["momentum"], 0.0, 0.99),
        _floats(names, -1.0, 1.0),
    )
    name = f"cliff{dim}-lr-batch" + ("-nan" if nan else "")
    return Problem(name, "cliff", space, f)


def problems() -> dict[str, Problem]:
    """The newkinds problems and the held-out cliffs, by name."""
    held = (lr_batch(3), lr_batch(6), lr_batch(3, nan=True))
    return newkinds_problems() | {p.name: p for p in held}


PLAN = newkinds.Plan(problems, GROUPS, SEEDS, CANDIDATES[0], CHANGED, "s21_cliff", CANDIDATES[1:])


def verdict(scores: dict[int, dict[str, Any]], groups: dict[str, list[str]], candidate: str) -> dict[str, Any]:
    """The pre-registered rule for ``candidate`` against the default (points 1-4) over ``groups``."""
    budgets = list(newkinds.BUDGETS)
    gain, pooled, harm = newkinds.candidate_gains(scores, groups, candidate)
    heldout = float(np.mean([gain("cliff-heldout", b) for b in budgets])) if "cliff-heldout" in groups else None
    passes = (
        float(np.mean(list(pooled.values()))) >= 2.0
        and all(v >= 0.0 for v in pooled.values())
        and not harm
        and heldout is not None
        and heldout >= 0.0
    )
    return {"pooled_gain_by_budget": pooled, "harm": harm, "heldout_mean_gain": heldout, "passes_1_to_4": passes}


def report(args: argparse.Namespace) -> None:
    """The record over the problems the runs hold (``"all"`` pools the newkinds problems among them)."""
    newkinds.candidate_record(
        args,
        PLAN,
        CANDIDATES,
        lambda scores, groups: {c: verdict(scores, groups, c) for c in CANDIDATES},
        ("Diverging objectives (strat-21)", "s21_cliff_prereg.md"),
    )


def main(argv: list[str] | None = None) -> None:
    newkinds.main(argv, PLAN, report, __doc__)


if __name__ == "__main__":
    main()
