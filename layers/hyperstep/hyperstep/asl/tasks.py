"""Task states: resolving a ``Resource`` to a Python callable and running one attempt.

Three kinds of resource, as on AWS:

- ``arn:aws:states:::lambda:invoke``: the Lambda named by ``Parameters.FunctionName`` gets
  ``Parameters.Payload``; the result is wrapped like the Invoke API's response
  (``ExecutedVersion``, ``Payload``, ``SdkHttpMetadata``, ``SdkResponseMetadata``,
  ``StatusCode``).
- any other ``arn:aws:states:::service:action``: the resolver's callable for that
  resource gets the parameters and its return value is the result.
- anything else (a Lambda ARN or name): the callable gets the state's input and its
  return value is the result.

A ``.waitForTaskToken`` suffix makes the attempt wait for ``SendTaskSuccess`` /
``SendTaskFailure`` on a fresh token (``$$.Task.Token``) after the call returns (a token
the callable sends back itself completes the task once the call has returned). As on AWS
("Invoke Lambda with Step Functions"), a callable that raises fails the attempt with its
error at once (the optimized Lambda integration fails the task on a function error), and
``HeartbeatSeconds`` counts only from when the call has returned; ``TimeoutSeconds``
counts from the attempt's start. Every
attempt runs its callable in a worker thread, so ``TimeoutSeconds``, heartbeats and
cancellation interrupt the wait even while the callable is still running.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from hyperstep.asl.failures import StatesError, check_size, lambda_error
from hyperstep.asl.history import ExecutionHistory
from hyperstep.asl.waiting import PendingTask, Scope

Function = Callable[[Any, Any], Any]
Resolver = Callable[[str], Function]
LAMBDA_INVOKE = "arn:aws:states:::lambda:invoke"
SERVICE_PREFIX = "arn:aws:states:::"
WAIT_FOR_TOKEN = ".waitForTaskToken"


@dataclass
class LambdaContext:
    """The Lambda context object a handler receives (what Powertools reads from it)."""

    function_name: str
    invoked_function_arn: str
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    memory_limit_in_mb: int = 128
    function_version: str = "$LATEST"
    log_group_name: str = ""
    log_stream_name: str = ""
    deadline: float | None = None

    def get_remaining_time_in_millis(self) -> int:
        if self.deadline is None:
            return 900_000
        return max(0, int((self.deadline - time.monotonic()) * 1000))


@dataclass(frozen=True)
class Attempt:
    """What one task attempt needs: the state, its parameters, limits and token."""

    state_name: str
    resource: str
    payload: Any
    timeout_seconds: float | None
    heartbeat_seconds: float | None
    token: str | None


def new_token() -> str:
    return uuid.uuid4().hex + uuid.uuid4().hex


def is_callback(resource: str) -> bool:
    return resource.endswith(WAIT_FOR_TOKEN)


class TaskRunner:
    """Runs task attempts; keeps the registry of tokens waiting for a callback."""

    def __init__(self, resolver: Resolver, region: str = "local") -> None:
        self._resolver = resolver
        self._region = region
        self._tokens: dict[str, PendingTask] = {}
        self._lock = threading.Lock()

    def send_task_success(self, token: str, output: Any) -> bool:
        """Complete the task waiting on ``token``; False when no task waits on it."""
        pending = self._tokens.get(token)
        return pending is not None and pending.succeed(json.loads(json.dumps(output)))

    def send_task_failure(self, token: str, error: str, cause: str = "") -> bool:
        pending = self._tokens.get(token)
        return pending is not None and pending.fail(StatesError(error, cause))

    def send_task_heartbeat(self, token: str) -> bool:
        pending = self._tokens.get(token)
        return pending is not None and pending.heartbeat()

    def run(self, attempt: Attempt, scope: Scope, history: ExecutionHistory) -> Any:
        """The attempt's result; raises its ``StatesError`` or ``Cancelled``."""
        base = attempt.resource.removesuffix(WAIT_FOR_TOKEN).removesuffix(".sync")
        function_name, event = self._target(base, attempt.payload)
        function = self._resolve(function_name)
        pending = PendingTask(attempt.token, attempt.heartbeat_seconds if attempt.token else None)
        scope.track(pending)
        if attempt.token:
            with self._lock:
                self._tokens[attempt.token] = pending
        kind, tags = self._scheduled(attempt, base, history, self._region)
        deadline = None if attempt.timeout_seconds is None else time.monotonic() + attempt.timeout_seconds
        context = LambdaContext(function_name.rsplit(":", 1)[-1], function_name, deadline=deadline)
        worker = threading.Thread(
            target=self._call,
            args=(function, event, context, pending, attempt, base, history, kind, tags),
            name=f"task:{attempt.state_name}",
            daemon=True,
        )
        worker.start()
        try:
            result = pending.wait(attempt.timeout_seconds, scope)
            if attempt.token:  # sent back by the callable itself: its call returns first, as on AWS
                worker.join(None if deadline is None else max(deadline - time.monotonic(), 0.0))
        except StatesError as error:
            suffix = "TimedOut" if error.error == "States.Timeout" else "Failed"
            history.add(f"{kind}{suffix}", attempt.state_name, **tags, error=error.error, cause=error.cause)
            raise
        finally:
            scope.untrack(pending)
            if attempt.token:
                with self._lock:
                    self._tokens.pop(attempt.token, None)
        output = json.dumps(result)
        check_size(output, f"The task of state '{attempt.state_name}' returned a result")
        history.add(f"{kind}Succeeded", attempt.state_name, **tags, output=output)
        return result

    def _target(self, base: str, payload: Any) -> tuple[str, Any]:
        if base == LAMBDA_INVOKE:
            if not isinstance(payload, dict) or "FunctionName" not in payload:
                raise StatesError("States.Runtime", "lambda:invoke needs Parameters.FunctionName")
            return payload["FunctionName"], payload.get("Payload", {})
        return base, payload

    def _resolve(self, name: str) -> Function:
        try:
            return self._resolver(name)
        except Exception as exc:
            raise StatesError("States.TaskFailed", f"no function for resource {name!r}: {exc}") from None

    @staticmethod
    def _scheduled(attempt: Attempt, base: str, history: ExecutionHistory, region: str) -> tuple[str, dict[str, str]]:
        """Record the scheduling events; the event type prefix and the details every Task* event repeats."""
        if base.startswith(SERVICE_PREFIX):
            service, _, action = base.removeprefix(SERVICE_PREFIX).partition(":")
            resource = action + attempt.resource[len(base) :]
            tags = {"resourceType": service, "resource": resource}
            parameters = json.dumps(attempt.payload)
            limits = {"timeoutInSeconds": attempt.timeout_seconds, "heartbeatInSeconds": attempt.heartbeat_seconds}
            limits = {key: int(value) for key, value in limits.items() if value is not None}
            history.add("TaskScheduled", attempt.state_name, **tags, region=region, parameters=parameters, **limits)
            history.add("TaskStarted", attempt.state_name, **tags)
            return "Task", tags
        history.add("LambdaFunctionScheduled", attempt.state_name, resource=base, input=json.dumps(attempt.payload))
        history.add("LambdaFunctionStarted", attempt.state_name)
        return "LambdaFunction", {}

    @staticmethod
    def _call(
        function: Function,
        event: Any,
        context: LambdaContext,
        pending: PendingTask,
        attempt: Attempt,
        base: str,
        history: ExecutionHistory,
        kind: str,
        tags: dict[str, str],
    ) -> None:
        try:
            returned = function(json.loads(json.dumps(event)), context)
        except BaseException as exc:  # SystemExit, KeyboardInterrupt on this thread (never Ctrl-C's): else it waits
            pending.fail(lambda_error(exc, context.aws_request_id))
            return
        try:
            value = json.loads(json.dumps(returned))
        except (TypeError, ValueError) as exc:
            pending.fail(StatesError("Runtime.MarshalError", f"Unable to marshal response: {exc}"))
            return
        if base == LAMBDA_INVOKE:
            value = invoke_response(value, context.aws_request_id)
        if attempt.token is None:
            pending.succeed(value)
        else:
            history.add(f"{kind}Submitted", attempt.state_name, **tags, output=json.dumps(value))
            pending.called()  # its heartbeat clock starts once the call has returned


def invoke_response(payload: Any, request_id: str) -> dict[str, Any]:
    """The optimized ``lambda:invoke`` integration's result for a function's return value."""
    headers = {
        "Content-Type": "application/json",
        "X-Amz-Executed-Version": "$LATEST",
        "x-amzn-RequestId": request_id,
    }
    return {
        "ExecutedVersion": "$LATEST",
        "Payload": payload,
        "SdkHttpMetadata": {
            "AllHttpHeaders": {key: [value] for key, value in headers.items()},
            "HttpHeaders": headers,
            "HttpStatusCode": 200,
        },
        "SdkResponseMetadata": {"RequestId": request_id},
        "StatusCode": 200,
    }
