"""The local reaper's schedule: its next pass comes at a running job's time budget deadline
(``budget.max_runtime_seconds``), not only every ``interval`` seconds. Read on a clock the
test sets: nothing here sleeps."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from hyperstep.local.reaper import LATE_SECONDS, OVERDUE_SECONDS, LocalReaper
from hyperstep.models import JobStatus
from hyperstep.service import TuningService
from hyperstep.stores.sqlite import SQLiteStore
from tests.conftest import Clock
from tests.unit.test_service import FakeBackend, FakeOrchestrator, submit


class Executions:
    """An executor whose one execution runs the job ``job`` (what the reaper reads of it)."""

    def __init__(self) -> None:
        self.finished = False

    def executions(self) -> list[Any]:
        return [SimpleNamespace(finished=self.finished, input={"job_id": "job"})]


def reaper(budget: dict[str, Any]) -> tuple[LocalReaper, Clock, Executions]:
    clock, executor = Clock(), Executions()
    service = TuningService(SQLiteStore(clock=clock), {"local": FakeBackend()}, FakeOrchestrator())
    submit(service, budget=budget)
    return LocalReaper(service, executor, interval=30.0), clock, executor


def test_the_next_pass_comes_at_the_deadline_of_a_running_job() -> None:
    local, clock, _ = reaper({"max_trials": 4, "max_parallel": 2, "max_runtime_seconds": 10})
    clock.now += 4
    assert local.next_pass() == pytest.approx(6 + LATE_SECONDS)


def test_a_job_past_its_deadline_is_reaped_every_overdue_period_until_it_finishes() -> None:
    local, clock, _ = reaper({"max_trials": 4, "max_parallel": 2, "max_runtime_seconds": 10})
    clock.now += 11
    assert local.next_pass() == OVERDUE_SECONDS
    local.service.store.set_job_status("job", JobStatus.COMPLETED)
    assert local.next_pass() > 20  # the usual interval again


@pytest.mark.parametrize(
    ("budget", "execution_finished"),
    [
        ({"max_trials": 4, "max_parallel": 2}, False),  # no time budget
        ({"max_trials": 4, "max_parallel": 2, "max_runtime_seconds": 10}, True),  # not this process's
    ],
)
def test_without_a_deadline_to_keep_the_pass_comes_every_interval(
    budget: dict[str, Any], execution_finished: bool
) -> None:
    local, clock, executor = reaper(budget)
    executor.finished = execution_finished
    clock.now += 4
    assert 20 < local.next_pass() <= 30.0
