"""A callback task's timeouts, as Step Functions counts them, on a clock the test moves.

"If you invoke the Lambda function with a callback task, the heartbeat timeout doesn't
start counting until after the Lambda function has completed executing and returned a
result" (Developer Guide, "Invoke Lambda with Step Functions"); ``TimeoutSeconds`` is the
task's whole allowed duration, heartbeats or not (``SendTaskHeartbeat``'s reference).
"""

from __future__ import annotations

import threading
from typing import Any

import pytest

from hyperstep.asl.failures import HEARTBEAT_TIMEOUT, TIMEOUT, StatesError
from hyperstep.asl.history import ExecutionHistory
from hyperstep.asl.tasks import Attempt, TaskRunner
from hyperstep.asl.waiting import PendingTask, Scope
from tests.conftest import Clock


def test_the_heartbeat_is_not_enforced_while_the_call_that_hands_out_the_token_runs() -> None:
    clock = Clock(1_000.0)
    pending = PendingTask("token", heartbeat_seconds=60, clock=clock)
    clock.now += 3_600  # the function still runs, an hour past HeartbeatSeconds
    assert pending.overdue(deadline=None) is None
    pending.called()
    clock.now += 59
    assert pending.overdue(deadline=None) is None
    clock.now += 1
    error = pending.overdue(deadline=None)
    assert error is not None and error.error == TIMEOUT and HEARTBEAT_TIMEOUT in error.aliases


def test_a_heartbeat_after_the_call_restarts_the_clock_and_timeout_seconds_bounds_it_all() -> None:
    clock = Clock(1_000.0)
    pending = PendingTask("token", heartbeat_seconds=60, clock=clock)
    deadline = clock.now + 600
    pending.called()
    clock.now += 50
    assert pending.heartbeat()
    clock.now += 50  # 100 s since the call returned, 50 since the beat
    assert pending.overdue(deadline) is None
    clock.now = deadline  # still beating, but out of time
    assert pending.heartbeat()
    error = pending.overdue(deadline)
    assert error is not None and error.error == TIMEOUT and HEARTBEAT_TIMEOUT not in error.aliases


def test_timeout_seconds_counts_while_the_call_still_runs() -> None:
    clock = Clock(1_000.0)
    pending = PendingTask("token", heartbeat_seconds=60, clock=clock)
    deadline = clock.now + 600
    clock.now = deadline
    error = pending.overdue(deadline)
    assert error is not None and error.error == TIMEOUT and HEARTBEAT_TIMEOUT not in error.aliases


@pytest.mark.parametrize(
    ("raised", "name"),
    [
        (LookupError("job 'j-1' not found"), "LookupError"),
        (SystemExit("job 'j-1' not found"), "SystemExit"),  # a handler's sys.exit()
        (KeyboardInterrupt("job 'j-1' not found"), "KeyboardInterrupt"),  # raised on the task's thread: never Ctrl-C's
    ],
)
def test_a_callback_function_that_raises_fails_its_attempt_with_its_own_error(raised: BaseException, name: str) -> None:
    """ "If ... an exception is raised within the Lambda function, the task fails" (the
    optimized Lambda integration): the attempt does not wait for a token nobody will send,
    however long its TimeoutSeconds. Before, a BaseException that is no Exception
    (SystemExit, KeyboardInterrupt) ended the function's thread and the attempt waited for good."""

    def suggest(event: Any, context: Any) -> Any:
        raise raised

    runner = TaskRunner(lambda name: suggest)
    attempt = Attempt(
        state_name="Suggest Trials",
        resource="arn:aws:states:::lambda:invoke.waitForTaskToken",
        payload={"FunctionName": "suggest", "Payload": {"job_id": "j-1"}},
        timeout_seconds=None,
        heartbeat_seconds=None,
        token="token",
    )
    outcome: list[StatesError] = []

    def run() -> None:
        try:
            runner.run(attempt, Scope(), ExecutionHistory())
        except StatesError as error:
            outcome.append(error)

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(30)  # at once when right; bounded so that a wrong engine fails instead of hanging
    assert not worker.is_alive(), "the attempt waits for a token after its function failed"
    [error] = outcome
    assert error.error == name and "job 'j-1' not found" in error.cause
