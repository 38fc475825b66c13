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
from typing import Any

import pytest
from moto import mock_aws

from hyperstep.handlers import Telemetry, handle_reaper
from hyperstep.messages import LaunchRequest, SuggestRequest, TrialResult
from hyperstep.models import Job, JobStatus, Trial, TrialState
from hyperstep.service import PUBLISH_GRACE_SECONDS, TuningService
from hyperstep.spec import parse_spec
from hyperstep.stores.sqlite import SQLiteStore
from tests.conftest import Clock, spec_document
from tests.integration.moto_stores import store_under_moto
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


class SlowLogs(FakeBackend):
    """Every trial ended without its final report; reading its log (``recover_metrics``, a
    Batch job's CloudWatch stream read backwards, up to ``logs.MAX_LOG_PAGES`` pages of 1 MB)
    takes ``LOG_SECONDS`` of the clock and finds the objective."""

    def __init__(self, clock: Clock) -> None:
        super().__init__()
        self.clock = clock
        self.read: list[str] = []

    def recover_metrics(self, job: Job, trial: Trial) -> dict[str, float]:
        self.clock.now += LOG_SECONDS
        self.read.append(trial.id)
        return {"loss": 0.5}


LOG_SECONDS, TRIALS = 8.0, 10


def test_a_job_of_many_trials_to_read_from_their_logs_stops_at_the_time_limit() -> None:
    """One job's trials all ended awaiting their final reports: the pass read every trial's log
    however long that took (20 pages of 10,000 events each, 6.8-8.3 s for one trial under moto,
    ``benchmarks.aws_item_limits``), past the function's timeout, when only jobs were checked
    against ``until``. Now a pass starts no trial after it either, says how many it left, and
    the next passes, in a new order, read the rest."""
    random.seed(5)
    clock = Clock()
    service = TuningService(SQLiteStore(clock=clock), {"local": FakeBackend()}, clock=clock)
    job = service.create_job(parse_spec(spec_document(budget={"max_trials": TRIALS, "max_parallel": TRIALS})))
    for trial_id in service.suggest(SuggestRequest(job_id=job.id)).trial_ids:
        service.launch(LaunchRequest(job_id=job.id, trial_id=trial_id))
        service.store.await_result(job.id, trial_id)
    backend = service.backends["local"] = SlowLogs(clock)
    clock.now += 301
    counts = service.reap(grace_seconds=300, until=clock.now + PASS_SECONDS)
    assert len(backend.read) == 4 and counts["trials_left"] == TRIALS - 4  # at 0, 8, 16 and 24 s; none at 32 s
    while counts.get("trials_left"):
        counts = service.reap(grace_seconds=300, until=clock.now + PASS_SECONDS)
    assert sorted(backend.read) == sorted(t.id for t in service.store.list_trials(job.id))
    assert all(t.state is TrialState.COMPLETED for t in service.store.list_trials(job.id))


class SlowBus:
    """PutEvents taking ``PUBLISH_SECONDS`` of the clock for each event (throttled, retried)."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.published: list[str] = []

    def publish(self, detail_type: str, detail: dict[str, Any]) -> None:
        self.clock.now += PUBLISH_SECONDS
        self.published.append(detail["job_id"])


PUBLISH_SECONDS, LOST = 10.0, 7


@pytest.mark.parametrize("kind", ["sqlite", "dynamodb"])
def test_announcing_lost_events_stops_at_the_time_limit_and_reads_no_further(kind: str) -> None:
    """Many closers died before their publish (an EventBridge outage): the pass published
    every lost event however long that took, past the function's timeout (Lambda kills it
    mid-publish), since ``announce_lost`` never looked at ``until``, and read every job with a
    marker before publishing the first. Now it publishes none after ``until``, reads no job
    past the one it stopped at, says it left some, and the next passes publish the rest."""
    clock = Clock()
    with mock_aws():
        store = store_under_moto(kind)
        store.clock = clock
        bus = SlowBus(clock)
        service = TuningService(store, {"local": FakeBackend()}, publisher=bus, clock=clock)
        spec = parse_spec(spec_document())
        for number in range(LOST):
            service.create_job(spec, job_id=f"job-{number}")
            store.set_job_status(f"job-{number}", JobStatus.COMPLETED, expected=(JobStatus.RUNNING,))  # closer died
        clock.now += PUBLISH_GRACE_SECONDS + 1
        read, reads = store.get_job, []
        store.get_job = lambda job_id: reads.append(job_id) or read(job_id)  # type: ignore[method-assign]
        counts = service.reap(until=clock.now + PASS_SECONDS)
        # at 0 and 10 s; none at 20 s, past its share of the 25 s pass (ANNOUNCING_SHARE)
        assert counts["announced"] == 2 and counts["announcing_left"] == 1
        assert len(bus.published) == 2
        if kind == "dynamodb":  # a marker's job read at a time: the 3rd read, not published, and no more
            assert len(reads) == 3
        while counts.get("announcing_left"):
            counts = service.reap(until=clock.now + PASS_SECONDS)
        assert sorted(bus.published) == [f"job-{n}" for n in range(LOST)]
        assert "announced" not in service.reap(until=clock.now + PASS_SECONDS)


def test_passes_that_run_out_of_time_on_their_jobs_still_announce_lost_events() -> None:
    """Every pass runs out of time on the jobs (each trial's Describe takes 10 s, the pass
    25 s): with the lost events announced after the jobs, a pass cut short published none,
    pass after pass. Announced first, the one lost event goes out in the first pass."""
    service, clock = jobs_with_a_running_trial()
    service.backends["local"] = SlowRunning(clock)
    service.publisher = bus = SlowBus(clock)
    service.create_job(parse_spec(spec_document()), job_id="lost")
    service.store.set_job_status("lost", JobStatus.COMPLETED, expected=(JobStatus.RUNNING,))  # its closer died
    clock.now += PUBLISH_GRACE_SECONDS + 1
    counts = service.reap(until=clock.now + PASS_SECONDS)
    assert counts["left"] > 0 and counts["announced"] == 1 and bus.published == ["lost"]


class FailingSlowBus(SlowBus):
    """PutEvents throttled past the SDK's retries: ``PUBLISH_SECONDS`` of retries, then raising."""

    def publish(self, detail_type: str, detail: dict[str, Any]) -> None:
        self.clock.now += PUBLISH_SECONDS
        raise RuntimeError("EventBridge did not accept the event (ThrottlingException)")


def test_lost_events_failing_slowly_leave_the_pass_time_for_its_jobs() -> None:
    """EventBridge throttles every PutEvents past the SDK's retries (10 s each) and many lost
    events wait: announced first with the whole pass to publish them, they took all of it and
    the jobs none, and every pass the same, as long as the throttling lasts (an event that
    failed is still lost, and read again first). Announcing now stops at half the pass's time:
    the jobs have the rest."""
    service, clock = jobs_with_a_running_trial()
    service.publisher = FailingSlowBus(clock)
    for number in range(LOST):
        service.create_job(parse_spec(spec_document()), job_id=f"lost-{number}")
        service.store.set_job_status(f"lost-{number}", JobStatus.COMPLETED, expected=(JobStatus.RUNNING,))
    clock.now += PUBLISH_GRACE_SECONDS + 1
    with pytest.raises(RuntimeError, match="ThrottlingException"):
        service.reap(until=clock.now + PASS_SECONDS)
    assert len(ended(service)) == 1  # announcing at 0 and 10 s, half the 25 s gone at 20 s; a job from 20 s


def test_a_pass_with_no_time_left_announces_nothing_and_says_so() -> None:
    """A pass started at its deadline (``until`` now: the handler's remaining time spent
    already) publishes no lost event, and counts them left for the next pass."""
    clock = Clock()
    bus = SlowBus(clock)
    service = TuningService(SQLiteStore(clock=clock), {"local": FakeBackend()}, publisher=bus, clock=clock)
    service.create_job(parse_spec(spec_document()), job_id="lost")
    service.store.set_job_status("lost", JobStatus.COMPLETED, expected=(JobStatus.RUNNING,))  # its closer died
    clock.now += PUBLISH_GRACE_SECONDS + 1
    assert service.reap(until=clock.now) == {"jobs": 0, "recorded": 0, "timed_out": 0, "announcing_left": 1}
    assert bus.published == []
    assert service.reap(until=clock.now + PASS_SECONDS)["announced"] == 1 and bus.published == ["lost"]


class Said:
    """A handler's log keeping the level and message of each line."""

    def __init__(self) -> None:
        self.lines: list[tuple[str, str]] = []

    def append_keys(self, **keys: Any) -> None:
        pass

    def info(self, msg: str, *, extra: Any = None) -> None:
        self.lines.append(("info", msg))

    def warning(self, msg: str, *, extra: Any = None) -> None:
        self.lines.append(("warning", msg))

    def error(self, msg: str, *, extra: Any = None) -> None:
        self.lines.append(("error", msg))


def test_the_reaper_function_warns_of_a_pass_that_left_lost_events_for_the_next() -> None:
    """Lost events left unpublished for lack of time are a pass cut short, logged as a warning
    as jobs or trials left are (an operator's filter on it sees a backlog that does not drain)."""
    clock = Clock()
    service = TuningService(SQLiteStore(clock=clock), {"local": FakeBackend()}, publisher=SlowBus(clock), clock=clock)
    service.create_job(parse_spec(spec_document()), job_id="lost")
    service.store.set_job_status("lost", JobStatus.COMPLETED, expected=(JobStatus.RUNNING,))  # its closer died
    clock.now += PUBLISH_GRACE_SECONDS + 1
    log = Said()
    handle_reaper(service, {}, Telemetry(log=log), until=clock.now)
    assert log.lines == [("warning", "pass cut short: jobs or trials left for the next pass")]
