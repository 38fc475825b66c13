"""Median stopping (Golovin et al., Google Vizier, 2017; Optuna's ``MedianPruner``).

At each step ``s >= min_resource``, a trial stops when its best value so far is worse
than the median of the other trials' values at step ``s`` (each other trial's value at the
first step it reported at or past ``s``; only trials that reached ``s`` count). The rule
waits until at least ``MIN_OTHERS`` other trials have reached the step, so the first
trials are never judged against one or two others.

Unlike ASHA's, the rule decides at every step from ``min_resource`` on, against the other
trials' values at that step: such a step report reads every trial's curve (the store lists
the job's trials), so its cost grows with the curves, its own among them. Only the reports
below ``min_resource`` and at ``max_resource`` cost the same at any length (``decides``).
"""

from __future__ import annotations

import numpy as np

from hyperstep.schedulers.base import Curve, Curves, Scheduler, value_at

MIN_OTHERS = 2


class MedianStopping(Scheduler):
    name = "median"

    def decides(self, number: int, step: int, previous: int | None) -> bool:
        """At every step from ``min_resource`` on: the rule compares the trial with the
        others at each step, so such a report reads the others' curves (see the module
        docstring)."""
        return super().decides(number, step, previous) and step >= self.min_resource

    def _stop(self, number: int, curve: Curve, curves: Curves) -> bool:
        step = max(curve)
        if step < self.min_resource:
            return False
        others = [value_at(c, step) for c in curves.others(number).values()]
        values = [v for v in others if v is not None]
        if len(values) < MIN_OTHERS:
            return False
        best = min(v for s, v in curve.items() if s <= step)
        return bool(best > float(np.median(values)))
