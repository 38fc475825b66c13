"""opt-24's diagnosis of sparse12-log at 20 x 1 (benchmarks/README.md, 2k): the strategy with one
thing changed (``VARIANT``), the ranks of the two relevant parameters' length scales at each GP fit
(``fits``: points, rank of r3, rank of k2, additive kernel kept) and the run's true losses.

Variants: ``base`` (the product), ``initN`` (an initial design of N), ``notr`` (no trust region),
``rateR`` (length-scale prior rate R instead of 0.1: weaker), ``noadd`` (no additive kernel).

    PYTHONPATH=. .venv/bin/python benchmarks/results/o24_sparse12_trace.py init7 230 231 >> trace.jsonl
"""

from __future__ import annotations

import dataclasses
import json
import sys
from typing import Any

import numpy as np

from benchmarks import heldout4
from benchmarks.heldout4_problems import problems
from hyperstep.strategies import bayesian, gp

PROBLEM = problems()["sparse12-log"]
NAMES = [p.name for p in PROBLEM.space.parameters]
RELEVANT = [NAMES.index("r3"), NAMES.index("k2")]


def change(variant: str) -> None:
    """Patch the strategy for ``variant`` (this process only)."""
    if variant.startswith("init"):
        size = int(variant[4:])
        bayesian.initial_design_size = lambda dim, budget: size  # type: ignore[assignment]
    elif variant == "notr":
        cube = lambda self, c, lengths, proj, shrink=1.0: (np.zeros(len(c)), np.ones(len(c)))  # noqa: E731
        bayesian.BayesianOptimization._trust_region = cube  # type: ignore[method-assign]
    elif variant.startswith("rate"):
        rate = float(variant[4:])

        @dataclasses.dataclass(frozen=True)
        class Weaker(gp.Prior):
            length_rate: float = rate

        gp.Prior = Weaker  # type: ignore[misc]
    elif variant == "noadd":
        plain = gp.GaussianProcess.fit.__func__  # type: ignore[attr-defined]
        gp.GaussianProcess.fit = classmethod(lambda cls, *a, **k: plain(cls, *a, **{**k, "additive": False}))  # type: ignore[method-assign]


def main(variant: str, seeds: list[int]) -> None:
    change(variant)
    fits: list[list[int]] = []
    fit = gp.GaussianProcess.fit.__func__  # type: ignore[attr-defined]

    def spy(cls: Any, X: np.ndarray, *a: Any, **k: Any) -> Any:
        model = fit(cls, X, *a, **k)
        order = list(np.argsort(model.lengths))
        fits.append([len(X), order.index(RELEVANT[0]) + 1, order.index(RELEVANT[1]) + 1, int(model.additive)])
        return model

    gp.GaussianProcess.fit = classmethod(spy)  # type: ignore[method-assign]
    for seed in seeds:
        fits.clear()
        line = heldout4.run_one(PROBLEM, "hyperstep", seed, 20, 1)
        best = np.minimum.accumulate(line["true"])
        out = {"variant": variant, "seed": seed, "best20": float(best[-1]), "best10": float(best[9])}
        print(json.dumps(out | {"fits": list(fits), "true": line["true"]}), flush=True)


if __name__ == "__main__":
    main(sys.argv[1], [int(s) for s in sys.argv[2:]])
