"""A recurring schedule's tick warm-starts from its earlier runs that are still stored."""

from __future__ import annotations

import pytest

from hyperstep.errors import ConflictError
from hyperstep.handlers import handle_start
from hyperstep.models import Job, JobStatus
from hyperstep.recurring import ScheduleInput, tick_job_id
from hyperstep.spec import parse_spec
from tests.conftest import spec_document
from tests.unit.test_recurring_parents import ALICE, BOB, service_with_parents


def test_a_tick_starts_when_an_earlier_runs_own_parent_is_gone_from_the_table() -> None:
    """Run 2 learned from run 1; the table's TTL (``RetentionDays``) removed run 1, the
    oldest. The next tick warm-started from run 2 and run 2's parents, run 1 among them:
    "warm_start.jobs: job 'nightly-1' not found", on every tick from then on."""
    service = service_with_parents()
    spec = spec_document(name="nightly", schedule="rate(1 day)")
    service.create_job(parse_spec(spec), job_id="nightly-1", owner=ALICE)
    service.store.set_job_status("nightly-1", JobStatus.COMPLETED)
    service.create_job(parse_spec(spec), job_id="nightly-2", parents=("nightly-1",), owner=ALICE)
    service.store.set_job_status("nightly-2", JobStatus.COMPLETED)
    service.store._conn.execute("DELETE FROM jobs WHERE id = 'nightly-1'")  # what the TTL does to it
    service.store.put_schedule_spec("nightly", ALICE, spec)
    started = handle_start(service, {"schedule_name": "nightly", "owner": ALICE})
    job = service.store.get_job(started["job_id"])
    assert job.status is JobStatus.RUNNING and job.parents == ("nightly-2",)


def test_a_tick_learns_from_the_last_run_and_its_stored_parents_at_most_five() -> None:
    service = service_with_parents()
    spec = spec_document(name="nightly", schedule="rate(1 day)")
    service.store.put_schedule_spec("nightly", ALICE, spec)
    started = []
    for _ in range(7):
        started.append(handle_start(service, {"schedule_name": "nightly", "owner": ALICE})["job_id"])
        service.store.set_job_status(started[-1], JobStatus.COMPLETED)
    parents = service.store.get_job(started[-1]).parents
    assert parents == tuple(reversed(started[1:6])), parents


def test_a_job_of_the_ticks_id_that_another_owner_holds_is_not_carried_on() -> None:
    """The tick's job id is made from the schedule and its time; a job of that id owned by
    another is none of this schedule's runs: the tick fails rather than start or return it."""
    service = service_with_parents()
    spec = spec_document(name="nightly", schedule="rate(1 day)")
    service.store.put_schedule_spec("nightly", ALICE, spec)
    tick = {"schedule_name": "nightly", "owner": ALICE, "scheduled_time": "2026-11-27T03:00:00Z"}
    job_id = tick_job_id("nightly", ScheduleInput.model_validate(tick), None)
    service.create_job(parse_spec(spec_document(name="nightly")), job_id=job_id, owner=BOB)
    with pytest.raises(ConflictError):
        handle_start(service, tick)
    assert service.store.get_job(job_id).execution_id is None


def test_a_delivery_racing_another_of_the_same_tick_carries_on_the_job_the_other_created() -> None:
    """Two deliveries of one tick at once: both read no job of the tick's id and no run going
    on; the other creates the job first, so this one's create finds it (``JobExistsError``)
    and carries it on, starting its execution once, rather than failing the tick."""
    service = service_with_parents()
    spec = spec_document(name="nightly", schedule="rate(1 day)")
    service.store.put_schedule_spec("nightly", ALICE, spec)
    tick = {"schedule_name": "nightly", "owner": ALICE, "scheduled_time": "2026-11-27T03:00:00Z"}
    create = service.store.create_job

    def other_delivery_first(job: Job) -> None:
        service.store.create_job = create
        create(job)  # the other delivery's create, between this one's reads and its write
        create(job)

    service.store.create_job = other_delivery_first
    started = handle_start(service, tick)
    assert started["job_id"] == tick_job_id("nightly", ScheduleInput.model_validate(tick), None)
    assert started["execution_id"] is not None and len(service.orchestrator.started) == 1
