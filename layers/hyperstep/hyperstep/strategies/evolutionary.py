"""CMA-ES, stateless: the search distribution is replayed from the history on every call.

Completed trials, in the order they were asked, are cut into generations of
``population_size``; each full generation updates the mean, step size, evolution paths
and covariance exactly as CMA-ES does (Hansen's tutorial, 2016). Points that were not
sampled from the replayed distribution (the random first generation, trials told out
of order) enter as injected solutions with their steps clipped, which CMA-ES tolerates.

Failed trials count as worse than every completed one, and a sample whose nearest
known neighbour is a failure is redrawn, so the search walks away from crashes.
New points are drawn in mirrored pairs (z and -z) for a spread batch, reflected into
the unit cube, snapped to valid encodings and never repeat a seen point.

With constraints, infeasible trials rank after every feasible one. With several
objectives the strategy is NSGA-II-like instead (``strategies.nsga``): parents by
non-dominated rank and crowding distance, offspring by crossover and mutation.

In a conditional space the search stays within the tree: a replayed trial's inactive
coordinates count as the mean (they do not move it), and a drawn point keeps only the
values its parents activate. So when a mutation changes a parent, the children it activates take values drawn from the
distribution's own (learnt) marginals and those it deactivates are dropped.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Annotated, Any

import numpy as np
from pydantic import Field

from hyperstep.spec_base import at_most
from hyperstep.strategies.base import History, Strategy, StrategyOptions
from hyperstep.strategies.search import far_from, unseen_points
from hyperstep.strategies.transforms import Projector


@dataclass
class CMAState:
    """Mean, step size, covariance and evolution paths of one CMA-ES run."""

    dim: int
    mean: np.ndarray
    sigma: float
    C: np.ndarray = field(init=False)
    p_sigma: np.ndarray = field(init=False)
    p_c: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.C = np.eye(self.dim)
        self.p_sigma = np.zeros(self.dim)
        self.p_c = np.zeros(self.dim)

    def eig(self) -> tuple[np.ndarray, np.ndarray]:
        """Eigenvectors ``B`` and axis lengths ``D`` of the covariance (``C = B diag(D^2) B^T``)."""
        values, B = np.linalg.eigh((self.C + self.C.T) / 2)
        return B, np.sqrt(np.maximum(values, 1e-20))

    def update(self, X: np.ndarray, ranks: np.ndarray, mu: int) -> None:
        """One generation: ``X`` its points, ``ranks`` their order (0 best)."""
        d = self.dim
        weights = np.log(mu + 0.5) - np.log(np.arange(1, mu + 1))
        weights /= weights.sum()
        mu_eff = 1.0 / float((weights**2).sum())
        c_sigma = (mu_eff + 2) / (d + mu_eff + 5)
        d_sigma = 1 + 2 * max(0.0, math.sqrt((mu_eff - 1) / (d + 1)) - 1) + c_sigma
        c_c = (4 + mu_eff / d) / (d + 4 + 2 * mu_eff / d)
        c_1 = 2 / ((d + 1.3) ** 2 + mu_eff)
        c_mu = min(1 - c_1, 2 * (mu_eff - 2 + 1 / mu_eff) / ((d + 2) ** 2 + mu_eff))
        chi = math.sqrt(d) * (1 - 1 / (4 * d) + 1 / (21 * d * d))

        B, D = self.eig()
        inv_sqrt_C = B @ np.diag(1 / D) @ B.T
        steps = (X[np.argsort(ranks)[:mu]] - self.mean) / self.sigma
        norms = np.linalg.norm(steps @ inv_sqrt_C.T, axis=1)
        limit = math.sqrt(d) + 2 * d / (d + 2)
        steps *= np.minimum(1.0, limit / np.maximum(norms, 1e-12))[:, None]  # injected solutions
        y_w = weights @ steps
        self.mean = self.mean + self.sigma * y_w
        self.p_sigma = (1 - c_sigma) * self.p_sigma + math.sqrt(c_sigma * (2 - c_sigma) * mu_eff) * inv_sqrt_C @ y_w
        norm_p = float(np.linalg.norm(self.p_sigma))
        self.sigma *= math.exp(min(1.0, (c_sigma / d_sigma) * (norm_p / chi - 1)))
        self.sigma = float(np.clip(self.sigma, 1e-4, 1.0))
        h_sigma = float(norm_p / chi < 1.4 + 2 / (d + 1))
        self.p_c = (1 - c_c) * self.p_c + h_sigma * math.sqrt(c_c * (2 - c_c) * mu_eff) * y_w
        rank_mu = (weights[:, None] * steps).T @ steps
        self.C = (1 - c_1 - c_mu) * self.C + c_1 * np.outer(self.p_c, self.p_c) + c_mu * rank_mu


def reflect(X: np.ndarray) -> np.ndarray:
    """Fold points back into the unit cube, as a mirror at each face."""
    X = np.mod(X, 2.0)
    return np.where(X > 1.0, 2.0 - X, X)


MAX_POPULATION = 1_000
"""CMA-ES learns from full generations only; until the first is complete every point comes
from the first distribution. At 1,000 the largest budget (``max_trials`` 10,000) still sees
ten generations; a larger population is a fixed Gaussian sample, not a search. A spec stored
before this bound keeps its value (``spec_base.at_most``)."""


class EvolutionaryOptions(StrategyOptions):
    """The ``strategy.options`` of ``evolutionary``."""

    population_size: Annotated[int | None, at_most(MAX_POPULATION)] = Field(default=None, ge=4)
    """Points per generation; default ``max(8, 4 + 3 ln dim)``. At most ``MAX_POPULATION``."""

    sigma0: float = Field(default=0.3, gt=0.0, le=1.0)
    """The first step size, in unit-cube coordinates."""


class EvolutionarySearch(Strategy):
    name = "evolutionary"
    Options = EvolutionaryOptions
    options: EvolutionaryOptions

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.population_size = self.options.population_size
        self.sigma0 = self.options.sigma0

    def replay(self, history: History) -> CMAState:
        """The CMA-ES state after every full generation of completed trials."""
        d = history.space.dim
        lam = self.population_size or max(8, 4 + int(3 * math.log(d)))
        state = CMAState(dim=d, mean=np.full(d, 0.5), sigma=self.sigma0)
        y_all = history.y
        if history.G is not None and len(y_all):  # infeasible after feasible, by violation
            from hyperstep.strategies.nsga import total_violation

            violation = total_violation(history)
            y_all = np.where(violation > 0, y_all.max() + 1.0 + np.minimum(violation, 1e12), y_all)
        for start in range(0, len(history.X) - lam + 1, lam):
            X, y = history.X[start : start + lam], y_all[start : start + lam]
            if history.space.conditional:
                X = np.where(history.space.active_columns(X), X, state.mean)
            state.update(X, np.argsort(np.argsort(y, kind="stable"), kind="stable"), lam // 2)
        return state

    def suggest(self, history: History, n: int, rng: np.random.Generator) -> np.ndarray:
        space = history.space
        proj = Projector(space)
        seen = proj(history.X_seen) if len(history.X_seen) else np.empty((0, space.dim))
        lam = self.population_size or max(8, 4 + int(3 * math.log(space.dim)))
        if len(history.X) == 0 or (history.Y is not None and len(history.X) < lam):
            chosen = unseen_points(n, seen, proj, rng)  # the first generation: uniform
        elif history.Y is not None:
            from hyperstep.strategies.nsga import offspring

            chosen = offspring(history, n, max(2 * lam, 16), seen, proj, rng)
        else:
            chosen = self._sample(self.replay(history), history, n, seen, proj, rng)
        if len(chosen) < n:
            extra = unseen_points(n - len(chosen), np.vstack([seen, chosen]), proj, rng)
            chosen = np.vstack([chosen, extra])
        return np.array([space.round(x) for x in chosen]).reshape(len(chosen), space.dim)

    def _sample(
        self, state: CMAState, history: History, n: int, seen: np.ndarray, proj: Projector, rng: np.random.Generator
    ) -> np.ndarray:
        """Up to ``n`` new points from the distribution, widening it when draws repeat."""
        B, D = state.eig()
        known = np.vstack([history.X, history.X_failed])
        failed = np.r_[np.zeros(len(history.X), bool), np.ones(len(history.X_failed), bool)]
        out: list[np.ndarray] = []
        sigma = state.sigma
        for _ in range(12):
            half = rng.standard_normal(((n + 1) // 2 * 4, state.dim))
            Z = np.vstack([half, -half])
            C = proj(reflect(state.mean + sigma * (Z * D) @ B.T))
            if failed.any():
                nearest = np.argmin(((C[:, None, :] - known[None]) ** 2).sum(2), axis=1)
                C = C[~failed[nearest]]
            for x in C:
                taken = np.vstack([seen, *out]) if out else seen
                if len(out) < n and far_from(x[None], taken, proj)[0]:
                    out.append(x)
            if len(out) >= n:
                break
            sigma = min(1.0, sigma * 2.0)
        return np.array(out).reshape(len(out), state.dim)
