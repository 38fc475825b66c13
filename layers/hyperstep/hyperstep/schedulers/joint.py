"""A model of the resource: one GP over (configuration, steps) learns from every rung (MOBSTER).

``schedulers.fidelity`` makes a trial's result at a low rung comparable with final values
by ranks, or by extrapolating its own curve; neither lets the result of one trial at rung 1
inform what another, nearby, configuration would reach at the end. MOBSTER (Klein et al.,
2020, "Model-based Asynchronous Hyperparameter and Neural Architecture Search"; Syne
Tune's ``hyperband`` scheduler with ``searcher="bayesopt"``) fits one Gaussian process on
every (configuration, resource) observation and evaluates the acquisition on its posterior
at one resource level ``r_acq``: the largest level with at least as many observations as
the configuration has dimensions (BOHB's rule; below that, the lowest level).

hyperstep does the same without touching the strategy: the joint GP here is the existing
``strategies.gp.GaussianProcess`` (Matérn-5/2 with one length scale per column, as Syne
Tune's ``matern52`` resource kernel) on the encoded configuration with one more column,
``log(step) / log(max_resource)``, so the GP learns from the data how far along the
resource a value tells about another level (a short length scale there: the rungs say
little of each other, as when curves cross; a long one: a rung-1 value is nearly the
final one). Each trial is then one observation for the strategy, at ``r_acq``: its own
value there if it reached that level (a completed trial's told value at the top), else
the joint posterior mean at (its configuration, ``r_acq``). Values are warped
(``warp_objective``) once, over every level, before the fit; the observations are in
those units (the strategy warps again, which keeps their order).

Values are to be minimized. Deterministic for a seed; numpy and scipy only.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from hyperstep.schedulers.base import Curve, value_at

MAX_POINTS = 120
"""Observations the joint GP sees at most: the highest levels first (then the newest trials),
so a fit costs tens of milliseconds (one start of the optimizer)."""


def resource_column(steps: Sequence[int]) -> dict[int, float]:
    """Each level's coordinate on the resource axis, ``log(step) / log(max_resource)`` in [0, 1]."""
    top = max(steps)
    return {s: (math.log(s) / math.log(top) if top > 1 else 1.0) for s in steps}


def level_values(
    curves: Mapping[int, Curve], finals: Mapping[int, float], steps: Sequence[int]
) -> list[tuple[int, int, float]]:
    """(trial, level, value) for every level each trial reached: its value at the first
    step at or past the level; a completed trial's told value at the top one."""
    top = steps[-1]
    rows = []
    for number in sorted(set(curves) | set(finals)):
        curve = curves.get(number) or {}
        for step in steps:
            # the top level is told, never read off the curve (a stopped trial's last report is no final)
            value = finals.get(number) if step == top else value_at(curve, step)
            if value is not None and math.isfinite(value):
                rows.append((number, step, float(value)))
    return rows


def acquisition_level(rows: Sequence[tuple[int, int, float]], steps: Sequence[int], threshold: int) -> int:
    """The largest level with at least ``threshold`` observations, else the lowest (BOHB, MOBSTER)."""
    counts = {s: sum(1 for _, level, _ in rows if level == s) for s in steps}
    return max((s for s in steps if counts[s] >= threshold), default=steps[0])


def kept(rows: list[tuple[int, int, float]], cap: int = MAX_POINTS) -> list[tuple[int, int, float]]:
    """At most ``cap`` rows: the highest levels first, then the newest trials (deterministic)."""
    if len(rows) <= cap:
        return rows
    order = sorted(range(len(rows)), key=lambda i: (-rows[i][1], -rows[i][0]))
    return [rows[i] for i in sorted(order[:cap])]


@dataclass(frozen=True)
class JointModel:
    """The GP over (configuration, resource column) and the warped values it was fitted on."""

    gp: Any
    """A ``strategies.gp.GaussianProcess`` on rows ``[configuration, resource_column]``."""
    warped: dict[tuple[int, int], float]
    """Every (trial, level) observation's value in the GP's (warped) units."""
    resource: dict[int, float]
    """Each level's resource column."""

    def predict(self, X: np.ndarray, step: int) -> np.ndarray:
        """The posterior mean at configurations ``X`` (encoded rows) after ``step`` steps (a level)."""
        Z = np.column_stack([X, np.full(len(X), self.resource[step])])
        return self.gp.predict(Z)[0]


def fit_joint(
    points: Mapping[int, np.ndarray],
    rows: Sequence[tuple[int, int, float]],
    steps: Sequence[int],
    seed: int = 0,
    onehot: np.ndarray | None = None,
) -> JointModel:
    """The joint GP on ``rows`` ((trial, level, value), trials keyed into ``points``); at
    most ``MAX_POINTS`` of them, the values warped over all of them first.

    Fitted anew on every call (each of the strategy's rounds), not cached: a round comes
    after new results (the trial that ran since), which change the warping and the
    hyperparameters, and the service keeps nothing between calls (a fit of at most
    ``MAX_POINTS`` points costs tens of milliseconds)."""
    from hyperstep.strategies.gp import GaussianProcess
    from hyperstep.strategies.transforms import warp_objective

    warped = dict(zip(((n, s) for n, s, _ in rows), warp_objective(np.array([v for _, _, v in rows])).tolist()))
    fitted = kept(list(rows))
    u = resource_column(steps)
    Z = np.array([np.r_[points[n], u[s]] for n, s, _ in fitted])
    y = np.array([warped[(n, s)] for n, s, _ in fitted])
    rng = np.random.default_rng([seed, len(rows)])
    mask = None if onehot is None else np.r_[onehot, False]
    return JointModel(GaussianProcess.fit(Z, y, rng, restarts=1, onehot=mask), warped, u)


def joint_observations(
    points: Mapping[int, np.ndarray],
    curves: Mapping[int, Curve],
    finals: Mapping[int, float],
    steps: Sequence[int],
    seed: int = 0,
    onehot: np.ndarray | None = None,
) -> dict[int, float]:
    """One value per trial in ``points`` (encoded configurations) that reached any level in
    ``steps`` (ascending, ``max_resource`` last): see the module docstring. ``curves`` are
    the trials' values by step, ``finals`` the told values of completed trials."""
    rows = [row for row in level_values(curves, finals, steps) if row[0] in points]
    numbers = sorted({n for n, _, _ in rows})
    if len(numbers) < 2:  # nothing to model yet: a lone trial's value at its highest level
        return {n: 0.0 for n in numbers}
    model = fit_joint(points, rows, steps, seed, onehot)
    level = acquisition_level(rows, steps, max(len(next(iter(points.values()))), 2))
    out = {n: model.warped[(n, level)] for n in numbers if (n, level) in model.warped}
    unseen = [n for n in numbers if n not in out]
    if unseen:
        out.update(zip(unseen, model.predict(np.array([points[n] for n in unseen]), level).tolist()))
    return out
