"""Uniform random search on the unit cube (in a conditional space, over the active parameters:
each parameter's value is drawn uniformly and kept where its conditions hold)."""

from __future__ import annotations

import numpy as np

from hyperstep.strategies.base import History, Strategy
from hyperstep.strategies.transforms import Projector


class RandomSearch(Strategy):
    name = "random"

    def suggest(self, history: History, n: int, rng: np.random.Generator) -> np.ndarray:
        X = rng.random((n, history.space.dim))
        return Projector(history.space)(X) if history.space.conditional else X
