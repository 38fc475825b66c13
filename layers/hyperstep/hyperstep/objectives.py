"""What a trial scored, as the study compares trials: its objective values to minimize, its
constraint slack, and the Pareto front such trials make.

The study's history (``study_history.history_of``), the rows kept for it (``hyperstep.history_rows``),
the job's summary and its report all read a trial this way; it lives apart from the study,
which imports ``history_rows``, so that neither imports the other for it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from hyperstep.models import Trial, TrialState
from hyperstep.pareto import pareto_mask
from hyperstep.spec import JobSpec


def objective_values(spec: JobSpec, trial: Trial) -> list[float] | None:
    """The trial's values of every objective, to minimize (maximized ones negated); None
    unless it completed with all of them finite."""
    if trial.state is not TrialState.COMPLETED or trial.value is None:
        return None
    raw = trial.values if spec.multi_objective else [trial.value]
    if raw is None or len(raw) != len(spec.goals) or not all(math.isfinite(v) for v in raw):
        return None
    return [v if o.goal == "minimize" else -v for v, o in zip(raw, spec.goals)]


def pareto_front(spec: JobSpec, trials: Sequence[Trial]) -> list[Trial]:
    """The feasible completed trials of ``trials`` that no other such trial dominates."""
    scored = [(t, objective_values(spec, t)) for t in trials if spec.feasible(t.metrics)]
    scored = [(t, v) for t, v in scored if v is not None]
    if not scored:
        return []
    mask = pareto_mask(np.array([v for _, v in scored]))
    return [t for (t, _), keep in zip(scored, mask) if keep]


def constraint_slack(spec: JobSpec, trials: Sequence[Trial]) -> np.ndarray | None:
    """``History.G`` of these trials: per constraint limit, how far each trial's metric
    exceeds it (NaN when missing); None without constraints."""
    if not spec.constraints:
        return None
    columns = []
    for c in spec.constraints:
        values = np.array([t.metrics.get(c.metric, math.nan) for t in trials], dtype=float)
        if c.max is not None:
            columns.append(values - c.max)
        if c.min is not None:
            columns.append(c.min - values)
    return np.column_stack(columns).reshape(len(trials), len(columns))
