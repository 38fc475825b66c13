"""Pareto dominance, non-dominated sorting, crowding distance and hypervolume (numpy only).

Every function takes objective values to *minimize*, one row per point, one column per
objective (the study flips maximized objectives). They serve the study's ``pareto_front``,
the evolutionary strategy's NSGA-II selection, the Bayesian strategy's reference point and
the multi-objective benchmark, so they live outside ``strategies``.
"""

from __future__ import annotations

import numpy as np


def dominated_by(Y: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Mask of the rows of ``Y`` that ``y`` dominates (no worse everywhere, better somewhere)."""
    return np.all(y <= Y, axis=1) & np.any(y < Y, axis=1)


def pareto_mask(Y: np.ndarray) -> np.ndarray:
    """Mask of the non-dominated rows of ``Y`` (duplicates of a front point all stay)."""
    Y = np.asarray(Y, dtype=float)
    keep = np.ones(len(Y), dtype=bool)
    for i in range(len(Y)):
        if keep[i]:
            keep &= ~dominated_by(Y, Y[i])
    return keep


def non_dominated_sort(Y: np.ndarray, enough: int | None = None) -> list[np.ndarray]:
    """The fronts of ``Y`` (NSGA-II's ranks): row indices of the first front, then of the
    front that remains without it, and so on until every row has a front, or until the
    fronts hold at least ``enough`` rows (peeling every front of thousands of trials costs
    seconds; survival needs only the first few)."""
    Y = np.asarray(Y, dtype=float)
    left = np.arange(len(Y))
    fronts: list[np.ndarray] = []
    while len(left) and (enough is None or len(Y) - len(left) < enough):
        mask = pareto_mask(Y[left])
        fronts.append(left[mask])
        left = left[~mask]
    return fronts


def crowding_distance(Y: np.ndarray) -> np.ndarray:
    """NSGA-II's crowding distance of each row within its front: the sum over objectives of
    the gap between its neighbours, normalized by the objective's range; the extremes of
    each objective get infinity so that they always survive."""
    Y = np.asarray(Y, dtype=float)
    n, m = Y.shape
    distance = np.zeros(n)
    if n <= 2:
        return np.full(n, np.inf)
    for j in range(m):
        order = np.argsort(Y[:, j], kind="stable")
        values = Y[order, j]
        span = values[-1] - values[0]
        distance[order[0]] = distance[order[-1]] = np.inf
        if span > 0:
            distance[order[1:-1]] += (values[2:] - values[:-2]) / span
    return distance


def hypervolume(Y: np.ndarray, ref: np.ndarray) -> float:
    """The volume dominated by the rows of ``Y`` and bounded by the reference point ``ref``
    (exact; points not strictly better than ``ref`` in every objective add nothing).

    Two objectives: one sweep. More: slices along the last objective, each a hypervolume
    one dimension down (fine for the two or three objectives a job has, and hundreds of points).
    """
    Y = np.asarray(Y, dtype=float).reshape(-1, len(ref))
    ref = np.asarray(ref, dtype=float)
    Y = Y[np.all(ref > Y, axis=1)]
    if len(Y) == 0:
        return 0.0
    Y = Y[pareto_mask(Y)]
    if Y.shape[1] == 1:
        return float(ref[0] - Y[:, 0].min())
    if Y.shape[1] == 2:
        Y = Y[np.lexsort((Y[:, 1], Y[:, 0]))]
        volume, ceiling = 0.0, ref[1]
        for x, y in Y:
            if y < ceiling:
                volume += (ref[0] - x) * (ceiling - y)
                ceiling = y
        return float(volume)
    order = np.argsort(Y[:, -1], kind="stable")
    Y = Y[order]
    volume = 0.0
    for i in range(len(Y)):
        top = ref[-1] if i + 1 == len(Y) else Y[i + 1, -1]
        if top > Y[i, -1]:
            volume += hypervolume(Y[: i + 1, :-1], ref[:-1]) * (top - Y[i, -1])
    return float(volume)
