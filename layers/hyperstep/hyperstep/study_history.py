"""What a strategy sees of a study's trials (``history_of``): the ``History`` it proposes from."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from hyperstep.models import Trial, TrialState
from hyperstep.objectives import constraint_slack, objective_values
from hyperstep.schedulers.fidelity import rung_observations
from hyperstep.schedulers.joint import joint_observations
from hyperstep.space import SearchSpace
from hyperstep.spec import JobSpec
from hyperstep.strategies import History


def history_of(
    space: SearchSpace,
    trials: Sequence[Trial],
    minimize: bool,
    seed: int = 0,
    fidelity: Sequence[int] | None = None,
    spec: JobSpec | None = None,
    extrapolate: bool = False,
    joint: bool = False,
) -> History:
    """What a strategy sees of these trials: completed ones with a finite value (as values
    to minimize), failed ones, and active ones (pending or running) as points to avoid;
    so are pruned ones that give no observation (stopped early: proposing one again would
    run what the scheduler just stopped).

    With ``fidelity`` (the rungs, ``max_resource`` last: model-based early stopping), every
    trial that is not failed and reached a rung is an observation, at the highest rung it
    reached, ranked onto the top rung's scale (``schedulers.fidelity.rung_observations``):
    pruned trials count, and running ones count instead of being points to avoid. With
    ``extrapolate`` too, a trial whose curve predicts its final value counts with that
    (``schedulers.fidelity.extrapolated``). With ``joint`` instead, through one GP over
    (configuration, steps) fitted on every rung's values (``schedulers.joint``).

    With ``spec`` (its objectives and constraints): several objectives give ``Y``, the
    constraints ``G`` (``History``); a trial whose objectives are not all finite is
    left out as a failed one would be."""
    if spec is not None and spec.multi_objective:
        return _multi_objective_history(space, trials, spec, seed)
    sign = 1.0 if minimize else -1.0
    done = [t for t in trials if t.state is TrialState.COMPLETED and t.value is not None and math.isfinite(t.value)]
    failed = [t for t in trials if t.state is TrialState.FAILED]
    pending = [t for t in trials if t.state.active]
    y = [sign * float(t.value) for t in done]  # type: ignore[arg-type]
    if fidelity:
        completed = {id(t) for t in done}
        observed = [t for t in trials if t.state is not TrialState.FAILED and (t.curve or id(t) in completed)]
        index = dict(enumerate(observed))  # keyed by position: prior trials may share numbers
        curves = {i: {s: sign * v for s, v in t.curve.items() if math.isfinite(v)} for i, t in index.items()}
        finals = {i: sign * float(t.value) for i, t in index.items() if id(t) in completed}  # type: ignore[arg-type]
        if joint:
            encoded = space.encode_many([t.params for t in observed])
            points = dict(enumerate(encoded))
            values = joint_observations(points, curves, finals, fidelity, seed, onehot=_onehot(space))
        else:
            keys = {i: (t.job_id, t.number) for i, t in index.items()}  # as a scheduler keeps their facts
            values = rung_observations(curves, finals, fidelity, extrapolate=extrapolate, trials=keys)
        done = [index[i] for i in sorted(values)]
        y = [values[i] for i in sorted(values)]
    counted = {id(t) for t in done}  # made once: in a filter's condition it is made again for every trial
    pending = [t for t in pending if id(t) not in counted]  # a running trial's rung value counts as observed
    pending += [t for t in trials if t.state is TrialState.PRUNED and id(t) not in counted]
    return History(
        space=space,
        X=space.encode_many([t.params for t in done]),
        y=np.array(y, dtype=float),
        X_failed=space.encode_many([t.params for t in failed]),
        X_pending=space.encode_many([t.params for t in pending]),
        seed=seed,
        G=None if spec is None else constraint_slack(spec, done),
        offset=len(trials) if fidelity else 0,
    )


def _onehot(space: SearchSpace) -> np.ndarray:
    """The encoded columns that are one-hot categories (what the GP's category offset reads)."""
    from hyperstep.strategies.transforms import Projector

    return ~Projector(space).numeric


def _multi_objective_history(space: SearchSpace, trials: Sequence[Trial], spec: JobSpec, seed: int) -> History:
    """``history_of`` for several objectives (no fidelity: early stopping needs one objective)."""
    scored = [(t, objective_values(spec, t)) for t in trials]
    done = [t for t, v in scored if v is not None]
    Y = np.array([v for _, v in scored if v is not None], dtype=float).reshape(len(done), len(spec.goals))
    failed = [t for t in trials if t.state is TrialState.FAILED]
    pending = [t for t in trials if t.state.active]
    return History(
        space=space,
        X=space.encode_many([t.params for t in done]),
        y=Y[:, 0].copy(),
        X_failed=space.encode_many([t.params for t in failed]),
        X_pending=space.encode_many([t.params for t in pending]),
        seed=seed,
        Y=Y,
        G=constraint_slack(spec, done),
    )
