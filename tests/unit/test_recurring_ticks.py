"""A recurring schedule's tick warm-starts from its earlier runs that are still stored."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from hyperstep.errors import ConflictError, SpecError
from hyperstep.handlers import Telemetry, handle_start
from hyperstep.models import Job, JobStatus
from hyperstep.recurring import ScheduleInput, tick_job_id
from hyperstep.service import TuningService
from hyperstep.spec import parse_spec
from hyperstep.stores.sqlite import SQLiteStore
from tests.conftest import spec_document
from tests.unit.test_api import sagemaker_spec
from tests.unit.test_recurring_parents import ALICE, BOB, service_with_parents
from tests.unit.test_service import FakeBackend, FakeOrchestrator


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


class Recorded:
    """A ``handlers.Telemetry``'s log and meter in one: the lines logged and the metrics added."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.metrics: dict[str, float] = {}

    def append_keys(self, **keys: Any) -> None:
        return None

    def info(self, msg: str, *, extra: Mapping[str, Any] | None = None) -> None:
        self.lines.append(msg)

    error = info

    def add_dimension(self, name: str, value: str) -> None:
        return None

    def add_metric(self, name: str, unit: str, value: float) -> None:
        self.metrics[name] = self.metrics.get(name, 0) + value

    def flush_metrics(self) -> None:
        return None


def refused_tick(service: TuningService, kept: dict[str, Any]) -> tuple[dict[str, Any], Recorded]:
    """Deliver a tick of Alice's ``nightly`` schedule, its kept spec ``kept``, three times (its
    retries): each answer the same, and nothing raised for Scheduler to retry."""
    service.store.put_schedule_spec("nightly", ALICE, kept)
    recorded = Recorded()
    tick = {"schedule_name": "nightly", "owner": ALICE, "scheduled_time": "2026-11-27T03:00:00Z"}
    answers = [handle_start(service, tick, Telemetry(recorded, recorded)) for _ in range(3)]
    assert answers[0] == answers[1] == answers[2]
    assert not [job for job in service.store.list_jobs() if job.spec.name == "nightly"]
    assert service.orchestrator.started == []
    assert recorded.metrics == {"ScheduledTicksRefused": 3}
    return answers[0], recorded


def test_a_kept_spec_with_a_field_this_version_does_not_know_skips_its_tick_naming_it() -> None:
    """A newer version kept the spec, then the stack rolled back: every tick raised
    ``SpecError`` (Scheduler's and Lambda's retries, then the alarmed dead-letter queue)."""
    service = service_with_parents()
    kept = {**spec_document(name="nightly", schedule="rate(1 day)"), "pruning": {"min_trials": 3}}
    answer, recorded = refused_tick(service, kept)
    assert answer["skipped"].startswith("its spec cannot start a job: pruning: unknown field (known: name,")
    assert recorded.lines[-1] == f"tick of schedule 'nightly' skipped: {answer['skipped']}"


def test_a_kept_spec_with_a_dollar_budget_in_a_region_without_prices_skips_its_tick() -> None:
    backend = FakeBackend()
    backend.region = "ap-south-2"  # type: ignore[attr-defined]
    service = TuningService(SQLiteStore(), {"sagemaker": backend}, FakeOrchestrator())
    budget = {"max_trials": 4, "max_parallel": 2, "max_cost_usd": 100}
    answer, recorded = refused_tick(service, sagemaker_spec(name="nightly", schedule="rate(1 day)", budget=budget))
    assert answer["skipped"].startswith("its spec cannot start a job: budget.max_cost_usd: no list prices for region")
    assert "tick of schedule 'nightly' skipped" in recorded.lines[-1] and "ap-south-2" in recorded.lines[-1]


@pytest.mark.parametrize(
    ("kept", "field"),
    [
        (spec_document(parameters=[{"name": "k", "type": "categorical", "choices": ["a", 1e300]}]), "parameters.0"),
        (sagemaker_spec(trial={**sagemaker_spec()["trial"], "tags": {"\U00020000": "x"}}), "trial.tags."),
    ],
    ids=["a number choice past 2**53 - 1", "a tag letter past the plane"],
)
def test_a_kept_spec_with_a_choice_or_tag_refused_since_skips_its_tick(kept: dict[str, Any], field: str) -> None:
    """Taken when the schedule was made (before api-29), refused since: a tick starts a new
    job, checked as one coming in (README, "tags"), so it is skipped, named, and counted."""
    service = TuningService(SQLiteStore(), {"local": FakeBackend(), "sagemaker": FakeBackend()}, FakeOrchestrator())
    answer, _ = refused_tick(service, {**kept, "name": "nightly", "schedule": "rate(1 day)"})
    assert answer["skipped"].startswith(f"its spec cannot start a job: {field}"), answer


def test_a_retry_leaves_a_job_its_unrecorded_execution_failed_as_it_is() -> None:
    """The first delivery started the execution and died before recording it; that execution
    ran the job and failed it (every trial failed) before the retry came. The retry reopened
    the job and started it again, as if its start had failed."""
    service = service_with_parents()
    service.store.put_schedule_spec("nightly", ALICE, spec_document(name="nightly", schedule="rate(1 day)"))
    tick = {"schedule_name": "nightly", "owner": ALICE, "scheduled_time": "2026-11-27T03:00:00Z"}
    job_id = tick_job_id("nightly", ScheduleInput.model_validate(tick), None)
    service.create_job(parse_spec(spec_document(name="nightly", schedule="rate(1 day)")), job_id=job_id, owner=ALICE)
    service.store.set_job_status(job_id, JobStatus.FAILED, error="every trial failed")  # Finish, the id unrecorded
    answer = handle_start(service, tick)
    assert (answer["job_id"], answer["status"]) == (job_id, "failed") and service.orchestrator.started == []


class Extras(Recorded):
    """``Recorded``, with each line's ``extra``."""

    def __init__(self) -> None:
        super().__init__()
        self.extras: list[Mapping[str, Any] | None] = []

    def info(self, msg: str, *, extra: Mapping[str, Any] | None = None) -> None:
        super().info(msg, extra=extra)
        self.extras.append(extra)


def test_a_tick_names_the_early_stopping_options_nothing_reads_once_a_run_without_their_values() -> None:
    """``POST /jobs`` lists them in its 201's ``warnings``; the schedule's later starts said
    nothing of them. The run a tick starts logs them once (its repeated delivery does not),
    by field name: no value of the spec (``max_resource`` is in the warning's text)."""
    service = service_with_parents()
    block = {"name": "asha", "min_resource": 9, "max_resource": 9, "brackets": "uniform"}
    service.store.put_schedule_spec("nightly", ALICE, spec_document(name="nightly", early_stopping=block))
    recorded = Extras()
    tick = {"schedule_name": "nightly", "owner": ALICE, "scheduled_time": "2026-11-27T03:00:00Z"}
    answers = [handle_start(service, tick, Telemetry(recorded, recorded)) for _ in range(2)]  # and a repeat
    job_id = answers[0]["job_id"]
    assert answers[1]["job_id"] == job_id
    named = [extra for line, extra in zip(recorded.lines, recorded.extras) if "nothing reads" in line]
    assert named == [{"job_id": job_id, "ignored": ["early_stopping.brackets", "early_stopping.min_resource"]}]
    assert "9" not in str(named[0]["ignored"])  # type: ignore[index]
    service.store.put_schedule_spec("plain", ALICE, spec_document(name="plain"))
    handle_start(service, {**tick, "schedule_name": "plain"}, Telemetry(recorded, recorded))
    assert len([line for line in recorded.lines if "nothing reads" in line]) == 1  # none ignored: nothing said


def test_a_schedule_kept_with_its_strategy_options_as_strings_still_starts_its_jobs() -> None:
    """A schedule made before 3bfe10ef kept its strategy options as they were given (its spec
    is ``model_dump``: typed fields as numbers, ``options`` as written, ``{"n_initial": "3"}``);
    strings for numbers are refused as a spec comes in since 0a5ac73, and each tick of it was
    skipped (``ScheduledTicksRefused``) although the options mean what they meant. Its job
    takes them as the strategy reads them; an option given as a new spec would be is refused
    as before (``refused_tick``)."""
    service = service_with_parents()
    options = {"n_initial": "3", "trust_region_dim": "4"}
    kept = spec_document(name="nightly", schedule="rate(1 day)", strategy={"name": "bayesian", "options": options})
    with pytest.raises(SpecError, match=r"^strategy\.options\.n_initial: should be an integer, not a string"):
        parse_spec(kept)
    service.store.put_schedule_spec("nightly", ALICE, kept)
    started = handle_start(service, {"schedule_name": "nightly", "owner": ALICE})
    assert service.store.get_job(started["job_id"]).spec.strategy.options == {"n_initial": 3, "trust_region_dim": 4}
    legacy = handle_start(service, {"schedule_name": "legacy", "owner": ALICE, "spec": {**kept, "name": "legacy"}})
    assert service.store.get_job(legacy["job_id"]).spec.strategy.options == {"n_initial": 3, "trust_region_dim": 4}
