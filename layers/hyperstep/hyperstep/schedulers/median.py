"""Median stopping (Golovin et al., Google Vizier, 2017; Optuna's ``MedianPruner``).

At each step ``s >= min_resource``, a trial stops when its best value so far is worse
than the median of the other trials' values at step ``s`` (each other trial's value at the
first step it reported at or past ``s``; only trials that reached ``s`` count). The rule
waits until at least ``MIN_OTHERS`` other trials have reached the step, so the first
trials are never judged against one or two others.

Unlike ASHA's, the rule decides at every step from ``min_resource`` on, against the other
trials' values at that step. It needs no curve: the others' values at the step and the
trial's best so far (``stops``), which a store reads with a keyed read a trial
(``TrialStore.curve_values_at``, ``curve_best``; ``early_stopping.should_stop``), so a
report costs about the same at any length of the curves.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from hyperstep.schedulers.base import Curve, Curves, Scheduler, value_at

MIN_OTHERS = 2


class MedianStopping(Scheduler):
    name = "median"

    def decides(self, number: int, step: int, previous: int | None) -> bool:
        """At every step from ``min_resource`` on (the rule compares the trial with the
        others at each step)."""
        return super().decides(number, step, previous) and step >= self.min_resource

    def _stop(self, number: int, curve: Curve, curves: Curves) -> bool:
        step = max(curve)
        if step < self.min_resource:
            return False
        others = [value_at(c, step) for c in curves.others(number).values()]
        return self.stops(min(v for s, v in curve.items() if s <= step), [v for v in others if v is not None])

    @staticmethod
    def stops(best: float, others: Sequence[float]) -> bool:
        """The rule on its inputs alone (values to be minimized): whether a trial whose best
        value so far is ``best`` stops, given the other trials' values at its step (those
        that reached it)."""
        return len(others) >= MIN_OTHERS and best > float(np.median(others))
