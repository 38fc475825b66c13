"""Median stopping (Golovin et al., Google Vizier, 2017; Optuna's ``MedianPruner``).

At each step ``s >= min_resource``, a trial stops when its best value so far is worse
than the median of the other trials' values at step ``s`` (each other trial's value at the
first step it reported at or past ``s``; only trials that reached ``s`` count). The rule
waits until at least ``MIN_OTHERS`` other trials have reached the step, so the first
trials are never judged against one or two others.
"""

from __future__ import annotations

import numpy as np

from hyperstep.schedulers.base import Curve, Curves, Scheduler, value_at

MIN_OTHERS = 2


class MedianStopping(Scheduler):
    name = "median"

    def decides(self, number: int, curve: Curve) -> bool:
        return super().decides(number, curve) and max(curve) >= self.min_resource

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
