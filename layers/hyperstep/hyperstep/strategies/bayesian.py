"""PLACEHOLDER until the GP strategy lands: Sobol' points."""

from __future__ import annotations

import numpy as np

from hyperstep.strategies.base import History, Strategy
from hyperstep.strategies.sobol import sobol_points


class BayesianOptimization(Strategy):
    name = "bayesian"

    def suggest(self, history: History, n: int, rng: np.random.Generator) -> np.ndarray:
        return sobol_points(history.space.dim, len(history.X_seen), n, history.seed)
