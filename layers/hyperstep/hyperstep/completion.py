"""When a job stops starting trials, and why: the completion rules, as SageMaker AMT has them.

Suggest asks ``stop_rule`` every round (and Wait's progress after every result); Finish
records the final ``StopReason`` with ``final_stop``. The rules, in the order they are checked:

- the user stopped the job (``stopped_by_user``);
- a trial reached ``budget.target`` (``target_reached``, AMT's ``TargetObjectiveMetricValue``);
- ``budget.max_runtime_seconds`` passed since the job was created (``max_runtime``);
- more than ``budget.max_failed_trials`` failed (``max_failed_trials``);
- ``budget.max_failed_before_success`` trials (5 by default; at least ``max_parallel``)
  failed while none completed or was pruned (``no_trial_succeeded``, AMT's "No training
  job succeeded after 5 attempts");
- the best value has not improved over the last ``budget.no_improvement_trials`` completed
  trials (``no_improvement``, AMT's ``BestObjectiveNotImproving``; the best is the job's, of
  the trials that meet its constraints);
- with ``budget.stop_on_convergence``, the Bayesian model expected almost nothing more
  (largest expected improvement below ``CONVERGED_EI``) for each of the last few trials
  it proposed (``converged``, AMT's ``ConvergenceDetected``).

The first four stop running trials too (what the user or the budget asks for); the last
three only start no new one and let running trials finish (their results are nearly paid
for; in a job where none succeeded yet, a running one may be the first that does). Such a
stop is recorded on the job the first time Suggest sees it and holds from then on, even if
a trial that was still running improves the best; the first four still stop the trials it
lets run, when they come to hold (a job draining past its deadline would bill on). Without
any rule firing, a job ends when its ``max_trials`` are used (``max_trials``) or its
strategy has nothing left to propose (``search_space_exhausted``, a finished grid).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from hyperstep.models import Job, JobStatus, StopReason, Trial, TrialState

if TYPE_CHECKING:
    from hyperstep.trial_view import Snapshot

CONVERGED_EI = 1e-3
"""The largest expected improvement (in standard deviations of the warped objective values
the model sees) below which a proposal counts as converged."""
CONVERGED_PROPOSALS = 3
"""How many proposals in a row (at least ``max_parallel``, so a whole batch) must be converged."""
DRAINING = (StopReason.NO_TRIAL_SUCCEEDED, StopReason.NO_IMPROVEMENT, StopReason.CONVERGED)
"""Rules that let running trials finish, and hold once recorded."""


@dataclass(frozen=True)
class Stop:
    """A rule that fired: its reason, in words, and whether running trials stop too."""

    reason: StopReason
    detail: str

    @property
    def stops_running(self) -> bool:
        return self.reason not in DRAINING


STOPPED_BY_JOB = "stopped by the job"
"""How the reason of a trial its job's rule stopped begins (``stopped_by_job``)."""


def stop_note(detail: str) -> str:
    """What a running trial a completion rule stops keeps as its reason (``detail``: the
    rule's, as ``Stop.detail`` words it), so its end is not taken for early stopping's."""
    return f"{STOPPED_BY_JOB} ({detail})"


def stopped_by_job(trial: Trial) -> bool:
    """Whether the trial's reason says its job stopped it (``stop_note``): a completion rule,
    the user, its job finishing, not the job's scheduler."""
    return (trial.error or "").startswith(STOPPED_BY_JOB)


def stop_rule(job: Job, trials: Snapshot, now: float) -> Stop | None:
    """The first completion rule (module docstring) that holds for the job now, or None.
    ``trials``: the job's, as Suggest's ``TrialView`` keeps them (the rules read its running
    totals and its latest trials, not every trial: ``hyperstep.ended_totals``)."""
    budget = job.spec.budget
    if job.status is not JobStatus.RUNNING:
        return Stop(StopReason.STOPPED_BY_USER, f"job is {job.status.value}")
    if (stop := budget_stop(job, now)) is not None:  # also over a draining rule: running trials stop
        return stop
    if job.stop_reason in DRAINING:
        return Stop(job.stop_reason, job.stop_detail or job.stop_reason.value)
    if (failed := failed_before_success(job)) is not None:
        return Stop(
            StopReason.NO_TRIAL_SUCCEEDED, f"{failed} trials failed before any succeeded (max_failed_before_success)"
        )
    if budget.no_improvement_trials is not None:
        since = completed_since_best(job, trials)
        if since >= budget.no_improvement_trials:
            return Stop(StopReason.NO_IMPROVEMENT, f"no improvement in the last {since} completed trials")
    proposals = max(CONVERGED_PROPOSALS, budget.max_parallel)
    if budget.stop_on_convergence and converged(trials.latest(proposals), proposals):
        return Stop(
            StopReason.CONVERGED, f"converged: the model expects no meaningful improvement (EI < {CONVERGED_EI:g})"
        )
    return None


def completed_since_best(job: Job, trials: Snapshot) -> int:
    """How many trials completed after the job's best: the first completed trial to reach
    the best value of those that meet the constraints (``Job.beats_best``; one that breaks a
    constraint is never the best, however good its value). 0 without a best, or before the
    snapshot holds it completed (read before its end: no end time to count from)."""
    best = trials.trials.get(job.best_trial_id) if job.best_trial_id is not None else None
    if best is None or best.state is not TrialState.COMPLETED:
        return 0
    return trials.totals.completed_after(best)


def failed_before_success(job: Job) -> int | None:
    """How many trials failed, when ``budget.max_failed_before_success`` of them (at least
    ``max_parallel``) failed while none completed or was pruned; else None."""
    budget = job.spec.budget
    if budget.max_failed_before_success is None or job.completed or job.pruned:
        return None
    return job.failed if job.failed >= max(budget.max_failed_before_success, budget.max_parallel) else None


def deadline(job: Job) -> float | None:
    """When the job's time budget (``budget.max_runtime_seconds`` from its creation) runs
    out, on the clock the job was stamped with; None without one. The runtimes wake the job
    then (``hyperstep.local``), so its running trials stop at the deadline."""
    limit = job.spec.budget.max_runtime_seconds
    return None if limit is None else job.created_at + limit


def budget_stop(job: Job, now: float) -> Stop | None:
    """The first of the budget's rules that stop running trials too (``target``,
    ``max_runtime_seconds``, ``max_failed_trials``) that holds for the job now, or None.
    None reads the trials, and once one holds it holds from then on."""
    budget = job.spec.budget
    if budget.target is not None and job.best_value is not None and not job.better(budget.target, job.best_value):
        return Stop(StopReason.TARGET_REACHED, f"target {budget.target:g} reached")
    if (end := deadline(job)) is not None and now >= end:
        return Stop(StopReason.MAX_RUNTIME, f"max_runtime_seconds {budget.max_runtime_seconds:g} reached")
    if budget.max_failed_trials is not None and job.failed > budget.max_failed_trials:
        return Stop(StopReason.MAX_FAILED_TRIALS, f"more than max_failed_trials ({budget.max_failed_trials}) failed")
    return None


def converged(trials: Sequence[Trial], proposals: int) -> bool:
    """Whether each of the last ``proposals`` trials (by number) was proposed by a model
    that expected less than ``CONVERGED_EI`` of improvement anywhere."""
    last = sorted(trials, key=lambda t: t.number)[-proposals:]
    return len(last) == proposals and all(
        t.expected_improvement is not None and t.expected_improvement < CONVERGED_EI for t in last
    )


def final_stop(
    job: Job, trials: Snapshot, now: float, error: str | None, budget_left: int | None, cost: Stop | None = None
) -> Stop:
    """Why a job that is finishing stopped: an error, a rule, its trial budget used up, its
    dollar budget (``cost``: the caller prices it) used up, or nothing left to propose."""
    if error is not None:
        return Stop(StopReason.FAILED, error)
    if job.status in (JobStatus.STOPPING, JobStatus.STOPPED):
        return Stop(StopReason.STOPPED_BY_USER, "stopped by the user")
    rule = stop_rule(job, trials, now)
    if rule is not None:
        return rule
    if budget_left is not None and budget_left <= 0:  # below 0: max_trials lowered under what ran
        most = job.spec.budget.max_trials
        lowered = f": {most - budget_left} trials count (it was lowered below those started)" if budget_left else ""
        return Stop(StopReason.MAX_TRIALS, f"max_trials {most} used{lowered}")
    if cost is not None:
        return cost
    return Stop(StopReason.SEARCH_SPACE_EXHAUSTED, "the strategy has nothing new to propose")
