"""opt-25's diagnosis on the fifth held-out set (benchmarks/README.md, 2l): one method's 48 x 4 run of a
problem again (the harness is deterministic: the losses repeat the registered run's), with every trial's
parameters and, for hyperstep, the GP's length scales at each fit (``fits``: points, lengths in the
encoded cube's columns, additive kernel kept).

    PYTHONPATH=. .venv/bin/python benchmarks/results/o25_trace.py family3-wine hyperstep 250 251 >> trace.jsonl

opt-27 traces the sixth set's problems the same way (``heldout6:`` before the name):

    PYTHONPATH=. .venv/bin/python benchmarks/results/o25_trace.py heldout6:heads6-divisible hyperstep 260 >> t.jsonl
"""

from __future__ import annotations

import dataclasses
import json
import sys
from typing import Any

import numpy as np

from benchmarks import heldout4, heldout5, heldout6
from benchmarks.broad_problems import Params
from hyperstep.strategies import gp


def main(name: str, method: str, seeds: list[int]) -> None:
    held = heldout6.SIXTH if name.startswith("heldout6:") else heldout5.FIFTH
    name = name.removeprefix("heldout6:")
    fits: list[list[Any]] = []
    seen: list[Params] = []
    fit = gp.GaussianProcess.fit.__func__  # type: ignore[attr-defined]

    def spy(cls: Any, X: np.ndarray, *a: Any, **k: Any) -> Any:
        model = fit(cls, X, *a, **k)
        fits.append([len(X), np.round(model.lengths, 4).tolist(), int(model.additive)])
        return model

    def recorded(params: Params) -> float:
        seen.append(dict(params))
        return original.f(params)

    gp.GaussianProcess.fit = classmethod(spy)  # type: ignore[method-assign]
    original = held.problems()[name]
    traced = dataclasses.replace(original, f=recorded)
    for seed in seeds:
        fits.clear()
        seen.clear()
        line = heldout4.run_one(traced, method, seed, 48, 4, held)
        out = {"problem": name, "method": method, "seed": seed, "losses": line["losses"]}
        trials = seen[::2]  # run_one asks the true value, then the seen one: each trial twice
        print(json.dumps(out | {"params": trials, "fits": list(fits)}, default=float), flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], [int(s) for s in sys.argv[3:]])
