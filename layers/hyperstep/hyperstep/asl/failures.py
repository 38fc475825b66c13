"""Step Functions errors: what a state reports, and which retrier or catcher it matches.

Error names follow the Amazon States Language: ``States.*`` names are the service's own
(``States.Runtime``, ``States.Timeout``, ``States.TaskFailed``...), anything else comes
from a task. A Python exception raised by a Lambda handler is reported the way AWS
Lambda reports it: the exception's class name is the error, and the cause is the JSON
error object ``{"errorMessage", "errorType", "requestId", "stackTrace"}``.
"""

from __future__ import annotations

import json
import traceback
from collections.abc import Iterable

ALL = "States.ALL"
TASK_FAILED = "States.TaskFailed"
TIMEOUT = "States.Timeout"
HEARTBEAT_TIMEOUT = "States.HeartbeatTimeout"
RUNTIME = "States.Runtime"
DATA_LIMIT_EXCEEDED = "States.DataLimitExceeded"
NO_CHOICE_MATCHED = "States.NoChoiceMatched"
RESULT_PATH_MATCH_FAILURE = "States.ResultPathMatchFailure"
INTRINSIC_FAILURE = "States.IntrinsicFailure"

# Quota on a state's or task's input and output, and on an execution's input (UTF-8 JSON).
MAX_PAYLOAD_BYTES = 256 * 1024

# Terminal errors: no retrier or catcher handles them, not even States.ALL.
_UNCATCHABLE = frozenset({RUNTIME, DATA_LIMIT_EXCEEDED})


class StatesError(Exception):
    """An error a state reports: ``error`` is its name, ``cause`` the human-readable detail.

    ``aliases`` are further names the error answers to in ``ErrorEquals`` (a missed
    heartbeat is reported as ``States.Timeout`` and also matches ``States.HeartbeatTimeout``).
    """

    def __init__(self, error: str, cause: str = "", aliases: Iterable[str] = ()) -> None:
        super().__init__(f"{error}: {cause}" if cause else error)
        self.error = error
        self.cause = cause
        self.aliases = frozenset(aliases)

    def as_output(self) -> dict[str, str]:
        """The error output a catcher places at its ``ResultPath``."""
        return {"Error": self.error, "Cause": self.cause}


def check_size(payload: str, what: str) -> None:
    """Raise ``States.DataLimitExceeded`` when a JSON payload is over Step Functions' 256 KiB quota."""
    size = len(payload.encode())
    if size > MAX_PAYLOAD_BYTES:
        cause = (
            f"{what} with a size exceeding the maximum number of bytes service limit ({size} > {MAX_PAYLOAD_BYTES})."
        )
        raise StatesError(DATA_LIMIT_EXCEEDED, cause)


def runtime_error(cause: str) -> StatesError:
    """``States.Runtime``: a path or value the definition relies on is not in the data."""
    return StatesError(RUNTIME, cause)


def timeout_error(heartbeat: bool = False) -> StatesError:
    """``States.Timeout`` for a task past ``TimeoutSeconds`` or a missed heartbeat."""
    # Step Functions reports a task timeout without a cause (the catcher sees "Cause": "").
    return StatesError(TIMEOUT, "", aliases=[HEARTBEAT_TIMEOUT] if heartbeat else [])


def matches(error: StatesError, error_equals: Iterable[str]) -> bool:
    """True when a retrier's or catcher's ``ErrorEquals`` list covers ``error``.

    ``States.ALL`` matches every error but the terminal ones; ``States.TaskFailed``
    matches every error but ``States.Timeout`` (and the terminal ones).
    """
    names = {error.error, *error.aliases}
    for name in error_equals:
        if name in names:
            return True
        if error.error in _UNCATCHABLE:
            continue
        if name == ALL or (name == TASK_FAILED and error.error != TIMEOUT):
            return True
    return False


def lambda_error(exc: BaseException, request_id: str) -> StatesError:
    """The error a Python Lambda function's unhandled exception becomes in Step Functions."""
    if isinstance(exc, StatesError):
        return exc
    error_type = type(exc).__name__
    cause = {
        "errorMessage": str(exc),
        "errorType": error_type,
        "requestId": request_id,
        "stackTrace": traceback.format_tb(exc.__traceback__),
    }
    return StatesError(error_type, json.dumps(cause))
