"""Uniform random search on the unit cube."""

from __future__ import annotations

import numpy as np

from hyperstep.strategies.base import History, Strategy


class RandomSearch(Strategy):
    name = "random"

    def suggest(self, history: History, n: int, rng: np.random.Generator) -> np.ndarray:
        return rng.random((n, history.space.dim))
