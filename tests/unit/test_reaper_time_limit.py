"""The reaper's pass ends before its Lambda timeout and reaches every job over passes.

A pass reads each running trial of every unfinished job and asks its platform (a ``GetItem``
and a ``Describe`` a trial, measured under moto: 2.03 calls a running trial). Past what fits
in the function's 300 s, Lambda killed the pass part way, and as the jobs came in the same
order each pass (the ``UNFINISHED`` partition's, by id), the jobs after that point were never
reconciled nor woken by it, pass after pass. Now a pass stops starting jobs at ``until``
(the handler's remaining time less a margin), says how many it left, and takes the jobs in a
new random order each pass, so every job is reached within a few passes.
"""

from __future__ import annotations

import random

from hyperstep.messages import LaunchRequest, SuggestRequest, TrialResult
from hyperstep.models import Job, Trial, TrialState
from hyperstep.service import TuningService
from hyperstep.spec import parse_spec
from hyperstep.stores.sqlite import SQLiteStore
from tests.conftest import Clock, spec_document
from tests.unit.test_service import FakeBackend

JOBS, PASS_SECONDS, DESCRIBE_SECONDS = 6, 25.0, 10.0


class SlowEnded(FakeBackend):
    """Every trial's training has ended; each Describe takes ``DESCRIBE_SECONDS`` of the clock."""

    def __init__(self, clock: Clock) -> None:
        super().__init__()
        self.clock = clock

    def describe(self, job: Job, trial: Trial) -> TrialResult | None:
        self.clock.now += DESCRIBE_SECONDS
        return TrialResult(job_id=job.id, trial_id=trial.id, state="completed", metrics={"loss": 0.5})


def jobs_with_a_running_trial() -> tuple[TuningService, Clock]:
    clock = Clock()
    service = TuningService(SQLiteStore(clock=clock), {"local": FakeBackend()}, clock=clock)
    spec = parse_spec(spec_document(budget={"max_trials": 1, "max_parallel": 1}))
    for number in range(JOBS):
        job = service.create_job(spec, job_id=f"job-{number}")
        (trial_id,) = service.suggest(SuggestRequest(job_id=job.id)).trial_ids
        service.launch(LaunchRequest(job_id=job.id, trial_id=trial_id))
    service.backends["local"] = SlowEnded(clock)
    return service, clock


def ended(service: TuningService) -> list[str]:
    return [f"job-{n}" for n in range(JOBS) if service.store.list_trials(f"job-{n}")[0].state is TrialState.COMPLETED]


def test_a_pass_stops_starting_jobs_at_its_time_limit_and_says_how_many_it_left() -> None:
    service, clock = jobs_with_a_running_trial()
    counts = service.reap(until=clock.now + PASS_SECONDS)
    reaped = len(ended(service))
    assert reaped == 3  # started at 0, 10 and 20 s; none at 30 s
    assert counts["jobs"] == reaped and counts["left"] == JOBS - reaped


class SlowRunning(SlowEnded):
    """Every trial still trains (each pass finds all of them running); notes whose it described."""

    def __init__(self, clock: Clock) -> None:
        super().__init__(clock)
        self.described: set[str] = set()

    def describe(self, job: Job, trial: Trial) -> TrialResult | None:
        super().describe(job, trial)
        self.described.add(job.id)
        return None


def test_passes_cut_short_reach_every_job() -> None:
    """The pass used to take the jobs in the store's order: with every trial still running,
    each pass ran out of time at the same job, and job-3 to job-5 were never reached."""
    random.seed(3)
    service, clock = jobs_with_a_running_trial()
    backend = service.backends["local"] = SlowRunning(clock)
    for _ in range(6):
        service.reap(until=clock.now + PASS_SECONDS)
    assert backend.described == {f"job-{n}" for n in range(JOBS)}


def test_without_a_limit_a_pass_reaps_every_job() -> None:
    service, _ = jobs_with_a_running_trial()
    assert "left" not in service.reap() and len(ended(service)) == JOBS
