"""``DELETE /schedules/{name}``: a failure at any point leaves what a retry of the same DELETE finishes.

The delete makes two writes, the kept spec (the store) and the schedule (EventBridge
Scheduler's ``DeleteSchedule``). Either may fail after the other landed, and a
``DeleteSchedule`` whose answer is lost (a 5xx or a timeout after the call landed) is retried
by the SDK, whose retry is then told ``ResourceNotFoundException`` (DeleteSchedule's errors,
EventBridge Scheduler API reference: "The request references a resource which does not
exist", HTTP 404). moto shows none of this: the failures are injected.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from hyperstep.recurring import ScheduleInput, tick_spec
from hyperstep.service import TuningService
from tests.unit.test_api import scheduler
from tests.unit.test_api_owners import ALICE, as_, create_schedule, published, service

__all__ = ["published", "scheduler", "service"]  # the fixtures

NOT_FOUND = {"Error": {"Code": "ResourceNotFoundException", "Message": "Schedule nightly does not exist."}}


def schedules(client: Any) -> list[str]:
    return [s["Name"] for s in client.list_schedules(GroupName="hyperstep")["Schedules"]]


def fail_once(monkeypatch: pytest.MonkeyPatch, owner: Any, method: str, error: Exception) -> None:
    """``owner.method`` raises ``error`` on its first call, as itself afterwards."""
    original = getattr(owner, method)
    calls = []

    def failing(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) == 1:
            raise error
        return original(*args, **kwargs)

    monkeypatch.setattr(owner, method, failing)


@pytest.mark.parametrize("failing", ["store", "scheduler"])
def test_a_delete_that_failed_halfway_is_finished_by_its_retry(
    service: TuningService, scheduler: Any, monkeypatch: pytest.MonkeyPatch, failing: str
) -> None:
    """Before: the schedule went first; a failing spec delete left the spec, and the retry
    answered 404 (no schedule) and left it for good."""
    name = create_schedule(ALICE)["schedule_name"]
    if failing == "store":
        fail_once(monkeypatch, service.store, "delete_schedule_spec", RuntimeError("table unavailable"))
    else:
        error = ClientError({"Error": {"Code": "InternalServerException", "Message": "try again"}}, "DeleteSchedule")
        fail_once(monkeypatch, scheduler, "delete_schedule", error)
    assert as_(ALICE, "DELETE", "/schedules/nightly")[0] == 500
    assert as_(ALICE, "DELETE", "/schedules/nightly") == (200, {"name": "nightly", "deleted": True})
    assert schedules(scheduler) == [] and service.store.get_schedule_spec(name) is None
    assert as_(ALICE, "DELETE", "/schedules/nightly")[0] == 404  # nothing of it is left


def test_a_schedule_deleted_with_its_spec_left_is_finished_by_a_retry(service: TuningService, scheduler: Any) -> None:
    """The state an earlier version's half-done delete left (schedule gone, spec kept)."""
    name = create_schedule(ALICE)["schedule_name"]
    scheduler.delete_schedule(Name=name, GroupName="hyperstep")
    assert as_(ALICE, "DELETE", "/schedules/nightly") == (200, {"name": "nightly", "deleted": True})
    assert service.store.get_schedule_spec(name) is None


def test_a_delete_schedule_whose_answer_was_lost_is_no_404(
    service: TuningService, scheduler: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The call landed; the SDK's retry was told ResourceNotFoundException: the DELETE did it."""
    name = create_schedule(ALICE)["schedule_name"]
    original = scheduler.delete_schedule

    def lost_answer(**kwargs: Any) -> Any:
        original(**kwargs)
        raise ClientError(NOT_FOUND, "DeleteSchedule")

    monkeypatch.setattr(scheduler, "delete_schedule", lost_answer)
    assert as_(ALICE, "DELETE", "/schedules/nightly") == (200, {"name": "nightly", "deleted": True})
    assert schedules(scheduler) == [] and service.store.get_schedule_spec(name) is None


def test_a_spec_kept_for_another_owner_is_neither_deleted_nor_confirmed(service: TuningService, scheduler: Any) -> None:
    """No schedule of the caller's and a spec under that name kept for someone else: 404, kept."""
    name = create_schedule(ALICE)["schedule_name"]
    scheduler.delete_schedule(Name=name, GroupName="hyperstep")
    kept = service.store.get_schedule_spec(name)
    assert kept is not None
    service.store.put_schedule_spec(name, "arn:aws:iam::123456789012:user/mallory", kept.spec)
    assert as_(ALICE, "DELETE", "/schedules/nightly")[0] == 404
    assert service.store.get_schedule_spec(name) is not None


def test_a_delete_schedule_that_fails_leaves_a_listed_schedule_whose_ticks_start_nothing(
    service: TuningService, scheduler: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The spec goes first (README): a DELETE answered 500 by DeleteSchedule leaves the
    schedule, still listed for the caller to delete again, but its ticks start no job (the
    spec they would start is gone), not a schedule that goes on starting jobs after its
    owner asked for it to be deleted."""
    name = create_schedule(ALICE)["schedule_name"]
    error = ClientError({"Error": {"Code": "InternalServerException", "Message": "try again"}}, "DeleteSchedule")
    fail_once(monkeypatch, scheduler, "delete_schedule", error)
    assert as_(ALICE, "DELETE", "/schedules/nightly")[0] == 500
    assert schedules(scheduler) == [name]
    target = json.loads(scheduler.get_schedule(Name=name, GroupName="hyperstep")["Target"]["Input"])
    target.pop("scheduled_time", None)  # the keyword Scheduler fills in at each tick
    assert tick_spec(service.store, ScheduleInput.model_validate(target)) is None
