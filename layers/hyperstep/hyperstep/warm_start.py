"""Warm start: what a job learns from earlier jobs' trials, whatever their search spaces.

A job names its parents (``warm_start.jobs`` in the spec, ``hyperstep run --warm-start``,
a recurring schedule's previous runs); each Suggest reads their ended trials and hands the
strategy those that say something about this job's space (``carried_over``), next to the
job's own. They inform the model only: they are not the job's trials and hold none of its
budget. Unlike SageMaker AMT there is no limit of five parents, and the spaces need not be
identical:

- a parameter both spaces have carries its value over;
- a parameter only this job has (a new one) gets, for each parent trial, a value drawn at
  random from its range (seeded by the job and the trial): the parent's value there is
  unknown, and a random one tells the model "this observation says nothing about the new
  parameter", so the new parameter is explored, not pinned to one value;
- a parameter only the parent had is left out (its effect is averaged over), and so is one
  inactive here for the trial's values (a ``when`` this job added), whatever its value; one
  active here that the parent trial did not set (a ``when`` the parent had) is drawn as a
  new one;
- a value is taken as this job's parameter takes it (a float 3.0 where this job has an int
  is 3, an int 3 where it has a float is 3.0, a categorical's "100" where it has a number
  is 100: AMT's warm start lets a static hyperparameter become tunable, and a number 4.0
  where it has a categorical of numbers is its choice "4" or 4); a value outside this
  job's range (a range narrowed or moved), a float that is no whole number where this job
  has an int, or a categorical value no longer among the choices drops the trial. Dropped, not clipped:
  clipping would tell the model that the boundary scored what was measured somewhere
  beyond it, wrong exactly where the range was changed.

The objectives must be the parent's (``check_parent``): a trial's value is its job's
objective, so a parent that minimized a loss cannot teach a job that maximizes accuracy.
And a parent must have measured every metric the job constrains: a trial without it counts
as breaking the constraint, so a parent that never measured it would teach the model that
its whole region (the best known) breaks it. A categorical none of whose choices the parent
ran (a constant among them: a one-choice categorical, such as an imported AMT static
hyperparameter, set to a value the parent never ran), a number range moved wholly
outside the parent's, or an int the parent ran as a float none of whose ended trials
took a whole number of it, is refused too: every parent trial would be left out.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from hyperstep.errors import SpecError
from hyperstep.models import Job, Trial, TrialState
from hyperstep.space import CategoricalParameter, FloatParameter, IntParameter, Parameter, SearchSpace
from hyperstep.spec import JobSpec

INFORMATIVE = (TrialState.COMPLETED, TrialState.FAILED)
"""A parent's trials the new job learns from: values, and where trials crash. Active ones
are not knowledge (their results may never come); stopped ones have no result."""


def same_objectives(spec: JobSpec, parent: Job) -> bool:
    """Whether ``parent``'s trials' values are this job's objectives: the same metrics in
    the same order, or, for a job with one objective, the parent's first (a trial's
    ``value``). Goals may differ: a value is the metric as measured."""
    mine = [o.metric for o in spec.goals]
    theirs = [o.metric for o in parent.spec.goals]
    return mine == theirs or (len(mine) == 1 and mine[0] == theirs[0])


def check_parent(spec: JobSpec, parent: Job, trials: Callable[[], Iterable[Trial]] = tuple) -> None:
    """Refuse (``SpecError``) a parent that is not ``same_objectives``, whose trials never
    measured a metric this job constrains (``unmeasured``), or none of whose trials could fit
    this space (``_nothing_shared``, ``_no_whole_number``: ``trials`` reads the parent's,
    only for a parameter it ran as a float and this job as an int)."""
    if not same_objectives(spec, parent):
        mine = [o.metric for o in spec.goals]
        theirs = [o.metric for o in parent.spec.goals]
        raise SpecError(
            f"warm_start.jobs: job {parent.id!r} optimized {' and '.join(theirs)}, not {' and '.join(mine)}:"
            " its trials' values would be read as this job's"
        )
    for index, constraint in enumerate(spec.constraints):
        if unmeasured(parent, constraint.metric):
            raise SpecError(
                f"warm_start.jobs: job {parent.id!r} never measured {constraint.metric} (constraints.{index}.metric):"
                " every trial of it would count as breaking the constraint"
            )
    theirs = {p.name: p for p in parent.spec.parameters}
    for index, parameter in enumerate(spec.parameters):
        before = theirs.get(parameter.name)
        change = None if before is None else _nothing_shared(parameter, before)
        if change is None and _float_to_int(parameter, before):
            change = _no_whole_number(parameter, [t for t in trials() if t.state in INFORMATIVE])
        if change is not None:
            raise SpecError(
                f"warm_start.jobs: job {parent.id!r} ran {parameter.name} {change} (parameters.{index}):"
                " none of its trials would fit this space"
            )


def _nothing_shared(mine: Parameter, theirs: Parameter) -> str | None:
    """How ``mine`` and the parent's ``theirs``, both always active, share no value, else
    None: a categorical none of whose choices the parent ran (a constant among them: a
    one-choice categorical, an AMT static hyperparameter), or a number range wholly outside
    the parent's (an int parent's: holding none of its whole numbers). Every parent trial
    then has another value and ``projected`` leaves each out, so the warm start would carry
    nothing, and nothing would say so. Ranges or choices that share a value keep the trials
    that fit (AMT's TransferLearning lets ranges and static values change).

    The parent's space is compared, not its trials' values: it is known at submit without
    reading the trials, and it holds every trial the parent will ever run (a running parent,
    a schedule's earlier run, adds more), so the answer does not change with its progress."""
    if mine.when is not None or theirs.when is not None:
        return None
    if isinstance(mine, CategoricalParameter) and isinstance(theirs, CategoricalParameter):
        if any(mine.contains(choice) for choice in theirs.choices):
            return None
        now = f"fixes it at {mine.choices[0]!r}" if len(mine.choices) == 1 else f"offers {mine.choices}"
        return f"at {theirs.choices} and this job {now}"
    numbers = (FloatParameter, IntParameter)
    if isinstance(theirs, CategoricalParameter) and isinstance(mine, numbers):  # a static made tunable
        if any(_takes(mine, _number(choice)) for choice in theirs.choices):
            return None
        return f"at {theirs.choices} and this job's range is [{mine.low}, {mine.high}]"
    if isinstance(mine, CategoricalParameter) and isinstance(theirs, numbers):
        if any(_takes(theirs, _number(choice)) for choice in mine.choices):
            return None
        return f"in [{theirs.low}, {theirs.high}] and this job offers {mine.choices}"
    if not isinstance(mine, numbers) or not isinstance(theirs, numbers):
        return None
    low, high = max(mine.low, theirs.low), min(mine.high, theirs.high)
    whole = isinstance(theirs, IntParameter) or isinstance(mine, IntParameter)
    shared = math.ceil(low) <= math.floor(high) if whole else low <= high
    if shared:
        return None
    return f"in [{theirs.low}, {theirs.high}] and this job's range is [{mine.low}, {mine.high}]"


def _carried(parameter: Parameter, value: Any) -> Any:
    """A parent's value for ``parameter``: a number's text as the number (``_number``); a
    number as the categorical's choice equal to it as a number (a float parent's 4.0 is the
    choice "4", an int's 4 the choice "4.0", as a float 3.0 is an int's 3)."""
    if not isinstance(parameter, CategoricalParameter):
        return _number(value)
    if parameter.contains(value) or not _is_number(value):
        return value
    return next((c for c in parameter.choices if _is_number(_number(c)) and _number(c) == value), value)


def _is_number(value: Any) -> bool:
    """An int or a float, not a bool (which Python holds equal to 1 and 0)."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def _number(value: Any) -> Any:
    """A text that reads as a finite number (an imported AMT static hyperparameter's "100")
    as that number, else ``value`` as it is."""
    if not isinstance(value, str):
        return value
    try:
        number = float(value)
    except ValueError:
        return value
    return number if math.isfinite(number) else value


def _float_to_int(mine: Parameter, theirs: Parameter | None) -> bool:
    return isinstance(mine, IntParameter) and isinstance(theirs, FloatParameter)


def _takes(parameter: Parameter, value: Any) -> bool:
    try:
        parameter.value_of(value)
    except ValueError:
        return False
    return True


def _no_whole_number(mine: Parameter, ended: list[Trial]) -> str | None:
    """How a float parent's ``ended`` trials all ran ``mine``, an int here, at a value no int
    of it takes (3.7), else None: only a whole number (3.0) carries over (``projected``). A
    parent with no ended trial yet is not refused: its trials are still to come."""
    if not ended or any(_takes(mine, t.params.get(mine.name)) for t in ended):
        return None
    return (
        f"as a float, and none of its {len(ended)} ended trials at a whole number in this job's int range"
        f" [{mine.low}, {mine.high}]"
    )


def unmeasured(parent: Job, metric: str) -> bool:
    """Whether ``parent``'s trials cannot carry ``metric``: its trial block produces no such
    metric (``check_objective``). A trial without a constrained metric counts as breaking
    the constraint (``strategies.constraints``), which for a parent that never measured it
    says nothing true. A parent driven by ask/tell (no trial block) may hold any metric."""
    block = parent.spec.trial
    if block is None or metric in parent.spec.measured_metrics:
        return False
    try:
        block.check_objective(metric)
    except ValueError:
        return True
    return False


def carried_over(space: SearchSpace, trials: Iterable[Trial], seed: int) -> list[Trial]:
    """The ended ``trials`` of parent jobs as this ``space`` sees them (module docstring):
    their params projected onto it; those it cannot express left out."""
    out = []
    for trial in trials:
        if trial.state not in INFORMATIVE:
            continue
        params = projected(space, trial.params, _rng(seed, trial))
        if params is not None:
            out.append(trial.model_copy(update={"params": params}))
    return out


def projected(space: SearchSpace, params: dict[str, Any], rng: np.random.Generator) -> dict[str, Any] | None:
    """``params`` on ``space``: shared values kept as this space takes them (a float 3.0 as
    an int's 3, an int 3 as a float's 3.0: ``configuration``; a categorical's "100", as an
    imported static hyperparameter holds it, as a number's 100), new parameters drawn from
    ``rng``, those inactive here left out (a parameter conditional in one space only);
    None when a value active here lies outside this space."""
    out = {
        p.name: _carried(p, params[p.name]) if p.name in params else p.decode(rng.random(p.width))
        for p in space.parameters
    }
    try:
        active = space.active_names(out)  # a when's categorical parent at a choice no longer offered raises
        return space.configuration({name: value for name, value in out.items() if name in active})
    except ValueError:
        return None


def _rng(seed: int, trial: Trial) -> np.random.Generator:
    """The same draws for the same trial in every Suggest of one job (stateless, seeded)."""
    return np.random.default_rng([seed, zlib.crc32(f"{trial.job_id}/{trial.id}".encode())])
