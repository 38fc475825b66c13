"""Study: ask/tell over a trial store and a strategy.

The same class serves a notebook (in-memory store), the CLI (SQLite file) and the
suggester Lambda (DynamoDB): the store holds everything, the Study holds nothing that
a fresh instance could not rebuild from it. Its arguments and told values are checked in
``study_checks``; what its strategy sees of the trials is ``study_history.history_of``.
"""

from __future__ import annotations

import gc
import itertools
import math
import numbers
import os
import threading
import time
import uuid
import warnings
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Literal, NoReturn

import numpy as np
from pydantic import ValidationError

from hyperstep import early_stopping as stopping
from hyperstep.blas import one_blas_thread
from hyperstep.errors import NotFoundError, SpecError, TrialFinishedError, TrialPruned
from hyperstep.history_rows import EndedRows
from hyperstep.messages import MAX_STEP, shown
from hyperstep.models import Job, JobStatus, MetricReport, Trial, TrialState, drawn_seed, finite_metrics, trial_id
from hyperstep.objectives import pareto_front
from hyperstep.report_signing import new_report_key
from hyperstep.schedulers import Scheduler, make_scheduler
from hyperstep.schedulers.fidelity import levels
from hyperstep.space import SearchSpace
from hyperstep.spec import JobSpec, describe_validation_error
from hyperstep.stores.base import TrialStore
from hyperstep.strategies import History, Strategy, make_strategy
from hyperstep.study_checks import (
    Goal,
    as_space,
    checked_metrics,
    checked_parents,
    error_text,
    is_number,
    objectives_of,
    one_of_one,
    refuse_a_failed_value,
    refuse_another_spec,
    refuse_before_the_enqueued,
    refuse_constraints_on_the_value,
    scalar,
    told_state,
)
from hyperstep.study_history import history_of
from hyperstep.trial_handle import TrialHandle
from hyperstep.warm_start import carried_over

if TYPE_CHECKING:
    from hyperstep.trial_view import Snapshot

TOLD_STATES = (TrialState.COMPLETED, TrialState.FAILED, TrialState.STOPPED, TrialState.PRUNED)
"""What ``tell`` takes: how a trial ended (running and pending are not an end)."""
MAX_ASK = 10_000
"""The most trials one ``ask`` proposes: a spec's ``budget.max_trials`` at most. A larger count
(a caller's arithmetic gone wrong) failed with a MemoryError of many GiB, or ran for hours."""
TrialRef = str | Trial | TrialHandle | int
"""A trial as ``tell`` and ``report`` take it: its id, the ``Trial`` ``ask`` returned (or the
``TrialHandle`` ``optimize`` gave its objective), or its number (Optuna's ``tell`` takes the
trial or its number)."""


class Study:
    """An optimization over a search space, driven by ``ask`` and ``tell``.

    With ``early_stopping`` (the spec's block: ``name``, ``min_resource``, ``max_resource``,
    ``reduction_factor``), a trial reports its objective step by step with ``report``, which
    says whether it should stop now; a trial then told ``stopped`` ends pruned (see
    ``hyperstep.early_stopping``): it keeps its curve and counts against the budget.

    ``goal`` a list of two or three goals makes a multi-objective study: ``tell`` takes a
    list of values in that order and ``pareto_front`` holds the feasible non-dominated
    trials. ``constraints`` (the spec's: ``{"metric", "max" and/or "min"}``) are checked
    against the ``metrics`` a trial is told with; a trial missing one is infeasible.

    With ``store`` and the ``job_id`` of a stored job, the study reopens that job with its
    stored spec: ``goal`` and ``strategy`` left out (None) take the stored ones (a new
    study: minimize, bayesian); another space, or another value of an argument given, is
    refused (``ValueError``) rather than silently run as stored.

    ``warm_start`` names earlier studies (jobs) of the same store to learn from, as the
    spec's ``warm_start.jobs``: their trials inform the strategy from the first ``ask``
    and are not this study's trials.

    A bad argument is a ``SpecError`` (a ``ValueError``) of one line naming the field, as
    ``hyperstep validate`` says it.
    """

    def __init__(
        self,
        space: SearchSpace | Mapping[str, Any] | Sequence[Mapping[str, Any]],
        goal: Goal | Sequence[Goal] | None = None,
        strategy: str | None = None,
        seed: int | None = None,
        *,
        store: TrialStore | None = None,
        job_id: str | None = None,
        strategy_options: dict[str, Any] | None = None,
        name: str = "study",
        early_stopping: dict[str, Any] | None = None,
        constraints: Sequence[dict[str, Any]] | None = (),
        warm_start: Sequence[str] | None = None,
        enqueue: Sequence[Mapping[str, Any]] | None = None,
    ) -> None:
        from hyperstep.stores.sqlite import SQLiteStore

        if isinstance(constraints, Mapping):
            raise SpecError("constraints: a list of constraints, got one mapping; put it in a list")
        if isinstance(constraints, str):
            shape = "{'metric': ..., 'max': ...}"
            raise SpecError(f"constraints: a list of constraints ({shape}), got the string {shown(constraints)}")
        if isinstance(warm_start, str):
            raise SpecError(f"warm_start: a list of job ids, got the string {shown(warm_start)}; put it in a list")
        if isinstance(warm_start, Mapping):  # the spec's block ({"jobs": [...]}): read as the parent "jobs"
            raise SpecError(f"warm_start: a list of job ids, got the mapping {shown(warm_start)}; give its jobs")
        if isinstance(enqueue, Mapping | str):  # one point: read as its keys, "enqueue.0: ... not a string"
            raise SpecError(f"enqueue: a list of points, got {shown(enqueue)}; put the point in a list")
        try:
            space = as_space(space)
            spec = JobSpec.model_validate(  # a bad strategy option fails here, as strategy.options.<name>
                {
                    "name": name,
                    **objectives_of("minimize" if goal is None else goal),
                    "constraints": list(constraints or ()),
                    "parameters": space.parameters,
                    "strategy": {
                        "name": "bayesian" if strategy is None else strategy,
                        "seed": seed,
                        "options": strategy_options or {},
                    },
                    "early_stopping": early_stopping,
                    "warm_start": {"jobs": list(warm_start)} if warm_start else None,
                    "enqueue": list(enqueue or ()),
                }
            )
        except ValidationError as exc:  # one line naming the field, as the CLI's and the API's
            raise SpecError(describe_validation_error(exc)) from None
        refuse_constraints_on_the_value(spec)
        for warning in stopping.early_stopping_warnings(spec):  # as ``hyperstep validate`` prints them
            warnings.warn(warning, UserWarning, stacklevel=2)
        if store is not None and not isinstance(store, TrialStore):  # Optuna's storage is a URL string
            unsaid = " (its value not shown: a storage URL may hold a password)" if isinstance(store, str) else ""
            raise TypeError(
                f"store: a TrialStore (SQLiteStore(path), from hyperstep.stores.sqlite), got a {type(store).__name__}"
                + unsaid
            )
        if job_id is not None and not isinstance(job_id, str):
            raise TypeError(f"job_id: a string, got {shown(job_id)}")
        store = store if store is not None else SQLiteStore(":memory:")
        job_id = job_id or f"{name}-{uuid.uuid4().hex[:12]}"
        try:
            job = store.get_job(job_id)
        except NotFoundError:
            parents = checked_parents(store, spec)
            job = Job(id=job_id, spec=spec, created_at=store.clock(), seed=drawn_seed(spec), parents=parents)
            store.create_job(job)
        given = {
            "goal": goal is not None,
            "strategy": strategy is not None,
            "seed": seed is not None,
            "strategy_options": strategy_options is not None,
            "constraints": bool(constraints),
            "early_stopping": early_stopping is not None,
            "warm_start": warm_start is not None,
            "enqueue": enqueue is not None,
        }
        refuse_another_spec(job, spec, [field for field, was_given in given.items() if was_given])
        self._init(store, job)
        self._read_only_once_finished = True

    @classmethod
    def from_job(
        cls, store: TrialStore, job: Job, parent_trials: Callable[[str], Sequence[Trial]] | None = None
    ) -> Study:
        """The study of a stored job (what the suggester and the CLI use). ``parent_trials``
        reads a parent job's trials (Suggest passes its ``TrialView``'s, which keeps them);
        by default, the store's ``list_trials``."""
        study = cls.__new__(cls)
        study._init(store, job)
        if parent_trials is not None:
            study.parent_trials = parent_trials
        return study

    def _init(self, store: TrialStore, job: Job) -> None:
        self.store = store
        self.parent_trials: Callable[[str], Sequence[Trial]] = store.list_trials
        self.job_id = job.id
        self.spec = job.spec
        self.space = job.spec.space
        self.minimize = job.minimize
        self.parents = job.parents
        config = job.spec.strategy
        seed = job.strategy_seed
        self.seed = seed if seed is not None else int(np.random.SeedSequence().entropy % (2**31))
        """The job's seed; a job stored before seeds were kept draws one per study."""
        self.strategy: Strategy = make_strategy(config.name, config.options, stored=True)  # checked as it came in
        self.scheduler: Scheduler = make_scheduler(job.spec.early_stopping, self.seed)
        self._asking = threading.Lock()
        """One ``ask`` at a time: threads asking at once would read the same history and,
        with the same seed, be given the same configurations."""
        self._optimizing = False
        self._stopping = False
        """Whether an ``optimize`` loop runs, and whether ``stop`` was called in it."""
        self._read_only_once_finished = False
        """Whether ``ask`` and ``add_trial`` refuse a finished job: a user's study does (``Study(...)``),
        the suggester's does not (``from_job``)."""
        self._diverged: dict[str, float] = {}
        """The value that is not finite each trial last reported here (no store keeps one):
        a trial told stopped or pruned with no value after it ends as told with it."""

    @property
    def fidelity_levels(self) -> list[int] | None:
        """The rungs at which the strategy reads every trial's result (model-based early
        stopping), or None: it learns from completed trials only, or from none (random,
        sobol and grid read only which points were tried: ranking every trial at every rung,
        and fitting their curves, on every ask was work nothing read)."""
        config = self.spec.early_stopping
        if config is None or not stopping.enabled(self.spec) or not config.model_based:
            return None
        if self.spec.strategy.name in stopping.LEARNS_NOTHING:
            return None
        return levels(config.min_resource, config.max_resource, config.reduction_factor)

    @property
    def extrapolates(self) -> bool:
        """Whether the strategy reads a trial that did not complete at the final value its
        curve predicts (model-based early stopping with the curve model)."""
        config = self.spec.early_stopping
        return self.fidelity_levels is not None and config is not None and config.curve_model

    @property
    def joint_model(self) -> bool:
        """Whether the strategy reads every trial through one GP over (configuration, steps)
        (model-based early stopping with ``resource_model: gp``, ``schedulers.joint``), when it
        reads results at all (``fidelity_levels``: for random, sobol and grid its fit on every ask was lost)."""
        config = self.spec.early_stopping
        return self.fidelity_levels is not None and config is not None and config.resource_model == "gp"

    def __copy__(self) -> Study:
        """A second object over the same store and state, as ``copy.copy`` made before
        ``__reduce__`` refused pickling (it goes through ``__reduce_ex__`` otherwise)."""
        other = object.__new__(type(self))
        other.__dict__.update(self.__dict__)
        return other

    def __reduce__(self) -> NoReturn:
        """Refused in words: Optuna pickles an in-memory study (its FAQ saves one with joblib),
        but a Study is its store, here an SQLite connection, which pickle cannot carry (it
        said "cannot pickle '_thread.RLock' object")."""
        raise TypeError(
            "a Study cannot be pickled: keep it in a file instead, Study(..., store=SQLiteStore('study.db'),"
            " job_id='my-study') (from hyperstep.stores.sqlite), and reopen it the same way"
        )

    # ask / tell

    def ask(
        self,
        n: int = 1,
        max_trials: int | None = None,
        trials: Sequence[Trial] | None = None,
        snapshot: Snapshot | None = None,
    ) -> list[Trial]:
        """Propose ``n`` new trials, spread out from each other and from those not yet told.

        Fewer or none come back when the space runs out of new configurations (grid,
        bayesian and evolutionary never repeat one: a grid done, a small discrete space
        asked through). With ``max_trials`` (the job's budget), fewer or none come back when
        the budget is used up; racing callers never overspend it together; the strategy
        knows it (``History.budget``: the Bayesian one's initial design is at most a quarter of it). ``trials`` are
        the job's trials when the caller has just read them (Suggest's ``TrialView``), else
        they are read from the store; ``snapshot``, the view's snapshot they come from (see
        ``history``).
        """
        if isinstance(n, bool) or not isinstance(n, numbers.Integral):
            raise ValueError(f"n must be an integer, got {shown(n)}")
        if n < 0:
            raise ValueError(f"n must be 0 or more, got {n}")
        if n > MAX_ASK:
            raise ValueError(f"n must be at most {MAX_ASK:,} (a job's whole budget at most), got {n:,}")
        self._refuse_a_finished_job("ask")
        if n == 0:
            return []
        n = int(n)
        with self._asking:
            return self._ask(n, max_trials, trials, snapshot)

    def _refuse_a_finished_job(self, call: str, job: Job | None = None) -> None:
        """A ``ValueError`` for a new trial in a job that has finished (a ``hyperstep run`` job
        that completed, failed or was stopped): its trials were added to it, past its
        ``max_trials``, while it still said "max_trials 6 used". Its trials and best stay
        readable. Read as the call comes, not once when the study opened: a run may finish the
        job meanwhile, or ``run --resume`` carry it on. A stopped job with a trial block is
        shown how ``run`` carries it on; one with none (a study's own) is not: ``run --resume``
        refuses it. ``job``: the finished job, when the caller has just read it."""
        if (job := job or self._finished_job()) is None:
            return
        why = f" ({job.stop_detail})" if job.stop_detail else ""
        resumable = job.status is JobStatus.STOPPED and job.spec.trial is not None  # run refuses ask/tell's own
        carry_on = f"; carry it on with: hyperstep run --resume {job.id}" if resumable else ""
        raise ValueError(
            f"{call}: job {job.id!r} has {job.status.value}{why}: a study reads a finished job's trials but adds"
            f" none{carry_on}, or give another job_id"
        )

    def _finished_job(self) -> Job | None:
        """The job when it has finished and this study adds nothing to it (``_refuse_a_finished_job``)."""
        job = self.job if self._read_only_once_finished else None
        return job if job is not None and job.status.finished else None

    def _ask(
        self, n: int, max_trials: int | None, trials: Sequence[Trial] | None, snapshot: Snapshot | None
    ) -> list[Trial]:
        trials = self.store.list_trials(self.job_id) if trials is None else list(trials)
        rng = np.random.default_rng([self.seed, len(trials)])
        # the same history and proposals at any thread count (the joint model's GP: scipy's BLAS, any strategy)
        # the store read first: a collect batch holds the store's lock while its decisions wait for the block
        parents = [self.parent_trials(parent) for parent in self.parents]
        with one_blas_thread(self.strategy.uses_scipy or self.joint_model):
            history = replace(self.history(trials, snapshot, parents), budget=max_trials)  # (its curve fits too)
            proposal = self.strategy.propose(history, n, rng)
        points = proposal.points
        due = self._enqueued_due(snapshot)[:n]
        if len(points) < len(due):  # a strategy out of new points still runs the enqueued ones
            padding = rng.random((len(due) - len(points), self.space.dim))
            points = np.vstack([points.reshape(-1, self.space.dim), padding])
        points = self._without_repeats_of(due, points)
        if len(points) == 0:
            return []
        enqueued, stored = self.spec.enqueue, {}

        def reading(job: Job) -> None:
            """The job's stored points as the store read it for this attempt (``add_trials``)."""
            stored.clear()
            stored.update(job.enqueued)

        def fixed(number: int) -> dict[str, Any] | None:
            """The enqueued point trial ``number`` runs, if any: the spec's, then those
            ``enqueue_trial`` stored, each by its number, so a retried Suggest, a resumed run
            or another ``Study`` of the job neither repeats nor skips one."""
            return enqueued[number - 1] if number <= len(enqueued) else stored.get(number)

        def make(i: int, number: int) -> Trial:
            return Trial(
                job_id=self.job_id,
                id=trial_id(number),
                number=number,
                params=self.space.decode(points[i], fixed(number)),
                created_at=self.store.clock(),
                expected_improvement=proposal.expected_improvement,
                report_key=new_report_key(),
            )

        return self.store.add_trials(self.job_id, len(points), max_trials, make, reading)

    def _without_repeats_of(self, due: list[dict[str, Any]], points: np.ndarray) -> np.ndarray:
        """``points`` without a proposal past the first ``len(due)`` (which the enqueued points
        ``due`` replace) that is one of those points: a strategy that never repeats a
        configuration (grid, bayesian, evolutionary) would otherwise run it twice in one ask."""
        if not due:  # no enqueued point in this ask: the proposal as it is, nothing decoded
            return points
        keys = {self.space.key(point) for point in due}
        owed = len(due)
        kept = [j for j in range(len(points)) if j < owed or self.space.key(self.space.decode(points[j])) not in keys]
        return points if len(kept) == len(points) else points[kept]

    def _enqueued_due(self, snapshot: Snapshot | None) -> list[dict[str, Any]]:
        """The enqueued points no trial has taken yet, in order: the spec's and the stored
        ones (``Job.enqueued``) past the highest trial number given out (they go by number:
        the job's ``trial_seq`` and points, as Suggest's ``snapshot`` has just read them).
        No trial is read: a round reads only the trials that changed (``ended_totals``)."""
        if snapshot is None:
            job = self.job
            last, stored = job.trial_seq, job.enqueued
        else:
            last, stored = snapshot.seen_seq, snapshot.enqueued
        return [*self.spec.enqueue[last:], *(stored[k] for k in sorted(stored) if k > last)]

    def enqueue_trial(self, params: Mapping[str, Any], skip_if_exists: bool = False) -> None:
        """Optuna's ``enqueue_trial``: a coming trial runs ``params``, the names given fixed
        and the rest from the strategy (``SearchSpace.partial_configuration``; a ``ValueError``
        naming the parameter). Stored with the job (``TrialStore.enqueue``), as Optuna stores
        a waiting trial: after the spec's ``enqueue`` points and those stored before, any
        ``ask`` of the job (this object's, another's, Suggest's, ``run --resume``) runs it,
        once, in order. With ``skip_if_exists`` (Optuna's flag: a script rerun), a point a
        trial of the job ran, or one that waits, is not enqueued again (the same names and values).
        A finished job no ``run --resume`` carries on (completed, or with no trial block: ask/tell's
        own) is refused as ``ask`` refuses it: no ask would run the point."""
        finished = self._finished_job()
        if finished is not None and (finished.status is JobStatus.COMPLETED or finished.spec.trial is None):
            self._refuse_a_finished_job("enqueue_trial", finished)
        point = self.space.partial_configuration(params)
        if skip_if_exists:
            job = finished or self.job
            if point in [*job.spec.enqueue, *job.enqueued.values()] or any(t.params == point for t in self.trials):
                return
        self.store.enqueue(self.job_id, point)

    def history(
        self, trials: Sequence[Trial], snapshot: Snapshot | None = None, parents: list[list[Trial]] | None = None
    ) -> History:
        """What the strategy reads: ``history_of`` the parents' trials and ``trials``. Given
        the ``TrialView`` snapshot ``trials`` come from, the same made from the rows kept
        with it (``hyperstep.history_rows``: each ended trial encoded once, not every
        round), except with model-based early stopping, whose rungs rank every trial anew.
        ``parents``: each parent's trials as ``parent_trials`` reads them (read here if not
        given; ``_ask`` reads them before its one-thread block, which must not wait for the store)."""
        if parents is None:
            parents = [self.parent_trials(parent) for parent in self.parents]
        if snapshot is None or self.fidelity_levels is not None:
            carried = carried_over(self.space, [trial for trials in parents for trial in trials], self.seed)
            return history_of(
                self.space,
                [*carried, *trials],
                self.minimize,
                seed=self.seed,
                fidelity=self.fidelity_levels,
                spec=self.spec,
                extrapolate=self.extrapolates,
                joint=self.joint_model,
            )
        if snapshot.rows is None or not snapshot.rows.fits(self.space, self.spec):
            snapshot.rows = EndedRows(self.space, self.spec)

        def prior() -> History | None:
            carried = carried_over(self.space, [trial for trials in parents for trial in trials], self.seed)
            return history_of(self.space, carried, self.minimize, seed=self.seed, spec=self.spec) if carried else None

        return snapshot.rows.history(snapshot, snapshot.rows.prior(parents, prior), self.seed)

    def tell(
        self,
        trial_id: TrialRef,
        value: float | Sequence[float] | None = None,
        state: Literal["completed", "failed", "stopped", "pruned"] | TrialState = "completed",
        metrics: dict[str, float] | None = None,
        error: str | BaseException | None = None,
        skip_if_finished: bool = False,
    ) -> Trial:
        """Record how a trial ended (``trial_id``: its id, the ``Trial`` or its number;
        ``tell(trial, state="failed")`` needs no value, as in Optuna).

        A trial is told once: telling an ended trial again is a ``ValueError`` (as in
        Optuna), or, with ``skip_if_finished`` (Optuna's flag: a retried call), changes
        nothing and returns the trial as it ended.

        A completed trial needs a finite value (with several objectives: a list of them,
        in the objectives' order); a non-finite one is recorded as failed, and so is a trial
        told stopped or pruned with one and no finite step (it diverged: it counts once, as
        the service fails it; stopped, it gave its unit of budget back and an
        ``ask(max_trials=)`` loop never ran out). A failed one
        takes none (``ValueError``, as Optuna's FAIL). ``metrics`` hold
        what the constraints read. Non-finite ``metrics`` are dropped: no store can keep
        NaN or infinity.

        Told stopped or pruned with no value after ``report`` got a value that is not finite
        from it (on this ``Study`` object), the trial is told with that value: the loop that
        acts on ``report``'s True without passing the NaN on counts it once too.

        ``pruned`` (Optuna's word for a trial its pruner stopped) ends the trial as early
        stopping does: it keeps its curve and its unit of budget, is no failure, and its
        value is the one told, else its curve's newest. ``stopped`` (the user's stop) gives
        its budget back, unless the study stops trials early and the trial has a curve:
        then it is pruned too (``report`` said stop). Either ends ``completed`` when the
        study stops early and the curve reached ``max_resource`` (the training was over,
        as the service rules for a late stop: ``early_stopping.stopped_end``).
        """
        trial_id = self._id_of(trial_id)
        if skip_if_finished and (ended := self.store.get_trial(self.job_id, trial_id)).state.finished:
            return ended  # a retried call, skipped before its value is checked (as Optuna's)
        state = told_state(state, TOLD_STATES)
        refuse_a_failed_value(state, value)
        error = error_text(error)
        if self.spec.multi_objective:
            return self._tell_several(trial_id, value, state, metrics, error, skip_if_finished)
        value = one_of_one(value)
        if value is None and state in (TrialState.STOPPED, TrialState.PRUNED):
            value = self._diverged.get(trial_id)  # after report's True on a NaN: as told with it
        if value is not None and not is_number(value):
            raise ValueError(f"this study has one objective: tell one value, not {shown(value)}")
        if state is TrialState.PRUNED or (state is TrialState.STOPPED and stopping.enabled(self.spec)):
            trial = self.store.get_trial(self.job_id, trial_id)
            if state is TrialState.PRUNED or stopping.pruned_when_stopped(self.spec, trial):  # curve and budget kept
                state = stopping.stopped_end(self.spec, trial)
                if trial.curve and (value is None or not math.isfinite(value)):
                    value = stopping.last_value(trial)  # its newest step's (a curve holds finite values only)
        diverged = value is not None and not math.isfinite(value)
        if state is TrialState.STOPPED and diverged and self.store.get_trial(self.job_id, trial_id).curve:
            value = None  # the user's stop of a trial with finite steps (no early stopping): as told with none
        if metrics is not None:
            metrics = finite_metrics(checked_metrics(metrics))
        if state is TrialState.COMPLETED and value is None:
            raise ValueError("a completed trial needs a value; use state='failed' for none")
        if value is not None and not math.isfinite(value):  # diverged (told completed, or ended with no finite step)
            state, error, value = TrialState.FAILED, error or f"objective is not finite ({value})", None
        ended = self.store.finish_trial(self.job_id, trial_id, state, value=value, metrics=metrics, error=error)
        return self._told(trial_id, ended, skip_if_finished)

    def _told(self, trial_id: str, ended: bool, skip_if_finished: bool) -> Trial:
        """The trial ``tell`` has just ended, or, when it had ended before (``ended`` False),
        a ``ValueError`` unless ``skip_if_finished``."""
        trial = self.store.get_trial(self.job_id, trial_id)
        if not ended and not skip_if_finished:
            told = "" if trial.value is None else f" with {trial.values or trial.value}"
            raise ValueError(
                f"trial {trial_id} was already told ({trial.state.value}{told}): a trial is told once;"
                " skip_if_finished=True ignores a repeated tell"
            )
        return trial

    def _id_of(self, trial: TrialRef) -> str:
        """The id of ``trial`` as ``tell`` and ``report`` take it (``TrialRef``)."""
        if isinstance(trial, Trial | TrialHandle):
            if trial.job_id != self.job_id:
                raise ValueError(f"trial: {trial.id} is a trial of job {trial.job_id!r}, not of {self.job_id!r}")
            return trial.id
        if isinstance(trial, numbers.Integral) and not isinstance(trial, bool):
            if trial < 1:
                raise ValueError(f"trial: trial numbers start at 1, got {trial}")
            return trial_id(int(trial))
        if isinstance(trial, str):
            return trial
        if isinstance(trial, list) and len(trial) == 1 and isinstance(trial[0], Trial):  # Optuna's ask gives one
            raise TypeError(f"trial: ask returns a list of trials; take one, study.ask()[0], got {shown(trial)}")
        raise TypeError(f"trial: a trial id, a Trial or a trial number, got {shown(trial)}")

    def _tell_several(
        self,
        trial_id: str,
        value: float | Sequence[float] | None,
        state: TrialState,
        metrics: dict[str, float] | None,
        error: str | None,
        skip_if_finished: bool,
    ) -> Trial:
        """``tell`` for a multi-objective study: ``value`` is one value per objective."""
        values = None if value is None else self._values(value)
        if state is TrialState.COMPLETED:
            if values is None:
                raise ValueError("a completed trial needs its values; use state='failed' for none")
            if not all(math.isfinite(v) for v in values):
                state, error, values = TrialState.FAILED, error or f"objectives are not all finite ({values})", None
        elif values is not None and not all(math.isfinite(v) for v in values):
            values = None  # a stopped or pruned trial's: no store keeps NaN or infinity
        metrics = None if metrics is None else finite_metrics(checked_metrics(metrics))
        first = None if values is None else values[0]
        ended = self.store.finish_trial(
            self.job_id, trial_id, state, value=first, metrics=metrics, error=error, values=values
        )
        return self._told(trial_id, ended, skip_if_finished)

    def _values(self, value: Any) -> list[float]:
        """A multi-objective study's told value as floats, one per objective (``ValueError``)."""
        m = len(self.spec.goals)
        value = scalar(value)  # a 0-d array has __len__ but no length
        if is_number(value) or not hasattr(value, "__len__") or len(value) != m:
            raise ValueError(f"this study has {m} objectives: tell a list of {m} values, got {shown(value)}")
        if isinstance(value, str | Mapping) or not all(is_number(scalar(v)) for v in value):
            raise ValueError(f"this study has {m} objectives: tell a list of {m} numbers, got {shown(value)}")
        return [float(scalar(v)) for v in value]  # an int past a float's range: infinity (``scalar``)

    def report(self, trial_id: TrialRef, step: int, value: float) -> bool:
        """Record the trial's objective ``value`` at ``step`` and say whether it should stop
        now (True: stop it and ``tell`` it ``stopped``). Always False without early
        stopping, and at or past ``max_resource`` (the trial is complete: tell its value).
        A trial told completed or failed takes no report: ``TrialFinishedError`` (a
        ``RuntimeError``, as Optuna's ``UpdateFinishedTrialError``), nothing recorded. One
        told stopped or pruned gets True: there is nothing to continue; its late step still
        joins its curve, and one whose curve so reaches ``max_resource`` ends completed with
        that value (the service's rule for late reports, which a stop may race).

        Steps may come in any order: each joins the trial's curve and the decision is on the
        newest step. A step already on the curve keeps its first value, with a warning, as
        Optuna's ``report`` (the answer is then the decision on the curve as it is). A value
        that is not finite (a diverged trial) is not recorded: with early stopping the answer
        is True (stop it; telling it ``stopped`` ends it pruned at its last finite value, or
        failed without a finite step), without it False."""
        trial_id = self._id_of(trial_id)
        if isinstance(step, bool) or not isinstance(step, numbers.Integral) or not 0 <= step <= MAX_STEP:
            raise ValueError(f"step must be an integer from 0 to {MAX_STEP}, got {shown(step)}")
        step = int(step)
        value = scalar(value)
        if not is_number(value):
            several = len(self.spec.goals)  # a multi-objective study's curve is its first objective's
            first = f" (this study has {several} objectives: report the first's)" if several > 1 else ""
            raise ValueError(f"report a number as the value{first}, got {shown(value)}")
        if not math.isfinite(value):
            self._refuse_a_report_after(self.store.get_trial(self.job_id, trial_id))
            self._diverged[trial_id] = float(value)
            return stopping.enabled(self.spec)  # a diverged trial stops
        if (held := self.store.curve_point(self.job_id, trial_id, step)) is not None:
            trial = self.store.get_trial(self.job_id, trial_id)
            self._refuse_a_report_after(trial)
            warnings.warn(
                f"trial {trial.number}: step {step} is already reported (value {held}); the reported value"
                f" {value} is ignored, as Optuna ignores it",
                UserWarning,
                stacklevel=2,
            )
            return not trial.state.active or stopping.should_stop(self.scheduler, trial, self.store, self.minimize)
        metric = self.spec.primary.metric
        report = {metric: MetricReport(value=value, step=step, at=self.store.clock())}
        trial = self.store.report_metrics(self.job_id, trial_id, report, curve_metric=metric, whole_curve=False)
        if trial is None:
            late = self.store.report_after_end(self.job_id, trial_id, report, metric, self._reached_max_resource)
            if late is None:  # told completed or failed: its end stands
                self._refuse_a_report_after(self.store.get_trial(self.job_id, trial_id))
            return True
        return stopping.should_stop(self.scheduler, trial, self.store, self.minimize)

    def set_trial_user_attr(self, trial_id: TrialRef, key: str, value: Any) -> Trial:
        """Keep ``value`` as the trial's user attribute ``key`` (Optuna's ``trial.set_user_attr``,
        its storage's ``set_trial_user_attr``; ``TrialHandle.set_user_attr`` inside ``optimize``)
        and return the trial as stored: ``Trial.user_attrs`` gives it back, in this study, a
        reopened one and ``run --resume``. The value is kept as JSON gives it back; a key or value
        past ``Trial.with_user_attr``'s bounds is its ``ValueError``, nothing kept. A trial
        already told takes none: ``TrialFinishedError``, as Optuna's ``UpdateFinishedTrialError``."""
        trial_id = self._id_of(trial_id)
        kept = self.store.set_user_attr(self.job_id, trial_id, key, value)
        if kept is None:
            trial = self.store.get_trial(self.job_id, trial_id)
            raise TrialFinishedError(
                f"trial {trial.number} was told {trial.state.value}: a finished trial takes no user attribute"
                " (Optuna raises UpdateFinishedTrialError); set it before telling the trial"
            )
        return kept

    @staticmethod
    def _refuse_a_report_after(trial: Trial) -> None:
        """``TrialFinishedError`` for a report of ``trial`` told completed or failed."""
        if trial.state in (TrialState.COMPLETED, TrialState.FAILED):
            raise TrialFinishedError(
                f"trial {trial.number} was told {trial.state.value}: a finished trial takes no report"
                " (Optuna raises UpdateFinishedTrialError); report its steps before telling it"
            )

    def _reached_max_resource(self, trial: Trial) -> Trial | None:
        """A trial told stopped or pruned whose late steps reached ``max_resource``, ended
        completed with its curve's newest value (``early_stopping.stopped_end``, the
        service's rule for late reports: a stopped one takes its unit of budget back); None
        for any other."""
        if stopping.stopped_end(self.spec, trial) is not TrialState.COMPLETED:
            return None
        return trial.model_copy(
            update={"state": TrialState.COMPLETED, "value": stopping.last_value(trial), "error": None}
        )

    def prior_trials(self) -> list[Trial]:
        """The parent jobs' ended trials, as this space sees them (``hyperstep.warm_start``):
        they inform the strategy; they are neither this study's trials nor its budget."""
        parents = [trial for parent in self.parents for trial in self.parent_trials(parent)]
        return carried_over(self.space, parents, self.seed)

    def add_trial(
        self,
        params: dict[str, Any],
        value: float | None = None,
        state: Literal["completed", "failed"] | TrialState = "completed",
        metrics: dict[str, float] | None = None,
        error: str | BaseException | None = None,
    ) -> Trial:
        """Record a trial that ran elsewhere (a notebook, an earlier tool), so the strategy
        learns from it: a completed one needs a finite ``value``, a failed one none.

        It becomes one of this study's trials (numbered, counted, shown) and takes one
        unit of a ``max_trials`` given to ``ask``. To learn from a whole earlier job
        without that, name it as a parent (``warm_start``)."""
        self._refuse_a_finished_job("add_trial")
        state = told_state(state, (TrialState.COMPLETED, TrialState.FAILED))
        refuse_a_failed_value(state, value)
        if state is TrialState.COMPLETED and self.spec.multi_objective:
            m = len(self.spec.goals)
            if value is None or not all(math.isfinite(v) for v in self._values(value)):
                raise ValueError(f"this study has {m} objectives: add a list of {m} finite values, got {shown(value)}")
        elif state is TrialState.COMPLETED:
            value = one_of_one(value)
            if value is None or not is_number(value) or not math.isfinite(value):
                raise ValueError(f"a completed trial needs a finite value, got {shown(value)}")
        if metrics is not None:  # checked before the trial is added: a refused call adds none
            checked_metrics(metrics)
        error = error_text(error)
        params = self.space.configuration(params)  # numpy scalars (from a DataFrame, an array) taken as Python's
        now = self.store.clock()
        (trial,) = self.store.add_trials(
            self.job_id,
            1,
            None,
            lambda _, number: Trial(
                job_id=self.job_id, id=trial_id(number), number=number, params=params, created_at=now
            ),
            refuse_before_the_enqueued,
        )
        return self.tell(trial.id, value if state is TrialState.COMPLETED else None, state, metrics, error)

    def optimize(
        self,
        objective: Callable[[TrialHandle], float | Sequence[float]],
        n_trials: int | None = None,
        timeout: float | None = None,
        catch: type[Exception] | tuple[type[Exception], ...] = (),
        callbacks: Sequence[Callable[[Study, Trial], None]] | None = None,
        n_jobs: int = 1,
        gc_after_trial: bool = False,
    ) -> None:
        """Optuna's loop: ``ask`` one trial, ``tell`` it ``objective(trial)`` (a list of values
        with several objectives; ``trial`` a ``TrialHandle``: Optuna's ``suggest_*``, ``report``
        and ``should_prune`` over the asked trial), until ``n_trials`` were run, ``timeout`` seconds have passed
        (no trial starts after), or ``ask`` gives none (a grid done, the spec's ``max_trials``).
        An exception in ``catch`` fails the trial and the loop goes on; any other fails the
        trial and is raised; a return that is not a value fails the trial with a warning. An
        objective that tells its trial itself gets the ``ValueError`` of a second tell, as
        Optuna's ``Cannot tell a COMPLETE trial``: the trial keeps what it was told.
        ``TrialPruned`` (raised after ``report`` or ``should_prune`` said stop) ends it pruned.
        Each of ``callbacks`` is called as ``callback(study, trial)`` after each trial ended
        (Optuna's: ``trial`` as it ended), a failed one too; what one raises stops the loop.
        ``n_jobs`` loops run in threads (-1: one a CPU), as Optuna's: ``ask`` takes turns, so
        each gets its own trial, and an exception one raises stops the others' next trials.
        ``gc_after_trial`` runs the garbage collector after each trial, as Optuna's. A job that
        finishes meanwhile (``hyperstep stop``, a run's end) ends the loop as ``stop`` does (a
        trial its stop recorded stopped keeps that end); one finished before is refused, as ``ask`` is."""
        if n_trials is not None and (isinstance(n_trials, bool) or not isinstance(n_trials, numbers.Integral)):
            raise ValueError(f"n_trials must be an integer or None, got {shown(n_trials)}")
        if timeout is not None and (not is_number(timeout) or not timeout >= 0):
            raise ValueError(f"timeout must be seconds (0 or more) or None, got {shown(timeout)}")
        if isinstance(n_jobs, bool) or not isinstance(n_jobs, numbers.Integral) or not (n_jobs >= 1 or n_jobs == -1):
            raise ValueError(f"n_jobs must be a positive integer or -1 (one a CPU), got {shown(n_jobs)}")
        caught = catch if isinstance(catch, tuple) else (catch,)
        deadline = None if timeout is None else time.monotonic() + timeout
        started = itertools.count()  # shared by the threads: next() hands each number out once

        def loop() -> None:
            try:
                while not self._stopping and (deadline is None or time.monotonic() < deadline):
                    if n_trials is not None and next(started) >= n_trials:
                        return
                    with self._asking:  # ``ask``'s turn, read as it takes it: another thread may finish the job
                        if self._finished_job() is not None:  # finished meanwhile (hyperstep stop, a run's end): the
                            return  # loop ends as at ``stop()``, not with ask's ValueError (from a worker thread)
                        asked = self._ask(1, self.spec.budget.max_trials, None, None)
                    if not asked:
                        return
                    self._run_one(objective, asked[0], caught)
                    for callback in callbacks or ():
                        callback(self, self.store.get_trial(self.job_id, asked[0].id))
                    if gc_after_trial:
                        gc.collect()
            except BaseException:
                self._stopping = True  # the other threads start no further trial
                raise

        self._refuse_a_finished_job("optimize")
        self._optimizing, self._stopping = True, False
        try:
            if n_jobs == 1:
                loop()
                return
            workers = (os.cpu_count() or 1) if n_jobs == -1 else int(n_jobs)
            with ThreadPoolExecutor(workers) as pool:
                futures = [pool.submit(loop) for _ in range(workers)]
                try:
                    for done in futures:
                        done.result()
                except BaseException:  # Ctrl-C while waiting here too: the threads end their trial, start no other
                    self._stopping = True
                    raise
        finally:
            self._optimizing = False

    def stop(self) -> None:
        """Optuna's ``stop``: the ``optimize`` loop under way starts no trial after the one
        running (called from an objective or a callback); ``RuntimeError`` outside it, as Optuna's."""
        if not self._optimizing:
            raise RuntimeError("stop: no optimize loop is running; call it from an objective or a callback")
        self._stopping = True

    def _run_one(
        self,
        objective: Callable[[TrialHandle], float | Sequence[float]],
        trial: Trial,
        caught: tuple[type[Exception], ...],
    ) -> None:
        """``optimize``'s trial: ``objective(trial)`` told, or the trial failed or pruned."""
        try:
            value = objective(TrialHandle(self, trial))
        except TrialPruned:
            self._end(trial, "pruned")
            return
        except caught as exc:
            self._end(trial, "failed", exc)
            return
        except BaseException as exc:  # KeyboardInterrupt too: the trial is not left running
            self._end(trial, "failed", exc)
            raise
        try:
            self.tell(trial, value)
        except ValueError as exc:
            if self._stopped_with_its_job(trial):
                return
            if self.store.get_trial(self.job_id, trial.id).state.finished:  # the objective told it: as Optuna's
                raise  # "Cannot tell a COMPLETE trial"; it keeps what the objective told, no warning
            # not a value (None, a string): failed, and the loop goes on, as Optuna's
            warnings.warn(f"trial {trial.number} failed: {exc}", UserWarning, stacklevel=4)  # optimize's caller
            self.tell(trial, state="failed", error=f"the objective returned {value!r}")

    def _end(self, trial: Trial, state: Literal["pruned", "failed"], error: BaseException | None = None) -> None:
        """``optimize``'s tell of a trial the objective did not complete, unless its job's stop ended it."""
        try:
            self.tell(trial, state=state, error=error)
        except ValueError:
            if not self._stopped_with_its_job(trial):
                raise

    def _stopped_with_its_job(self, trial: Trial) -> bool:
        """Whether ``trial`` ended meanwhile with its job (``hyperstep stop`` records a job's
        running trials stopped): ``optimize`` keeps that end, and its loop ends at its next turn."""
        return self.store.get_trial(self.job_id, trial.id).state.finished and self._finished_job() is not None

    # reading

    @property
    def trials(self) -> list[Trial]:
        """Every trial so far, by number."""
        return self.store.list_trials(self.job_id)

    def get_trials(
        self, deepcopy: bool = True, states: Sequence[TrialState | str] | TrialState | str | None = None
    ) -> list[Trial]:
        """Optuna's ``get_trials``: the trials by number, those in ``states`` only when given
        (``TrialState`` members, Optuna's names ``COMPLETE`` and ``FAIL`` among them, or their
        values; one state alone too). ``deepcopy`` is Optuna's flag, without effect: a ``Trial``
        is frozen, and each call reads the store anew."""
        if states is None:
            return self.trials
        wanted = {TrialState(states)} if isinstance(states, str) else {TrialState(state) for state in states}
        return [trial for trial in self.trials if trial.state in wanted]

    @property
    def job(self) -> Job:
        return self.store.get_job(self.job_id)

    @property
    def pareto_front(self) -> list[Trial]:
        """The feasible completed trials no other feasible one dominates, by number (with
        one objective: the best feasible trial, or those tied with it)."""
        return pareto_front(self.spec, self.trials)

    @property
    def best_trials(self) -> list[Trial]:
        """Optuna's name for ``pareto_front``."""
        return self.pareto_front

    @property
    def best_params(self) -> dict[str, Any]:
        """Optuna's ``best_params``: ``best_trial``'s parameters; a ``ValueError`` while no
        trial has completed, as Optuna raises (``best_trial`` is None then)."""
        return self._best("best_params").params

    @property
    def best_value(self) -> float | None:
        """Optuna's ``best_value``: ``best_trial``'s value; a ``ValueError`` while no trial has
        completed, as Optuna raises. None only with early stopping, while the best is a trial
        still running (``best_trial``)."""
        return self._best("best_value").value

    def _best(self, name: str) -> Trial:
        best = self.best_trial
        if best is None:
            raise ValueError(f"{name}: no trial has completed yet")
        return best

    @property
    def best_trial(self) -> Trial | None:
        """The feasible completed trial with the best value (None before any completes). With
        several objectives there is none: a ``RuntimeError`` points to ``pareto_front``, as
        Optuna's points to ``best_trials`` (a None would read as "nothing completed yet").
        With early stopping: the best trial that reached ``max_resource``, or, while none
        has, the best at the highest step reached (``early_stopping.best_trial``), of the
        trials not known infeasible (one still running has no final metrics yet)."""
        if self.spec.multi_objective:
            raise RuntimeError(
                f"best_trial: this study has {len(self.spec.goals)} objectives, so no single best trial;"
                " use study.pareto_front (or best_trials, as in Optuna)"
            )
        if stopping.enabled(self.spec):
            assert self.spec.early_stopping is not None
            candidates = [t for t in self.trials if t.state.active or self.spec.feasible(t.metrics)]
            return stopping.best_trial(candidates, self.minimize, self.spec.early_stopping.max_resource)
        best_id = self.job.best_trial_id
        return None if best_id is None else self.store.get_trial(self.job_id, best_id)
