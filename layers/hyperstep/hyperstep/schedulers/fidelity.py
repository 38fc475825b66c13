"""Every rung's results as observations for a strategy (model-based early stopping).

With early stopping, most trials end pruned at a low rung: a strategy that learns from
completed trials only throws most of the evaluations away. BOHB and MOBSTER learn from
every rung; hyperstep does it simply, without a model of the resource: each trial counts
once, at the highest rung it reached, and its value there is made comparable with the
others by ranks.

- The *population* of a rung is every trial that reached it (its value at the first step
  at or past the rung; a completed trial's told value at the top rung, ``max_resource``).
- The *reference* rung is the highest one with at least two trials (once two trials have
  completed, the top rung: their values are taken as they are).
- A trial at or above the reference counts with its value at the reference rung; a trial
  below it with its mid-rank quantile in its own rung's population, read off the
  reference population's values (linear interpolation). A trial best at rung 1 thus looks
  as good as the best values at the reference rung, a trial worst there as bad as the worst.
- A rung whose ranking disagrees with the reference rung's (``base.agrees`` over the
  trials that reached both: crossing curves) gives no observations: its trials ahead
  would teach the strategy the wrong region. Trials that stopped there then count as
  nothing (BOHB likewise models only the highest budget with enough points).
- With ``extrapolate`` (the curve model on), a trial that did not complete but whose curve
  predicts its final value (``schedulers.curves``: three steps or more) joins the top
  rung's population with that prediction, kept within the values seen (Domhan et al.,
  2015, hand a stopped run's extrapolated final value to the optimizer). So the reference
  scale is final values, told or predicted; a prediction needs no agreement of ranks
  between rungs, so trials stopped where curves cross teach the strategy too, instead of
  counting as nothing (and drawing its proposals back to where they stopped); trials with
  fewer steps are ranked onto that scale as above, when their rung agrees with it.
- A trial is extrapolated from its ``k`` steps only while predictions from ``k`` steps
  have held on the other trials (``curves.held``: at most ``MISSES`` of the curves seen past
  ``k`` ended below the optimistic end predicted from their first ``k`` steps). Where they
  have not (a plateau that drops late: the fit is pessimistic for exactly the trials that
  end best, by a median 0.118 on the benchmark's plateau-5d), the trial is read by rank at
  its rung instead, as without ``extrapolate`` (when that rung ranks like the finals; else
  it counts as nothing, a point to avoid): a rank says less than a good prediction, but
  does not move the good region's trials to the bottom of the scale.

Values are to be minimized. Deterministic, numpy only.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping, Sequence

import numpy as np

from hyperstep.schedulers import base
from hyperstep.schedulers.asha import rungs
from hyperstep.schedulers.base import Curve, CurveFacts, agrees, mid_ranks
from hyperstep.schedulers.curves import checked, held_in

MIN_REFERENCE = 2
"""Trials a rung needs to serve as the reference scale."""
MISSES = 1 / 3
"""The share of curves whose value ended below the optimistic end of the prediction from
their first steps that ``extrapolated`` tolerates (one in ``eta`` = 3, ASHA's kept share)."""


def levels(min_resource: int, max_resource: int, eta: int) -> list[int]:
    """The rungs a trial's result is read at: ASHA's rungs and ``max_resource`` on top."""
    return [*rungs(min_resource, max_resource, eta), max_resource]


def populations(
    facts: Mapping[int, CurveFacts], finals: Mapping[int, float], steps: Sequence[int]
) -> dict[int, dict[int, float]]:
    """Every rung's values by trial number (trials with ``finals`` are at the top rung), from
    each trial's curve's ``facts``."""
    top = steps[-1]
    out: dict[int, dict[int, float]] = {}
    for step in steps:
        reached = {n: f.value_at(step) for n, f in facts.items() if n not in finals or step < top}
        out[step] = {n: v for n, v in reached.items() if v is not None}
    out[top].update(finals)
    return {step: values for step, values in out.items() if values}


def quantiles(values: np.ndarray) -> np.ndarray:
    """Each value's mid-rank quantile in ``values`` ((rank + 0.5) / n, ties sharing ranks)."""
    return (mid_ranks(values) + 0.5) / len(values)


def rung_observations(
    curves: Mapping[int, Curve],
    finals: Mapping[int, float],
    steps: Sequence[int],
    extrapolate: bool = False,
    trials: Mapping[int, Hashable] | None = None,
) -> dict[int, float]:
    """One comparable value per trial that reached any rung in ``steps`` (ascending, the
    last ``max_resource``): see the module's docstring. ``curves`` are the trials' values
    by step, ``finals`` the told values of completed trials, all to be minimized.

    With ``trials`` (each curve's trial: its job and number, as a scheduler keys it), what
    is derived from a curve is the process's kept facts of it (``base.FACTS``, served only
    while the curve holds the same points): an ask reads every trial, and most have not
    changed since the one before (a pruned trial reports no more)."""
    facts = {n: _facts(c, None if trials is None else trials[n]) for n, c in curves.items() if c}
    by_step = populations(facts, finals, steps)
    heading = extrapolated(facts, finals, steps[-1]) if extrapolate else {}
    if heading:
        by_step[steps[-1]] = {**by_step.get(steps[-1], {}), **heading}
    if not by_step:
        return {}
    return ranked_observations(by_step)


def _facts(curve: Curve, trial: Hashable | None) -> CurveFacts:
    """The curve's facts: the process's kept ones for ``trial`` (``base.FACTS``), or new ones."""
    return CurveFacts(curve) if trial is None else base.FACTS.of(trial, curve)


def extrapolated(facts: Mapping[int, CurveFacts], finals: Mapping[int, float], top: int) -> dict[int, float]:
    """The final value each trial without one is heading to (its curve's prediction at
    ``top``; ``facts`` of non-empty curves), clipped to the range of every value seen (an
    extrapolation does not leave it); only for trials at a depth (newest step) where
    predictions from as many steps have held on the curves (``curves.held``, oldest trial
    first). Values are finite (``study_history.history_of`` leaves out the others)."""
    bounds = [f.bounds() for f in facts.values()]
    if not bounds and not finals:
        return {}
    low = min([b[0] for b in bounds] + list(finals.values()))
    high = max([b[1] for b in bounds] + list(finals.values()))
    ordered = [facts[n] for n in sorted(facts)]
    reaches = np.array([f.reach() for f in ordered], dtype=float)
    trusted: dict[int, bool] = {}
    out = {}
    for number, f in facts.items():
        heading = None if number in finals else f.predict(top)
        if heading is None:
            continue
        depth = max(f.points)
        if depth not in trusted:
            read = checked(reaches, depth)
            trusted[depth] = held_in((ordered[i].miss(depth) for i in read), len(read), MISSES)
        if trusted[depth] and math.isfinite(heading.mean):
            out[number] = min(high, max(low, heading.mean))
    return out


def ranked_observations(by_step: dict[int, dict[int, float]]) -> dict[int, float]:
    """The rank-quantile reading of every rung's population onto the reference rung's."""
    reference = max((s for s, vs in by_step.items() if len(vs) >= MIN_REFERENCE), default=max(by_step))
    scale = np.sort(np.fromiter(by_step[reference].values(), dtype=float))
    out = dict(by_step[reference])
    for step in sorted(by_step, reverse=True):
        if step >= reference:
            for number, value in by_step[step].items():
                out.setdefault(number, value)  # above the reference without a value there: as told
            continue
        numbers = [n for n in by_step[step] if n not in out]
        both = [(v, by_step[reference][n]) for n, v in by_step[step].items() if n in by_step[reference]]
        if numbers and agrees(both):
            values = np.fromiter(by_step[step].values(), dtype=float)
            q = dict(zip(by_step[step], quantiles(values)))
            out.update(zip(numbers, np.quantile(scale, [q[n] for n in numbers]).tolist()))  # all at once: each alike
    return out
