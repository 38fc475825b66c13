"""On AWS a round of the tuning loop times out at its job's deadline, not 600 s after it began.

A job's time budget (``budget.max_runtime_seconds``) acts when its execution next runs
Suggest: a trial's result, the reaper's wake (every 5 minutes), or the round's timeout.
Before, that timeout was a fixed 600 s: a job whose trials all ran long overran its
budget by up to 5 minutes (10 when the reaper's pass came while a round was being
planned), its trials running and billed meanwhile. Now every wake tells the next round
how long to wait (``Progress.round_seconds``: the seconds left to the deadline, at least
``MIN_ROUND_SECONDS``, at most ``ROUND_SECONDS``) and the state machine's Suggest Trials
times out by it (``TimeoutSecondsPath``), so a round that nothing wakes ends at the
deadline (or ``MIN_ROUND_SECONDS`` after its start, when it began closer to it).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from hyperstep.asl.definition import load_definition
from hyperstep.asl.executor import Executor
from hyperstep.local.runtime import substitutions
from hyperstep.messages import MIN_ROUND_SECONDS, ROUND_SECONDS, Plan, Progress
from hyperstep.service import TuningService
from hyperstep.spec import parse_spec
from hyperstep.stores.sqlite import SQLiteStore
from tests.conftest import Clock, spec_document
from tests.unit.test_service import FakeBackend, FakeOrchestrator

ASL = Path(__file__).parents[2] / "statemachine" / "tuning.asl.json"


def service_with_budget(seconds: int | None) -> tuple[TuningService, str, Clock]:
    clock = Clock()
    service = TuningService(SQLiteStore(clock=clock), {"local": FakeBackend()}, FakeOrchestrator(), clock=clock)
    budget = {"max_trials": 4, "max_parallel": 2, "max_runtime_seconds": seconds}
    job = service.create_job(parse_spec(spec_document(budget=budget)), job_id="job")
    return service, job.id, clock


@pytest.mark.parametrize(
    ("budget", "elapsed", "seconds"),
    [
        (None, 0, ROUND_SECONDS),  # no deadline: the round waits as long as ever
        (3600, 0, ROUND_SECONDS),  # the deadline is further than a round
        (1000, 700, 300),  # the round ends at the deadline
        (1000, 699.5, 301),  # rounded up: a round that ended just short of it would add a whole floor's round
        (1000, 950, MIN_ROUND_SECONDS),  # 50 s left: never shorter than the floor
        (1000, 1200, ROUND_SECONDS),  # past it: the trials are being stopped, their ends wake it
    ],
)
def test_a_woken_round_is_told_to_time_out_at_the_deadline(budget: int | None, elapsed: float, seconds: int) -> None:
    service, job_id, clock = service_with_budget(budget)
    clock.now += elapsed
    assert service.progress(job_id).round_seconds == seconds


def test_the_floor_keeps_a_round_longer_than_two_suggest_invocations() -> None:
    """A round shorter than Suggest's own run would time out while Suggest still runs (the
    template's guard, ``test_template``): the floor is twice the function's timeout."""
    assert MIN_ROUND_SECONDS >= 2 * 60 and ROUND_SECONDS == 600
    assert Plan(job_id="j", done=False, results_seen=0).round_seconds == ROUND_SECONDS
    assert Progress(job_id="j", done=False, results=0, active=0).round_seconds == ROUND_SECONDS


def test_every_round_of_the_state_machine_waits_as_long_as_its_input_says() -> None:
    """The real definition on the local engine: the first round waits ``ROUND_SECONDS``
    (Begin), a woken round what its wake said, the round after a timeout ``ROUND_SECONDS``
    (No News); each as the task's ``timeoutInSeconds`` in the execution's history."""
    definition = load_definition(ASL, substitutions(str.capitalize))
    suggest = definition["States"]["Suggest Trials"]
    assert suggest["TimeoutSecondsPath"] == "$.plan.round_seconds" and "TimeoutSeconds" not in suggest
    assert definition["States"]["Begin"]["Result"]["round_seconds"] == ROUND_SECONDS
    assert definition["States"]["No News"]["Parameters"]["round_seconds"] == ROUND_SECONDS
    woken = Progress(job_id="job", done=False, results=1, active=2, history_events=8, round_seconds=300).model_dump()
    rounds = iter([woken, {**woken, "done": True, "round_seconds": MIN_ROUND_SECONDS}])
    holder: dict[str, Executor] = {}

    def suggesting(event: dict[str, Any], _: Any) -> dict[str, Any]:
        output = next(rounds)
        threading.Thread(target=holder["ex"].send_task_success, args=(event["task_token"], output)).start()
        return {}

    holder["ex"] = Executor(definition, {"Suggest": suggesting, "Finish": lambda e, _: {}}.__getitem__)
    result = holder["ex"].run({"job_id": "job"}, timeout=10)
    assert result.status == "SUCCEEDED", result.cause
    timeouts = [e.details["timeoutInSeconds"] for e in result.history if e.type == "TaskScheduled"]
    assert timeouts == [ROUND_SECONDS, 300]
