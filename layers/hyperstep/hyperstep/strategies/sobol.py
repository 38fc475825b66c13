"""Scrambled Sobol' points: random-looking but evenly spread, even for a few trials."""

from __future__ import annotations

import warnings

import numpy as np

from hyperstep.strategies.base import History, Strategy
from hyperstep.strategies.transforms import Projector


def sobol_points(dim: int, start: int, n: int, seed: int) -> np.ndarray:
    """Points ``start .. start + n - 1`` of one scrambled Sobol' sequence.

    The sequence is fixed by ``seed``; continuing it from ``start`` keeps later batches
    filling the gaps of earlier ones.
    """
    from scipy.stats.qmc import Sobol  # scipy.stats is slow to import: only when used

    engine = Sobol(d=dim, scramble=True, seed=seed)
    if start:
        engine.fast_forward(start)
    with warnings.catch_warnings():  # batches of any size are fine: we continue one sequence
        warnings.simplefilter("ignore", UserWarning)
        return engine.random(n)


class SobolSearch(Strategy):
    """The study's Sobol' sequence, continued; in a conditional space each point keeps the
    values of its active parameters (the sequence stays one sequence across branches)."""

    name = "sobol"

    def suggest(self, history: History, n: int, rng: np.random.Generator) -> np.ndarray:
        X = sobol_points(history.space.dim, len(history.X_seen), n, history.seed)
        return Projector(history.space)(X) if history.space.conditional else X
