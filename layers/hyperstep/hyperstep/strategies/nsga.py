"""NSGA-II-like offspring for several objectives (Deb et al., 2002), rebuilt from the history.

The strategy holds no population between calls: the parents are the best ``size`` trials
of the whole history by constraint domination (feasible first; infeasible ones by their
total violation), then non-dominated rank, then crowding distance, which is NSGA-II's
elitist survival applied to every trial so far. Offspring come from binary tournaments on
the same order, simulated binary crossover and polynomial mutation in the unit cube,
projected onto valid encodings (categorical columns snap to one category).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from hyperstep.pareto import crowding_distance, non_dominated_sort
from hyperstep.strategies.base import History
from hyperstep.strategies.search import far_from

ETA_CROSSOVER = 15.0
ETA_MUTATION = 20.0
CROSSOVER_PROBABILITY = 0.9


def survival_order(Y: np.ndarray, violation: np.ndarray, size: int | None = None) -> np.ndarray:
    """Row indices of ``Y`` best first: feasible (``violation`` 0) before infeasible (least
    violation first); among feasible ones by front, then by crowding distance (largest first).
    With ``size``, only the best ``size`` rows (fronts past them are not peeled)."""
    feasible = np.flatnonzero(violation <= 0)
    order: list[int] = []
    for front in non_dominated_sort(Y[feasible], enough=size):
        rows = feasible[front]
        crowd = crowding_distance(Y[rows])
        order += list(rows[np.argsort(-crowd, kind="stable")])
    infeasible = np.flatnonzero(violation > 0)
    order += list(infeasible[np.argsort(violation[infeasible], kind="stable")])
    return np.array(order[:size], dtype=int)


def total_violation(history: History) -> np.ndarray:
    """How far each trial is outside its constraints in all (missing metrics: infinitely)."""
    if history.G is None or history.G.shape[1] == 0:
        return np.zeros(len(history.X))
    G = np.where(np.isnan(history.G), np.inf, history.G)
    return np.maximum(G, 0.0).sum(1)


def offspring(history: History, n: int, size: int, seen: np.ndarray, proj: Any, rng: np.random.Generator) -> np.ndarray:
    """Up to ``n`` new points bred from the best ``size`` trials of ``history``."""
    parents = history.X[survival_order(history.objectives, total_violation(history), size)]
    out: list[np.ndarray] = []
    for _ in range(20):
        a, b = _tournament(len(parents), n, rng), _tournament(len(parents), n, rng)
        children = _mutate(_crossover(parents[a], parents[b], rng), rng)
        for x in proj(children):
            taken = np.vstack([seen, *out]) if out else seen
            if len(out) < n and far_from(x[None], taken, proj)[0]:
                out.append(x)
        if len(out) >= n:
            break
    return np.array(out).reshape(len(out), history.X.shape[1])


def _tournament(size: int, n: int, rng: np.random.Generator) -> np.ndarray:
    """Binary tournaments on rank order: the smaller index (the better parent) wins."""
    return np.minimum(rng.integers(0, size, n), rng.integers(0, size, n))


def _crossover(A: np.ndarray, B: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Simulated binary crossover per coordinate, one child per pair."""
    u = rng.random(A.shape)
    beta = np.where(u <= 0.5, (2 * u) ** (1 / (ETA_CROSSOVER + 1)), (1 / (2 * (1 - u))) ** (1 / (ETA_CROSSOVER + 1)))
    swap = rng.random(A.shape) < 0.5
    child = 0.5 * ((1 + beta) * A + (1 - beta) * B)
    child = np.where(swap, 0.5 * ((1 - beta) * A + (1 + beta) * B), child)
    cross = rng.random(len(A)) < CROSSOVER_PROBABILITY
    return np.clip(np.where(cross[:, None], child, A), 0.0, 1.0)


def _mutate(X: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Polynomial mutation, each coordinate with probability 1/d."""
    d = X.shape[1]
    u = rng.random(X.shape)
    delta = np.where(u < 0.5, (2 * u) ** (1 / (ETA_MUTATION + 1)) - 1, 1 - (2 * (1 - u)) ** (1 / (ETA_MUTATION + 1)))
    mutate = rng.random(X.shape) < 1.0 / d
    return np.clip(X + np.where(mutate, delta, 0.0), 0.0, 1.0)
