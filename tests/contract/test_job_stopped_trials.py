"""A running trial its job's own rule stopped, not its scheduler, on every store (stop-23).

With early stopping on, a "stopped" end of a trial with a curve while the job runs ends it
pruned (``early_stopping.pruned_when_stopped``), whoever stopped it. One the job stopped
(``budget.target`` reached, more than ``max_failed_trials`` failed, its deadline, its Finish)
said ``stopped early by asha at step 2`` and counted in the trials stopped early and the steps
saved (``views.steps_saved``: ``{'pruned': 1, 'steps': 2, 'steps_saved': 7}``). The job notes
why on the trial when its round stops it (``TrialStore.note_stop``), so the end says so and
counts in neither; its state, budget and curve stay what they were (schedulers read it as
before)."""

from __future__ import annotations

from typing import Any

import pytest

from hyperstep.messages import FinishRequest, LaunchRequest, SuggestRequest, TrialResult
from hyperstep.models import Job, JobStatus, StopReason, Trial, TrialState
from hyperstep.service import TuningService
from hyperstep.spec import parse_spec
from hyperstep.stores.base import TrialStore
from hyperstep.study import Study
from hyperstep.views import saved_text, steps_saved
from tests.conftest import Clock, spec_document
from tests.unit.test_service import FakeBackend, FakeOrchestrator

ASHA = {"name": "asha", "min_resource": 1, "max_resource": 9, "reduction_factor": 3, "curve_model": False}


class EndsAtOnce(FakeBackend):
    """A backend whose stop's "stopped" end is collected at once (a killed local process, or
    an AWS stop event collected while the call that stopped it is still on its way)."""

    def __init__(self) -> None:
        super().__init__()
        self.service: TuningService | None = None

    def stop(self, job: Job, trial: Trial) -> None:
        super().stop(job, trial)
        if self.service is not None:  # None: the end is still on its way (an AWS stop event)
            self.service.collect(TrialResult(job_id=job.id, trial_id=trial.id, state="stopped"))


def running_two(
    store: TrialStore, clock: Clock, at_once: bool = True, **budget: Any
) -> tuple[TuningService, EndsAtOnce]:
    """A job with ASHA, two trials launched; t0002 reported steps 1 and 2 (no rung passed);
    ``at_once`` False: a stop's end is not collected."""
    backend = EndsAtOnce()
    service = TuningService(store, {"local": backend}, FakeOrchestrator())
    if at_once:
        backend.service = service
    spec = parse_spec(spec_document(early_stopping=ASHA, budget={"max_trials": 6, "max_parallel": 2, **budget}))
    job = service.submit(spec, job_id="job")
    for trial in Study.from_job(store, job).ask(2):
        service.launch(LaunchRequest(job_id=job.id, trial_id=trial.id))
    service.report_metrics("job", "t0002", {"loss": 0.9}, step=1)
    service.report_metrics("job", "t0002", {"loss": 0.8}, step=2)
    return service, backend


def end_t0001(service: TuningService, clock: Clock, rule: str) -> None:
    """What makes the job's rule hold: t0001 reaching the target, failing, or the deadline."""
    if rule == "target":
        service.collect(TrialResult(job_id="job", trial_id="t0001", state="completed", metrics={"loss": 0.1}))
    elif rule == "failures":
        service.collect(TrialResult(job_id="job", trial_id="t0001", state="failed", error="exit 1"))
    else:
        clock.now += 60


RULES = {
    "target": ({"target": 0.2}, "target 0.2 reached"),
    "failures": ({"max_failed_trials": 0}, "more than max_failed_trials (0) failed"),
    "deadline": ({"max_runtime_seconds": 60}, "max_runtime_seconds 60 reached"),
}
"""Per rule: the job's budget, and the rule's words (``completion.budget_stop``)."""
USED = {"target": 2, "failures": 2, "deadline": 1}
"""Per rule, the budget used once t0002 ended: at the deadline t0001, with no curve, is
stopped too, and gives its unit back (the user's stop, as before)."""


@pytest.mark.parametrize("rule", list(RULES))
def test_a_trial_the_job_s_rule_stops_says_so_and_saved_no_steps(store: TrialStore, clock: Clock, rule: str) -> None:
    budget, detail = RULES[rule]
    service, backend = running_two(store, clock, **budget)
    end_t0001(service, clock, rule)
    service.suggest(SuggestRequest(job_id="job"))  # the round: the rule holds, running trials stop
    assert backend.stopped[-1] == "t0002"
    cut = store.get_trial("job", "t0002")
    assert (cut.state, cut.error) == (TrialState.PRUNED, f"stopped by the job ({detail}) at step 2")
    assert (cut.value, cut.curve) == (0.8, {1: 0.9, 2: 0.8})  # as early stopping's pruned trials keep theirs
    job = store.get_job("job")
    assert (job.budget_used, job.pruned) == (USED[rule], 1)  # counted once, its unit of budget kept
    saved = steps_saved(job, store.list_trials("job"))
    assert saved == {"pruned": 0, "steps": 2, "steps_saved": 0}
    assert saved_text(saved).startswith("0 trials stopped early")


@pytest.mark.parametrize("rule", list(RULES))
def test_an_end_that_comes_before_the_round_still_names_the_job_s_rule(
    store: TrialStore, clock: Clock, rule: str
) -> None:
    """The rev-p23 reproduction: the rule holds and t0002's "stopped" end is collected before
    any round noted why (nothing else stops running trials then, and the rule holds from
    then on): the rule that holds names it."""
    budget, detail = RULES[rule]
    service, _ = running_two(store, clock, **budget)
    end_t0001(service, clock, rule)
    assert service.collect(TrialResult(job_id="job", trial_id="t0002", state="stopped"))
    cut = store.get_trial("job", "t0002")
    assert (cut.state, cut.error) == (TrialState.PRUNED, f"stopped by the job ({detail}) at step 2")
    assert steps_saved(store.get_job("job"), store.list_trials("job"))["pruned"] == 0


def test_a_trial_its_job_s_finish_stops_while_the_job_runs_is_not_stopped_early(
    store: TrialStore, clock: Clock
) -> None:
    """Finish winds the running trials down before it closes the job (its loop broke off):
    an end collected in between finds the job running, and ends the trial pruned; no budget
    rule holds, so only the note says the job stopped it."""
    service, _ = running_two(store, clock)
    service.finish(FinishRequest(job_id="job", error={"Error": "States.TaskFailed", "Cause": "boom"}))
    cut = store.get_trial("job", "t0002")
    assert (cut.state, cut.error) == (TrialState.PRUNED, "stopped by the job (finishing) at step 2")
    assert steps_saved(store.get_job("job"), store.list_trials("job"))["pruned"] == 0


def test_early_stopping_s_own_stop_still_counts(store: TrialStore, clock: Clock) -> None:
    """A target not reached: t0002, behind t0001 at rung 3, is asha's to stop."""
    service, backend = running_two(store, clock, target=0.01)
    for step in (1, 2, 3):
        service.report_metrics("job", "t0001", {"loss": 0.1}, step=step)
    service.report_metrics("job", "t0002", {"loss": 0.95}, step=3)
    assert backend.stopped == ["t0002"]
    pruned = store.get_trial("job", "t0002")
    assert (pruned.state, pruned.error) == (TrialState.PRUNED, "stopped early by asha at step 3")
    assert steps_saved(store.get_job("job"), store.list_trials("job"))["pruned"] == 1


def test_the_user_s_stop_gives_the_budget_back_and_saved_no_steps(store: TrialStore, clock: Clock) -> None:
    """``hyperstep stop``: the job is stopping before its trials are, so their ends are the
    user's stops (budget given back), not prunes."""
    service, backend = running_two(store, clock)
    service.stop("job")
    assert sorted(backend.stopped) == ["t0001", "t0002"]
    trials = store.list_trials("job")
    assert [t.state for t in trials] == [TrialState.STOPPED, TrialState.STOPPED]
    job = store.get_job("job")
    assert (job.budget_used, job.pruned) == (0, 0)
    assert steps_saved(job, trials) == {"pruned": 0, "steps": 2, "steps_saved": 0}


def ahead_at_rung_3(service: TuningService) -> None:
    """t0001 reports steps 1-3 at 0.1 and completes with it: t0002 at 0.95 by step 3 is
    behind it at asha's rung 3, and 0.1 reaches a target of 0.2."""
    for step in (1, 2, 3):
        service.report_metrics("job", "t0001", {"loss": 0.1}, step=step)
    service.collect(TrialResult(job_id="job", trial_id="t0001", state="completed", metrics={"loss": 0.1}))


def test_a_scheduler_s_stop_landing_after_the_job_s_keeps_the_job_s_reason(store: TrialStore, clock: Clock) -> None:
    """rev-t23: on AWS the stopped end comes later by event; asha judging a report that
    arrives meanwhile (``stop_early``) records the trial pruned itself, and the job's note
    stays its reason (it was stopping already), not ``stopped early by asha``."""
    service, backend = running_two(store, clock, at_once=False, target=0.2)
    ahead_at_rung_3(service)
    service.suggest(SuggestRequest(job_id="job"))
    noted = store.get_trial("job", "t0002")
    assert (noted.state, noted.error) == (TrialState.RUNNING, "stopped by the job (target 0.2 reached)")
    service.report_metrics("job", "t0002", {"loss": 0.95}, step=3)
    assert backend.stopped == ["t0002", "t0002"]  # the round's stop, then asha's
    cut = store.get_trial("job", "t0002")
    assert (cut.state, cut.error) == (TrialState.PRUNED, "stopped by the job (target 0.2 reached) at step 3")
    assert steps_saved(store.get_job("job"), store.list_trials("job"))["pruned"] == 0


@pytest.mark.parametrize("rule", sorted(RULES))
def test_a_draining_job_still_stops_its_running_trials_at_a_budget_rule(
    store: TrialStore, clock: Clock, rule: str
) -> None:
    """rev-t23: once a rule that lets running trials finish was recorded (``no_improvement``),
    ``stop_rule`` answered it before the budget's rules, so a running trial was never stopped
    at the deadline, the target or ``max_failed_trials`` (on AWS: billed past the time budget).
    The budget's rules come first: the round stops it, noted as the job's."""
    budget, words = RULES[rule]
    service, backend = running_two(store, clock, at_once=False, **budget)
    store.set_job_status(
        "job", JobStatus.RUNNING, expected=(JobStatus.RUNNING,), stop_reason=StopReason.NO_IMPROVEMENT, stop_detail="x"
    )
    end_t0001(service, clock, rule)
    service.suggest(SuggestRequest(job_id="job"))
    assert "t0002" in backend.stopped
    assert store.get_trial("job", "t0002").error == f"stopped by the job ({words})"


def test_a_trial_the_user_stops_says_so_while_it_runs(store: TrialStore, clock: Clock) -> None:
    """rev-t23: until its end comes, a trial ``hyperstep stop`` stopped shows why as its
    error (the API's and ``trials``' view); its "stopped" end, the user's, replaces it."""
    service, _ = running_two(store, clock, at_once=False)
    service.stop("job")
    assert [t.error for t in store.list_trials("job")] == ["stopped by the job (job is stopping)"] * 2
    service.collect(TrialResult(job_id="job", trial_id="t0002", state="stopped"))
    ended = store.get_trial("job", "t0002")
    assert (ended.state, ended.error) == (TrialState.STOPPED, None)
