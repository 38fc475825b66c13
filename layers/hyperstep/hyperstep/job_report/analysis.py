"""The numbers behind the report's plots (numpy only, no plotting).

- ``best_so_far``: the running best objective value, trial by trial.
- ``varying``: the parameters that vary (a constant, such as an imported AMT static
  hyperparameter, has no effect to show).
- ``best_feasible_so_far``: the same over the trials that meet the spec's constraints.
- ``front`` and ``hypervolume_so_far``: with several objectives, which completed trials are
  feasible and on the Pareto front, and the hypervolume their front encloses trial by trial
  (against a reference point just beyond the worst feasible values seen: the plot shows
  how the front grew, on one fixed scale).
- ``importance``: each parameter's first-order share of the objective's variance (the
  main effects of a functional ANOVA, as fANOVA computes them on a random forest), here
  on hyperstep's own Gaussian process fitted to the completed trials: for each parameter,
  the variance over its values of the model's mean averaged over all other parameters,
  divided by the variance of the model's mean over those same points (Monte Carlo; its
  values at the midpoints of equal slices of its range, so that both weigh them alike). A
  conditional parameter's effect is taken where it is active and weighed by how often it is
  (a share of the whole space's variance); the shares sum to at most 1.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from hyperstep.blas import one_blas_thread
from hyperstep.models import Job, Trial, TrialState
from hyperstep.objectives import objective_values
from hyperstep.pareto import dominated_by, hypervolume, pareto_mask
from hyperstep.space import CategoricalParameter, Parameter, SearchSpace

MIN_TRIALS_FOR_IMPORTANCE = 5
SAMPLES = 256
"""Monte Carlo points over the other parameters for each main effect."""
GRID = 16
"""Values taken along a numeric parameter for its main effect."""
MAX_MODEL_TRIALS = 300
"""The GP's cost grows with the cube of its data: a larger job is modelled on a random subset."""


def completed(trials: Sequence[Trial]) -> list[Trial]:
    """Completed trials with a value, in trial-number order."""
    done = [t for t in trials if t.state is TrialState.COMPLETED and t.value is not None]
    return sorted(done, key=lambda t: t.number)


def best_so_far(values: Sequence[float], minimize: bool) -> np.ndarray:
    """The best value among the first 1, 2, ... values."""
    array = np.asarray(values, dtype=float)
    return np.minimum.accumulate(array) if minimize else np.maximum.accumulate(array)


def best_feasible_so_far(values: Sequence[float], feasible: Sequence[bool], minimize: bool) -> np.ndarray:
    """The best feasible value among the first 1, 2, ... values (NaN until one is feasible):
    a trial outside the constraints is never the best, as for the job's ``best_trial_id``."""
    worst = np.inf if minimize else -np.inf
    array = np.where(np.asarray(feasible, dtype=bool), np.asarray(values, dtype=float), worst)
    best = best_so_far(array, minimize)
    return np.where(np.isfinite(best), best, np.nan)


@dataclass(frozen=True)
class Front:
    """A multi-objective job's completed trials (every objective finite), in number order."""

    trials: list[Trial]
    values: np.ndarray
    """One row per trial: its objectives' values as reported, in the spec's order."""
    minimized: np.ndarray
    """The same with maximized objectives negated (what dominance and hypervolume take)."""
    feasible: np.ndarray
    on_front: np.ndarray
    """Feasible and dominated by no other feasible trial (``Study.pareto_front``'s trials)."""

    @property
    def reference(self) -> np.ndarray:
        """A point just beyond the worst feasible value of each objective (a tenth of its
        range, or 1 for an objective that never changed), where the hypervolume is measured from."""
        rows = self.minimized[self.feasible] if self.feasible.any() else self.minimized
        worst, span = rows.max(axis=0), np.ptp(rows, axis=0)
        return worst + np.where(span > 0, 0.1 * span, 1.0)


def front(job: Job, trials: Sequence[Trial]) -> Front | None:
    """The ``Front`` of a job with several objectives; None with one, or before any trial
    completed with all of them."""
    spec = job.spec
    if not spec.multi_objective:
        return None
    scored = [(t, objective_values(spec, t)) for t in sorted(trials, key=lambda t: t.number)]
    scored = [(t, v) for t, v in scored if v is not None]
    if not scored:
        return None
    done = [t for t, _ in scored]
    minimized = np.array([v for _, v in scored], dtype=float)
    feasible = np.array([spec.feasible(t.metrics) for t in done], dtype=bool)
    on_front = np.zeros(len(done), dtype=bool)
    if feasible.any():
        on_front[np.flatnonzero(feasible)[pareto_mask(minimized[feasible])]] = True
    values = np.array([t.values for t in done], dtype=float)
    return Front(done, values, minimized, feasible, on_front)


def hypervolume_so_far(minimized: np.ndarray, feasible: Sequence[bool], reference: np.ndarray) -> np.ndarray:
    """The hypervolume of the feasible points among the first 1, 2, ... rows. It is
    recomputed only when a point joins the front (one not dominated by it), so a long job
    costs a few hypervolumes, not one per trial."""
    volumes = np.zeros(len(minimized))
    kept = np.empty((0, minimized.shape[1]))
    volume = 0.0
    for i, (row, ok) in enumerate(zip(minimized, feasible)):
        beaten = bool(np.any(np.all(kept <= row, axis=1) & np.any(kept < row, axis=1)))
        if ok and not beaten:
            kept = np.vstack([kept[~dominated_by(kept, row)], row])
            volume = hypervolume(kept, reference)
        volumes[i] = volume
    return volumes


def varying(space: SearchSpace) -> list[Parameter]:
    """The parameters that can take more than one value."""
    return [p for p in space.parameters if not (isinstance(p, CategoricalParameter) and len(p.choices) == 1)]


def elapsed_unit(seconds: float) -> tuple[float, str]:
    """A divisor and name that make ``seconds`` readable on an axis."""
    if seconds < 300:
        return 1.0, "seconds"
    if seconds < 3 * 3600:
        return 60.0, "minutes"
    return 3600.0, "hours"


def importance(job: Job, trials: Sequence[Trial], seed: int = 0) -> dict[str, float] | None:
    """Each varying parameter's share (0..1) of the objective's variance explained by that
    parameter alone; None with fewer than ``MIN_TRIALS_FOR_IMPORTANCE`` completed trials,
    a single varying parameter, or an objective that never changed. Its GP on one BLAS thread,
    as a proposal's: the same shares for a seed at any thread count (``hyperstep.blas``)."""
    with one_blas_thread(with_scipy=True):
        return _importance(job, trials, seed)


def _importance(job: Job, trials: Sequence[Trial], seed: int) -> dict[str, float] | None:
    from hyperstep.strategies.conditional import ArcFeatures
    from hyperstep.strategies.gp import GaussianProcess
    from hyperstep.strategies.transforms import Projector, warp_objective

    done = completed(trials)
    params = varying(job.spec.space)
    if len(done) < MIN_TRIALS_FOR_IMPORTANCE or len(params) < 2:
        return None
    rng = np.random.default_rng(seed)
    if len(done) > MAX_MODEL_TRIALS:
        done = [done[i] for i in sorted(rng.choice(len(done), MAX_MODEL_TRIALS, replace=False))]
    conditional = job.spec.space.conditional
    space = job.spec.space if conditional else SearchSpace(parameters=params)
    y = np.array([t.value for t in done], dtype=float)
    if float(np.ptp(y)) <= 0:
        return None
    X = space.encode_many([t.params if conditional else {p.name: t.params[p.name] for p in params} for t in done])
    projector = Projector(space)
    warped = warp_objective(y if job.minimize else -y)
    features = ArcFeatures(space) if conditional else None
    model = GaussianProcess.fit(X, warped, rng, restarts=2, onehot=~projector.numeric, features=features)
    raw = rng.random((SAMPLES, space.dim))
    base = projector(raw)
    whole = float(np.var(model.predict(base)[0]))
    shares = {}
    slices = dict(zip([p.name for p in space.parameters], space.slices()))
    active = dict(zip([p.name for p in space.parameters], space.activity(base).T))
    for param in params:
        cols = slices[param.name]
        weight = 1.0
        if conditional:  # over the points where it is active; a parent's value (de)activates children
            rows = active[param.name]
            weight = float(rows.mean())
            points = [projector(_with(raw[rows], cols, point)) for point in _points(param)] if rows.any() else []
        else:
            points = [_with(base, cols, point) for point in _points(param)]
        # One row per value of the parameter: its mean is the main effect. Without conditions the whole
        # block (the parameter spread as its effect takes it, the others random) is the variance it is a
        # share of; a conditional parameter's is a share of the whole space's, weighed by how often it is
        # active (where it is not, it explains nothing).
        block = np.array([model.predict(X_point)[0] for X_point in points])
        total = whole if conditional else float(np.var(block))
        explained = weight * float(np.var(block.mean(axis=1))) / total if block.size and total > 0 else 0.0
        shares[param.name] = min(1.0, explained)
    return _at_most_the_whole(shares) if any(shares.values()) else None


def _at_most_the_whole(shares: dict[str, float]) -> dict[str, float]:
    """Main effects are parts of one variance: their sum is at most 1. Their Monte Carlo
    estimates may overshoot it slightly; then each is scaled down alike."""
    total = sum(shares.values())
    return shares if total <= 1.0 else {name: share / total for name, share in shares.items()}


def _points(param: Parameter) -> list[np.ndarray]:
    """Encodings of values spread evenly over the parameter (each choice of a categorical)."""
    if isinstance(param, CategoricalParameter):
        return [np.eye(len(param.choices))[i] for i in range(len(param.choices))]
    values = {param.decode(np.array([u])) for u in (np.arange(GRID) + 0.5) / GRID}  # the midpoints: uniform weight
    return [np.array(param.encode(v)) for v in sorted(values)]


def _with(base: np.ndarray, cols: slice, point: np.ndarray) -> np.ndarray:
    X = base.copy()
    X[:, cols] = point
    return X


def position(param: Parameter, value: object) -> float:
    """Where a value sits on the parameter's axis, 0..1 (its scale; categories evenly spread)."""
    if isinstance(param, CategoricalParameter):
        n = len(param.choices)
        return param.index(value) / (n - 1) if n > 1 else 0.5
    return float(param.encode(value)[0])
