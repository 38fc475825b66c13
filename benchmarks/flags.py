"""Binary flags in the trust region (strat-18): the candidate ``flagbox`` against the default on the
newkinds set and two held-out flag problems written before any run (``heldout``).

Pre-registration: ``results/s18_flags_prereg.md``. Harness, budgets and anchors are newkinds'
(``newkinds.Plan``); the candidate runs only where it can change anything (a two-valued int column
and a trust region: ``FLAG_PROBLEMS``), elsewhere its report reuses the default's runs.

    nice -n 19 .venv/bin/python -m benchmarks.flags run --out /tmp/s18/a.jsonl --seeds 210 211
    .venv/bin/python -m benchmarks.flags report /tmp/s18/*.jsonl --name s18_flags
"""

from __future__ import annotations

import argparse
from contextlib import AbstractContextManager
from functools import cache
from typing import Any

import numpy as np

from benchmarks import newkinds
from benchmarks.broad_problems import Params, Problem, _floats, _ints, _names, _space, _vector
from benchmarks.newkinds_problems import GROUPS as NEWKINDS_GROUPS
from benchmarks.newkinds_problems import problems as newkinds_problems
from benchmarks.optimizers import FACTORIES

SEEDS = tuple(range(210, 218))
HELDOUT = ["diabetes10-mask", "flags6-ints3"]
GROUPS = {**NEWKINDS_GROUPS, "flags-heldout": HELDOUT}
FLAG_PROBLEMS = ("binary14-select", *HELDOUT)
"""Where ``flagbox`` can change anything: a two-valued int column and a trust region (5+ numeric columns)."""
CANDIDATE = "hyperstep-flagbox"


@cache
def _diabetes() -> tuple[np.ndarray, np.ndarray]:
    from sklearn import datasets

    x, y = datasets.load_diabetes(return_X_y=True)
    return x, y


def diabetes_mask() -> Problem:
    """A feature-selection mask over ``load_diabetes``'s ten features and a ridge penalty, 5-fold MSE."""
    names = _names("f", 10)

    def f(p: Params) -> float:
        from sklearn.linear_model import Ridge
        from sklearn.model_selection import KFold, cross_val_score

        x, y = _diabetes()
        keep = _vector(p, names) > 0.5
        if not keep.any():
            return float(np.var(y))  # no feature: the mean's squared error
        folds = KFold(5, shuffle=True, random_state=0)
        scores = cross_val_score(Ridge(alpha=p["alpha"]), x[:, keep], y, cv=folds, scoring="neg_mean_squared_error")
        return -float(np.mean(scores))

    space = _space(_ints(names, 0, 1), _floats(["alpha"], 1e-4, 1e3, "log"))
    return Problem("diabetes10-mask", "sklearn", space, f)


def flags_ints() -> Problem:
    """Six 0/1 flags with pairwise interactions beside three ints of ten values whose best values
    move with the flags, and a float tied to one flag."""
    flags, ints = _names("b", 6), _names("n", 3)
    rng = np.random.default_rng(1801)
    gain = rng.normal(0.0, 1.0, 6)
    pairs = np.triu(rng.normal(0.0, 0.8, (6, 6)), 1)
    centre = rng.uniform(2.0, 7.0, 3)

    def f(p: Params) -> float:
        b, n = _vector(p, flags), _vector(p, ints)
        z = n - centre - (b[:3].sum() - 1.5)
        return float(gain @ b + b @ pairs @ b + 0.2 * z @ z + (p["x"] - 0.5 * b[5] + 0.2) ** 2)

    space = _space(_ints(flags, 0, 1), _ints(ints, 0, 9), _floats(["x"], -1.0, 1.0))
    return Problem("flags6-ints3", "binary", space, f)


def problems() -> dict[str, Problem]:
    """The newkinds problems and the held-out flag problems, by name."""
    return newkinds_problems() | {p.name: p for p in (diabetes_mask(), flags_ints())}


def _flags_free(lo: np.ndarray, hi: np.ndarray, center: np.ndarray, proj: Any) -> None:
    for col, param in proj.ints:
        if param.high - param.low == 1:
            lo[col], hi[col] = 0.0, 1.0


def flagbox() -> AbstractContextManager[None]:
    """Candidate ``flagbox`` (prereg): the trust region does not restrict an int column of two values
    (the default's box is often narrower than the step between them, so the flag cannot move)."""
    return newkinds.widened_box(_flags_free)


class FlagBox(newkinds.Patched):
    patch = staticmethod(flagbox)


FACTORIES[CANDIDATE] = FlagBox
PLAN = newkinds.Plan(problems, GROUPS, SEEDS, CANDIDATE, FLAG_PROBLEMS, "s18_flags")


def verdict(scores: dict[int, dict[str, Any]], groups: dict[str, list[str]]) -> dict[str, Any]:
    """The pre-registered rule for ``flagbox`` against the default (points 1-4) over ``groups``."""
    budgets = list(newkinds.BUDGETS)
    gain, pooled, harm = newkinds.candidate_gains(scores, groups, CANDIDATE)
    flags = float(np.mean([gain("binary14-select", b) for b in budgets]))
    heldout = float(np.mean([gain("flags-heldout", b) for b in budgets]))
    passes = all(v >= 0.0 for v in pooled.values()) and not harm and flags > 0.0 and heldout >= 0.0
    return {
        "pooled_gain_by_budget": pooled,
        "harm": harm,
        "binary14_mean_gain": flags,
        "heldout_mean_gain": heldout,
        "passes_1_to_4": passes,
    }


def report(args: argparse.Namespace) -> None:
    """The record over the problems the runs hold (every problem of the plan, or fewer when runs were
    cut short: then ``"all"`` pools the newkinds problems among them and groups keep those they hold)."""
    newkinds.candidate_record(
        args, PLAN, [CANDIDATE], verdict, ("Binary flags in the trust region (strat-18)", "s18_flags_prereg.md")
    )


def main(argv: list[str] | None = None) -> None:
    newkinds.main(argv, PLAN, report, __doc__)


if __name__ == "__main__":
    main()
