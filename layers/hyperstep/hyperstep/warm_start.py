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
- a parameter only the parent had is left out (its effect is averaged over);
- a value outside this job's range (a range narrowed or moved), of another type (a float
  where this job has an int) or a categorical value no longer among the choices drops the
  trial. Dropped, not clipped: clipping would tell the model that the boundary scored what
  was measured somewhere beyond it, wrong exactly where the range was changed.

The objectives must be the parent's (``check_parent``): a trial's value is its job's
objective, so a parent that minimized a loss cannot teach a job that maximizes accuracy.
And a parent must have measured every metric the job constrains: a trial without it counts
as breaking the constraint, so a parent that never measured it would teach the model that
its whole region (the best known) breaks it. A categorical none of whose choices the parent
ran (a constant among them: a one-choice categorical, such as an imported AMT static
hyperparameter, set to a value the parent never ran) is refused too: every parent trial
would be left out.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable
from typing import Any

import numpy as np

from hyperstep.errors import SpecError
from hyperstep.models import Job, Trial, TrialState
from hyperstep.space import CategoricalParameter, SearchSpace
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


def check_parent(spec: JobSpec, parent: Job) -> None:
    """Refuse (``SpecError``) a parent that is not ``same_objectives``, or whose trials
    never measured a metric this job constrains (``unmeasured``)."""
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
        if not isinstance(parameter, CategoricalParameter) or not isinstance(before, CategoricalParameter):
            continue
        if _no_choice_shared(parameter, before):
            one = len(parameter.choices) == 1
            now = f"fixes it at {parameter.choices[0]!r}" if one else f"offers {parameter.choices}"
            raise SpecError(
                f"warm_start.jobs: job {parent.id!r} ran {parameter.name} at {before.choices} and this job {now}"
                f" (parameters.{index}): none of its trials would fit this space"
            )


def _no_choice_shared(mine: CategoricalParameter, theirs: CategoricalParameter) -> bool:
    """Whether ``mine`` is a categorical (a constant among them: a one-choice categorical, an
    AMT static hyperparameter) none of whose choices the parent ran, both always active:
    every parent trial then has another value and ``projected`` leaves each out, so the warm
    start would carry nothing, and nothing would say so. Choices that share one keep the
    trials that fit (AMT's TransferLearning lets ranges and static values change)."""
    return mine.when is None and theirs.when is None and not any(mine.contains(c) for c in theirs.choices)


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
    """``params`` on ``space``: shared values kept, new parameters drawn from ``rng``; None
    when a shared value lies outside this space."""
    out: dict[str, Any] = {}
    for parameter in space.parameters:
        if parameter.name not in params:
            out[parameter.name] = parameter.decode(rng.random(parameter.width))
        elif parameter.contains(params[parameter.name]):
            out[parameter.name] = params[parameter.name]
        else:
            return None
    return out


def _rng(seed: int, trial: Trial) -> np.random.Generator:
    """The same draws for the same trial in every Suggest of one job (stateless, seeded)."""
    return np.random.default_rng([seed, zlib.crc32(f"{trial.job_id}/{trial.id}".encode())])
