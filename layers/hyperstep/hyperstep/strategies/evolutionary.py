"""PLACEHOLDER until the evolutionary strategy lands: random points."""

from __future__ import annotations

import numpy as np

from hyperstep.strategies.base import History, Strategy


class EvolutionarySearch(Strategy):
    name = "evolutionary"

    def suggest(self, history: History, n: int, rng: np.random.Generator) -> np.ndarray:
        return rng.random((n, history.space.dim))
