"""The state interpreter: runs a (sub-)state machine from ``StartAt`` to its end.

One ``Interpreter`` serves one execution. Each state type follows the Step Functions
developer guide: the input/output processing order lives in ``dataflow``, Choice rules in
``choice``, Task attempts in ``tasks``; Retry and Catch wrap Task, Map and Parallel
states. Map iterations and Parallel branches run as child scopes, in a thread pool
when ``MaxConcurrency`` allows, and their results keep the order of the items.
"""

from __future__ import annotations

import copy
import json
import random
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from hyperstep.asl import choice, dataflow, jsonpath
from hyperstep.asl.failures import NO_CHOICE_MATCHED, StatesError, check_size, matches, runtime_error
from hyperstep.asl.history import ExecutionHistory
from hyperstep.asl.tasks import Attempt, TaskRunner, is_callback, new_token
from hyperstep.asl.waiting import Cancelled, Scope

NO_TIMEOUT = 99999999
MAX_THREADS = 256
Sleep = Callable[[float], None]


@dataclass(frozen=True)
class Transition:
    """Where a state leads (``None`` ends the machine) and the state's output."""

    next: str | None
    output: Any


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Interpreter:
    """Runs the states of one execution; ``context`` is the execution's context object."""

    def __init__(
        self, tasks: TaskRunner, history: ExecutionHistory, context: dict[str, Any], sleep: Sleep | None
    ) -> None:
        self.tasks = tasks
        self.history = history
        self.context = context
        self._sleep = sleep

    def run_machine(self, machine: dict[str, Any], data: Any, scope: Scope) -> Any:
        """The output of ``machine`` for input ``data``; raises the unhandled ``StatesError``."""
        name: str | None = machine["StartAt"]
        while name is not None:
            scope.check()
            state = machine["States"][name]
            self.history.add(f"{state['Type']}StateEntered", name, input=json.dumps(data))
            transition = self._state(name, state, data, scope)
            output = json.dumps(transition.output)
            check_size(output, f"The state '{name}' returned a result")
            self.history.add(f"{state['Type']}StateExited", name, output=output)
            name, data = transition.next, transition.output
        return data

    def _state_context(self, name: str, entered: str | None = None, retry_count: int = 0) -> dict[str, Any]:
        state = {"EnteredTime": entered or _now(), "Name": name, "RetryCount": retry_count}
        return {**self.context, "State": state}

    def _sleep_for(self, seconds: float, scope: Scope) -> None:
        if self._sleep is None:
            scope.sleep(seconds)
        else:
            self._sleep(seconds)
            scope.check()

    def _state(self, name: str, state: dict[str, Any], raw: Any, scope: Scope) -> Transition:
        kind = state["Type"]
        if kind in ("Task", "Map", "Parallel"):
            return self._with_retry_catch(name, state, raw, scope)
        ctx = self._state_context(name)
        if kind == "Pass":
            effective = dataflow.parameters(state, dataflow.input_of(state, raw, ctx), ctx)
            result = copy.deepcopy(state["Result"]) if "Result" in state else effective
            return Transition(state.get("Next"), dataflow.output_of(state, raw, result, ctx))
        if kind == "Choice":
            return self._choice(state, raw, ctx)
        if kind == "Wait":
            effective = dataflow.input_of(state, raw, ctx)
            self._sleep_for(_wait_seconds(state, effective, ctx), scope)
            return Transition(state.get("Next"), dataflow.select(state.get("OutputPath", "$"), effective, ctx))
        if kind == "Succeed":
            effective = dataflow.input_of(state, raw, ctx)
            return Transition(None, dataflow.select(state.get("OutputPath", "$"), effective, ctx))
        raise _fail_error(state, raw, ctx)

    def _choice(self, state: dict[str, Any], raw: Any, ctx: dict[str, Any]) -> Transition:
        effective = dataflow.input_of(state, raw, ctx)
        output = dataflow.select(state.get("OutputPath", "$"), effective, ctx)
        for rule in state["Choices"]:
            if choice.evaluate(rule, effective, ctx):
                return Transition(rule["Next"], output)
        if "Default" in state:
            return Transition(state["Default"], output)
        raise StatesError(NO_CHOICE_MATCHED, "No Matches!")

    def _with_retry_catch(self, name: str, state: dict[str, Any], raw: Any, scope: Scope) -> Transition:
        retriers: list[dict[str, Any]] = state.get("Retry", [])
        attempts = [0] * len(retriers)
        entered = _now()
        while True:
            try:
                output = self._attempt(name, state, raw, scope, self._state_context(name, entered, sum(attempts)))
                return Transition(state.get("Next"), output)
            except StatesError as error:
                index = next((i for i, r in enumerate(retriers) if matches(error, r["ErrorEquals"])), None)
                if index is not None and attempts[index] < retriers[index].get("MaxAttempts", 3):
                    self._sleep_for(_retry_delay(retriers[index], attempts[index]), scope)
                    attempts[index] += 1
                    continue
                catcher = next((c for c in state.get("Catch", []) if matches(error, c["ErrorEquals"])), None)
                if catcher is None:
                    raise
                output = dataflow.place(catcher.get("ResultPath", "$"), raw, error.as_output())
                return Transition(catcher["Next"], output)

    def _attempt(self, name: str, state: dict[str, Any], raw: Any, scope: Scope, ctx: dict[str, Any]) -> Any:
        effective = dataflow.input_of(state, raw, ctx)
        if state["Type"] == "Task":
            result = self._task(name, state, effective, ctx, scope)
        elif state["Type"] == "Map":
            result = self._map(name, state, effective, ctx, scope)
        else:
            result = self._parallel(name, state, effective, ctx, scope)
        result = dataflow.result_selector(state, result, ctx)
        return dataflow.output_of(state, raw, result, ctx)

    def _task(self, name: str, state: dict[str, Any], effective: Any, ctx: dict[str, Any], scope: Scope) -> Any:
        resource = state["Resource"]
        token = new_token() if is_callback(resource) else None
        if token is not None:
            ctx = {**ctx, "Task": {"Token": token}}
        attempt = Attempt(
            state_name=name,
            resource=resource,
            payload=dataflow.parameters(state, effective, ctx),
            timeout_seconds=_seconds(state, "TimeoutSeconds", effective, ctx),
            heartbeat_seconds=_seconds(state, "HeartbeatSeconds", effective, ctx),
            token=token,
        )
        return self.tasks.run(attempt, scope, self.history)

    def _map(self, name: str, state: dict[str, Any], effective: Any, ctx: dict[str, Any], scope: Scope) -> list[Any]:
        items = jsonpath.read(state.get("ItemsPath", "$"), effective, ctx)
        if not isinstance(items, list):
            raise runtime_error(f"Map state {name!r}: ItemsPath must select an array, got {type(items).__name__}")
        selector = state.get("ItemSelector", state.get("Parameters"))
        inputs = items
        if selector is not None:
            inputs = [
                dataflow.fill(selector, effective, {**ctx, "Map": {"Item": {"Index": index, "Value": item}}})
                for index, item in enumerate(items)
            ]
        processor = state.get("ItemProcessor", state.get("Iterator"))
        self.history.add("MapStateStarted", name, length=len(items))
        try:
            concurrency = _max_concurrency(state, effective, ctx)
            results = self._fan_out(name, [processor] * len(inputs), inputs, concurrency, scope, is_map=True)
        except StatesError as error:
            self.history.add("MapStateFailed", name, error=error.error, cause=error.cause)
            raise
        self.history.add("MapStateSucceeded", name)
        return results

    def _parallel(self, name: str, state: dict[str, Any], effective: Any, ctx: dict[str, Any], scope: Scope) -> Any:
        branches = state["Branches"]
        branch_input = dataflow.parameters(state, effective, ctx)
        self.history.add("ParallelStateStarted", name)
        try:
            results = self._fan_out(name, branches, [branch_input] * len(branches), 0, scope, is_map=False)
        except StatesError as error:
            self.history.add("ParallelStateFailed", name, error=error.error, cause=error.cause)
            raise
        self.history.add("ParallelStateSucceeded", name)
        return results

    def _fan_out(
        self,
        name: str,
        machines: list[dict[str, Any]],
        inputs: list[Any],
        concurrency: int,
        scope: Scope,
        is_map: bool,
    ) -> list[Any]:
        """Run ``machines[i]`` on ``inputs[i]`` in child scopes; the first failure cancels the rest.

        Raises the error of the iteration (or branch) that failed first.
        """
        group = scope.child()
        failures: list[StatesError] = []

        def one(index: int) -> Any:
            if is_map:
                self.history.add("MapIterationStarted", name, index=index)
            try:
                output = self.run_machine(machines[index], inputs[index], group.child())
            except StatesError as error:
                if is_map:
                    self.history.add("MapIterationFailed", name, index=index, error=error.error, cause=error.cause)
                failures.append(error)
                group.cancel(f"{name}: iteration {index} failed")
                raise
            except Cancelled:
                if is_map:
                    self.history.add("MapIterationAborted", name, index=index)
                raise
            if is_map:
                self.history.add("MapIterationSucceeded", name, index=index)
            return output

        workers = min(concurrency or len(inputs), len(inputs), MAX_THREADS)
        if workers <= 1:
            return [one(index) for index in range(len(inputs))]
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"fanout:{name}") as pool:
            futures = [pool.submit(one, index) for index in range(len(inputs))]
            errors = [f.exception() for f in futures]
        scope.check()
        if failures:
            raise failures[0]
        other = next((e for e in errors if e is not None), None)
        if other is not None:
            raise other
        return [f.result() for f in futures]


def _max_concurrency(state: dict[str, Any], effective: Any, ctx: dict[str, Any]) -> int:
    """``MaxConcurrency`` (or ``MaxConcurrencyPath``); 0 means no limit."""
    if "MaxConcurrencyPath" not in state:
        return int(state.get("MaxConcurrency", 0))
    value = jsonpath.read(state["MaxConcurrencyPath"], effective, ctx)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise runtime_error(f"MaxConcurrencyPath must select a non-negative integer, got {value!r}")
    return value


def _seconds(state: dict[str, Any], field: str, effective: Any, ctx: dict[str, Any]) -> float | None:
    """``TimeoutSeconds`` / ``HeartbeatSeconds`` or their ``...Path`` form; None when unbounded."""
    value = state.get(field)
    if f"{field}Path" in state:
        value = jsonpath.read(state[f"{field}Path"], effective, ctx)
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            raise runtime_error(f"{field}Path must select a positive integer, got {value!r}")
    if value is None or value >= NO_TIMEOUT:
        return None
    return float(value)


def _wait_seconds(state: dict[str, Any], effective: Any, ctx: dict[str, Any]) -> float:
    if "Seconds" in state:
        return float(state["Seconds"])
    if "SecondsPath" in state:
        value = jsonpath.read(state["SecondsPath"], effective, ctx)
        if not isinstance(value, int | float) or isinstance(value, bool) or value < 0:
            raise runtime_error(f"SecondsPath must select a non-negative number, got {value!r}")
        return float(value)
    stamp = state["Timestamp"] if "Timestamp" in state else jsonpath.read(state["TimestampPath"], effective, ctx)
    when = choice.timestamp(stamp)
    if when is None:
        raise runtime_error(f"not an ISO-8601 timestamp: {stamp!r}")
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _retry_delay(retrier: dict[str, Any], retries_so_far: int) -> float:
    """IntervalSeconds x BackoffRate^n, capped by MaxDelaySeconds, with optional full jitter."""
    delay = retrier.get("IntervalSeconds", 1) * retrier.get("BackoffRate", 2.0) ** retries_so_far
    if "MaxDelaySeconds" in retrier:
        delay = min(delay, retrier["MaxDelaySeconds"])
    if retrier.get("JitterStrategy", "NONE") == "FULL":
        delay = random.uniform(0, delay)
    return float(delay)


def _fail_error(state: dict[str, Any], raw: Any, ctx: dict[str, Any]) -> StatesError:
    error = jsonpath.read(state["ErrorPath"], raw, ctx) if "ErrorPath" in state else state.get("Error", "")
    cause = jsonpath.read(state["CausePath"], raw, ctx) if "CausePath" in state else state.get("Cause", "")
    return StatesError(str(error), str(cause))


__all__ = ["Cancelled", "Interpreter", "Transition"]
