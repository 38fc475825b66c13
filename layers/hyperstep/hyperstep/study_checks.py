"""What ``Study`` takes: its arguments checked, and the values ``tell`` is given read.

A study opened on a stored job keeps that job's spec (``refuse_another_spec``); its
warm-start parents must be jobs of its store of the same objectives (``checked_parents``);
a told value is a number (``scalar``, ``is_number``, ``checked_metrics``), a failed
trial's error a string or an exception (``error_text``). Each refusal is one line naming
the argument.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence
from functools import partial
from typing import Any, Literal

import numpy as np

from hyperstep import early_stopping as stopping
from hyperstep.errors import NotFoundError, SpecError
from hyperstep.messages import shown
from hyperstep.models import Job, TrialState
from hyperstep.space import SearchSpace
from hyperstep.spec import JobSpec, Objective
from hyperstep.stores.base import TrialStore
from hyperstep.warm_start import check_parent

Goal = Literal["minimize", "maximize"]


def objectives_of(goal: Goal | Sequence[Goal]) -> dict[str, Any]:
    """The spec's ``objective`` (one goal) or ``objectives`` (a list: ``objective_1``...)."""
    if isinstance(goal, str):
        return {"objective": Objective(metric="objective", goal=goal)}
    if not isinstance(goal, Sequence):
        raise TypeError(f"goal: 'minimize', 'maximize' or a list of two or three of them, got {goal!r}")
    goals = list(goal)
    if not 1 <= len(goals) <= 3:
        raise SpecError(f"goal: one goal, or a list of two or three (one per objective), got {len(goals)}")
    if len(goals) == 1:
        return {"objective": Objective(metric="objective", goal=goals[0])}
    return {"objectives": [Objective(metric=f"objective_{i + 1}", goal=g) for i, g in enumerate(goals)]}


def refuse_another_spec(job: Job, spec: JobSpec, given: Sequence[str]) -> None:
    """Refuse (ValueError) to open stored ``job`` as a study of another ``spec``: the study
    would silently run the stored one (minimize what the caller maximizes, propose points
    of the old space). The space is always compared; of the rest only the arguments
    ``given`` (a study reopened without them takes the stored ones)."""
    stored = job.spec
    differs = {
        "goal": lambda: [o.goal for o in spec.goals] != [o.goal for o in stored.goals],
        "strategy": lambda: spec.strategy.name != stored.strategy.name,
        "seed": lambda: spec.strategy.seed != job.strategy_seed,
        "strategy_options": lambda: spec.strategy.options != stored.strategy.options,
        "constraints": lambda: spec.constraints != stored.constraints,
        "early_stopping": lambda: _scheduling(spec) != _scheduling(stored),
        "warm_start": lambda: not _same_parents(_parent_ids(spec), job),
        "enqueue": lambda: spec.enqueue != stored.enqueue,
    }
    stored_as = {
        "goal": lambda: " and ".join(o.goal for o in stored.goals),
        "strategy": lambda: stored.strategy.name,
        "seed": lambda: str(job.strategy_seed),
        "strategy_options": lambda: str(stored.strategy.options),
        "constraints": lambda: str([c.model_dump(exclude_none=True) for c in stored.constraints]),
        "early_stopping": lambda: f"other early stopping ({_stopping_name(stored)})",
        "warm_start": lambda: str(list(job.parents)),
        "enqueue": lambda: str(stored.enqueue),
    }
    keeps = "a study opened on a stored job keeps its spec"
    if spec.parameters != stored.parameters:
        names = ", ".join(p.name for p in stored.parameters)
        raise ValueError(
            f"space: job {job.id!r} is stored with other parameters ({names}): {keeps};"
            " give its space or use another job_id"
        )
    for field in given:
        if differs[field]():
            what = stored_as[field]()
            what = what if field == "early_stopping" else f"{field} {what}"
            raise ValueError(
                f"{field}: job {job.id!r} is stored with {what}: {keeps}; leave {field} out or use another job_id"
            )


def refuse_constraints_on_the_value(spec: JobSpec) -> None:
    """A study's objectives are the values ``tell`` takes, never among its ``metrics``: a
    constraint on one would hold every trial infeasible, silently (``SpecError``)."""
    told = {o.metric for o in spec.goals}
    for i, constraint in enumerate(spec.constraints):
        if constraint.metric in told:
            raise SpecError(
                f"constraints.{i}: {constraint.metric!r} is the value tell takes, not one of its metrics:"
                " constrain a metric told with tell(..., metrics={...})"
            )


def _parent_ids(spec: JobSpec) -> tuple[str, ...]:
    return tuple(spec.warm_start.jobs) if spec.warm_start is not None else ()


def _same_parents(given: Sequence[str], job: Job) -> bool:
    """Whether ``given`` is the warm start ``job`` was made with: its spec's ``warm_start.jobs``,
    or every parent in any order (a job may learn from parents besides its spec's: ``hyperstep
    run --warm-start``, a schedule's earlier runs, which come first)."""
    return list(given) == list(_parent_ids(job.spec)) or set(given) == set(job.parents)


def checked_parents(store: TrialStore, spec: JobSpec) -> tuple[str, ...]:
    """The spec's ``warm_start.jobs``, each a job of ``store`` that optimized the same
    objectives (``SpecError`` naming one that is not, before anything is stored)."""
    for parent in _parent_ids(spec):
        try:
            check_parent(spec, store.get_job(parent), partial(store.list_trials, parent))
        except NotFoundError:
            raise SpecError(f"warm_start.jobs: job {parent!r} not found in the study's store") from None
    return _parent_ids(spec)


def _stopping_name(spec: JobSpec) -> str:
    return spec.early_stopping.name if spec.early_stopping is not None else "none"


def _scheduling(spec: JobSpec) -> dict[str, Any] | None:
    """The spec's early stopping as compared when a study is reopened (None: off)."""
    return spec.early_stopping.model_dump() if stopping.enabled(spec) and spec.early_stopping is not None else None


def refuse_a_failed_value(state: TrialState, value: Any) -> None:
    """A failed trial takes no value (``ValueError``), as Optuna refuses values with FAIL."""
    if state is TrialState.FAILED and value is not None:
        raise ValueError(f"a failed trial takes no value; tell None (got {shown(value)})")


def error_text(error: str | BaseException | None) -> str | None:
    """The ``error`` told with a failed trial as the store keeps it: a string, or an
    exception as ``Type: message`` (``ValueError`` for anything else: a store that kept it
    could not be read back)."""
    if isinstance(error, BaseException):
        return f"{type(error).__name__}: {error}"
    if error is not None and not isinstance(error, str):
        raise ValueError(f"error: a string or an exception, got {shown(error)}")
    return error


def one_of_one(value: Any) -> Any:
    """A one-objective study's value told as a list of one (``goal=["maximize"]``, as
    Optuna takes it) as that value; anything else as it is."""
    value = scalar(value)
    listed = (isinstance(value, Sequence) and not isinstance(value, str)) or np.shape(value) == (1,)
    if listed and len(value) == 1 and is_number(scalar(value[0])):
        return scalar(value[0])
    return value


def scalar(value: Any) -> Any:
    """A 0-d array (numpy's, or a framework's loss tensor: what ``float()`` reads, as
    Optuna does) as the float it holds, a number past a float's range (an int, a ``Fraction``)
    as the infinity it rounds to (not finite, so it fails the trial; ``float()`` raised
    OverflowError), any other number (a numpy scalar, a ``Fraction``, an int) as Python's
    float, as a store reads it back (a store spells a number from its ``repr``: ``np.float64(0.3)`` failed a DynamoDB
    write, and an ``np.float32`` was handed back as numpy's); anything else (numpy's bool and
    complex too: ``is_number`` refuses them as Python's) as it is."""
    if getattr(value, "shape", None) == () and hasattr(value, "__float__") and not isinstance(value, numbers.Real):
        kind = getattr(getattr(value, "dtype", None), "kind", None)  # a framework's dtype has none
        return value if kind in ("b", "c") else float(value)  # numpy's bool and complex: no number
    if not is_number(value):
        return value
    try:
        return float(value)
    except OverflowError:
        return math.inf if value > 0 else -math.inf


def is_number(value: Any) -> bool:
    """Whether ``value`` is a metric value: a real number, and not a bool (Python's ``True``
    is the int 1, but a script telling ``True`` has mixed up its outputs)."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def checked_metrics(metrics: Mapping[Any, Any]) -> Mapping[str, float]:
    """``metrics`` as told, refused (ValueError) unless each is a number under a name
    (``TypeError`` unless a mapping)."""
    if not isinstance(metrics, Mapping):  # a list was an AttributeError on ``.items``
        raise TypeError(f"metrics: a mapping of metric names to numbers, got {shown(metrics)}")
    for name, value in metrics.items():
        if not isinstance(name, str):
            raise ValueError(f"metrics: a metric's name is a string, got {shown(name)}")
        if not is_number(scalar(value)):
            raise ValueError(f"metrics: {shown(name)} must be a number, got {shown(value)}")
    return {name: scalar(value) for name, value in metrics.items()}


def told_state(state: str | TrialState, allowed: Sequence[TrialState]) -> TrialState:
    """``state`` as ``tell`` / ``add_trial`` take it, one of ``allowed`` (a ``ValueError``
    naming the argument and the states it takes)."""
    told = next((s for s in allowed if state in (s, s.value)), None)
    if told is None:
        given = state.value if isinstance(state, TrialState) else state
        *others, last = [s.value for s in allowed]
        raise ValueError(f"state: {', '.join(others)} or {last}, got {shown(given)}")
    return told


def as_space(space: SearchSpace | Mapping[str, Any] | Sequence[Mapping[str, Any]]) -> SearchSpace:
    """The study's space: a ``SearchSpace``, its document (``{"parameters": [...]}``) or the
    list of its parameters, read as one (a ``ValidationError`` names the field at fault:
    ``Study`` makes it one line)."""
    if isinstance(space, SearchSpace):
        return space
    if isinstance(space, Mapping):
        return SearchSpace.model_validate(space)
    if isinstance(space, list | tuple):
        return SearchSpace.model_validate({"parameters": list(space)})
    raise TypeError(
        f"space: a hyperstep.SearchSpace, its document ({{'parameters': [...]}}) or a list of parameters, got {space!r}"
    )


def refuse_before_the_enqueued(job: Job) -> None:
    """``add_trial`` while enqueued points wait (the spec's, or ``enqueue_trial``'s, stored with
    the job by trial number): the trial added would take one's number (``ValueError``; the
    store takes nothing)."""
    waiting = sorted(k for k in job.enqueued if k > job.trial_seq)
    if job.trial_seq < len(job.spec.enqueue):
        waiting = [*range(job.trial_seq + 1, len(job.spec.enqueue) + 1), *waiting]
    if waiting:
        raise ValueError(
            f"add_trial: enqueued points wait for trial numbers {', '.join(map(str, waiting))}: ask them first"
            " (a trial added now would take one's number)"
        )
