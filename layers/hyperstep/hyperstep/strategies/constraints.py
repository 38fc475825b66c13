"""Probability of feasibility: one GP per constraint limit, multiplied into the acquisition.

A constraint limit is a column of ``History.G`` (how far a trial's metric exceeds the
limit; feasible where <= 0). Each column gets its own GP on the standardized values, and
the probability that a point meets the limit is ``Phi((0 - mean) / sd)`` in those units
(Gardner et al., 2014; Gelbart et al., 2014). The limits are taken as independent, so
their log probabilities add up; the acquisition adds the sum to its own log value.

A trial that never reported a constraint's metric counts as violating it, by a margin
above the worst violation seen: it is infeasible (as a failed trial is, through the
strategy's ran/failed classifier).
"""

from __future__ import annotations

from typing import Any

import numpy as np

CONSTRAINT_POINTS = 200
"""How many trials each constraint GP sees at most (a random subset beyond)."""


class ConstraintModel:
    """Log probability that a point meets every constraint limit, cached for the pool as
    the ran/failed classifier is (``remember``)."""

    def __init__(self, models: list[tuple[Any, float]]) -> None:
        self.models = models
        """(GP, the limit in the GP's standardized units) per constraint limit."""
        self._pool: np.ndarray | None = None
        self._values = np.empty(0)

    @classmethod
    def fit(
        cls,
        X: np.ndarray,
        G: np.ndarray | None,
        rng: np.random.Generator,
        onehot: np.ndarray,
        features: Any = None,
        length_mode: float | None = None,
    ) -> ConstraintModel | None:
        """The model of ``G``'s columns over ``X`` (``features``: a conditional space's
        embedding, as the objective's GP takes it; ``length_mode``: the GPs' length-scale
        prior mode, the default's when None); None without constraints or data."""
        if G is None or G.shape[1] == 0 or len(X) < 2:
            return None
        from hyperstep.strategies.gp import GaussianProcess, Prior
        from hyperstep.strategies.transforms import by_largest_magnitude

        mode = Prior.length_mode if length_mode is None else length_mode

        keep = np.arange(len(X))
        if len(X) > CONSTRAINT_POINTS:
            keep = np.sort(rng.choice(len(X), CONSTRAINT_POINTS, replace=False))
        models = []
        for g in by_largest_magnitude(G[keep]).T:  # no std that overflows (1e308 and -1e308)
            known = np.isfinite(g)
            if not known.any():
                continue
            spread = float(g[known].std()) or 1.0
            g = np.where(known, g, max(float(g[known].max()), 0.0) + spread)  # missing: violated
            mean, sd = float(g.mean()), float(g.std()) or 1.0
            z = (g - mean) / sd
            model = GaussianProcess.fit(
                X[keep], z, rng, restarts=1, maxiter=30, onehot=onehot, features=features, length_mode=mode
            )
            models.append((model, -mean / sd))
        return cls(models) if models else None

    def log_prob(self, C: np.ndarray) -> np.ndarray:
        """Sum over the limits of log P(limit met) at the rows of ``C``."""
        from scipy.special import log_ndtr

        if C is self._pool:
            return self._values
        total = np.zeros(len(C))
        for model, limit in self.models:
            mean, sd = model.predict(C)
            total += log_ndtr((limit - mean) / sd)
        return total

    def remember(self, pool: np.ndarray, keep: np.ndarray | None = None) -> None:
        """Cache ``pool``'s values: computed, or the remembered ones filtered by ``keep``."""
        self._values = self.log_prob(pool) if keep is None else self._values[keep]
        self._pool = pool


class JointFeasibility:
    """Several feasibility models (ran/failed, constraints) as one: their log probabilities add."""

    def __init__(self, parts: list[Any]) -> None:
        self.parts = parts

    @classmethod
    def of(cls, *parts: Any) -> Any:
        """The parts that exist joined; the one part itself, or None without any."""
        present = [p for p in parts if p is not None]
        if len(present) <= 1:
            return present[0] if present else None
        return cls(present)

    def log_prob(self, C: np.ndarray) -> np.ndarray:
        return sum((p.log_prob(C) for p in self.parts), np.zeros(len(C)))

    def remember(self, pool: np.ndarray, keep: np.ndarray | None = None) -> None:
        for p in self.parts:
            p.remember(pool, keep)
