"""Study: ask/tell over a trial store and a strategy.

The same class serves a notebook (in-memory store), the CLI (SQLite file) and the
suggester Lambda (DynamoDB): the store holds everything, the Study holds nothing that
a fresh instance could not rebuild from it.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np

from hyperstep import early_stopping as stopping
from hyperstep.errors import NotFoundError
from hyperstep.messages import MAX_STEP
from hyperstep.models import Job, MetricReport, Trial, TrialState, drawn_seed, finite_metrics, trial_id
from hyperstep.schedulers import Scheduler, make_scheduler
from hyperstep.schedulers.fidelity import levels, rung_observations
from hyperstep.space import SearchSpace
from hyperstep.spec import JobSpec, Objective
from hyperstep.stores.base import TrialStore
from hyperstep.strategies import History, Strategy, make_strategy


class Study:
    """An optimization over a search space, driven by ``ask`` and ``tell``.

    With ``early_stopping`` (the spec's block: ``name``, ``min_resource``, ``max_resource``,
    ``reduction_factor``), a trial reports its objective step by step with ``report``, which
    says whether it should stop now; a trial then told ``stopped`` ends pruned (see
    ``hyperstep.early_stopping``): it keeps its curve and counts against the budget.
    """

    def __init__(
        self,
        space: SearchSpace,
        goal: Literal["minimize", "maximize"] = "minimize",
        strategy: str = "bayesian",
        seed: int | None = None,
        *,
        store: TrialStore | None = None,
        job_id: str | None = None,
        strategy_options: dict[str, Any] | None = None,
        name: str = "study",
        early_stopping: dict[str, Any] | None = None,
    ) -> None:
        from hyperstep.stores.sqlite import SQLiteStore

        spec = JobSpec.model_validate(  # a bad strategy option fails here, as strategy.options.<name>
            {
                "name": name,
                "objective": Objective(metric="objective", goal=goal),
                "parameters": space.parameters,
                "strategy": {"name": strategy, "seed": seed, "options": strategy_options or {}},
                "early_stopping": early_stopping,
            }
        )
        store = store if store is not None else SQLiteStore(":memory:")
        job_id = job_id or f"{name}-{uuid.uuid4().hex[:12]}"
        try:
            job = store.get_job(job_id)
        except NotFoundError:
            job = Job(id=job_id, spec=spec, created_at=store.clock(), seed=drawn_seed(spec))
            store.create_job(job)
        self._init(store, job)

    @classmethod
    def from_job(cls, store: TrialStore, job: Job) -> Study:
        """The study of a stored job (what the suggester and the CLI use)."""
        study = cls.__new__(cls)
        study._init(store, job)
        return study

    def _init(self, store: TrialStore, job: Job) -> None:
        self.store = store
        self.job_id = job.id
        self.spec = job.spec
        self.space = job.spec.space
        self.minimize = job.minimize
        self.parents = job.parents
        config = job.spec.strategy
        seed = job.strategy_seed
        self.seed = seed if seed is not None else int(np.random.SeedSequence().entropy % (2**31))
        """The job's seed; a job stored before seeds were kept draws one per study."""
        self.strategy: Strategy = make_strategy(config.name, config.options)
        self.scheduler: Scheduler = make_scheduler(job.spec.early_stopping, self.seed)

    @property
    def fidelity_levels(self) -> list[int] | None:
        """The rungs at which the strategy reads every trial's result (model-based early
        stopping), or None: it learns from completed trials only."""
        config = self.spec.early_stopping
        if config is None or not stopping.enabled(self.spec) or not config.model_based:
            return None
        return levels(config.min_resource, config.max_resource, config.reduction_factor)

    # ask / tell

    def ask(self, n: int = 1, max_trials: int | None = None, trials: Sequence[Trial] | None = None) -> list[Trial]:
        """Propose ``n`` new trials, spread out from each other and from those not yet told.

        With ``max_trials`` (the job's budget), fewer or none come back when the budget
        is used up; racing callers never overspend it together. ``trials`` are the job's
        trials when the caller has just read them (Suggest's ``TrialView``), else they are
        read from the store.
        """
        if n < 1:
            return []
        trials = self.store.list_trials(self.job_id) if trials is None else list(trials)
        history = history_of(
            self.space, [*self.prior_trials(), *trials], self.minimize, seed=self.seed, fidelity=self.fidelity_levels
        )
        rng = np.random.default_rng([self.seed, len(trials)])
        points = self.strategy.suggest(history, n, rng)
        if len(points) == 0:
            return []
        numbers = self.store.reserve_trials(self.job_id, len(points), max_trials)
        new = [
            Trial(
                job_id=self.job_id,
                id=trial_id(number),
                number=number,
                params=self.space.decode(x),
                created_at=self.store.clock(),
            )
            for number, x in zip(numbers, points)
        ]
        self.store.put_trials(new)
        return new

    def tell(
        self,
        trial_id: str,
        value: float | None,
        state: Literal["completed", "failed", "stopped"] | TrialState = "completed",
        metrics: dict[str, float] | None = None,
        error: str | None = None,
    ) -> Trial:
        """Record how a trial ended; a repeated tell of the same trial changes nothing.

        A completed trial needs a finite value; a non-finite one is recorded as failed.
        Non-finite ``metrics`` are dropped: no store can keep NaN or infinity.
        """
        state = TrialState(state)
        if state is TrialState.STOPPED and stopping.enabled(self.spec):
            trial = self.store.get_trial(self.job_id, trial_id)
            if trial.curve:  # stopped on the scheduler's word: pruned, with its curve and budget
                state = TrialState.PRUNED
                value = stopping.last_value(trial) if value is None or not math.isfinite(value) else value
        if metrics is not None:
            metrics = finite_metrics(metrics)
        if state is TrialState.COMPLETED:
            if value is None:
                raise ValueError("a completed trial needs a value; use state='failed' for none")
            if not math.isfinite(value):
                state, error, value = TrialState.FAILED, error or f"objective is not finite ({value})", None
        self.store.finish_trial(self.job_id, trial_id, state, value=value, metrics=metrics, error=error)
        return self.store.get_trial(self.job_id, trial_id)

    def report(self, trial_id: str, step: int, value: float) -> bool:
        """Record the trial's objective ``value`` at ``step`` and say whether it should stop
        now (True: stop it and ``tell`` it ``stopped``). Always False without early
        stopping, and at or past ``max_resource`` (the trial is complete: tell its value).
        A trial already told gets True: there is nothing to continue."""
        if not 0 <= step <= MAX_STEP:
            raise ValueError(f"step must be an integer from 0 to {MAX_STEP}, got {step}")
        if not math.isfinite(value):
            return stopping.enabled(self.spec)  # a diverged trial stops
        metric = self.spec.objective.metric
        report = {metric: MetricReport(value=value, step=step, at=self.store.clock())}
        trial = self.store.report_metrics(self.job_id, trial_id, report, curve_metric=metric)
        if trial is None:
            return True
        return stopping.should_stop(self.scheduler, trial, self.store.list_trials(self.job_id), self.minimize)

    def prior_trials(self) -> list[Trial]:
        """Completed trials of the parent jobs that fit this space (warm start)."""
        prior = []
        for parent in self.parents:
            for trial in self.store.list_trials(parent):
                if trial.state is TrialState.COMPLETED and self.space.contains(trial.params):
                    prior.append(trial)
        return prior

    # reading

    @property
    def trials(self) -> list[Trial]:
        """Every trial so far, by number."""
        return self.store.list_trials(self.job_id)

    @property
    def job(self) -> Job:
        return self.store.get_job(self.job_id)

    @property
    def best_trial(self) -> Trial | None:
        """The completed trial with the best value (None before any completes). With early
        stopping: the best trial that reached ``max_resource``, or, while none has, the
        best at the highest step reached (``early_stopping.best_trial``)."""
        if stopping.enabled(self.spec):
            assert self.spec.early_stopping is not None
            return stopping.best_trial(self.trials, self.minimize, self.spec.early_stopping.max_resource)
        best_id = self.job.best_trial_id
        return None if best_id is None else self.store.get_trial(self.job_id, best_id)


def history_of(
    space: SearchSpace,
    trials: Sequence[Trial],
    minimize: bool,
    seed: int = 0,
    fidelity: Sequence[int] | None = None,
) -> History:
    """What a strategy sees of these trials: completed ones with a finite value (as values
    to minimize), failed ones, and active ones (pending or running) as points to avoid.

    With ``fidelity`` (the rungs, ``max_resource`` last: model-based early stopping), every
    trial that is not failed and reached a rung is an observation, at the highest rung it
    reached, ranked onto the top rung's scale (``schedulers.fidelity.rung_observations``):
    pruned trials count, and running ones count instead of being points to avoid."""
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
        values = rung_observations(curves, finals, fidelity)
        done = [index[i] for i in sorted(values)]
        y = [values[i] for i in sorted(values)]
        pending = [t for t in pending if id(t) not in {id(d) for d in done}]
    return History(
        space=space,
        X=space.encode_many([t.params for t in done]),
        y=np.array(y, dtype=float),
        X_failed=space.encode_many([t.params for t in failed]),
        X_pending=space.encode_many([t.params for t in pending]),
        seed=seed,
    )
