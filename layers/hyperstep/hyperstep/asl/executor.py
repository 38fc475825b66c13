"""A local executor of Amazon States Language (JSONPath) definitions.

The same ``.asl.json`` that Step Functions runs on AWS runs here, with every Task
``Resource`` mapped by a resolver to a Python callable ``(event, context) -> result``::

    executor = Executor(load_definition(path, substitutions), resolver)
    result = executor.run({"job_id": "j-1"})          # blocking
    execution = executor.start({"job_id": "j-1"})     # background thread
    executor.send_task_success(token, {"done": True}) # from any thread
    execution.stop("Interrupted", "Ctrl-C")           # any wait returns promptly

Executions end ``SUCCEEDED``, ``FAILED``, ``ABORTED`` or ``TIMED_OUT`` (the definition's
top-level ``TimeoutSeconds``) and keep a history shaped after ``GetExecutionHistory``. As
an execution ends, the executor's ``on_end`` (if any) gets the ``detail`` of the
"Step Functions Execution Status Change" event Step Functions sends EventBridge then
(``Execution.status_change``).
"""

from __future__ import annotations

import copy
import json
import logging
import re
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from hyperstep.asl.definition import DefinitionError, load_definition, validate
from hyperstep.asl.failures import MAX_PAYLOAD_BYTES, RUNTIME, TIMEOUT, StatesError
from hyperstep.asl.history import ExecutionHistory, ExecutionResult, Status, state_path
from hyperstep.asl.interpreter import Interpreter, Sleep
from hyperstep.asl.tasks import LambdaContext, Resolver, TaskRunner
from hyperstep.asl.waiting import Cancelled, Scope

__all__ = [
    "DefinitionError",
    "Execution",
    "ExecutionResult",
    "Executor",
    "LambdaContext",
    "StatesError",
    "load_definition",
    "state_path",
]

DEFAULT_STATE_MACHINE_ARN = "arn:aws:states:local:000000000000:stateMachine:local"
DEFAULT_ROLE_ARN = "arn:aws:iam::000000000000:role/local"
logger = logging.getLogger(__name__)
OnEnd = Callable[[dict[str, Any]], None]
"""What is told an execution's status-change detail as it ends (``Execution.status_change``)."""
# StartExecution's name rule: no whitespace, brackets, wildcards, these specials or control characters.
_FORBIDDEN = '<>{}[]?*"#%\\^|~`$&,;:/'
_NAME = re.compile(r"[^\s" + re.escape(_FORBIDDEN) + r"\x00-\x1f\x7f-\x9f]{1,80}")


class InvalidNameError(DefinitionError):
    """StartExecution refused: a name Step Functions rejects, or input over the payload quota."""


class ExecutionDoesNotExist(LookupError):
    """No execution with this id runs here (Step Functions' ExecutionDoesNotExist)."""


class ExecutionExistsError(DefinitionError):
    """An execution with this name already exists (Step Functions' ExecutionAlreadyExists)."""


class Execution:
    """One run of the state machine; thread-safe to wait on and to stop."""

    def __init__(self, execution_id: str, name: str, input: Any, state_machine_arn: str) -> None:
        self.id = execution_id
        self.name = name
        self.input = input
        self.start_time = datetime.now(UTC)
        self.stop_time: datetime | None = None
        self.history = ExecutionHistory()
        self.scope = Scope()
        self.context: dict[str, Any] = {
            "Execution": {
                "Id": execution_id,
                "Input": input,
                "Name": name,
                "RoleArn": DEFAULT_ROLE_ARN,
                "StartTime": self.start_time.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                "RedriveCount": 0,
            },
            "StateMachine": {"Id": state_machine_arn, "Name": state_machine_arn.rsplit(":", 1)[-1]},
        }
        self._done = threading.Event()
        self._result: ExecutionResult | None = None
        self._stop: tuple[str | None, str | None] | None = None
        self._timed_out = False

    @property
    def status(self) -> Status:
        return "RUNNING" if self._result is None else self._result.status

    @property
    def finished(self) -> bool:
        return self._done.is_set()

    @property
    def state_path(self) -> list[str]:
        return state_path(self.history.events())

    def stop(self, error: str | None = None, cause: str | None = None) -> None:
        """Abort the execution (``StopExecution``): every wait inside it returns at once."""
        if self._stop is None and not self._done.is_set():
            self._stop = (error, cause)
            self.scope.cancel("aborted")

    def time_out(self) -> None:
        """The execution ran past the definition's top-level ``TimeoutSeconds``."""
        if not self._done.is_set():
            self._timed_out = True
            self.scope.cancel("timed out")

    def wait(self, timeout: float | None = None) -> ExecutionResult:
        """The result once the execution has ended; ``TimeoutError`` if it runs on."""
        if not self._done.wait(timeout):
            raise TimeoutError(f"execution {self.name!r} is still running")
        assert self._result is not None
        return self._result

    def status_change(self) -> dict[str, Any]:
        """The ``detail`` of the "Step Functions Execution Status Change" event for the
        execution's status now, shaped as AWS's (EventBridge Events Reference, "AWS Step
        Functions events"): dates in epoch milliseconds, input and output as JSON text;
        ``error`` and ``cause`` when the execution has them."""
        result = self._result
        output = None if result is None or result.status != "SUCCEEDED" else json.dumps(result.output)
        detail: dict[str, Any] = {
            "executionArn": self.id,
            "stateMachineArn": self.context["StateMachine"]["Id"],
            "name": self.name,
            "status": self.status,
            "startDate": _epoch_ms(self.start_time),
            "stopDate": None if self.stop_time is None else _epoch_ms(self.stop_time),
            "input": json.dumps(self.input),
            "inputDetails": {"included": True},
            "output": output,
            "outputDetails": None if output is None else {"included": True},
        }
        if result is not None:
            detail.update({k: v for k, v in (("error", result.error), ("cause", result.cause)) if v is not None})
        return detail

    def run(self, interpreter: Interpreter, definition: dict[str, Any], on_end: OnEnd | None = None) -> None:
        """Run to the end, record the result and tell ``on_end`` (before any waiter
        returns), on the execution's own thread."""
        self.history.add("ExecutionStarted", input=json.dumps(self.input), roleArn=DEFAULT_ROLE_ARN)
        status: Status
        output, error, cause = None, None, None
        try:
            output = interpreter.run_machine(definition, self.input, self.scope)
            status = "SUCCEEDED"
            self.history.add("ExecutionSucceeded", output=json.dumps(output))
        except Cancelled:
            if self._timed_out:
                status, error, cause = "TIMED_OUT", TIMEOUT, "The execution ran longer than its TimeoutSeconds."
                self.history.add("ExecutionTimedOut", error=error, cause=cause)
            else:
                status, (error, cause) = "ABORTED", self._stop or (None, None)
                self.history.add("ExecutionAborted", error=error, cause=cause)
        except StatesError as failure:  # a Fail state may leave out Error and Cause
            status, error, cause = "FAILED", failure.error or None, failure.cause or None
            self.history.add("ExecutionFailed", error=error, cause=cause)
        except Exception as exc:  # a bug in the interpreter or a resolver: fail, do not hang
            logger.exception("execution %s crashed", self.name)
            status, error, cause = "FAILED", RUNTIME, f"{type(exc).__name__}: {exc}"
            self.history.add("ExecutionFailed", error=error, cause=cause)
        self._result = ExecutionResult(self.id, self.name, status, output, error, cause, self.history.events())
        self.stop_time = datetime.now(UTC)
        if on_end is not None:
            try:
                on_end(self.status_change())
            except Exception:  # a listener's failure must not keep the execution from ending
                logger.exception("on_end of execution %s failed", self.name)
        self._done.set()


def _epoch_ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


class Executor:
    """Runs executions of one state machine definition; routes task tokens back to them.

    ``resolver`` maps a Task's resource (a Lambda ARN or name, the ``FunctionName`` of a
    ``lambda:invoke``, or another ``arn:aws:states:::`` resource) to a callable. ``sleep``
    replaces real-time sleeping in Wait states and between retries (tests pass a fake);
    by default sleeps are real and wake at once when the execution is stopped.
    """

    def __init__(
        self,
        definition: dict[str, Any],
        resolver: Resolver,
        *,
        sleep: Sleep | None = None,
        state_machine_arn: str = DEFAULT_STATE_MACHINE_ARN,
        on_end: OnEnd | None = None,
    ) -> None:
        """``on_end`` gets each execution's status-change detail as it ends (see the module docstring)."""
        validate(definition)
        self.definition = copy.deepcopy(definition)
        self.state_machine_arn = state_machine_arn
        self._tasks = TaskRunner(resolver, region=state_machine_arn.split(":")[3])
        self._sleep = sleep
        self._on_end = on_end
        self._executions: dict[str, Execution] = {}
        self._lock = threading.Lock()

    def start(self, input: Any, name: str | None = None) -> Execution:
        """Start an execution on a background thread and return it at once."""
        name = name or str(uuid.uuid4())
        if not _NAME.fullmatch(name):
            raise InvalidNameError(f"invalid execution name {name!r}: 1-80 characters, no spaces or {_FORBIDDEN}")
        payload = json.dumps(input)
        if len(payload.encode()) > MAX_PAYLOAD_BYTES:
            raise InvalidNameError(f"execution input is over the {MAX_PAYLOAD_BYTES} bytes quota")
        prefix = self.state_machine_arn.replace(":stateMachine:", ":execution:", 1)
        execution = Execution(f"{prefix}:{name}", name, json.loads(payload), self.state_machine_arn)
        with self._lock:
            existing = self._executions.get(execution.id)
            if existing is not None:
                # StartExecution is idempotent for a running execution with the same input.
                if not existing.finished and existing.input == execution.input:
                    return existing
                raise ExecutionExistsError(f"an execution named {name!r} already exists")
            self._executions[execution.id] = execution
        interpreter = Interpreter(self._tasks, execution.history, execution.context, self._sleep)
        timer = self._timer(execution)
        thread = threading.Thread(target=self._run, args=(execution, interpreter, timer), name=f"sfn:{name}")
        thread.daemon = True
        thread.start()
        return execution

    def _timer(self, execution: Execution) -> threading.Timer | None:
        seconds = self.definition.get("TimeoutSeconds")
        if seconds is None:
            return None
        timer = threading.Timer(seconds, execution.time_out)
        timer.daemon = True
        timer.start()
        return timer

    def _run(self, execution: Execution, interpreter: Interpreter, timer: threading.Timer | None) -> None:
        try:
            execution.run(interpreter, self.definition, self._on_end)
        finally:
            if timer is not None:
                timer.cancel()

    def run(self, input: Any, name: str | None = None, timeout: float | None = None) -> ExecutionResult:
        """Run one execution to its end and return its result."""
        return self.start(input, name).wait(timeout)

    def execution(self, execution_id: str) -> Execution:
        with self._lock:
            if execution_id not in self._executions:
                raise ExecutionDoesNotExist(f"execution {execution_id!r} does not exist")
            return self._executions[execution_id]

    def executions(self) -> list[Execution]:
        with self._lock:
            return list(self._executions.values())

    def finished(self, execution_id: str) -> bool:
        """True once the execution has ended (or when no such execution runs here)."""
        with self._lock:
            execution = self._executions.get(execution_id)
        return execution is None or execution.finished

    def stop_all(self, error: str | None = None, cause: str | None = None) -> None:
        """Abort every running execution (Ctrl-C)."""
        for execution in self.executions():
            execution.stop(error, cause)

    def send_task_success(self, token: str, output: Any) -> bool:
        """``SendTaskSuccess``: False when no task waits on ``token`` (any more)."""
        return self._tasks.send_task_success(token, output)

    def send_task_failure(self, token: str, error: str, cause: str = "") -> bool:
        """``SendTaskFailure``: the waiting task fails with ``error`` (retriable, catchable)."""
        return self._tasks.send_task_failure(token, error, cause)

    def send_task_heartbeat(self, token: str) -> bool:
        """``SendTaskHeartbeat``: restart the waiting task's ``HeartbeatSeconds`` clock."""
        return self._tasks.send_task_heartbeat(token)
