"""A recurring schedule's tick learns only from warm-start parents it still may and can.

The API checks a recurring spec's ``warm_start.jobs`` when the schedule is made (each one
exists and is the caller's). The schedule runs on for months; a parent does not: the
table's TTL (``RetentionDays``) removes it, and every tick then failed ("job not found")
and Scheduler dropped it, so the schedule never started a job again. A spec kept in a
schedule made before specs moved to the store travels in the schedule's input, which
Scheduler lets anyone allowed ``UpdateSchedule`` edit. A tick now leaves out a parent that
is gone or another owner's, and starts its job.
"""

from __future__ import annotations

from typing import Any

from hyperstep.errors import NotFoundError
from hyperstep.handlers import handle_start
from hyperstep.job_pages import PAGE
from hyperstep.models import Job, JobStatus, Trial, TrialState
from hyperstep.recurring import LOOKBACK_JOBS, previous_runs
from hyperstep.service import TuningService
from hyperstep.spec import parse_spec
from hyperstep.stores.base import JobPlace
from hyperstep.stores.sqlite import SQLiteStore
from tests.conftest import spec_document
from tests.unit.test_service import FakeBackend, FakeOrchestrator

ALICE, BOB = "arn:aws:iam::123456789012:user/alice", "arn:aws:iam::123456789012:user/bob"


def service_with_parents() -> TuningService:
    """Alice's finished job ``alice-old`` and Bob's ``bob-old``."""
    service = TuningService(SQLiteStore(), {"local": FakeBackend()}, FakeOrchestrator())
    for job_id, owner in (("alice-old", ALICE), ("bob-old", BOB)):
        service.create_job(parse_spec(spec_document(name="old")), job_id=job_id, owner=owner)
        service.store.set_job_status(job_id, JobStatus.COMPLETED)
    return service


def nightly(*parents: str) -> dict[str, Any]:
    return spec_document(name="nightly", schedule="rate(1 day)", warm_start={"jobs": list(parents)})


def test_a_tick_leaves_out_a_parent_gone_from_the_table_and_starts_its_job() -> None:
    service = service_with_parents()
    service.store.put_schedule_spec("nightly", ALICE, nightly("alice-old", "alice-expired"))
    started = handle_start(service, {"schedule_name": "nightly", "owner": ALICE})
    job = service.store.get_job(started["job_id"])
    assert job.status is JobStatus.RUNNING and job.owner == ALICE
    assert job.parents == ("alice-old",)


def test_a_tick_never_learns_from_another_owners_job() -> None:
    service = service_with_parents()
    legacy = {"schedule_name": "nightly", "owner": ALICE, "spec": nightly("bob-old", "alice-old")}
    started = handle_start(service, legacy)
    assert service.store.get_job(started["job_id"]).parents == ("alice-old",)


def test_a_tick_leaves_out_parents_that_optimized_another_metric_and_starts_its_job() -> None:
    """A submit now refuses a parent of another objective (its values would be read as this
    job's); a schedule whose spec changed its objective must not fail every tick for it:
    its named parent and its earlier runs of the old objective are left out."""
    service = service_with_parents()
    old = spec_document(name="nightly", schedule="rate(1 day)")
    service.create_job(parse_spec(old), job_id="nightly-1", owner=ALICE)
    service.store.set_job_status("nightly-1", JobStatus.COMPLETED)
    changed = nightly("alice-old")
    changed["objective"] = {"metric": "acc", "goal": "maximize"}
    changed["trial"]["metric_definitions"] = [{"name": "acc", "regex": "acc=([0-9.]+)"}]
    service.store.put_schedule_spec("nightly", ALICE, changed)
    started = handle_start(service, {"schedule_name": "nightly", "owner": ALICE})
    job = service.store.get_job(started["job_id"])
    assert job.status is JobStatus.RUNNING and job.parents == ()


DAILY = spec_document(name="nightly", schedule="rate(1 day)")


def many_newer_jobs(service: TuningService, count: int, after: float) -> None:
    """``count`` other jobs of Alice's, each made after ``after``."""
    other = parse_spec(spec_document(name="other"))
    for n in range(count):
        service.store.create_job(Job(id=f"other-{n}", spec=other, created_at=after + 1 + n, owner=ALICE))


def nightly_run(service: TuningService, job_id: str, status: JobStatus, parents: tuple[str, ...] = ()) -> float:
    """A run of Alice's ``nightly`` schedule with ``status``; its creation time."""
    job = service.create_job(parse_spec(DAILY), job_id=job_id, parents=parents, owner=ALICE)
    service.store.set_job_status(job_id, status)
    return job.created_at


def test_a_tick_learns_from_its_previous_run_however_many_jobs_the_owner_made_since() -> None:
    """``previous_runs`` read only the owner's newest 1,000 jobs: a run older than those was
    never found, and the tick started cold."""
    service = service_with_parents()
    service.store.put_schedule_spec("nightly", ALICE, DAILY)
    nightly_run(service, "nightly-0", JobStatus.COMPLETED)
    latest = nightly_run(service, "nightly-1", JobStatus.COMPLETED, parents=("nightly-0",))
    many_newer_jobs(service, 1001, after=latest)
    started = handle_start(service, {"schedule_name": "nightly", "owner": ALICE})
    assert service.store.get_job(started["job_id"]).parents == ("nightly-1", "nightly-0")


def test_a_tick_is_skipped_while_its_previous_run_goes_on_however_many_jobs_the_owner_made_since() -> None:
    service = service_with_parents()
    service.store.put_schedule_spec("nightly", ALICE, DAILY)
    many_newer_jobs(service, 1001, after=nightly_run(service, "nightly-1", JobStatus.RUNNING))
    assert handle_start(service, {"schedule_name": "nightly", "owner": ALICE}) == {
        "skipped": "the previous run is still going"
    }


def test_a_tick_carries_on_only_the_earlier_runs_among_its_previous_runs_parents() -> None:
    """The previous run learned from a job its spec named (``alice-old``, since dropped from
    the spec) and from the run before it: the tick takes the runs, not the other job."""
    service = service_with_parents()
    service.store.put_schedule_spec("nightly", ALICE, DAILY)
    nightly_run(service, "nightly-0", JobStatus.COMPLETED)
    nightly_run(service, "nightly-1", JobStatus.COMPLETED, parents=("alice-old", "nightly-0"))
    assert service.store.get_job("nightly-1").parents == ("alice-old", "nightly-0")
    started = handle_start(service, {"schedule_name": "nightly", "owner": ALICE})
    assert service.store.get_job(started["job_id"]).parents == ("nightly-1", "nightly-0")


class EndlessOwner(SQLiteStore):
    """An owner with more jobs than any tick should read: every page is full, none a run."""

    def __init__(self) -> None:
        super().__init__()
        self.pages = 0
        self.other = parse_spec(spec_document(name="other"))

    def list_jobs(self, limit: int = 100, owner: str | None = None, after: JobPlace | None = None) -> list[Job]:
        self.pages += 1
        if self.pages > 100:
            raise AssertionError("previous_runs pages through every job of its owner")
        start = self.pages * limit
        return [Job(id=f"other-{n}", spec=self.other, created_at=-n, owner=owner) for n in range(start, start + limit)]


def test_a_schedule_with_no_completed_run_reads_a_bounded_number_of_its_owners_jobs() -> None:
    """Before, a tick of a schedule with no completed run read every job its owner had, each tick."""
    store = EndlessOwner()
    assert list(previous_runs(store, parse_spec(DAILY), ALICE)) == []
    assert store.pages == LOOKBACK_JOBS // PAGE


def test_a_tick_leaves_out_a_parent_whose_ended_trials_no_longer_fit_and_starts_its_job() -> None:
    """A parent that ran ``x`` as a float, this schedule's spec tuning it as an int, is taken
    while it has no ended trial (``warm_start.check_parent``); once its trials ended, none at
    a whole number, a submit refuses it. A tick refused it too, skipping every run of the
    schedule for good; it is left out, as a parent of another objective is."""
    service = service_with_parents()
    parent = service.store.get_job("alice-old")
    ran = {"x": 0.5, "n": 2, "kind": "a"}
    service.store.put_trials(
        [Trial(job_id=parent.id, id="t0001", number=1, params=ran, state=TrialState.COMPLETED, value=1.0)]
    )
    as_int = nightly("alice-old")
    as_int["parameters"][0] = {"name": "x", "type": "int", "low": -1, "high": 1}
    service.store.put_schedule_spec("nightly", ALICE, as_int)
    started = handle_start(service, {"schedule_name": "nightly", "owner": ALICE})
    assert "skipped" not in started, started
    job = service.store.get_job(started["job_id"])
    assert job.status is JobStatus.RUNNING and job.parents == ()


class Expiring(SQLiteStore):
    """A store whose TTL removes the jobs in ``gone`` between a tick's listing of its
    schedule's runs (``list_jobs``, which still holds them) and its reading of each."""

    def __init__(self) -> None:
        super().__init__()
        self.gone: set[str] = set()

    def get_job(self, job_id: str) -> Job:
        if job_id in self.gone:
            raise NotFoundError(f"job {job_id!r} not found")
        return super().get_job(job_id)


def test_a_tick_whose_previous_run_expires_as_it_starts_still_starts_its_job() -> None:
    """The tick listed ``nightly-1`` (completed) as the run to learn from, and the table's TTL
    removed it before the new job was made: the submit said "warm_start.jobs: job
    'nightly-1' not found", a SpecError, so the tick was skipped (and, every retry finding the
    same, for good). The run gone is left out; the job starts."""
    service = TuningService(Expiring(), {"local": FakeBackend()}, FakeOrchestrator())
    service.create_job(parse_spec(DAILY), job_id="nightly-1", owner=ALICE)
    service.store.set_job_status("nightly-1", JobStatus.COMPLETED)
    service.store.put_schedule_spec("nightly", ALICE, DAILY)
    service.store.gone.add("nightly-1")
    started = handle_start(service, {"schedule_name": "nightly", "owner": ALICE})
    job = service.store.get_job(started["job_id"])
    assert job.status is JobStatus.RUNNING and job.parents == ()
