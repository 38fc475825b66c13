"""The local ASL executor: each state type, data flow, errors, tokens, stopping, history."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from hyperstep.asl.definition import DefinitionError, load_definition, validate
from hyperstep.asl.executor import ExecutionExistsError, ExecutionResult, Executor
from hyperstep.local.runtime import substitutions

Handler = Callable[[Any, Any], Any]
REPO = Path(__file__).resolve().parents[3]


class FlakyError(Exception):
    """A made-up error a handler raises."""


def machine(states: dict[str, Any], start: str | None = None, **top: Any) -> dict[str, Any]:
    return {"StartAt": start or next(iter(states)), "States": states, **top}


def task(resource: str, **fields: Any) -> dict[str, Any]:
    return {"Type": "Task", "Resource": resource, **fields} | ({} if "Next" in fields else {"End": True})


def executor(definition: dict[str, Any], handlers: dict[str, Handler], sleeps: list[float] | None = None) -> Executor:
    record = sleeps if sleeps is not None else []
    return Executor(definition, lambda name: handlers[name], sleep=record.append)


def run(definition: dict[str, Any], handlers: dict[str, Handler], data: Any = None, **kw: Any) -> ExecutionResult:
    return executor(definition, handlers, **kw).run({} if data is None else data, timeout=10)


class TokenCatcher:
    """A handler that parks the task token it receives and hands it to the test."""

    def __init__(self) -> None:
        self.tokens: list[str] = []
        self.events: list[Any] = []
        self._arrived = threading.Semaphore(0)

    def __call__(self, event: Any, context: Any) -> dict[str, Any]:
        self.events.append(event)
        self.tokens.append(event["token"])
        self._arrived.release()
        return {"parked": True}

    def next_token(self) -> str:
        assert self._arrived.acquire(timeout=5), "no task token arrived"
        return self.tokens[-1]


def wait_for_token(function: str = "park", **fields: Any) -> dict[str, Any]:
    parameters = {"FunctionName": function, "Payload": {"token.$": "$$.Task.Token", "job.$": "$.job"}}
    return task("arn:aws:states:::lambda:invoke.waitForTaskToken", Parameters=parameters, **fields)


# --- control flow -------------------------------------------------------------------


def test_loop_with_a_choice_and_the_history_path() -> None:
    definition = machine(
        {
            "Start": {"Type": "Pass", "Result": 0, "ResultPath": "$.n", "Next": "Count"},
            "Count": task("count", InputPath="$.n", ResultPath="$.n", Next="More?"),
            "More?": {
                "Type": "Choice",
                "Choices": [{"Variable": "$.n", "NumericLessThan": 3, "Next": "Count"}],
                "Default": "Done",
            },
            "Done": {"Type": "Succeed"},
        }
    )
    result = run(definition, {"count": lambda n, _: n + 1}, {"keep": "me"})
    assert result.status == "SUCCEEDED"
    assert result.output == {"keep": "me", "n": 3}
    assert result.state_path == ["Start", "Count", "More?", "Count", "More?", "Count", "More?", "Done"]
    types = [event.type for event in result.history]
    assert types[0] == "ExecutionStarted" and types[-1] == "ExecutionSucceeded"
    assert types[1:3] == ["PassStateEntered", "PassStateExited"]
    assert types[3:8] == [
        "TaskStateEntered",
        "LambdaFunctionScheduled",
        "LambdaFunctionStarted",
        "LambdaFunctionSucceeded",
        "TaskStateExited",
    ]
    assert [e.id for e in result.history] == list(range(1, len(types) + 1))
    assert json.loads(result.history[1].details["input"]) == {"keep": "me"}


def test_choice_without_match_or_default_fails_with_no_choice_matched() -> None:
    definition = machine(
        {
            "Pick": {"Type": "Choice", "Choices": [{"Variable": "$.x", "StringEquals": "a", "Next": "A"}]},
            "A": {"Type": "Succeed"},
        }
    )
    result = run(definition, {}, {"x": "b"})
    assert (result.status, result.error) == ("FAILED", "States.NoChoiceMatched")


def test_fail_state_reports_its_error_and_cause() -> None:
    definition = machine({"Boom": {"Type": "Fail", "Error": "Custom.Error", "Cause": "because"}})
    result = run(definition, {})
    assert (result.status, result.error, result.cause) == ("FAILED", "Custom.Error", "because")
    assert result.history[-2].type == "FailStateEntered"
    bare = run(machine({"Boom": {"Type": "Fail"}}), {})
    assert (bare.status, bare.error, bare.cause) == ("FAILED", None, None)


def test_pass_parameters_and_result() -> None:
    definition = machine(
        {
            "Shape": {
                "Type": "Pass",
                "Parameters": {"id.$": "$.job", "name.$": "$$.Execution.Name", "state.$": "$$.State.Name"},
                "ResultPath": "$.shaped",
                "Next": "Fixed",
            },
            "Fixed": {
                "Type": "Pass",
                "Result": {"k": 1},
                "ResultPath": "$.fixed",
                "OutputPath": "$.fixed",
                "End": True,
            },
        }
    )
    ex = executor(definition, {})
    result = ex.run({"job": "j-1"}, name="exec-1", timeout=10)
    assert result.output == {"k": 1}
    started = next(e for e in result.history if e.type == "PassStateExited")
    assert json.loads(started.details["output"])["shaped"] == {"id": "j-1", "name": "exec-1", "state": "Shape"}
    assert result.execution_id == "arn:aws:states:local:000000000000:execution:local:exec-1"


def test_context_object_in_parameters() -> None:
    definition = machine(
        {
            "Ctx": {
                "Type": "Pass",
                "Parameters": {
                    "id.$": "$$.Execution.Id",
                    "input.$": "$$.Execution.Input",
                    "machine.$": "$$.StateMachine.Id",
                    "entered.$": "$$.State.EnteredTime",
                },
                "End": True,
            }
        }
    )
    result = run(definition, {}, {"a": 1})
    assert result.output["id"] == result.execution_id
    assert result.output["input"] == {"a": 1}
    assert result.output["machine"].endswith(":stateMachine:local")
    assert result.output["entered"].endswith("Z")


def test_wait_states_sleep_through_the_injected_sleep() -> None:
    definition = machine(
        {
            "Fixed": {"Type": "Wait", "Seconds": 5, "Next": "FromPath"},
            "FromPath": {"Type": "Wait", "SecondsPath": "$.delay", "Next": "Past"},
            "Past": {"Type": "Wait", "Timestamp": "2000-01-01T00:00:00Z", "End": True},
        }
    )
    sleeps: list[float] = []
    result = run(definition, {}, {"delay": 7}, sleeps=sleeps)
    assert result.status == "SUCCEEDED" and result.output == {"delay": 7}
    assert sleeps == [5.0, 7.0, 0.0]


def test_parallel_branches_get_the_same_input_and_return_in_order() -> None:
    branch = lambda name: machine({name: task(name)})  # noqa: E731
    definition = machine(
        {
            "Both": {
                "Type": "Parallel",
                "Branches": [branch("double"), branch("negate")],
                "ResultPath": "$.r",
                "End": True,
            }
        }
    )
    handlers = {"double": lambda e, _: e["x"] * 2, "negate": lambda e, _: -e["x"]}
    result = run(definition, handlers, {"x": 4})
    assert result.output == {"x": 4, "r": [8, -4]}


# --- Map ----------------------------------------------------------------------------


def map_state(**fields: Any) -> dict[str, Any]:
    processor = machine({"Square": task("square")})
    return {"Type": "Map", "ItemProcessor": processor, "End": True, **fields}


def test_map_over_items_keeps_their_order_and_exposes_the_item_context() -> None:
    definition = machine(
        {
            "Each": map_state(
                ItemsPath="$.values",
                ItemSelector={"v.$": "$$.Map.Item.Value", "i.$": "$$.Map.Item.Index", "job.$": "$.job"},
                MaxConcurrency=3,
                ResultPath="$.squares",
            )
        }
    )
    handlers = {"square": lambda e, _: {"sq": e["v"] ** 2, "i": e["i"], "job": e["job"]}}
    result = run(definition, handlers, {"job": "j", "values": [3, 1, 2, 5]})
    assert [r["sq"] for r in result.output["squares"]] == [9, 1, 4, 25]
    assert [r["i"] for r in result.output["squares"]] == [0, 1, 2, 3]
    assert {r["job"] for r in result.output["squares"]} == {"j"}
    assert result.state_path.count("Square") == 4
    assert sum(e.type == "MapIterationSucceeded" for e in result.history) == 4


def test_max_concurrency_path() -> None:
    active, peak = [0], [0]
    lock = threading.Lock()

    def square(event: Any, _: Any) -> int:
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        threading.Event().wait(0.02)
        with lock:
            active[0] -= 1
        return event**2

    definition = machine({"Each": map_state(ItemsPath="$.items", MaxConcurrencyPath="$.limit")})
    result = run(definition, {"square": square}, {"items": list(range(8)), "limit": 1})
    assert result.output == [i * i for i in range(8)]
    assert peak[0] == 1


def test_legacy_iterator_and_parameters() -> None:
    definition = machine(
        {
            "Each": {
                "Type": "Map",
                "Iterator": machine({"Square": task("square")}),
                "Parameters": {"v.$": "$$.Map.Item.Value"},
                "MaxConcurrency": 1,
                "End": True,
            }
        }
    )
    result = run(definition, {"square": lambda e, _: e["v"] ** 2}, [1, 2, 3])
    assert result.output == [1, 4, 9]


def test_a_failing_iteration_fails_the_map_and_is_caught() -> None:
    def square(event: Any, _: Any) -> int:
        if event == 2:
            raise FlakyError("two is bad")
        return event**2

    catch = [{"ErrorEquals": ["FlakyError"], "ResultPath": "$.error", "Next": "Handled"}]
    each = map_state(ItemsPath="$.items", ResultPath="$.squares", Catch=catch, Next="Handled")
    del each["End"]
    definition = machine({"Each": each, "Handled": {"Type": "Pass", "End": True}})
    result = run(definition, {"square": square}, {"items": [1, 2, 3]})
    assert result.status == "SUCCEEDED"
    assert result.output["error"]["Error"] == "FlakyError"
    assert result.state_path[-1] == "Handled"


def test_a_failing_iteration_cancels_its_waiting_siblings() -> None:
    park = TokenCatcher()

    def launch(event: Any, context: Any) -> Any:
        if event["job"] == 0:
            return park(event, context)
        park.next_token()  # fail only once the sibling waits for its token
        raise FlakyError("launch failed")

    processor = machine({"Launch": wait_for_token("launch")})
    selector = {"job.$": "$$.Map.Item.Index"}
    definition = machine({"Each": {"Type": "Map", "ItemProcessor": processor, "ItemSelector": selector, "End": True}})
    result = executor(definition, {"launch": launch}).run([0, 1], timeout=5)
    assert (result.status, result.error) == ("FAILED", "FlakyError")
    types = [e.type for e in result.history]
    assert {"MapIterationFailed", "MapIterationAborted", "MapStateFailed"} <= set(types)


def test_items_path_must_select_an_array() -> None:
    result = run(machine({"Each": map_state(ItemsPath="$.x")}), {}, {"x": {"not": "a list"}})
    assert (result.status, result.error) == ("FAILED", "States.Runtime")


# --- Task, Retry, Catch -------------------------------------------------------------


def flaky(failures: int, error: type[Exception] = FlakyError) -> Handler:
    calls = {"n": 0}

    def handler(event: Any, _: Any) -> Any:
        calls["n"] += 1
        if calls["n"] <= failures:
            raise error(f"attempt {calls['n']}")
        return {"attempts": calls["n"]}

    return handler


def test_retry_succeeds_on_the_second_attempt() -> None:
    retry = [{"ErrorEquals": ["States.TaskFailed"], "IntervalSeconds": 3, "MaxAttempts": 2}]
    sleeps: list[float] = []
    result = run(machine({"Call": task("flaky", Retry=retry)}), {"flaky": flaky(1)}, sleeps=sleeps)
    assert result.status == "SUCCEEDED" and result.output == {"attempts": 2}
    assert sleeps == [3.0]
    assert [e.type for e in result.history].count("LambdaFunctionFailed") == 1


def test_retries_see_their_count_and_the_same_entered_time() -> None:
    seen: list[Any] = []

    def handler(event: Any, context: Any) -> Any:
        seen.append(event)
        return flaky_once(event, context)

    flaky_once = flaky(2)
    parameters = {"count.$": "$$.State.RetryCount", "entered.$": "$$.State.EnteredTime"}
    retry = [{"ErrorEquals": ["States.ALL"], "MaxAttempts": 2}]
    run(machine({"Call": task("flaky", Parameters=parameters, Retry=retry)}), {"flaky": handler})
    assert [event["count"] for event in seen] == [0, 1, 2]
    assert len({event["entered"] for event in seen}) == 1


def test_retry_backoff_cap_and_exhaustion() -> None:
    retry = [
        {"ErrorEquals": ["FlakyError"], "IntervalSeconds": 1, "BackoffRate": 3, "MaxAttempts": 4, "MaxDelaySeconds": 5}
    ]
    sleeps: list[float] = []
    result = run(machine({"Call": task("flaky", Retry=retry)}), {"flaky": flaky(10)}, sleeps=sleeps)
    assert sleeps == [1.0, 3.0, 5.0, 5.0]
    assert (result.status, result.error) == ("FAILED", "FlakyError")
    assert json.loads(result.cause)["errorMessage"] == "attempt 5"
    assert json.loads(result.cause)["errorType"] == "FlakyError"


def test_full_jitter_never_exceeds_the_backoff() -> None:
    retry = [{"ErrorEquals": ["States.ALL"], "IntervalSeconds": 2, "MaxAttempts": 3, "JitterStrategy": "FULL"}]
    sleeps: list[float] = []
    run(machine({"Call": task("flaky", Retry=retry)}), {"flaky": flaky(3)}, sleeps=sleeps)
    assert len(sleeps) == 3 and all(0 <= s <= cap for s, cap in zip(sleeps, [2, 4, 8]))


def test_max_attempts_zero_and_first_matching_retrier_wins() -> None:
    retry = [
        {"ErrorEquals": ["FlakyError"], "MaxAttempts": 0},
        {"ErrorEquals": ["States.ALL"], "MaxAttempts": 5},
    ]
    sleeps: list[float] = []
    result = run(machine({"Call": task("flaky", Retry=retry)}), {"flaky": flaky(1)}, sleeps=sleeps)
    assert result.status == "FAILED" and sleeps == []


def test_catch_routes_by_error_name_with_the_error_output() -> None:
    catch = [
        {"ErrorEquals": ["KeyError"], "Next": "Wrong"},
        {"ErrorEquals": ["FlakyError", "ValueError"], "ResultPath": "$.failure", "Next": "Recover"},
    ]
    definition = machine(
        {
            "Call": task("flaky", Catch=catch, Next="Done"),
            "Wrong": {"Type": "Fail", "Error": "Wrong"},
            "Recover": {"Type": "Pass", "End": True},
            "Done": {"Type": "Succeed"},
        }
    )
    result = run(definition, {"flaky": flaky(1)}, {"keep": 1})
    assert result.state_path == ["Call", "Recover"]
    assert result.output["keep"] == 1
    assert result.output["failure"]["Error"] == "FlakyError"
    assert json.loads(result.output["failure"]["Cause"])["errorMessage"] == "attempt 1"


def test_runtime_errors_are_not_caught_by_states_all() -> None:
    definition = machine(
        {
            "Call": task("echo", Parameters={"x.$": "$.missing"}, Catch=[{"ErrorEquals": ["States.ALL"], "Next": "C"}]),
            "C": {"Type": "Succeed"},
        }
    )
    result = run(definition, {"echo": lambda e, _: e})
    assert (result.status, result.error) == ("FAILED", "States.Runtime")


def test_result_selector_result_path_null_and_output_path() -> None:
    definition = machine(
        {
            "Select": task("calc", ResultSelector={"sum.$": "$.sum"}, ResultPath="$.calc", Next="Discard"),
            "Discard": task("calc", ResultPath=None, Next="Narrow"),
            "Narrow": task("calc", InputPath="$.calc", ResultPath="$.again", OutputPath="$.again"),
        }
    )
    seen: list[Any] = []

    def calc(event: Any, _: Any) -> dict[str, Any]:
        seen.append(event)
        return {"sum": 3, "noise": "x"}

    result = run(definition, {"calc": calc}, {"a": 1})
    assert seen == [{"a": 1}, {"a": 1, "calc": {"sum": 3}}, {"sum": 3}]
    assert result.output == {"sum": 3, "noise": "x"}


def test_lambda_invoke_wraps_the_result_like_the_invoke_api() -> None:
    parameters = {"FunctionName": "arn:aws:lambda:us-east-1:1:function:echo", "Payload": {"v.$": "$.v"}}
    definition = machine({"Invoke": task("arn:aws:states:::lambda:invoke", Parameters=parameters)})
    received: list[Any] = []

    def resolve(name: str) -> Handler:
        received.append(name)
        return lambda event, context: {"got": event["v"], "fn": context.function_name}

    result = Executor(definition, resolve).run({"v": 5}, timeout=10)
    assert received == ["arn:aws:lambda:us-east-1:1:function:echo"]
    assert result.output["Payload"] == {"got": 5, "fn": "echo"}
    assert result.output["StatusCode"] == 200
    assert result.output["ExecutedVersion"] == "$LATEST"
    assert result.output["SdkResponseMetadata"]["RequestId"]
    events = [e.as_aws() for e in result.history]
    scheduled = next(e for e in events if e["type"] == "TaskScheduled")["taskScheduledEventDetails"]
    assert (scheduled["resourceType"], scheduled["resource"], scheduled["region"]) == ("lambda", "invoke", "local")
    assert json.loads(scheduled["parameters"])["Payload"] == {"v": 5}
    entered = next(e for e in events if e["type"] == "TaskStateEntered")["stateEnteredEventDetails"]
    assert entered["name"] == "Invoke" and entered["inputDetails"] == {"truncated": False}
    assert [e["id"] for e in events] == [e["previousEventId"] + 1 for e in events]


def test_an_unserialisable_result_is_a_marshal_error() -> None:
    result = run(machine({"Call": task("bad")}), {"bad": lambda e, _: {1, 2}})
    assert (result.status, result.error) == ("FAILED", "Runtime.MarshalError")


# --- task tokens ----------------------------------------------------------------------


def test_wait_for_task_token_released_from_another_thread() -> None:
    park = TokenCatcher()
    ex = executor(machine({"Wait": wait_for_token(ResultPath="$.woken")}), {"park": park})
    execution = ex.start({"job": "j-1"})
    token = park.next_token()
    assert park.events[0] == {"token": token, "job": "j-1"}
    releaser = threading.Thread(target=ex.send_task_success, args=(token, {"done": True}))
    releaser.start()
    releaser.join()
    result = execution.wait(5)
    assert result.status == "SUCCEEDED"
    assert result.output == {"job": "j-1", "woken": {"done": True}}
    assert not ex.send_task_success(token, {}), "a token works once"
    assert "TaskSubmitted" in [e.type for e in result.history]


def test_send_task_success_before_the_handler_returns_is_kept() -> None:
    holder: dict[str, Executor] = {}

    def wake_at_once(event: Any, _: Any) -> None:
        assert holder["ex"].send_task_success(event["token"], {"early": True})

    ex = executor(machine({"Wait": wait_for_token()}), {"park": wake_at_once})
    holder["ex"] = ex
    assert ex.run({"job": "j"}, timeout=5).output == {"early": True}


def test_send_task_failure_is_retried_and_caught() -> None:
    park = TokenCatcher()
    definition = machine(
        {
            "Wait": wait_for_token(
                Retry=[{"ErrorEquals": ["Job.Failed"], "MaxAttempts": 1}],
                Catch=[{"ErrorEquals": ["Job.Failed"], "Next": "Failed"}],
            ),
            "Failed": {"Type": "Pass", "End": True},
        }
    )
    ex = executor(definition, {"park": park})
    execution = ex.start({"job": "j"})
    assert ex.send_task_failure(park.next_token(), "Job.Failed", "first")
    assert ex.send_task_failure(park.next_token(), "Job.Failed", "second")
    result = execution.wait(5)
    assert result.state_path == ["Wait", "Failed"]
    assert result.output == {"Error": "Job.Failed", "Cause": "second"}


def test_unknown_tokens_are_refused() -> None:
    ex = executor(machine({"P": {"Type": "Pass", "End": True}}), {})
    assert not ex.send_task_success("nope", {})
    assert not ex.send_task_failure("nope", "E")
    assert not ex.send_task_heartbeat("nope")


def test_timeout_is_caught_as_states_timeout() -> None:
    definition = machine(
        {
            "Wait": wait_for_token(
                TimeoutSeconds=1,
                Retry=[{"ErrorEquals": ["States.TaskFailed"], "MaxAttempts": 3}],  # must not match a timeout
                Catch=[{"ErrorEquals": ["States.Timeout"], "ResultPath": None, "Next": "Late"}],
            ),
            "Late": {"Type": "Pass", "End": True},
        }
    )
    park = TokenCatcher()
    ex = executor(definition, {"park": park})
    result = ex.run({"job": "j"}, timeout=10)
    assert result.state_path == ["Wait", "Late"]
    assert result.output == {"job": "j"}
    assert len(park.tokens) == 1
    assert "TaskTimedOut" in [e.type for e in result.history]
    assert not ex.send_task_success(park.tokens[0], {}), "a timed-out token no longer works"


def test_missed_heartbeat_times_out_and_heartbeats_keep_the_task_alive() -> None:
    definition = machine({"Wait": wait_for_token(HeartbeatSecondsPath="$.beat")})
    park = TokenCatcher()
    ex = executor(definition, {"park": park})
    assert ex.run({"job": "j", "beat": 1}, timeout=10).error == "States.Timeout"

    park = TokenCatcher()
    ex = executor(definition, {"park": park})
    execution = ex.start({"job": "j", "beat": 1})
    token = park.next_token()
    for _ in range(7):  # 1.4 s in all, longer than HeartbeatSeconds, in 0.2 s gaps
        assert ex.send_task_heartbeat(token)
        threading.Event().wait(0.2)
    assert ex.send_task_success(token, {"alive": True})
    assert execution.wait(5).output == {"alive": True}


def test_stop_aborts_a_blocked_wait_promptly() -> None:
    park = TokenCatcher()
    ex = Executor(machine({"Wait": wait_for_token()}), lambda name: park)
    execution = ex.start({"job": "j"}, name="to-stop")
    park.next_token()
    ex.stop_all(error="Interrupted", cause="Ctrl-C")
    result = execution.wait(5)
    assert (result.status, result.error, result.cause) == ("ABORTED", "Interrupted", "Ctrl-C")
    assert ex.finished(execution.id)
    assert result.history[-1].type == "ExecutionAborted"


def test_stop_wakes_a_real_wait_state() -> None:
    ex = Executor(machine({"Nap": {"Type": "Wait", "Seconds": 3600, "End": True}}), lambda name: None)
    execution = ex.start({})
    execution.stop()
    assert execution.wait(5).status == "ABORTED"


def test_execution_timeout_ends_timed_out() -> None:
    definition = machine({"Wait": wait_for_token()}, TimeoutSeconds=1)
    result = executor(definition, {"park": TokenCatcher()}).run({"job": "j"}, timeout=10)
    assert (result.status, result.error) == ("TIMED_OUT", "States.Timeout")


def test_execution_names_are_unique_and_valid() -> None:
    ex = executor(machine({"P": {"Type": "Pass", "End": True}}), {})
    ex.run({}, name="once", timeout=5)
    with pytest.raises(DefinitionError, match="already exists"):
        ex.start({}, name="once")
    for bad in ("has space", "job:1", "a/b", "x" * 81, "tab\t"):
        with pytest.raises(DefinitionError, match="invalid execution name"):
            ex.start({}, name=bad)


def test_payloads_over_256_kib_exceed_the_data_limit() -> None:
    big = "x" * (256 * 1024)
    catch = [{"ErrorEquals": ["States.ALL"], "Next": "Caught"}]
    definition = machine({"Big": task("big", Catch=catch), "Caught": {"Type": "Succeed"}})
    result = run(definition, {"big": lambda e, _: big})
    assert (result.status, result.error) == ("FAILED", "States.DataLimitExceeded")  # States.ALL does not catch it
    small = run(
        machine({"Fits": task("fits", ResultSelector={"n.$": "States.ArrayLength($)"})}),
        {"fits": lambda e, _: [1] * 1000},
    )
    assert small.output == {"n": 1000}
    with pytest.raises(DefinitionError, match="quota"):
        executor(definition, {}).start({"big": big})


# --- definitions ----------------------------------------------------------------------


def choice_machine(rule: dict[str, Any]) -> dict[str, Any]:
    return machine({"A": {"Type": "Choice", "Choices": [rule]}, "B": {"Type": "Succeed"}})


@pytest.mark.parametrize(
    ("definition", "message"),
    [
        (machine({"A": {"Type": "Pass", "End": True}}, start="B"), "StartAt"),
        (machine({"A": {"Type": "Pass", "Next": "Nowhere"}}), "Nowhere"),
        (machine({"A": {"Type": "Pass"}}), "exactly one"),
        (machine({"A": {"Type": "Teleport", "End": True}}), "unknown state type"),
        (machine({"A": {"Type": "Pass", "End": True, "Parameter": {}}}), "not allowed"),
        (machine({"A": task("x", Retry=[{"ErrorEquals": ["States.ALL", "E"]}])}), "States.ALL"),
        (machine({"A": task("x", Catch=[{"ErrorEquals": ["E"], "Next": "Z"}])}), "'Z'"),
        (machine({"A": {"Type": "Map", "ItemProcessor": machine({"I": {"Type": "Pass"}}), "End": True}}), "'I'"),
        (machine({"A": {"Type": "Pass", "ResultPath": "$.a[*]", "End": True}}), "reference path"),
        (machine({"A": {"Type": "Pass", "Parameters": {"x.$": "nope"}, "End": True}}), "path or an intrinsic"),
        (machine({"A": {"Type": "Succeed"}, "Orphan": {"Type": "Succeed"}}), "cannot be reached"),
        (machine({"A": {"Type": "Wait", "Seconds": 1, "SecondsPath": "$.s", "End": True}}), "exactly one of Seconds"),
        (machine({"A": task("x", TimeoutSeconds=5, HeartbeatSeconds=5)}), "HeartbeatSeconds"),
        (machine({"A": {"Type": "Map", "End": True}}), "ItemProcessor"),
        (choice_machine({"Variable": "$.x", "NumericEquals": 1, "StringEquals": "1", "Next": "B"}), "exactly one"),
        (choice_machine({"Variable": "$.x", "NumberIs": 1, "Next": "B"}), "known comparison"),
        (choice_machine({"Not": {"Variable": "$.x", "IsNull": True, "Next": "B"}, "Next": "B"}), "nested"),
    ],
)
def test_invalid_definitions_are_refused_with_a_reason(definition: dict[str, Any], message: str) -> None:
    with pytest.raises(DefinitionError, match=message):
        validate(definition)


def test_load_definition_substitutes_placeholders(tmp_path: Path) -> None:
    path = tmp_path / "m.asl.json"
    path.write_text(json.dumps(machine({"A": task("${Fn}")})))
    assert load_definition(path, {"Fn": "arn:fn"})["States"]["A"]["Resource"] == "arn:fn"
    with pytest.raises(DefinitionError, match=r"\$\{Fn\}"):
        load_definition(path, {})


def test_hyperstep_state_machine_runs_its_loop() -> None:
    """The real tuning.asl.json: suggest (which launches, then parks or sends back its task
    token), loop, finish: two states a round."""
    definition = load_definition(REPO / "statemachine" / "tuning.asl.json", substitutions(str.capitalize))
    rounds = iter([{"done": False, "handoff": False, "history_events": 8, "round_seconds": 600}, {"done": True}])
    suggested: list[dict[str, Any]] = []
    holder: dict[str, Executor] = {}

    def suggest(event: Any, _: Any) -> dict[str, Any]:
        suggested.append(event)
        holder["ex"].send_task_success(event["task_token"], next(rounds))
        return {"ignored": True}

    handlers: dict[str, Handler] = {"Suggest": suggest, "Finish": lambda e, _: {"finished": e["job_id"]}}
    holder["ex"] = executor(definition, handlers)
    result = holder["ex"].run({"job_id": "j-1"}, timeout=10)
    assert result.status == "SUCCEEDED", result.cause
    # Suggest gets the execution's name, the history estimate of the last round, a new token each round.
    name, tokens = suggested[0]["execution"], [e.pop("task_token") for e in suggested]
    assert suggested == [
        {"job_id": "j-1", "execution": name, "history_events": 0},
        {"job_id": "j-1", "execution": name, "history_events": 8},
    ]
    assert len(set(tokens)) == 2
    assert result.state_path == ["Begin", "Suggest Trials", "Job Done?", "Suggest Trials", "Job Done?", "Finish Job"]


def test_a_plan_that_hands_over_ends_the_execution() -> None:
    definition = load_definition(REPO / "statemachine" / "tuning.asl.json", substitutions(str.capitalize))
    handoff = {"done": False, "handoff": True, "trial_ids": [], "results_seen": 0, "history_events": 0}
    holder: dict[str, Executor] = {}

    def suggest(event: Any, _: Any) -> dict[str, Any]:
        holder["ex"].send_task_success(event["task_token"], handoff)
        return handoff

    holder["ex"] = executor(definition, {"Suggest": suggest, "Finish": lambda e, _: {}})
    result = holder["ex"].run({"job_id": "j-1"}, timeout=10)
    assert result.status == "SUCCEEDED"
    assert result.state_path == ["Begin", "Suggest Trials", "Job Done?", "Handed Over"]


def test_starting_a_running_execution_again_with_the_same_input_returns_it() -> None:
    """StartExecution is idempotent by name and input while the execution runs."""
    release = threading.Event()
    ex = executor(machine({"A": task("slow")}), {"slow": lambda e, _: release.wait(5)})
    first = ex.start({"x": 1}, name="same")
    assert ex.start({"x": 1}, name="same") is first
    with pytest.raises(ExecutionExistsError):
        ex.start({"x": 2}, name="same")
    release.set()
    first.wait(5)
    with pytest.raises(ExecutionExistsError):
        ex.start({"x": 1}, name="same")


@pytest.mark.parametrize("failing", ["raises", "fails its token"])
def test_a_task_that_keeps_failing_still_ends_in_finish_job(failing: str) -> None:
    """No way out of the loop skips Finish Job: otherwise the job would stay running forever.
    Suggest's first round parks (a result wakes it); every later attempt fails."""
    definition = load_definition(REPO / "statemachine" / "tuning.asl.json", substitutions(str.capitalize))
    finished: list[dict[str, Any]] = []
    holder: dict[str, Executor] = {}
    calls: list[str] = []

    def suggest(event: Any, _: Any) -> dict[str, Any]:
        calls.append(event["task_token"])
        if len(calls) == 1:
            holder["ex"].send_task_success(
                event["task_token"], {"done": False, "handoff": False, "history_events": 8, "round_seconds": 600}
            )
        elif failing == "raises":
            raise RuntimeError("throttled")
        else:
            holder["ex"].send_task_failure(event["task_token"], "RuntimeError", "throttled")
        return {}

    holder["ex"] = executor(definition, {"Suggest": suggest, "Finish": lambda e, _: finished.append(e) or {}})
    result = holder["ex"].run({"job_id": "j-1"}, timeout=10)
    assert result.status == "SUCCEEDED", result.cause
    assert result.state_path[-1] == "Finish Job"
    assert len(calls) == 1 + 5 and len(set(calls)) == 6  # four retries, each with a new token
    assert finished[0]["error"]["Error"] == "RuntimeError"


def test_a_wake_without_round_seconds_still_plans_the_next_round() -> None:
    """A deploy window: an execution on this definition woken by a function still running the
    code before ``round_seconds`` (its Progress lacks it; the collector, the reaper and the API
    do not depend on the state machine in template.yaml, so CloudFormation may update them
    after it, an in-flight reaper pass runs the old code up to 300 s, a rollback restores it).
    Without the field TimeoutSecondsPath would fail the execution with States.Runtime, which no
    Catch takes: the job would fail. The round gets the default timeout, its events counted."""
    definition = load_definition(REPO / "statemachine" / "tuning.asl.json", substitutions(str.capitalize))
    old_progress = {"job_id": "j-1", "done": False, "results": [], "active": 1, "handoff": False, "history_events": 8}
    rounds = iter([old_progress, {"done": True}])
    suggested: list[dict[str, Any]] = []
    holder: dict[str, Executor] = {}

    def suggest(event: Any, _: Any) -> dict[str, Any]:
        suggested.append(event)
        holder["ex"].send_task_success(event["task_token"], next(rounds))
        return {}

    holder["ex"] = executor(definition, {"Suggest": suggest, "Finish": lambda e, _: {"finished": e["job_id"]}})
    result = holder["ex"].run({"job_id": "j-1"}, timeout=10)
    assert result.status == "SUCCEEDED", result.cause
    assert result.state_path[-1] == "Finish Job" and len(suggested) == 2
    assert suggested[1]["history_events"] == 8 + 2  # the extra Pass state's entered and exited events
